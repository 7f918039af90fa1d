import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import express, { type Express, type RequestHandler } from 'express'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { generateKeyPairSync } from 'node:crypto'
import { RevocationEndpoint, jwtAccessTokens, type AuthorizationServer, type TokenStrategy } from '@grantkit/core'
import { FORM, REDIRECT_URI, authorizeQuery, basicAuth, testServer } from '@grantkit/adapter-test-suite'
import { oauthRouter, type AuthorizeHook, type OAuthRouterOptions } from './oauth-router.js'
import { listen } from './internal/testing.js'

const noop: AuthorizeHook = () => undefined
const CLIENT = { ...FORM, authorization: basicAuth('app', 'app-secret') }
let closers: (() => Promise<void>)[] = []

afterEach(async () => {
  await Promise.all(closers.map((close) => close()))
  closers = []
})

interface Start {
  options?: Partial<OAuthRouterOptions>
  issuer?: string
  tokenStrategy?: TokenStrategy
  setup?: (server: AuthorizationServer) => void
  /** Middleware mounted before the router (body parsers, …). */
  before?: RequestHandler[]
  /** How the router is mounted; default `app.use(router)`. */
  mount?: (app: Express, router: express.Router) => void
}

const views = mkdtempSync(join(tmpdir(), 'grantkit-express-views-'))
writeFileSync(join(views, 'broken.html'), 'x')
writeFileSync(join(views, 'consent.html'), '<p>consent</p>')
afterAll(() => rmSync(views, { recursive: true, force: true }))

/** A view engine over a real views directory whose `broken` template fails asynchronously, as a template error in a real engine does. */
function withViews(app: Express): void {
  app.engine('html', (path, _options, callback) => {
    setImmediate(() => (path.endsWith('broken.html') ? callback(new Error('template broke at line 3')) : callback(null, readFileSync(path, 'utf8'))))
  })
  app.set('views', views)
  app.set('view engine', 'html')
}

async function start({ options = {}, issuer, tokenStrategy, setup, before = [], mount }: Start = {}): Promise<{ url: string; server: AuthorizationServer }> {
  const { server } = await testServer({ ...(issuer === undefined ? {} : { issuer }), ...(tokenStrategy === undefined ? {} : { tokenStrategy }) })
  setup?.(server)
  const app = express()
  withViews(app)
  for (const middleware of before) app.use(middleware)
  const router = oauthRouter(server, { authorize: () => ({ deny: true }), ...options })
  if (mount === undefined) app.use(router)
  else mount(app, router)
  app.get('/after', (_req, res) => void res.send('the app'))
  const { url, close } = await listen(app)
  closers.push(close)
  return { url, server }
}

