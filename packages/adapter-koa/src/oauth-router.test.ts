import { request as httpRequest } from 'node:http'
import Koa from 'koa'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { IntrospectionEndpoint, RevocationEndpoint, jwtAccessTokens, type AuthorizationServer, type TokenStrategy } from '@grantkit/core'
import { REDIRECT_URI, basicAuth, testServer } from '@grantkit/adapter-test-suite'
import { oauthRouter, type AuthorizeHook, type OAuthRouterOptions } from './oauth-router.js'
import { listen } from './internal/testing.js'

const noop: AuthorizeHook = () => undefined
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
let closers: (() => Promise<void>)[] = []

afterEach(async () => {
  await Promise.all(closers.map((close) => close()))
  closers = []
})

async function start(
  options: Partial<OAuthRouterOptions> = {},
  setup?: (server: AuthorizationServer) => void,
  issuer?: string,
  tokenStrategy?: TokenStrategy,
): Promise<{ url: string; server: AuthorizationServer }> {
  const { server } = await testServer({ ...(issuer === undefined ? {} : { issuer }), ...(tokenStrategy === undefined ? {} : { tokenStrategy }) })
  setup?.(server)
  const app = new Koa()
  app.use(oauthRouter(server, { authorize: () => ({ deny: true }), ...options }).routes())
  const { url, close } = await listen(app)
  closers.push(close)
  return { url, server }
}

function authorizeQuery(extra: Record<string, string> = {}): string {
  return new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT_URI, state: 's t', scope: 'profile', ...extra }).toString()
}

/** Sends raw bytes (fetch cannot send a malformed body or a lying Content-Length). */
function rawRequest(url: string, init: { method: string; headers: Record<string, string>; body?: Buffer | string }): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method, headers: init.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }))
    })
    req.on('error', reject)
    req.end(init.body)
  })
}

