// The JSON cache against a real local server, with an injected clock.
import { describe, expect, it } from 'vitest'
import { createJsonCache, type JsonCacheOptions } from './json-cache.js'
import { SafeFetchError } from './safe-fetch.js'
import { json, startHttp } from './internal/testing.js'

/** A server answering a counter (and the given Cache-Control), and a cache over it with a fake clock. */
async function setup(options: JsonCacheOptions = {}, cacheControl?: string) {
  let served = 0
  let failing = false
  const server = await startHttp((_req, res) => {
    served++
    if (failing) return void res.writeHead(503).end()
    json(res, { n: served }, cacheControl === undefined ? {} : { 'cache-control': cacheControl })
  })
  const clock = { t: Date.UTC(2025, 0, 1) }
  const cache = createJsonCache({ allowHttp: true, allowAddresses: ['loopback'], now: () => clock.t, ...options })
  return {
    url: `${server.origin}/jwks`,
    cache,
    served: () => served,
    fail: (value: boolean) => void (failing = value),
    advance: (seconds: number) => void (clock.t += seconds * 1000),
  }
}

describe('createJsonCache', () => {
  it('answers a cached document without a second request (cache hit)', async () => {
    const { url, cache, served } = await setup()
    expect(await cache.get(url)).toEqual({ n: 1 })
    expect(await cache.get(url)).toEqual({ n: 1 })
    expect(served()).toBe(1)
    expect(cache.size).toBe(1)
  })

  it('shares one deeply frozen document between callers', async () => {
    const { url, cache } = await setup()
    const first = (await cache.get(url)) as { n: number }
    expect(Object.isFrozen(first)).toBe(true)
    expect(() => {
      first.n = 99
    }).toThrow(TypeError)
    expect(await cache.get(url)).toBe(first)
  })

  it('keeps a document for its Cache-Control max-age (RFC 9111 §5.2.2.1), then refetches', async () => {
    const { url, cache, advance } = await setup({}, 'public, max-age=120')
    expect(await cache.get(url)).toEqual({ n: 1 })
    advance(119)
    expect(await cache.get(url)).toEqual({ n: 1 })
    advance(1)
    expect(await cache.get(url)).toEqual({ n: 2 })
  })

  it.each([
    ['max-age=1 is raised to minTtl', 'max-age=1', { minTtl: 30 }, 30],
    ['no-store is raised to minTtl', 'no-store', { minTtl: 45 }, 45],
    ['a huge max-age is lowered to maxTtl', 'max-age=99999999', { maxTtl: 600 }, 600],
    ['no Cache-Control uses defaultTtl', undefined, { defaultTtl: 200 }, 200],
  ])('%s', async (_name, cacheControl, options, ttl) => {
    const { url, cache, advance } = await setup(options, cacheControl)
    expect(await cache.get(url)).toEqual({ n: 1 })
    advance(ttl - 1)
    expect(await cache.get(url)).toEqual({ n: 1 })
    advance(1)
    expect(await cache.get(url)).toEqual({ n: 2 })
  })

  it('refetches on demand once refetchInterval has passed, and not before (rate limit)', async () => {
    const { url, cache, served, advance } = await setup({ refetchInterval: 60 }, 'max-age=3600')
    await cache.get(url)
    // Just fetched: a forced refetch answers the cached document.
    expect(await cache.get(url, { refetch: true })).toEqual({ n: 1 })
    advance(60)
    expect(await cache.get(url, { refetch: true })).toEqual({ n: 2 })
    expect(await cache.get(url, { refetch: true })).toEqual({ n: 2 })
    advance(59)
    expect(await cache.get(url, { refetch: true })).toEqual({ n: 2 })
    expect(served()).toBe(2)
  })

  it('makes one request for 20 concurrent forced refetches (a flood of unknown kids)', async () => {
    const { url, cache, served, advance } = await setup({}, 'max-age=3600')
    await cache.get(url)
    advance(61)
    const answers = await Promise.all(Array.from({ length: 20 }, () => cache.get(url, { refetch: true })))
    expect(new Set(answers.map((a) => JSON.stringify(a)))).toEqual(new Set(['{"n":2}']))
    expect(served()).toBe(2)
  })

  it('makes one request for 20 concurrent first reads', async () => {
    const { url, cache, served } = await setup()
    const answers = await Promise.all(Array.from({ length: 20 }, () => cache.get(url)))
    expect(answers.every((a) => JSON.stringify(a) === '{"n":1}')).toBe(true)
    expect(served()).toBe(1)
  })

  it('remembers a failure for errorTtl without asking the server again', async () => {
    const { url, cache, served, fail, advance } = await setup({ errorTtl: 30 })
    fail(true)
    await expect(cache.get(url)).rejects.toMatchObject({ code: 'http_status', status: 503 })
    await expect(cache.get(url)).rejects.toBeInstanceOf(SafeFetchError)
    await expect(cache.get(url, { refetch: true })).rejects.toMatchObject({ code: 'http_status' })
    expect(served()).toBe(1)
    fail(false)
    advance(30)
    expect(await cache.get(url)).toEqual({ n: 2 })
  })

  it('keeps the cached document when a forced refetch fails', async () => {
    const { url, cache, served, fail, advance } = await setup({}, 'max-age=3600')
    await cache.get(url)
    fail(true)
    advance(61)
    expect(await cache.get(url, { refetch: true })).toEqual({ n: 1 })
    // The failed attempt counts against the rate limit.
    expect(await cache.get(url, { refetch: true })).toEqual({ n: 1 })
    expect(served()).toBe(2)
  })

  it('keeps at most maxEntries URLs, dropping the least recently used', async () => {
    const { url, cache, served } = await setup({ maxEntries: 2 })
    await cache.get(`${url}?a`)
    await cache.get(`${url}?b`)
    await cache.get(`${url}?a`)
    await cache.get(`${url}?c`)
    expect(cache.size).toBe(2)
    expect(served()).toBe(3)
    await cache.get(`${url}?a`)
    expect(served()).toBe(3)
    await cache.get(`${url}?b`)
    expect(served()).toBe(4)
  })

  it('forgets a URL on delete and everything on clear', async () => {
    const { url, cache, served } = await setup()
    await cache.get(url)
    expect(cache.delete(url)).toBe(true)
    await cache.get(url)
    cache.clear()
    expect(cache.size).toBe(0)
    await cache.get(url)
    expect(served()).toBe(3)
  })

  it('applies the fetch limits (http refused without allowHttp)', async () => {
    const { url } = await setup()
    const strict = createJsonCache()
    await expect(strict.get(url)).rejects.toMatchObject({ code: 'bad_url' })
    await expect(strict.get('not a url')).rejects.toMatchObject({ code: 'bad_url' })
  })

  it.each<[string, JsonCacheOptions]>([
    ['minTtl above maxTtl', { minTtl: 100, maxTtl: 10 }],
    ['maxEntries 0', { maxEntries: 0 }],
    ['refetchInterval 0', { refetchInterval: 0 }],
    ['a fractional errorTtl', { errorTtl: 1.5 }],
    ['now not a function', { now: 5 as never }],
    ['a bad fetch option', { timeout: -1 }],
  ])('refuses %s (TypeError)', (_name, options) => {
    expect(() => createJsonCache(options)).toThrow(TypeError)
  })
})
