import Koa from 'koa'
import { Router } from '@koa/router'
import { afterEach, describe, expect, it } from 'vitest'
import type { AuthorizationServer, MemoryStore } from '@grantkit/core'
import { testServer } from '@grantkit/adapter-test-suite'
import { requireToken, type RequireTokenOptions } from './require-token.js'
import { listen } from './internal/testing.js'

let closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.map((close) => close()))
  closers = []
})

async function start(options: RequireTokenOptions): Promise<{ url: string; store: MemoryStore; server: AuthorizationServer }> {
  const { server, store } = await testServer({ tokens: true })
  const router = new Router()
  router.get('/resource', requireToken(server, options), (ctx) => {
    ctx.body = ctx.state['oauth']
  })
  const app = new Koa()
  app.use(router.routes())
  const { url, close } = await listen(app)
  closers.push(close)
  return { url: url + '/resource', store, server }
}

describe('requireToken', () => {
  it.each([
    ['no scope', undefined],
    ['a scope list of non-strings', { scope: [1] }],
    ['a zero timeout', { timeout: 0 }],
  ])('throws a TypeError at setup for %s options', async (_name, options) => {
    const { server } = await testServer()
    if (options === undefined) expect(() => requireToken(undefined as unknown as AuthorizationServer)).toThrow(TypeError)
    else expect(() => requireToken(server, options as unknown as RequireTokenOptions)).toThrow(TypeError)
  })

  describe('with a valid bearer token (RFC 6750 §2.1)', () => {
    it.each(['Bearer', 'bearer', 'BEARER'])('accepts the %s scheme and sets ctx.state.oauth', async (scheme) => {
      const { url } = await start({ scope: 'profile' })
      const res = await fetch(url, { headers: { authorization: `${scheme} user-token` } })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ clientId: 'app', userId: 'user-1', scopes: ['profile', 'read'], token: { type: 'access_token' } })
    })

    it('accepts a client-only token when no user is required', async () => {
      const { url } = await start({ scope: ['read'] })
      const res = await fetch(url, { headers: { authorization: 'Bearer client-token' } })
      expect(await res.json()).toMatchObject({ userId: null })
    })
  })

  describe('without credentials (RFC 6750 §3.1)', () => {
    it.each([
      ['no Authorization header', {}],
      ['a Basic Authorization header', { authorization: 'Basic YTpi' }],
      ['a token in the query only', {}],
    ])('answers 401 with a Bearer challenge and no error code for %s', async (name, headers: Record<string, string>) => {
      const { url } = await start({ scope: 'profile' })
      const res = await fetch(name.includes('query') ? `${url}?access_token=user-token` : url, { headers })
      expect(res.status).toBe(401)
      const challenge = res.headers.get('www-authenticate')!
      expect(challenge).toMatch(/^Bearer realm="/)
      expect(challenge).not.toContain('error=')
    })
  })

  describe('with a bad token (RFC 6750 §3.1 invalid_token)', () => {
    it.each(['unknown', 'expired', 'revoked', 'refresh', 'not a b64token!'])('answers 401 invalid_token for a %s token', async (token) => {
      const { url } = await start({ scope: 'profile' })
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/)
      expect(await res.json()).toMatchObject({ error: 'invalid_token' })
    })
  })

  describe('with too little authority (RFC 6750 §3.1 insufficient_scope)', () => {
    it('answers 403 insufficient_scope naming the required scope', async () => {
      const { url } = await start({ scope: 'profile' })
      const res = await fetch(url, { headers: { authorization: 'Bearer read-only' } })
      expect(res.status).toBe(403)
      expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="profile"/)
      expect(await res.json()).toMatchObject({ error: 'insufficient_scope' })
    })

    it('answers 403 insufficient_scope for a client-only token when a user is required', async () => {
      const { url } = await start({ scope: 'profile', user: true })
      const res = await fetch(url, { headers: { authorization: 'Bearer client-token' } })
      expect(res.status).toBe(403)
      expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/)
      expect(await res.json()).toMatchObject({ error: 'insufficient_scope' })
    })
  })

  it('answers a store failure with 500 server_error and no details', async () => {
    const { url, store } = await start({})
    store.findToken = async () => {
      throw new Error('connection string postgres://secret')
    }
    const original = console.error
    console.error = () => {}
    try {
      const res = await fetch(url, { headers: { authorization: 'Bearer user-token' } })
      expect(res.status).toBe(500)
      const text = await res.text()
      expect(JSON.parse(text)).toMatchObject({ error: 'server_error' })
      expect(text).not.toContain('secret')
    } finally {
      console.error = original
    }
  })

  it('hands a store failure to onError, and by default logs one line without a stack', async () => {
    const seen: unknown[] = []
    const custom = await start({ onError: (error) => seen.push(error) })
    custom.store.findToken = async () => {
      throw new Error('db down')
    }
    expect((await fetch(custom.url, { headers: { authorization: 'Bearer user-token' } })).status).toBe(500)
    expect(seen).toEqual([expect.objectContaining({ message: 'db down' })])

    const { url, store } = await start({})
    store.findToken = async () => {
      throw new Error('db down\n    at secretFrame (/srv/app.js:1:1)')
    }
    const lines: unknown[][] = []
    const original = console.error
    console.error = (...args: unknown[]) => void lines.push(args)
    try {
      expect((await fetch(url, { headers: { authorization: 'Bearer user-token' } })).status).toBe(500)
    } finally {
      console.error = original
    }
    // The error's name (and code, when it has one) only: a driver's message can hold SQL or parameters.
    expect(lines).toEqual([['[grantkit] unexpected error in requireToken: Error']])
  })

  it('answers 503 server_error with Retry-After when the token lookup outlives the timeout (a passing outage)', async () => {
    const { url, store } = await start({ timeout: 100 })
    store.findToken = () => new Promise(() => {})
    const original = console.error
    console.error = () => {}
    try {
      const res = await fetch(url, { headers: { authorization: 'Bearer user-token' } })
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(await res.json()).toMatchObject({ error: 'server_error' })
    } finally {
      console.error = original
    }
  })
})
