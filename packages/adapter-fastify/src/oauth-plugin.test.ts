import { generateKeyPairSync } from 'node:crypto'
import { createGunzip, gzipSync } from 'node:zlib'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { IntrospectionEndpoint, OAuthError, RevocationEndpoint, jwtAccessTokens, type AuthorizationServer, type TokenStrategy } from '@grantkit/core'
import { CLIENT_FORM, FORM, REDIRECT_URI, authorizeQuery, testServer } from '@grantkit/adapter-test-suite'
import { oauthPlugin, type AuthorizeHook, type OAuthPluginOptions } from './oauth-plugin.js'
import { listen, rawRequest } from './internal/testing.js'

let closers: (() => Promise<void>)[] = []

afterEach(async () => {
  await Promise.all(closers.map((close) => close()))
  closers = []
})

interface StartOptions {
  readonly options?: Partial<OAuthPluginOptions>
  readonly issuer?: string
  readonly tokenStrategy?: TokenStrategy
  readonly setup?: (server: AuthorizationServer) => void
  /** The app around the plugin: its own routes, hooks and parsers, registered before it. */
  readonly app?: (app: FastifyInstance) => void
}

async function start({ options = {}, issuer, tokenStrategy, setup, app: around }: StartOptions = {}): Promise<{ url: string; app: FastifyInstance }> {
  const { server } = await testServer({ ...(issuer === undefined ? {} : { issuer }), ...(tokenStrategy === undefined ? {} : { tokenStrategy }) })
  setup?.(server)
  const app = Fastify()
  around?.(app)
  await app.register(oauthPlugin, { server, authorize: () => ({ deny: true }), ...options })
  const { url, close } = await listen(app)
  closers.push(close)
  return { url, app }
}

/** The page headers of the authorization endpoint (RFC 6749 §10.13). */
function expectPageHeaders(headers: Headers | Record<string, unknown>): void {
  const get = (name: string) => (headers instanceof Headers ? headers.get(name) : headers[name])
  expect(get('x-frame-options')).toBe('DENY')
  expect(get('content-security-policy')).toContain("frame-ancestors 'none'")
  expect(get('cache-control')).toBe('no-store')
}

