import Fastify, { type FastifyInstance } from 'fastify'
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

async function start(options: RequireTokenOptions, routes?: (app: FastifyInstance, server: AuthorizationServer) => void): Promise<{ url: string; store: MemoryStore; handler: ReturnType<typeof vi.fn> }> {
  const { server, store } = await testServer({ tokens: true })
  const handler = vi.fn()
  const app = Fastify()
  if (routes !== undefined) routes(app, server)
  else
    app.get('/resource', { preHandler: requireToken(server, options) }, async (request) => {
      handler()
      return request.oauth
    })
  const { url, close } = await listen(app)
  closers.push(close)
  return { url: url + '/resource', store, handler }
}

describe('requireToken', () => {
  it.each([
    ['options that are not an object', 'profile'],
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
    it.each(['Bearer', 'bearer', 'BEARER'])('accepts the %s scheme and sets request.oauth for the handler', async (scheme) => {
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

    it('protects every route of a scope when added with addHook in a plugin, and no route outside it', async () => {
      const { url } = await start({}, (app, server) => {
        app.register(async (api) => {
          api.addHook('preHandler', requireToken(server, { scope: 'read' }))
          api.get('/resource', async (request) => ({ sub: request.oauth?.userId }))
        })
        app.get('/public', async () => ({ public: true }))
      })
      expect((await fetch(url)).status).toBe(401)
      const ok = await fetch(url, { headers: { authorization: 'Bearer read-only' } })
      expect(await ok.json()).toEqual({ sub: 'user-1' })
      expect((await fetch(url.replace('/resource', '/public'))).status).toBe(200)
    })
  })

  describe('without credentials (RFC 6750 §3.1)', () => {
    it.each([
      ['no Authorization header', {}, ''],
      ['a Basic Authorization header', { authorization: 'Basic YTpi' }, ''],
      ['a token in the query only (§2.3 is not supported)', {}, '?access_token=user-token'],
    ])('answers %s with the bare 401 challenge, no error code and an empty body, without running the handler', async (_name, headers: Record<string, string>, query) => {
      const { url, handler } = await start({ scope: 'profile' })
      const res = await fetch(url + query, { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="http://127.0.0.1"')
      expect(await res.text()).toBe('')
      expect(handler).not.toHaveBeenCalled()
    })
  })

  describe('with a bad token (RFC 6750 §3.1 invalid_token)', () => {
    it.each(['unknown', 'expired', 'revoked', 'not a b64token!'])('answers 401 invalid_token for a %s token', async (token) => {
      const { url, handler } = await start({ scope: 'profile' })
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="http:\/\/127.0.0.1", .*error="invalid_token"/)
      expect(await res.json()).toMatchObject({ error: 'invalid_token' })
      expect(handler).not.toHaveBeenCalled()
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
    it('answers 500 server_error without details and hands the error and request to onError', async () => {
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
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'connection string postgres://secret' }), expect.objectContaining({ url: '/resource' }))
    })

    it('logs one line without the message or stack by default', async () => {
      const { url, store } = await start({})
      store.findToken = async () => {
        throw new Error('db down\n    at secretFrame (/srv/app.js:1:1)')
      }
      const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
      try {
        expect((await fetch(url, { headers: { authorization: 'Bearer user-token' } })).status).toBe(500)
        expect(errors.mock.calls).toEqual([['[grantkit] unexpected error in requireToken: Error']])
      } finally {
        errors.mockRestore()
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
