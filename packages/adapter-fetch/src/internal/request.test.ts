import { describe, expect, it } from 'vitest'
import { target } from './request.js'

describe("a Request's path and query, read from its URL as WHATWG URL serializes it (RFC 3986 §3)", () => {
  it.each([
    'http://127.0.0.1/token',
    'https://as.example/oauth/token?x=1&y=%20',
    'http://as.example/token?',
    'http://as.example/authorize?a=1#fragment',
    'http://as.example/authorize#frag?not-a-query',
    'http://as.example:8443/p%7e/q?r=/s?t',
    'HTTP://AS.EXAMPLE',
    'https://[::1]:8443/x?y',
  ])('%s gives what URL gives', (href) => {
    const url = new URL(href)
    expect(target(new Request(href))).toEqual({ path: url.pathname, query: url.search.slice(1), url: url.pathname + url.search })
  })
})
