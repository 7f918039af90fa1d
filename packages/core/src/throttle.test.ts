import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import * as oauth from 'oauth4webapi'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createClient } from './client.js'
import { createHttpHandler } from './http-handler.js'
import { basic, ISSUER, TestTokenGrant } from './internal/test-fixtures.js'
import { memoryStore } from './memory-store.js'
import { nodeBodySource } from './node-body.js'
import { createOAuthRequest, type OAuthRequest, type RequestHeaders } from './request.js'
import type { OAuthResponse } from './response.js'
import { AuthorizationServer, type AuthorizationServerOptions } from './server.js'
import {
  MAX_THROTTLE_KEY_LENGTH,
  memoryThrottle,
  remoteAddressOf,
  storableThrottleKey,
  throttleDecision,
  throttleLimitOf,
  throttleLimits,
  throttleNow,
  type Throttle,
  type ThrottleDecision,
} from './throttle.js'

const T0 = Date.UTC(2030, 0, 1)
const GRANT = 'grant_type=urn%3Atest%3Atoken'

describe('memoryThrottle (RFC 6819 §5.1.4.2.3: bound the guesses)', () => {
  it('allows `limit` attempts per key in a sliding window, then refuses with the seconds until the oldest leaves it', async () => {
    const throttle = memoryThrottle({ limit: 3, window: 60 })
    for (const at of [0, 10_000, 20_000]) expect(await throttle.hit('user:alice', T0 + at)).toEqual({ allowed: true, retryAfter: 0 })
    expect(await throttle.hit('user:alice', T0 + 30_000)).toEqual({ allowed: false, retryAfter: 30 })
    expect(await throttle.peek('user:alice', T0 + 59_500)).toEqual({ allowed: false, retryAfter: 1 })
    // Sliding: at +60 s the first attempt has left the window, the other two have not.
    expect(await throttle.hit('user:alice', T0 + 60_000)).toEqual({ allowed: true, retryAfter: 0 })
    expect(await throttle.hit('user:alice', T0 + 60_001)).toMatchObject({ allowed: false })
    // Another key is counted apart.
    expect(await throttle.hit('user:bob', T0 + 60_001)).toEqual({ allowed: true, retryAfter: 0 })
  })

  it('does not record refused hits, so a flood does not extend the wait', async () => {
    const throttle = memoryThrottle({ limit: 2, window: 60 })
    await throttle.hit('client:c', T0)
    await throttle.hit('client:c', T0)
    for (let i = 1; i <= 50; i++) expect((await throttle.hit('client:c', T0 + i * 1000)).allowed).toBe(false)
    expect(await throttle.hit('client:c', T0 + 60_000)).toEqual({ allowed: true, retryAfter: 0 })
  })

  it('gives ip: keys their own, larger limit', async () => {
    const throttle = memoryThrottle({ limit: 1, ipLimit: 3 })
    for (let i = 0; i < 3; i++) expect((await throttle.hit('ip:192.0.2.1', T0)).allowed).toBe(true)
    expect((await throttle.hit('ip:192.0.2.1', T0)).allowed).toBe(false)
    expect((await throttle.hit('user:x', T0)).allowed).toBe(true)
    expect((await throttle.hit('user:x', T0)).allowed).toBe(false)
  })

  it('peek records nothing; reset forgets the key', async () => {
    const throttle = memoryThrottle({ limit: 1 })
    for (let i = 0; i < 5; i++) expect((await throttle.peek('user:a', T0)).allowed).toBe(true)
    await throttle.hit('user:a', T0)
    expect((await throttle.peek('user:a', T0)).allowed).toBe(false)
    await throttle.reset('user:a')
    expect((await throttle.hit('user:a', T0)).allowed).toBe(true)
  })

  it('holds at most maxKeys keys under a flood of distinct keys, dropping the least recently used', async () => {
    const throttle = memoryThrottle({ limit: 1, window: 600, maxKeys: 100 })
    await throttle.hit('user:victim', T0)
    for (let i = 0; i < 99; i++) await throttle.hit(`user:flood-${i}`, T0 + 1)
    // Touching the victim makes it the most recent: the next flood evicts others first.
    expect((await throttle.hit('user:victim', T0 + 2)).allowed).toBe(false)
    for (let i = 99; i < 10_000; i++) await throttle.hit(`user:flood-${i}`, T0 + 3)
    // The oldest flood keys were evicted (they count again from zero)…
    expect((await throttle.peek('user:flood-0', T0 + 3)).allowed).toBe(true)
    // …and the most recent 100 are still held: the map never grew past maxKeys.
    expect((await throttle.peek('user:flood-9999', T0 + 3)).allowed).toBe(false)
    let held = 0
    for (let i = 0; i < 10_000; i++) if (!(await throttle.peek(`user:flood-${i}`, T0 + 3)).allowed) held++
    expect(held).toBe(100)
  })

  it('drops expired keys before evicting live ones', async () => {
    const throttle = memoryThrottle({ limit: 1, window: 60, maxKeys: 2 })
    await throttle.hit('user:old', T0)
    await throttle.hit('user:live', T0 + 50_000)
    await throttle.hit('user:new', T0 + 61_000)
    expect((await throttle.peek('user:live', T0 + 61_000)).allowed).toBe(false)
    expect((await throttle.peek('user:new', T0 + 61_000)).allowed).toBe(false)
  })

  it('lets exactly `limit` of 20 concurrent hits through', async () => {
    const throttle = memoryThrottle({ limit: 5 })
    const results = await Promise.all(Array.from({ length: 20 }, () => throttle.hit('client:c', T0)))
    expect(results.filter((r) => r.allowed)).toHaveLength(5)
  })

  it.each([
    ['limit 0', { limit: 0 }],
    ['a fractional window', { window: 1.5 }],
    ['maxKeys 0', { maxKeys: 0 }],
    ['a string ipLimit', { ipLimit: '100' }],
  ])('refuses %s with a TypeError', (_, options) => {
    expect(() => memoryThrottle(options as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
  })
})

/**
 * A Throttle over SQLite, written against the contract only: what a store
 * would implement so that several processes share the counts. A sliding
 * log; each call is one transaction, so concurrent hits are serialised.
 */
function sqliteThrottle(file: string, limit: number, windowSeconds: number): Throttle {
  const db = new Database(file)
  onTestFinished(() => {
    db.close()
  })
  db.pragma('journal_mode = WAL')
  db.pragma('busy_timeout = 5000')
  db.exec('CREATE TABLE IF NOT EXISTS throttle (key TEXT NOT NULL, at INTEGER NOT NULL)')
  const decide = db.transaction((key: string, now: number, record: boolean): ThrottleDecision => {
    db.prepare('DELETE FROM throttle WHERE key = ? AND at <= ?').run(key, now - windowSeconds * 1000)
    const { n, oldest } = db.prepare('SELECT count(*) AS n, min(at) AS oldest FROM throttle WHERE key = ?').get(key) as { n: number; oldest: number | null }
    if (n >= limit) return { allowed: false, retryAfter: Math.max(1, Math.ceil((oldest! + windowSeconds * 1000 - now) / 1000)) }
    if (record) db.prepare('INSERT INTO throttle (key, at) VALUES (?, ?)').run(key, now)
    return { allowed: true, retryAfter: 0 }
  })
  return {
    async hit(key, now) {
      return decide.immediate(key, now, true)
    },
    async peek(key, now) {
      return decide(key, now, false)
    },
    async reset(key) {
      db.prepare('DELETE FROM throttle WHERE key = ?').run(key)
    },
  }
}

// The store only holds the clients here; the throttle's own storage is the Throttle (memory, or the SQLite one above).
describe('the sliding-window rules shared by every Throttle implementation (RFC 6819 §5.1.4.2.3)', () => {
  it('throttleDecision allows while fewer than `limit` hits are inside the window (t > now - window), and waits for the oldest live one', () => {
    const now = T0 + 100_000
    // The hit at exactly now - window has left the window: 2 live hits of limit 3.
    expect(throttleDecision([T0 + 40_000, T0 + 50_000, T0 + 70_000], 3, 60_000, now)).toEqual({ allowed: true, retryAfter: 0 })
    // Three live hits: the oldest (+50 s) leaves at +110 s, 10 s from now.
    expect(throttleDecision([T0 + 70_000, T0 + 50_000, T0 + 90_000], 3, 60_000, now)).toEqual({ allowed: false, retryAfter: 10 })
    // Never less than one second, rounded up.
    expect(throttleDecision([T0 + 40_500], 1, 60_000, now)).toEqual({ allowed: false, retryAfter: 1 })
    // limit 0 always refuses; with no live hit left the wait is the least.
    expect(throttleDecision([], 0, 60_000, now)).toEqual({ allowed: false, retryAfter: 1 })
    expect(throttleDecision([T0 + 95_000], 0, 60_000, now)).toEqual({ allowed: false, retryAfter: 55 })
  })

  it('throttleLimits applies memoryThrottle\'s defaults and refuses bad limits with a TypeError naming the throttle', () => {
    const limits = throttleLimits('pgThrottle', {})
    expect(limits).toEqual({ limit: 10, ipLimit: 100, windowMs: 600_000 })
    expect(throttleLimitOf(limits, 'ip:192.0.2.1')).toBe(100)
    expect(throttleLimitOf(limits, 'client:ip:x')).toBe(10)
    expect(throttleLimits('x', { limit: 3, ipLimit: 7, window: 2 })).toEqual({ limit: 3, ipLimit: 7, windowMs: 2000 })
    for (const bad of [{ limit: 0 }, { ipLimit: 1.5 }, { window: 7 * 24 * 3600 + 1 }, { limit: '3' }]) {
      expect(() => throttleLimits('pgThrottle', bad as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG', message: expect.stringContaining('pgThrottle') }))
    }
    expect(() => throttleLimits('pgThrottle', null as never)).toThrow(TypeError)
  })

  it('storableThrottleKey keeps short plain keys and hashes long or unstorable ones, keeping the prefix (and so the ip: limit)', () => {
    expect(storableThrottleKey('client:abc')).toBe('client:abc')
    const long = storableThrottleKey(`ip:${'a'.repeat(500)}`)
    expect(long).toMatch(/^ip:#[A-Za-z0-9_-]{43}$/)
    expect(throttleLimitOf(throttleLimits('t', {}), long)).toBe(100)
    // NUL (refused by PostgreSQL text) and lone surrogates (folded by UTF-8) are hashed, and two such keys stay apart.
    const nul = storableThrottleKey('user:a\u0000b')
    expect(nul).toMatch(/^user:#/)
    expect(storableThrottleKey('user:\ud800')).not.toBe(storableThrottleKey('user:\udc00'))
    expect(storableThrottleKey('a\u0001:x'.repeat(1))).toMatch(/^key:#/)
    expect(storableThrottleKey('user:a\u0000b')).toBe(nul)
    expect(() => storableThrottleKey(42, 'mongoThrottle.hit')).toThrow(/mongoThrottle\.hit: the key must be a string/)
  })

  it('throttleNow takes whole milliseconds and refuses a non-finite now', () => {
    expect(throttleNow('t', T0 + 0.9)).toBe(T0)
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '1', undefined]) expect(() => throttleNow('sqliteThrottle.hit', bad)).toThrow(/sqliteThrottle\.hit: "now"/)
  })
})

describe('client authentication failures are throttled (RFC 6819 §4.4.3.6, §5.1.4.2.3)', () => {
  const openStore = async () => memoryStore()
  async function world(options: Partial<AuthorizationServerOptions> = { throttle: memoryThrottle({ limit: 3, ipLimit: 5, window: 600 }) }) {
    const store = await openStore()
    const clock = { t: T0 }
    const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => clock.t, onError: () => {}, ...options })
    server.registerGrant(TestTokenGrant)
    const { client, clientSecret } = await createClient({ clientId: 'app', secretHash: 'sha256', grantTypes: ['urn:test:token'] })
    await store.saveClient(client)
    const token = (headers: RequestHeaders, extra: { remoteAddress?: string; body?: string } = {}): Promise<OAuthResponse> => {
      const request: OAuthRequest & { remoteAddress?: string } = createOAuthRequest({ method: 'POST', url: '/token', headers, body: extra.body ?? GRANT })
      if (extra.remoteAddress !== undefined) request.remoteAddress = extra.remoteAddress
      return server.createTokenResponse(request)
    }
    return { server, store, clock, token, right: { authorization: basic('app', clientSecret!) }, wrong: { authorization: basic('app', 'guess') } }
  }

  it('answers 429 invalid_client with Retry-After once the limit is reached, even to the right secret, until the window passes (RFC 6585 §4)', async () => {
    const { token, right, wrong, clock } = await world()
    for (let i = 0; i < 3; i++) expect((await token(wrong)).status).toBe(401)
    for (const headers of [wrong, right]) {
      const refused = await token(headers)
      expect(refused.status).toBe(429)
      expect(refused.body).toMatchObject({ error: 'invalid_client' })
      expect(refused.headers).toMatchObject({ 'retry-after': '600', 'cache-control': 'no-store' })
      expect(refused.headers).not.toHaveProperty('www-authenticate')
    }
    clock.t += 600_000
    expect((await token(right)).status).toBe(200)
  })

  it('counts failures only: successes never count and never erase failures (they age out of the window)', async () => {
    const { token, right, wrong } = await world()
    for (let i = 0; i < 2; i++) expect((await token(wrong)).status).toBe(401)
    for (let i = 0; i < 30; i++) expect((await token(right)).status).toBe(200)
    expect((await token(wrong)).status).toBe(401)
    expect((await token(wrong)).status).toBe(429)
  })

  it('never throttles concurrent honest requests, however many (a busy client_credentials client)', async () => {
    const { token, right } = await world()
    const responses = await Promise.all(Array.from({ length: 40 }, () => token(right)))
    expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 40 }, () => 200))
  })

  it('throttles an unknown client id exactly like a known one, so the answers tell nothing about which exist', async () => {
    const { token, wrong } = await world()
    const unknown = { authorization: basic('nobody', 'guess') }
    for (let i = 0; i < 4; i++) {
      const [a, b] = await Promise.all([token(wrong), token(unknown)])
      expect({ status: b.status, headers: b.headers, body: b.body }).toEqual({ status: a.status, headers: a.headers, body: a.body })
    }
    expect((await token(unknown)).status).toBe(429)
  })

  it('counts every failure of a burst of 20 concurrent wrong secrets, so the next attempt is refused with 429', async () => {
    const { token, wrong, right } = await world()
    const responses = await Promise.all(Array.from({ length: 20 }, () => token(wrong)))
    expect(responses.every((r) => r.status === 401 || r.status === 429)).toBe(true)
    expect((await token(right)).status).toBe(429)
  })

  it('also throttles per remote address when the adapter passes one, across client ids', async () => {
    const { token } = await world()
    for (let i = 0; i < 5; i++) expect((await token({ authorization: basic(`id-${i}`, 'x') }, { remoteAddress: '192.0.2.7' })).status).toBe(401)
    const fromSameAddress = await token({ authorization: basic('id-new', 'x') }, { remoteAddress: '192.0.2.7' })
    expect(fromSameAddress.status).toBe(429)
    expect(fromSameAddress.body).toMatchObject({ error: 'invalid_client' })
    expect((await token({ authorization: basic('id-new', 'x') }, { remoteAddress: '198.51.100.1' })).status).toBe(401)
  })

  it('hands the throttle keys of bounded length, whatever the size of the client id sent', async () => {
    const keys: string[] = []
    const counting = memoryThrottle({ limit: 3 })
    const { token } = await world({ throttle: { ...counting, hit: (key, now) => (keys.push(key), counting.hit(key, now)) } })
    const huge = 'x'.repeat(10_000)
    for (let i = 0; i < 4; i++) await token({}, { body: `${GRANT}&client_id=${huge}&client_secret=s`, remoteAddress: `2001:db8::${'a'.repeat(200)}` })
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) expect(key.length).toBeLessThanOrEqual(MAX_THROTTLE_KEY_LENGTH)
    expect(keys[0]).toMatch(/^client:#[A-Za-z0-9_-]{43}$/)
    expect(keys.some((key) => /^ip:#[A-Za-z0-9_-]{43}$/.test(key))).toBe(true)
    // The same long id maps to the same key, so it is still counted.
    expect((await token({}, { body: `${GRANT}&client_id=${huge}&client_secret=s` })).status).toBe(429)
  })

  it('does not throttle `none` (no credential is checked, so nothing is guessed)', async () => {
    const { token } = await world()
    for (let i = 0; i < 6; i++) expect((await token({}, { body: `${GRANT}&client_id=app`, remoteAddress: '192.0.2.9' })).status).toBe(401)
  })

  it('is off with throttle: false', async () => {
    const { server, token, wrong } = await world({ throttle: false })
    expect(server.throttle).toBeNull()
    // One more than the limit of the throttled world above.
    for (let i = 0; i < 4; i++) expect((await token(wrong)).status).toBe(401)
  })

  it('is on by default: memoryThrottle with 10 failures per identity in 10 minutes', async () => {
    const { server } = await world({})
    const throttle = server.throttle!
    for (let i = 0; i < 10; i++) expect((await throttle.hit('client:x', T0)).allowed).toBe(true)
    expect(await throttle.hit('client:x', T0)).toEqual({ allowed: false, retryAfter: 600 })
  })

  it('shares the counts of two servers through a Throttle backed by SQLite (the storable contract)', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'grantkit-throttle-')), 'throttle.sqlite')
    const a = await world({ throttle: sqliteThrottle(file, 3, 600) })
    const b = await world({ throttle: sqliteThrottle(file, 3, 600) })
    expect((await a.token(a.wrong)).status).toBe(401)
    expect((await b.token(b.wrong)).status).toBe(401)
    expect((await a.token(a.wrong)).status).toBe(401)
    expect((await b.token(b.wrong)).status).toBe(429)
    expect((await a.token(a.right)).status).toBe(429)
  })

  it('refuses a throttle without the contract with a TypeError', async () => {
    const store = await openStore()
    expect(() => new AuthorizationServer({ issuer: ISSUER, store, throttle: { hit: async () => ({ allowed: true, retryAfter: 0 }) } as unknown as Throttle })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }),
    )
  })
})