describe('oauthRouter', () => {
  describe('setup', () => {
    it.each([
      ['no options', undefined],
      ['no authorize hook', {}],
      ['a zero body limit', { authorize: noop, bodyLimit: 0 }],
      ['a negative request timeout', { authorize: noop, requestTimeout: -1 }],
      ['a request timeout that is not a number', { authorize: noop, requestTimeout: '10s' }],
      ['a CORS origin with a path', { authorize: noop, cors: { origins: ['https://a.example/path'] } }],
      ['CORS origins that are not a list', { authorize: noop, cors: { origins: 'https://a.example' } }],
    ])('throws a TypeError for %s', async (_name, options) => {
      const { server } = await testServer()
      expect(() => oauthRouter(server, options as unknown as OAuthRouterOptions)).toThrow(TypeError)
    })

    it('throws a TypeError without a server', () => {
      expect(() => oauthRouter(undefined as unknown as AuthorizationServer, { authorize: () => undefined })).toThrow(TypeError)
    })
  })

  describe('metadata (RFC 8414 §3)', () => {
    it('serves the server metadata with endpoint URLs from the server options', async () => {
      const { url } = await start({}, (server) => server.registerEndpoint(RevocationEndpoint).registerEndpoint(IntrospectionEndpoint))
      const res = await fetch(`${url}/.well-known/oauth-authorization-server`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(await res.json()).toMatchObject({
        issuer: 'http://127.0.0.1',
        authorization_endpoint: 'http://127.0.0.1/authorize',
        token_endpoint: 'http://127.0.0.1/token',
        revocation_endpoint: 'http://127.0.0.1/revoke',
        introspection_endpoint: 'http://127.0.0.1/introspect',
      })
    })

    it('inserts the well-known segment before the issuer path (RFC 8414 §3.1) and serves endpoints under it', async () => {
      const { url } = await start({}, undefined, 'http://127.0.0.1/tenant')
      const res = await fetch(`${url}/.well-known/oauth-authorization-server/tenant`)
      expect(await res.json()).toMatchObject({ issuer: 'http://127.0.0.1/tenant', token_endpoint: 'http://127.0.0.1/tenant/token' })
      const token = await fetch(`${url}/tenant/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials' })
      expect(token.status).toBe(200)
    })

    it('answers a POST with 405 and Allow', async () => {
      const { url } = await start()
      const res = await fetch(`${url}/.well-known/oauth-authorization-server`, { method: 'POST' })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toContain('GET')
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('serves the JWK Set at jwks_uri when the token strategy signs (RFC 8414 §2, RFC 9068)', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const { url } = await start({}, undefined, undefined, jwtAccessTokens({ privateKey, alg: 'ES256', kid: 'k1' }))
      const metadata = (await (await fetch(`${url}/.well-known/oauth-authorization-server`)).json()) as Record<string, string>
      expect(metadata['jwks_uri']).toBe('http://127.0.0.1/jwks.json')
      const res = await fetch(`${url}/jwks.json`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/jwk-set+json')
      const { keys } = (await res.json()) as { keys: Record<string, string>[] }
      expect(keys).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', kid: 'k1', alg: 'ES256', use: 'sig' })])
      expect(keys[0]).not.toHaveProperty('d')
      const token = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials' })
      const jwt = ((await token.json()) as { access_token: string }).access_token
      expect(JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString())).toEqual({ typ: 'at+jwt', alg: 'ES256', kid: 'k1' })
    })

    it('serves no JWK Set with opaque tokens', async () => {
      const { url } = await start()
      expect((await fetch(`${url}/jwks.json`)).status).toBe(404)
    })

    it('is not served with metadata: false', async () => {
      const { url } = await start({ metadata: false })
      expect((await fetch(`${url}/.well-known/oauth-authorization-server`)).status).toBe(404)
    })
  })

  describe('token endpoint (RFC 6749 §3.2)', () => {
    it('answers a valid request with tokens and Cache-Control: no-store (§5.1)', async () => {
      const { url } = await start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials&scope=read' })
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(await res.json()).toMatchObject({ token_type: 'Bearer', scope: 'read' })
    })

    it('accepts a charset parameter and any case in the media type', async () => {
      const { url } = await start()
      const res = await fetch(`${url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'Application/X-WWW-Form-URLEncoded; charset=UTF-8', authorization: basicAuth('app', 'app-secret') },
        body: 'grant_type=client_credentials',
      })
      expect(res.status).toBe(200)
    })

    it.each(['GET', 'PUT', 'DELETE'])('answers %s with 405, Allow: POST and invalid_request', async (method) => {
      const { url } = await start()
      const res = await fetch(`${url}/token`, { method })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toMatch(/^POST/)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it.each([
      ['JSON', 'application/json', '{"grant_type":"client_credentials"}'],
      ['plain text', 'text/plain', 'grant_type=client_credentials'],
      ['multipart', 'multipart/form-data; boundary=x', '--x--'],
    ])('rejects a %s body with 400 invalid_request (RFC 6749 Appendix B form encoding only)', async (_name, type, body) => {
      const { url } = await start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { 'content-type': type }, body })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it.each([
      ['a bad percent-escape', 'grant_type=client_credentials&scope=%ZZ'],
      ['a truncated percent-escape', 'grant_type=client_credentials&scope=%E2%82'],
    ])('rejects %s with 400 invalid_request', async (_name, body) => {
      const { url } = await start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('rejects raw bytes that are not UTF-8 with 400 invalid_request', async () => {
      const { url } = await start()
      const res = await rawRequest(`${url}/token`, { method: 'POST', headers: FORM, body: Buffer.from([0x67, 0x3d, 0xff, 0xfe]) })
      expect(res.status).toBe(400)
      expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' })
    })

    it('rejects a body over the limit with 413 invalid_request', async () => {
      const { url } = await start({ bodyLimit: 1024 })
      const res = await fetch(`${url}/token`, { method: 'POST', headers: FORM, body: 'grant_type=client_credentials&x=' + 'a'.repeat(2048) })
      expect(res.status).toBe(413)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('rejects a chunked body over the default 64 KiB limit with 413 while streaming', async () => {
      const { url } = await start()
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 70; i++) controller.enqueue(new TextEncoder().encode('a'.repeat(1024)))
          controller.close()
        },
      })
      const res = await fetch(`${url}/token`, { method: 'POST', headers: FORM, body, duplex: 'half' } as RequestInit)
      expect(res.status).toBe(413)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('answers a failed client authentication with 401 invalid_client and WWW-Authenticate (RFC 6749 §5.2)', async () => {
      const { url } = await start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'wrong') }, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /)
      expect(await res.json()).toMatchObject({ error: 'invalid_client' })
    })

    it('answers an unexpected failure with 500 server_error and no details', async () => {
      const { url, server } = await start()
      vi.spyOn(server.store, 'findClient').mockRejectedValue(new Error('db password is hunter2'))
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(500)
      const text = await res.text()
      expect(JSON.parse(text)).toMatchObject({ error: 'server_error' })
      expect(text).not.toContain('hunter2')
    })

    it('answers 503 server_error with Retry-After once requestTimeout passes while the store hangs, and recovers', async () => {
      const onError = vi.fn()
      const { url, server } = await start({ requestTimeout: 100, onError })
      const findClient = server.store.findClient.bind(server.store)
      const hang = vi.spyOn(server.store, 'findClient').mockImplementation(() => new Promise(() => {}))
      const started = Date.now()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials' })
      expect(Date.now() - started).toBeLessThan(5000)
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(await res.json()).toEqual({ error: 'server_error', error_description: expect.any(String) })
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ name: 'RequestTimeoutError' }), expect.anything())
      hang.mockImplementation(findClient)
      const again = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials' })
      expect(again.status).toBe(200)
    })
  })

  describe('revocation (RFC 7009) and introspection (RFC 7662)', () => {
    it('serves both when registered, with client authentication', async () => {
      const { url } = await start({}, (server) => server.registerEndpoint(RevocationEndpoint).registerEndpoint(IntrospectionEndpoint))
      const issued = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials' })
      const { access_token } = (await issued.json()) as { access_token: string }
      const auth = { ...FORM, authorization: basicAuth('app', 'app-secret') }
      const active = await fetch(`${url}/introspect`, { method: 'POST', headers: auth, body: `token=${access_token}` })
      expect(await active.json()).toMatchObject({ active: true, client_id: 'app' })
      const revoked = await fetch(`${url}/revoke`, { method: 'POST', headers: auth, body: `token=${access_token}` })
      expect(revoked.status).toBe(200)
      expect(revoked.headers.get('cache-control')).toBe('no-store')
      const inactive = await fetch(`${url}/introspect`, { method: 'POST', headers: auth, body: `token=${access_token}` })
      expect(await inactive.json()).toEqual({ active: false })
    })

    it('does not serve them when they are not registered', async () => {
      const { url } = await start()
      expect((await fetch(`${url}/revoke`, { method: 'POST', headers: FORM, body: 'token=x' })).status).toBe(404)
      expect((await fetch(`${url}/introspect`, { method: 'POST', headers: FORM, body: 'token=x' })).status).toBe(404)
    })
  })

  describe('CORS for browser-based clients', () => {
    const origin = 'https://spa.example'

    it('answers a preflight from an allowed origin', async () => {
      const { url } = await start({ cors: { origins: [origin], maxAge: 60 } })
      const res = await fetch(`${url}/token`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      })
      expect(res.status).toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBe(origin)
      expect(res.headers.get('access-control-allow-methods')).toBe('POST')
      expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/)
      expect(res.headers.get('access-control-max-age')).toBe('60')
    })

    it('allows an allowed origin to read token and metadata responses', async () => {
      const { url } = await start({ cors: { origins: [origin] } })
      const token = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, origin, authorization: basicAuth('app', 'app-secret') }, body: 'grant_type=client_credentials' })
      expect(token.headers.get('access-control-allow-origin')).toBe(origin)
      expect(token.headers.get('vary')).toMatch(/Origin/)
      const metadata = await fetch(`${url}/.well-known/oauth-authorization-server`, { headers: { origin } })
      expect(metadata.headers.get('access-control-allow-origin')).toBe(origin)
    })

    it.each([
      ['another origin', { cors: { origins: [origin] } }],
      ['CORS not configured', {}],
    ])('sends no CORS headers for %s', async (_name, options) => {
      const { url } = await start(options)
      const res = await fetch(`${url}/token`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
      expect(res.status).toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
    })

    it("answers any origin with '*'", async () => {
      const { url } = await start({ cors: { origins: '*' } })
      const res = await fetch(`${url}/.well-known/oauth-authorization-server`, { headers: { origin: 'https://any.example' } })
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
    })
  })

  describe('authorization endpoint (RFC 6749 §3.1, §4.1)', () => {
    it('answers the 503 temporarily_unavailable page, never a redirect, when the authorize hook outlives requestTimeout', async () => {
      const { url } = await start({ requestTimeout: 100, onError: () => {}, authorize: () => new Promise(() => {}) })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(503)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await res.text()).toContain('temporarily_unavailable')
    })

    it('hands the validated request to the authorize hook, which renders the page', async () => {
      const authorize = vi.fn<AuthorizeHook>((ctx) => {
        ctx.body = '<p>consent</p>'
        return undefined
      })
      const { url } = await start({ authorize })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('<p>consent</p>')
      const [, authorization] = authorize.mock.calls[0]!
      expect(authorization.request).toMatchObject({ redirectUri: REDIRECT_URI, state: 's t', scopes: ['profile'], client: { clientId: 'app' } })
      expect(authorization.actionUrl).toBe(`/authorize?${authorizeQuery()}`)
    })

    it('sends anti-framing and no-store headers on the pages it answers (RFC 6749 §10.13)', async () => {
      const { url } = await start({ authorize: (ctx) => void (ctx.body = 'page') })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`)
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
      expect(res.headers.get('cache-control')).toBe('no-store')
    })

    it('redirects with the code and state when the hook answers { user } (§4.1.2)', async () => {
      const { url } = await start({ authorize: () => ({ user: { id: 'u1' } }) })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      const location = new URL(res.headers.get('location')!)
      expect(location.origin + location.pathname).toBe(REDIRECT_URI)
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ code: 'code-for-u1', state: 's t', iss: 'http://127.0.0.1' })
    })

    it('answers the login form posted back to actionUrl with 303 (RFC 9700 §4.12)', async () => {
      const { url } = await start({ authorize: (_ctx, { form }) => (form.get('password') === 'pw' ? { user: { id: 'u2' } } : undefined) })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: FORM, body: 'username=a&password=pw', redirect: 'manual' })
      expect(res.status).toBe(303)
      expect(new URL(res.headers.get('location')!).searchParams.get('code')).toBe('code-for-u2')
    })

    it('accepts an authorization request in a POST body (RFC 6749 §3.1 "MAY support POST")', async () => {
      const { url } = await start({ authorize: () => ({ user: { id: 'u3' } }) })
      const res = await fetch(`${url}/authorize`, { method: 'POST', headers: FORM, body: authorizeQuery(), redirect: 'manual' })
      expect(res.status).toBe(303)
      expect(new URL(res.headers.get('location')!).searchParams.get('state')).toBe('s t')
    })

    it('redirects access_denied with the state when the hook answers { deny: true } (§4.1.2.1)', async () => {
      const { url } = await start({ authorize: () => ({ deny: true }) })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      const location = new URL(res.headers.get('location')!)
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'access_denied', state: 's t' })
    })

    it('redirects errors found after the client and redirect URI were validated, without calling the hook', async () => {
      const authorize = vi.fn<AuthorizeHook>(() => ({ user: { id: 'u1' } }))
      const { url } = await start({ authorize })
      const res = await fetch(`${url}/authorize?${authorizeQuery({ response_type: 'bogus' })}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(Object.fromEntries(new URL(res.headers.get('location')!).searchParams)).toMatchObject({ error: 'unsupported_response_type', state: 's t' })
      expect(authorize).not.toHaveBeenCalled()
    })

    it.each([
      ['an unknown client_id', authorizeQuery({ client_id: 'nobody' })],
      ['an unregistered redirect_uri', authorizeQuery({ redirect_uri: 'https://evil.example/cb' })],
      ['a missing client_id', 'response_type=code'],
      ['malformed percent-encoding', 'response_type=code&client_id=%ZZ'],
    ])('shows a 400 HTML page and never redirects for %s (§4.1.2.1)', async (_name, query) => {
      const authorize = vi.fn<AuthorizeHook>(() => ({ user: { id: 'u1' } }))
      const { url } = await start({ authorize })
      const res = await fetch(`${url}/authorize?${query}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await res.text()).toMatch(/invalid_(request|client)/)
      expect(authorize).not.toHaveBeenCalled()
    })

    it('escapes what a custom error renderer is given and lets it render', async () => {
      const { url } = await start({ renderError: (ctx, error) => void ((ctx.status = error.status), (ctx.body = `custom ${error.error}`)) })
      const res = await fetch(`${url}/authorize?client_id=nobody&response_type=code`)
      expect(res.status).toBe(400)
      expect(await res.text()).toBe('custom invalid_client')
    })

    it('answers a form over the body limit with a 413 page', async () => {
      const { url } = await start({ bodyLimit: 100 })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: FORM, body: 'x='.padEnd(200, 'a') })
      expect(res.status).toBe(413)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    })

    it('answers PUT with 405 and Allow', async () => {
      const { url } = await start()
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'PUT' })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toContain('POST')
    })

    it('answers a hook that throws with a 500 page without the error message', async () => {
      const onError = vi.fn()
      const { url } = await start({
        onError,
        authorize: () => {
          throw new Error('secret <internals>')
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      const text = await res.text()
      expect(text).toContain('server_error')
      expect(text).not.toContain('secret')
      expect(onError).toHaveBeenCalledOnce()
    })

    it('rejects a hook answer that is neither a user nor a denial as a server error', async () => {
      const { url } = await start({ onError: () => {}, authorize: () => ({ user: {} }) as never })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      expect(res.headers.get('location')).toBeNull()
    })
  })
})
