import express from 'express'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { AuthorizationServer, MemoryStore } from '@grantkit/core'
import { testServer } from '@grantkit/adapter-test-suite'
import { requireToken, type RequireTokenOptions } from './require-token.js'
import { listen } from './internal/testing.js'

let closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.map((close) => close()))
  closers = []
})

/** `GET /resource` behind requireToken, answering `res.locals.oauth`; `reached` counts the handler's calls. */
async function start(options: RequireTokenOptions): Promise<{ url: string; store: MemoryStore; server: AuthorizationServer; reached: () => number }> {
  const { server, store } = await testServer({ tokens: true })
  let calls = 0
  const app = express()
  app.get('/resource', requireToken(server, options), (_req, res) => {
    calls++
    // Typed: RequireTokenHandler carries `res.locals.oauth` to the handlers after it.
    const { clientId, userId, scopes, token } = res.locals.oauth
    res.json({ clientId, userId, scopes, token: { type: token.type } })
  })
  const { url, close } = await listen(app)
  closers.push(close)
  return { url: url + '/resource', store, server, reached: () => calls }
}

const quiet = () => vi.spyOn(console, 'error').mockImplementation(() => {})

describe('requireToken (Express)', () => {
  it.each([
    ['a scope list of non-strings', { scope: [1] }],
    ['a zero timeout', { timeout: 0 }],
    ['an onError that is not a function', { onError: 'log' }],
  ])('throws a TypeError at setup for %s', async (_name, options) => {
    const { server } = await testServer()
    expect(() => requireToken(server, options as unknown as RequireTokenOptions)).toThrow(TypeError)
  })

  it('throws a TypeError at setup without a server', () => {
    expect(() => requireToken(undefined as unknown as AuthorizationServer)).toThrow(TypeError)
  })

  describe('with a valid bearer token (RFC 6750 §2.1)', () => {
    it.each(['Bearer', 'bearer', 'BEARER'])('accepts the %s scheme, sets res.locals.oauth and calls next()', async (scheme) => {
      const { url, reached } = await start({ scope: 'profile' })
      const res = await fetch(url, { headers: { authorization: `${scheme} user-token` } })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ clientId: 'app', userId: 'user-1', scopes: ['profile', 'read'], token: { type: 'access_token' } })
      expect(reached()).toBe(1)
    })

    it('accepts a client-only token when no user is required', async () => {
      const { url } = await start({ scope: ['read'] })
      const res = await fetch(url, { headers: { authorization: 'Bearer client-token' } })
      expect(await res.json()).toMatchObject({ userId: null })
    })

    it('protects every route of a mounted path with app.use', async () => {
      const { server } = await testServer({ tokens: true })
      const app = express()
      const api = express.Router()
      api.get('/me', (_req, res) => void res.json({ client: (res.locals as { oauth: { clientId: string } }).oauth.clientId }))
      app.use('/api', requireToken(server), api)
      const { url, close } = await listen(app)
      closers.push(close)
      expect((await fetch(`${url}/api/me`)).status).toBe(401)
      const res = await fetch(`${url}/api/me`, { headers: { authorization: 'Bearer user-token' } })
      expect(await res.json()).toEqual({ client: 'app' })
    })
  })

  describe('without credentials (RFC 6750 §3.1: no error code)', () => {
    it.each([
      ['no Authorization header', {}, ''],
      ['a Basic Authorization header', { authorization: 'Basic YTpi' }, ''],
      ['a token in the query only (RFC 6750 §2.3 is not supported)', {}, '?access_token=user-token'],
    ])('answers a bare 401 with a Bearer challenge and an empty body for %s', async (_name, headers: Record<string, string>, query) => {
      const { url, reached } = await start({ scope: 'profile' })
      const res = await fetch(url + query, { headers })
      expect(res.status).toBe(401)
      const challenge = res.headers.get('www-authenticate')!
      expect(challenge).toMatch(/^Bearer realm="http:\/\/127\.0\.0\.1"/)
      expect(challenge).not.toContain('error=')
      expect(await res.text()).toBe('')
      expect(reached()).toBe(0)
    })
  })

  describe('with a bad token (RFC 6750 §3.1 invalid_token)', () => {
    it.each(['unknown', 'expired', 'revoked', 'refresh', 'not a b64token!'])('answers 401 invalid_token for a %s token', async (token) => {
      const { url, reached } = await start({ scope: 'profile' })
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/)
      expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8')
      expect(await res.json()).toMatchObject({ error: 'invalid_token' })
      expect(reached()).toBe(0)
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
      expect(await res.json()).toMatchObject({ error: 'insufficient_scope' })
    })
  })

  describe('when the store fails', () => {
    it('answers 500 server_error without details and hands the error and req to onError', async () => {
      const onError = vi.fn()
      const { url, store } = await start({ onError })
      store.findToken = async () => {
        throw new Error('connection string postgres://secret')
      }
      const res = await fetch(url, { headers: { authorization: 'Bearer user-token' } })
      expect(res.status).toBe(500)
      const text = await res.text()
      expect(JSON.parse(text)).toMatchObject({ error: 'server_error' })
      expect(text).not.toContain('secret')
      expect(onError).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ message: 'connection string postgres://secret' }), expect.objectContaining({ originalUrl: '/resource' }))
    })

    it('logs one line without the message or a stack by default', async () => {
      const { url, store } = await start({})
      store.findToken = async () => {
        throw new Error('db down\n    at secretFrame (/srv/app.js:1:1)')
      }
      const log = quiet()
      try {
        expect((await fetch(url, { headers: { authorization: 'Bearer user-token' } })).status).toBe(500)
        expect(log.mock.calls).toEqual([['[grantkit] unexpected error in requireToken: Error']])
      } finally {
        log.mockRestore()
      }
    })

    it('answers 503 server_error with Retry-After when the token lookup outlives the timeout (a passing outage)', async () => {
      const { url, store } = await start({ timeout: 100, onError: () => {} })
      store.findToken = () => new Promise(() => {})
      const res = await fetch(url, { headers: { authorization: 'Bearer user-token' } })
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(await res.json()).toMatchObject({ error: 'server_error' })
    })
  })
})