describe('oauthPlugin', () => {
  describe('registration', () => {
    const noop = (): undefined => undefined
    it.each<[string, Record<string, unknown> | undefined]>([
      ['no options', undefined],
      ['no server', { authorize: noop }],
      ['no authorize hook', { server: true }],
      ['a renderError that is not a function', { server: true, authorize: noop, renderError: 'page' }],
      ['an onError that is not a function', { server: true, authorize: noop, onError: 'log' }],
      ['a zero body limit', { server: true, authorize: noop, bodyLimit: 0 }],
      ['a negative request timeout', { server: true, authorize: noop, requestTimeout: -1 }],
      ['a CORS origin with a path', { server: true, authorize: noop, cors: { origins: ['https://a.example/path'] } }],
    ])('rejects %s with a TypeError when the app boots', async (_name, given) => {
      const { server } = await testServer()
      const options = given === undefined ? undefined : { ...given, ...(given['server'] === true ? { server } : {}) }
      const app = Fastify()
      await expect(app.register(oauthPlugin, options as unknown as OAuthPluginOptions)).rejects.toThrow(TypeError)
    })

    it('rejects a prefix, since the issuer decides every path (RFC 8414 §3.1)', async () => {
      const { server } = await testServer()
      const app = Fastify()
      await expect(app.register(oauthPlugin, { server, authorize: () => undefined, prefix: '/oauth' })).rejects.toThrow(/prefix/)
    })

    it('serves every endpoint under the issuer path instead, metadata included', async () => {
      const { url } = await start({ issuer: 'http://127.0.0.1/tenant' })
      const metadata = await fetch(`${url}/.well-known/oauth-authorization-server/tenant`)
      expect(await metadata.json()).toMatchObject({ token_endpoint: 'http://127.0.0.1/tenant/token' })
      const token = await fetch(`${url}/tenant/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
      expect(token.status).toBe(200)
    })

    it('is named in the plugin tree (fastify.display-name)', async () => {
      const { app } = await start()
      expect(app.printPlugins()).toContain('@grantkit/adapter-fastify')
    })
  })

  describe('encapsulation: the plugin parses bodies for its own routes only', () => {
    const appRoutes = (app: FastifyInstance) => {
      app.post('/echo', async (request) => ({ body: request.body }))
    }

    it("leaves the app's JSON parsing of its own routes in place", async () => {
      const { url } = await start({ app: appRoutes })
      const res = await fetch(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ body: { a: [1, 2] } })
    })

    it("does not teach the app's routes to accept any media type (Fastify answers them 415)", async () => {
      const { url } = await start({ app: appRoutes })
      const res = await fetch(`${url}/echo`, { method: 'POST', headers: FORM, body: 'a=1' })
      expect(res.status).toBe(415)
    })

    it('still parses a form at the token endpoint when the app parses forms itself (RFC 6749 §3.2)', async () => {
      const { url } = await start({
        app: (app) => app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, { mangled: body })),
      })
      const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&scope=read&scope=profile' })
      // Read by core, not by the app's parser: the repeated scope is still refused.
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('scope') })
    })

    it('reads the stream an app preParsing hook put in place of the request (a decompressor)', async () => {
      const { url } = await start({
        app: (app) =>
          app.addHook('preParsing', async (request, _reply, payload) => (request.headers['content-encoding'] === 'gzip' ? payload.pipe(createGunzip()) : payload)),
      })
      const res = await rawRequest(`${url}/token`, {
        method: 'POST',
        headers: { ...CLIENT_FORM, 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' },
        parts: [gzipSync('grant_type=client_credentials&scope=read')],
      })
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body)).toMatchObject({ scope: 'read' })
    })

    it("leaves an error of the app's own hook on an OAuth route to the app's error handler", async () => {
      const { url } = await start({
        app: (app) => {
          app.addHook('onRequest', async (request) => {
            if (request.headers['x-blocked'] !== undefined) throw Object.assign(new Error('blocked'), { statusCode: 429 })
          })
          app.setErrorHandler((error, _request, reply) => reply.code(429).send({ app: (error as Error).message }))
        },
      })
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, 'x-blocked': '1' }, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(429)
      expect(await res.json()).toEqual({ app: 'blocked' })
    })
  })

  describe('request bodies, read by core (RFC 6749 §3.2, Appendix B)', () => {
    it.each([
      ['a JSON body', 'application/json', '{"grant_type":"client_credentials"}'],
      ['a plain-text body', 'text/plain', 'grant_type=client_credentials'],
      ['a body with a Content-Type Fastify cannot parse', 'form', 'grant_type=client_credentials'],
      ['a body with an empty Content-Type', '', 'grant_type=client_credentials'],
    ])('answers %s at the token endpoint with 400 invalid_request, never a Fastify 415', async (_name, type, body) => {
      const { url } = await start()
      const res = await rawRequest(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, 'content-type': type }, parts: [body] })
      expect(res.status).toBe(400)
      expect(res.headers['cache-control']).toBe('no-store')
      expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' })
    })

    it('answers a login form with a Content-Type Fastify cannot parse with a 400 page, never a redirect', async () => {
      const authorize = vi.fn<AuthorizeHook>(() => ({ user: { id: 'u1' } }))
      const { url } = await start({ options: { authorize } })
      const res = await rawRequest(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: { 'content-type': 'form' }, parts: ['username=ada'] })
      expect(res.status).toBe(400)
      expect(res.headers['content-type']).toMatch(/^text\/html/)
      expect(res.headers['location']).toBeUndefined()
      expectPageHeaders(res.headers)
      expect(authorize).not.toHaveBeenCalled()
    })

    it('answers a chunked body over bodyLimit with 413 while it streams (RFC 9110 §15.5.14)', async () => {
      const { url } = await start({ options: { bodyLimit: 1024 } })
      const res = await rawRequest(`${url}/token`, {
        method: 'POST',
        headers: { ...CLIENT_FORM, 'transfer-encoding': 'chunked' },
        parts: ['grant_type=client_credentials&x=', ...Array.from({ length: 8 }, () => 'a'.repeat(256))],
      })
      expect(res.status).toBe(413)
      expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' })
    })

    it('answers a chunked body over the limit that never ends with 413 as soon as the limit is passed', async () => {
      const { url } = await start({ options: { bodyLimit: 1024, requestTimeout: false } })
      const res = await rawRequest(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, 'transfer-encoding': 'chunked' }, parts: ['x='.padEnd(2048, 'a')], stall: true })
      expect(res.status).toBe(413)
    })

    it('reads a chunked body under the limit', async () => {
      const { url } = await start()
      const res = await rawRequest(`${url}/token`, {
        method: 'POST',
        headers: { ...CLIENT_FORM, 'transfer-encoding': 'chunked' },
        parts: ['grant_type=client_', 'credentials&sco', 'pe=read'],
      })
      expect(res.status).toBe(200)
      expect(JSON.parse(res.body)).toMatchObject({ scope: 'read' })
    })

    it('is not limited by the app bodyLimit, only by the plugin option', async () => {
      const { server } = await testServer()
      const app = Fastify({ bodyLimit: 16 })
      await app.register(oauthPlugin, { server, authorize: () => undefined, bodyLimit: 100 })
      const { url, close } = await listen(app)
      closers.push(close)
      const ok = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
      expect(ok.status).toBe(200)
      const big = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&x='.padEnd(200, 'a') })
      expect(big.status).toBe(413)
      expect(await big.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('answers a body that stops arriving with 500 server_error once requestTimeout passes, and reports it', async () => {
      const onError = vi.fn()
      const { url } = await start({ options: { requestTimeout: 100, onError } })
      const res = await rawRequest(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, 'content-length': '100' }, parts: ['grant_type=cli'], stall: true })
      expect(res.status).toBe(500)
      expect(JSON.parse(res.body)).toMatchObject({ error: 'server_error' })
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ name: 'RequestTimeoutError' }), expect.objectContaining({ url: '/token' }))
    })

    it('answers a chunked login form that stops arriving with the 500 page once requestTimeout passes', async () => {
      const authorize = vi.fn<AuthorizeHook>(() => ({ user: { id: 'u1' } }))
      const { url } = await start({ options: { requestTimeout: 100, onError: () => {}, authorize } })
      const res = await rawRequest(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: { ...FORM, 'transfer-encoding': 'chunked' }, parts: ['username='], stall: true })
      expect(res.status).toBe(500)
      expect(res.headers['content-type']).toMatch(/^text\/html/)
      expect(res.headers['location']).toBeUndefined()
      expect(authorize).not.toHaveBeenCalled()
    })
  })

  describe('replies', () => {
    it('sends the JWK Set with its own media type, untouched by Fastify (RFC 7517 §8.5)', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const { url } = await start({ tokenStrategy: jwtAccessTokens({ privateKey, alg: 'ES256', kid: 'k1' }) })
      const res = await fetch(`${url}/jwks.json`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/jwk-set+json')
      expect(await res.json()).toMatchObject({ keys: [{ kid: 'k1' }] })
    })

    it('answers HEAD on the metadata with the headers of GET and no body (RFC 9110 §9.3.2)', async () => {
      const { url } = await start()
      const res = await fetch(`${url}/.well-known/oauth-authorization-server`, { method: 'HEAD' })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(await res.text()).toBe('')
    })

    it.each(['PUT', 'DELETE', 'PATCH'])('answers %s /token with 405 and Allow from core (RFC 9110 §15.5.6)', async (method) => {
      const { url } = await start({ setup: (server) => server.registerEndpoint(RevocationEndpoint).registerEndpoint(IntrospectionEndpoint) })
      const res = await fetch(`${url}/token`, { method })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('POST, OPTIONS')
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it("leaves other paths to the app's 404", async () => {
      const { url } = await start()
      const res = await fetch(`${url}/token/extra`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(404)
    })
  })

  describe('authorization endpoint (RFC 6749 §3.1, §4.1)', () => {
    it('hands the validated request to the hook, whose page gets the page headers (§10.13)', async () => {
      const authorize = vi.fn<AuthorizeHook>((_request, reply) => {
        reply.code(401).type('text/html; charset=utf-8').send('<p>login</p>')
        return undefined
      })
      const { url } = await start({ options: { authorize } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(401)
      expect(await res.text()).toBe('<p>login</p>')
      expectPageHeaders(res.headers)
      const [request, , authorization] = authorize.mock.calls[0]!
      expect(request.url).toBe(`/authorize?${authorizeQuery()}`)
      expect(authorization.request).toMatchObject({ redirectUri: REDIRECT_URI, state: 's t', client: { clientId: 'app' } })
      expect(authorization.actionUrl).toBe(`/authorize?${authorizeQuery()}`)
    })

    it('waits for a page the hook sends later when it returns the reply (like reply.view)', async () => {
      const { url } = await start({
        options: {
          authorize: (_request, reply) => {
            setTimeout(() => reply.type('text/html').send('rendered later'), 20)
            return reply
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('rendered later')
      expectPageHeaders(res.headers)
    })

    it('hands the login form posted back to actionUrl to the hook, and redirects 303 (RFC 9700 §4.12)', async () => {
      const { url } = await start({ options: { authorize: (_request, _reply, { form }) => (form.get('password') === 'pw' ? { user: { id: 'ada' } } : { deny: true }) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: FORM, body: 'username=ada&password=pw', redirect: 'manual' })
      expect(res.status).toBe(303)
      expect(Object.fromEntries(new URL(res.headers.get('location')!).searchParams)).toMatchObject({ code: 'code-for-ada', state: 's t' })
    })

    it('answers a hook that throws with the 500 page, never the message or a Fastify error body', async () => {
      const onError = vi.fn()
      const { url } = await start({
        options: {
          onError,
          authorize: () => {
            throw new Error('secret <internals>')
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      const text = await res.text()
      expect(text).toContain('server_error')
      expect(text).not.toContain('secret')
      expect(text).not.toContain('statusCode')
      expect(onError).toHaveBeenCalledOnce()
    })

    it('redirects a protocol error the hook throws to the client (§4.1.2.1)', async () => {
      const { url } = await start({
        options: {
          authorize: () => {
            throw new OAuthError('access_denied', 'the user cancelled')
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('access_denied')
    })

    it('answers with the 503 temporarily_unavailable page when the hook hangs past requestTimeout, and ignores its late reply', async () => {
      let late: (() => void) | undefined
      const { url } = await start({
        options: {
          requestTimeout: 100,
          onError: () => {},
          authorize: (_request, reply) =>
            new Promise((resolve) => {
              late = () => resolve(reply.send('too late'))
            }),
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(503)
      expect(await res.text()).toContain('temporarily_unavailable')
      late?.()
    })

    it('lets renderError render the error page, with its status and the page headers already set', async () => {
      const renderError = vi.fn<NonNullable<OAuthPluginOptions['renderError']>>((_request, reply, error) => void reply.send(`custom ${error.error}`))
      const { url } = await start({ options: { renderError } })
      const res = await fetch(`${url}/authorize?${authorizeQuery({ client_id: 'nobody' })}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await res.text()).toBe('custom invalid_client')
      expectPageHeaders(res.headers)
      expect(renderError.mock.calls[0]![2]).toEqual({ status: 400, error: 'invalid_client', description: 'unknown client' })
    })

    it('falls back to the default page, status and type when renderError throws, and reports it', async () => {
      const onError = vi.fn()
      const { url } = await start({
        options: {
          onError,
          renderError: (_request, reply) => {
            reply.code(200).type('application/json')
            throw new Error('renderer broke')
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery({ client_id: 'nobody' })}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      const html = await res.text()
      expect(html).toContain('invalid_client')
      expect(html).not.toContain('renderer broke')
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'renderer broke' }), expect.anything())
    })

    it('answers despite an onError that throws', async () => {
      const { url } = await start({
        options: {
          onError: () => {
            throw new Error('logger down')
          },
          renderError: () => {
            throw new Error('renderer broke')
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery({ client_id: 'nobody' })}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(await res.text()).toContain('invalid_client')
    })
  })
})