/** Sends raw bytes, with headers exactly as given (fetch adds and normalises some). */
function rawRequest(url: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
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

const tokenRequest = (url: string, body = 'grant_type=client_credentials', headers: Record<string, string> = CLIENT) => fetch(`${url}/token`, { method: 'POST', headers, body })

describe('oauthRouter (Express)', () => {
  describe('setup', () => {
    it.each([
      ['no options', undefined],
      ['no authorize hook', {}],
      ['a renderError that is not a function', { authorize: noop, renderError: 'page.html' }],
      ['an onError that is not a function', { authorize: noop, onError: true }],
      ['a zero body limit (checked by core)', { authorize: noop, bodyLimit: 0 }],
    ])('throws a TypeError for %s', async (_name, options) => {
      const { server } = await testServer()
      expect(() => oauthRouter(server, options as unknown as OAuthRouterOptions)).toThrow(TypeError)
    })

    it('throws a TypeError without a server', () => {
      expect(() => oauthRouter(undefined as unknown as AuthorizationServer, { authorize: noop })).toThrow(TypeError)
    })
  })

  describe('mounting: core paths are absolute, matched against req.originalUrl', () => {
    it('serves the endpoints when mounted at the app root, and hands every other path to the next middleware', async () => {
      const { url } = await start()
      expect((await fetch(`${url}/.well-known/oauth-authorization-server`)).status).toBe(200)
      expect((await tokenRequest(url)).status).toBe(200)
      const after = await fetch(`${url}/after`)
      expect(await after.text()).toBe('the app')
      const unknown = await fetch(`${url}/nowhere`)
      expect(unknown.status).toBe(404)
      // Express's own 404 page, not an OAuth JSON error.
      expect(unknown.headers.get('content-type')).toMatch(/^text\/html/)
    })

    it('serves the issuer path and the RFC 8414 §3.1 metadata path when the issuer has a path', async () => {
      const { url } = await start({ issuer: 'http://127.0.0.1/tenant' })
      const metadata = await fetch(`${url}/.well-known/oauth-authorization-server/tenant`)
      expect(await metadata.json()).toMatchObject({ issuer: 'http://127.0.0.1/tenant', token_endpoint: 'http://127.0.0.1/tenant/token' })
      expect((await fetch(`${url}/tenant/token`, { method: 'POST', headers: CLIENT, body: 'grant_type=client_credentials' })).status).toBe(200)
    })

    it('answers the absolute paths only when mounted under a path, so metadata outside it is unreachable (mount at the root)', async () => {
      const { url } = await start({ issuer: 'http://127.0.0.1/tenant', mount: (app, router) => app.use('/tenant', router) })
      expect((await fetch(`${url}/tenant/token`, { method: 'POST', headers: CLIENT, body: 'grant_type=client_credentials' })).status).toBe(200)
      expect((await fetch(`${url}/tenant/tenant/token`, { method: 'POST', headers: CLIENT, body: 'grant_type=client_credentials' })).status).toBe(404)
      expect((await fetch(`${url}/.well-known/oauth-authorization-server/tenant`)).status).toBe(404)
    })

    it('gives the authorize hook an absolute actionUrl wherever the router is mounted', async () => {
      const authorize = vi.fn<AuthorizeHook>((_req, res) => void res.send('consent'))
      const { url } = await start({ issuer: 'http://127.0.0.1/tenant', options: { authorize }, mount: (app, router) => app.use('/tenant', router) })
      await fetch(`${url}/tenant/authorize?${authorizeQuery()}`)
      expect(authorize.mock.calls[0]![2].actionUrl).toBe(`/tenant/authorize?${authorizeQuery()}`)
    })

    it.each([
      ['a trailing slash', '/token/'],
      ['another case', '/TOKEN'],
    ])('matches paths exactly, unlike Express routes: %s falls through', async (_name, path) => {
      const { url } = await start()
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: CLIENT, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(404)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    })

    it('answers every method on a served path itself (405 with Allow, RFC 6749 §3.2)', async () => {
      const { url } = await start()
      const res = await fetch(`${url}/token`, { method: 'DELETE' })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('POST, OPTIONS')
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('answers an absolute-form request target (RFC 9112 §3.2.2) by its path', async () => {
      const { url } = await start()
      const absolute = await new Promise<number>((resolve, reject) => {
        const { port } = new URL(url)
        const req = httpRequest({ host: '127.0.0.1', port, method: 'GET', path: 'http://127.0.0.1/.well-known/oauth-authorization-server' }, (r) => {
          r.resume()
          resolve(r.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end()
      })
      expect(absolute).toBe(200)
    })
  })

  describe('writing the outcome exactly as core decided', () => {
    it('keeps the media type byte for byte and adds no ETag (Express res.send would rewrite both)', async () => {
      const { url } = await start()
      const res = await tokenRequest(url)
      expect(res.headers.get('content-type')).toBe('application/json;charset=UTF-8')
      expect(res.headers.get('etag')).toBeNull()
      expect(res.headers.get('cache-control')).toBe('no-store')
      const text = await res.text()
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)))
    })

    it('serves the JWK Set with its own media type (RFC 7517 §8.5.1) and never answers 304 to If-None-Match', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const { url } = await start({ tokenStrategy: jwtAccessTokens({ privateKey, alg: 'ES256', kid: 'k1' }) })
      const res = await fetch(`${url}/jwks.json`, { headers: { 'if-none-match': '*' } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/jwk-set+json')
      expect(await res.json()).toMatchObject({ keys: [{ kid: 'k1' }] })
    })

    it('answers HEAD on the metadata with the length of the GET and no body (RFC 9110 §9.3.2)', async () => {
      const { url } = await start()
      const get = await fetch(`${url}/.well-known/oauth-authorization-server`)
      const length = String(Buffer.byteLength(await get.text()))
      const head = await rawRequest(`${url}/.well-known/oauth-authorization-server`, { method: 'HEAD', headers: {} })
      expect(head.status).toBe(200)
      expect(head.headers['content-length']).toBe(length)
      expect(head.body).toBe('')
    })

    it('answers a CORS preflight itself with 204 (Express answers OPTIONS on its own otherwise)', async () => {
      const origin = 'https://spa.example'
      const { url } = await start({ options: { cors: { origins: [origin] } } })
      const res = await fetch(`${url}/token`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } })
      expect(res.status).toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBe(origin)
      expect(res.headers.get('allow')).toBe('POST, OPTIONS')
    })

    it('sets the headers core decides over those of earlier middleware (a helmet-style X-Frame-Options)', async () => {
      const helmet: RequestHandler = (_req, res, next) => {
        res.setHeader('x-frame-options', 'SAMEORIGIN')
        next()
      }
      const { url } = await start({ before: [helmet], options: { authorize: (_req, res) => void res.send('consent') } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`)
      expect(res.headers.get('x-frame-options')).toBe('DENY')
    })
  })

  describe('request bodies (RFC 6749 §3.2, Appendix B)', () => {
    it('reads the form strictly from the stream without a body parser', async () => {
      const { url } = await start()
      expect((await tokenRequest(url)).status).toBe(200)
      const malformed = await tokenRequest(url, 'grant_type=client_credentials&scope=%ZZ')
      expect(malformed.status).toBe(400)
      expect(await malformed.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('answers a body over bodyLimit with 413 invalid_request', async () => {
      const { url } = await start({ options: { bodyLimit: 100 } })
      const res = await tokenRequest(url, 'grant_type=client_credentials&x=' + 'a'.repeat(200))
      expect(res.status).toBe(413)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it.each([
      ['express.urlencoded()', express.urlencoded()],
      ['express.urlencoded({ extended: true })', express.urlencoded({ extended: true })],
      ['express.text() for forms', express.text({ type: 'application/x-www-form-urlencoded' })],
      ['express.raw() for forms', express.raw({ type: 'application/x-www-form-urlencoded' })],
      ['express.json(), which skips a form', express.json()],
    ])('accepts the token request form with %s mounted before the router', async (_name, parser) => {
      const { url } = await start({ before: [parser] })
      const res = await tokenRequest(url, 'grant_type=client_credentials&scope=read')
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ token_type: 'Bearer', scope: 'read' })
    })

    it('hands the consent form parsed by a global express.urlencoded() to the authorize hook', async () => {
      const { url } = await start({
        before: [express.urlencoded()],
        options: { authorize: (_req, _res, { form }) => (form.get('password') === 'pw' ? { user: { id: 'u2' } } : { deny: true }) },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: FORM, body: 'username=a&password=pw', redirect: 'manual' })
      expect(res.status).toBe(303)
      expect(new URL(res.headers.get('location')!).searchParams.get('code')).toBe('code-for-u2')
    })

    it('answers JSON to the token endpoint with 400 invalid_request when express.json() parsed it', async () => {
      const { url } = await start({ before: [express.json()] })
      const res = await tokenRequest(url, JSON.stringify({ grant_type: 'client_credentials' }), { 'content-type': 'application/json', authorization: basicAuth('app', 'app-secret') })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('refuses nested parameters from express.urlencoded({ extended: true }): the original names are lost', async () => {
      const { url } = await start({ before: [express.urlencoded({ extended: true })] })
      const res = await tokenRequest(url, 'grant_type=client_credentials&scope[x]=read')
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('refuses a parameter repeated in a form a parser turned into a list (RFC 6749 §3.2)', async () => {
      const { url } = await start({ before: [express.urlencoded()] })
      const res = await tokenRequest(url, 'grant_type=client_credentials&grant_type=client_credentials')
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('reads the stream when req.body is only a placeholder (body-parser 1.x under Express 4 sets {} and skips)', async () => {
      const placeholder: RequestHandler = (req, _res, next) => {
        req.body = {}
        next()
      }
      const { url } = await start({ before: [placeholder] })
      expect((await tokenRequest(url)).status).toBe(200)
    })

    it('answers 400 invalid_request, not a hang, when another middleware consumed the stream', async () => {
      const consume: RequestHandler = (req, _res, next) => {
        req.on('end', () => next())
        req.resume()
      }
      const { url } = await start({ before: [consume], options: { requestTimeout: false } })
      const res = await tokenRequest(url)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/already read/) })
    })
  })

  describe('the authorize hook (RFC 6749 §4.1.1)', () => {
    it('lets the hook render with res.send, with the page headers already set (RFC 6749 §10.13)', async () => {
      const authorize = vi.fn<AuthorizeHook>((_req, res) => void res.status(200).send('<p>consent</p>'))
      const { url } = await start({ options: { authorize } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('<p>consent</p>')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
      expect(res.headers.get('cache-control')).toBe('no-store')
      const [req, , authorization] = authorize.mock.calls[0]!
      expect(req.originalUrl).toBe(`/authorize?${authorizeQuery()}`)
      expect(authorization.request).toMatchObject({ redirectUri: REDIRECT_URI, state: 's t', scopes: ['profile'], client: { clientId: 'app' } })
    })

    it('lets the hook answer after it returned (a view engine rendering asynchronously)', async () => {
      const { url } = await start({ options: { authorize: (_req, res) => void setImmediate(() => res.send('later')) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`)
      expect(await res.text()).toBe('later')
    })

    it('redirects with the code and state when the hook answers { user } (§4.1.2)', async () => {
      const { url } = await start({ options: { authorize: () => ({ user: { id: 'u1' } }) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(Object.fromEntries(new URL(res.headers.get('location')!).searchParams)).toMatchObject({ code: 'code-for-u1', state: 's t', iss: 'http://127.0.0.1' })
      expect(await res.text()).toBe('')
    })

    it.each([
      ['throws', () => { throw new Error('secret <internals>') }],
      ['rejects', async () => { throw new Error('secret <internals>') }],
    ] as [string, AuthorizeHook][])('answers a hook that %s with the 500 page, never Express’s stack page, and reports it with req', async (_name, authorize) => {
      const onError = vi.fn()
      const { url } = await start({ options: { authorize, onError } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      expect(res.headers.get('location')).toBeNull()
      const text = await res.text()
      expect(text).toContain('server_error')
      expect(text).not.toContain('secret')
      expect(onError).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ message: 'secret <internals>' }), expect.objectContaining({ originalUrl: `/authorize?${authorizeQuery()}` }))
    })

    it('lets the hook render a view with res.render, which answers after the hook returned', async () => {
      const { url } = await start({ options: { authorize: (_req, res) => void res.render('consent') } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('<p>consent</p>')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
    })

    it.each([
      ['a missing view', 'no-such-view', /no-such-view/],
      ['a template failing after the hook returned', 'broken', /template broke/],
    ])('answers res.render failing with %s (Express calls next(error)) with the 500 page, not Express’s stack page', async (_name, view, message) => {
      const onError = vi.fn()
      const { url } = await start({ options: { onError, authorize: (_req, res) => void res.render(view) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`)
      expect(res.status).toBe(500)
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      const text = await res.text()
      expect(text).toContain('server_error')
      expect(text).not.toMatch(/no-such-view|Failed to lookup|template broke| at /)
      expect(onError).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ message: expect.stringMatching(message) }), expect.anything())
    })

    it('keeps the page a hook wrote and reports it when the hook also returned a decision', async () => {
      const onError = vi.fn()
      const { url } = await start({ options: { onError, authorize: (_req, res) => (res.send('page'), { user: { id: 'u1' } }) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('page')
      expect(onError).toHaveBeenCalledExactlyOnceWith(expect.any(TypeError), expect.anything())
    })
  })

  describe('renderError (RFC 6749 §4.1.2.1: errors that must not be redirected)', () => {
    it('hands the error to the renderer with the status and page headers already set', async () => {
      const renderError = vi.fn((_req, res: express.Response, error: { error: string }) => void res.send(`custom ${error.error}`))
      const { url } = await start({ options: { renderError } })
      const res = await fetch(`${url}/authorize?client_id=nobody&response_type=code`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(await res.text()).toBe('custom invalid_client')
      expect(renderError).toHaveBeenCalledWith(expect.anything(), expect.anything(), { status: 400, error: 'invalid_client', description: expect.any(String) })
    })

    it.each([
      ['throws', () => { throw new Error('renderer broke') }],
      ['calls res.render with a missing view', (_req: express.Request, res: express.Response) => void res.render('no-such-view')],
      ['renders a template that fails after it returned', (_req: express.Request, res: express.Response) => void res.render('broken')],
    ] as [string, NonNullable<OAuthRouterOptions['renderError']>][])('answers the default page with the error’s status when the renderer %s', async (_name, renderError) => {
      const onError = vi.fn()
      const { url } = await start({ options: { renderError, onError } })
      const res = await fetch(`${url}/authorize?client_id=nobody&response_type=code`)
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(await res.text()).toContain('invalid_client')
      expect(onError).toHaveBeenCalledOnce()
    })
  })

  it('serves registered endpoints (RFC 7009 revocation) like the token endpoint', async () => {
    const { url } = await start({ setup: (server) => server.registerEndpoint(RevocationEndpoint) })
    const { access_token } = (await (await tokenRequest(url)).json()) as { access_token: string }
    const res = await fetch(`${url}/revoke`, { method: 'POST', headers: CLIENT, body: `token=${access_token}` })
    expect(res.status).toBe(200)
  })
})