describe('over HTTP with oauth4webapi: the 429 and the remote address the handler passes on', () => {
  it('an unmodified client sees 429 invalid_client with Retry-After after the limit, for the socket address', async () => {
    const store = memoryStore()
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => http.close(() => resolve())))
    const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
    const seen: Array<string | undefined> = []
    const counting: Throttle = memoryThrottle({ limit: 2, ipLimit: 50 })
    const throttle: Throttle = { ...counting, peek: (key, now) => (seen.push(key), counting.peek(key, now)) }
    const server = new AuthorizationServer({ issuer, store, throttle, clock: () => T0 })
    server.registerGrant(TestTokenGrant)
    await store.saveClient((await createClient({ clientId: 'app', clientSecret: 'right', secretHash: 'sha256', grantTypes: ['urn:test:token'] })).client)
    const handler = createHttpHandler(server)
    http.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', issuer)
      void handler
        .handle({ method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), url: req.url ?? '/', headers: req.headers, body: nodeBodySource(req), remoteAddress: req.socket.remoteAddress })
        .then((outcome) => {
          if (outcome.kind === 'handled') return
          res.writeHead(outcome.status, outcome.headers)
          res.end(outcome.kind === 'json' || outcome.kind === 'html' ? outcome.body : undefined)
        })
    })
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }))
    const client: oauth.Client = { client_id: 'app' }
    const attempt = async (secret: string) => {
      const response = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(secret), 'urn:test:token', new URLSearchParams(), { [oauth.allowInsecureRequests]: true })
      try {
        await oauth.processGenericTokenEndpointResponse(as, client, response)
        return { status: 200 }
      } catch (error) {
        // oauth4webapi reports a 401 with a challenge as WWWAuthenticateChallengeError, other error bodies as ResponseBodyError.
        if (error instanceof oauth.WWWAuthenticateChallengeError) {
          return { status: error.status, challenge: error.cause.map((c) => `${c.scheme} realm="${c.parameters.realm}"`).join(', ') }
        }
        if (!(error instanceof oauth.ResponseBodyError)) throw error
        return { status: error.status, error: error.error, retryAfter: error.response.headers.get('retry-after'), challenge: error.response.headers.get('www-authenticate') }
      }
    }
    expect(await attempt('wrong')).toEqual({ status: 401, challenge: 'basic realm="oauth"' })
    expect(await attempt('wrong')).toMatchObject({ status: 401 })
    expect(await attempt('right')).toEqual({ status: 429, error: 'invalid_client', retryAfter: '600', challenge: null })
    // The socket's address, as the HTTP layer handed it over, next to the claimed client id.
    expect(new Set(seen)).toEqual(new Set(['ip:127.0.0.1', 'client:app']))
  })

  it('remoteAddressOf reads only the field the adapter set, never a forwarded header', () => {
    const request = createOAuthRequest({ headers: { 'x-forwarded-for': '203.0.113.5' } })
    expect(remoteAddressOf(request)).toBeUndefined()
    expect(remoteAddressOf({ ...request, remoteAddress: '192.0.2.1' } as OAuthRequest)).toBe('192.0.2.1')
  })
})
