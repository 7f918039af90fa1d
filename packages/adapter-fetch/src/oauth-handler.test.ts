import { describe, expect, it, vi } from 'vitest'
import type { AuthorizationServer } from '@grantkit/core'
import { CLIENT_FORM, FORM, REDIRECT_URI, basicAuth, testServer } from '@grantkit/adapter-test-suite'
import { oauthHandler, type AuthorizeHook, type OAuthHandlerOptions } from './oauth-handler.js'

const BASE = 'http://localhost'
const query = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT_URI, state: 's', scope: 'profile' }).toString()
const noop: AuthorizeHook = () => ({ deny: true })

async function handler(options: Partial<OAuthHandlerOptions> = {}) {
  const { server } = await testServer({ issuer: BASE })
  return oauthHandler(server, { authorize: noop, onError: () => {}, ...options })
}

function tokenRequest(body: RequestInit['body'], headers: Record<string, string> = CLIENT_FORM): Request {
  return new Request(`${BASE}/token`, { method: 'POST', headers, body, duplex: 'half' } as RequestInit)
}

describe('oauthHandler', () => {
  describe('setup', () => {
    it.each([
      ['no options', undefined],
      ['no authorize hook', {}],
      ['a renderError that is not a function', { authorize: noop, renderError: 'page' }],
      ['an onError that is not a function', { authorize: noop, onError: true }],
      ['a zero body limit', { authorize: noop, bodyLimit: 0 }],
      ['a CORS origin with a path', { authorize: noop, cors: { origins: ['https://a.example/path'] } }],
    ])('throws a TypeError for %s', async (_name, options) => {
      const { server } = await testServer()
      expect(() => oauthHandler(server, options as unknown as OAuthHandlerOptions)).toThrow(TypeError)
    })

    it('throws a TypeError without a server', () => {
      expect(() => oauthHandler(undefined as unknown as AuthorizationServer, { authorize: noop })).toThrow(TypeError)
    })
  })

  describe('routing', () => {
    it('lists the paths it serves under the issuer path, for the app to route by (RFC 8414 §3.1)', async () => {
      const { server } = await testServer({ issuer: `${BASE}/auth` })
      const oauth = oauthHandler(server, { authorize: noop })
      expect([...oauth.paths].sort()).toEqual(['/.well-known/oauth-authorization-server/auth', '/auth/authorize', '/auth/token'])
      expect(oauth.serves('/auth/token')).toBe(true)
      expect(oauth.serves('/token')).toBe(false)
    })

    it('answers a path it does not serve with 404 JSON, leaving the body unread', async () => {
      const oauth = await handler()
      const request = new Request(`${BASE}/elsewhere`, { method: 'POST', headers: FORM, body: 'a=b' })
      const res = await oauth(request)
      expect(res.status).toBe(404)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
      expect(request.bodyUsed).toBe(false)
    })
  })

  describe('request bodies', () => {
    it.each([
      ['a string', 'grant_type=client_credentials'],
      ['URLSearchParams (content type set by fetch)', new URLSearchParams({ grant_type: 'client_credentials' })],
      ['a stream', new Blob(['grant_type=client_credentials']).stream()],
    ])('reads %s body of an in-process Request, which has no Content-Length', async (_name, body) => {
      const oauth = await handler()
      const headers: Record<string, string> = body instanceof URLSearchParams ? { authorization: basicAuth() } : CLIENT_FORM
      const res = await oauth(tokenRequest(body, headers))
      expect(res.status).toBe(200)
    })

    it('rejects an in-process stream over the limit with 413 and cancels it', async () => {
      const oauth = await handler({ bodyLimit: 100 })
      let cancelled = false
      let pulled = 0
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++
          controller.enqueue(new TextEncoder().encode('a'.repeat(60)))
        },
        cancel() {
          cancelled = true
        },
      })
      const res = await oauth(tokenRequest(body))
      expect(res.status).toBe(413)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
      expect(cancelled).toBe(true)
      expect(pulled).toBeLessThan(5)
    })

    it.each([
      ['read (bodyUsed)', async (request: Request) => void (await request.text())],
      ['locked by a reader', async (request: Request) => void request.body!.getReader()],
    ])('answers a body already %s with 400 invalid_request, never waiting', async (_name, consume) => {
      const oauth = await handler({ requestTimeout: false })
      const request = tokenRequest('grant_type=client_credentials')
      await consume(request)
      const res = await oauth(request)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('already read') })
    })

    it('answers a body stream that fails with 400 invalid_request', async () => {
      const oauth = await handler()
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.error(new Error('connection reset'))
        },
      })
      const res = await oauth(tokenRequest(body))
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })
  })

  describe('the authorize hook and renderError answer with a Response', () => {
    it("adds the page headers to the app's Response, keeping its status, body, cookies and its own headers (RFC 6749 §10.13)", async () => {
      const oauth = await handler({
        authorize: () => {
          const headers = new Headers({ 'content-type': 'text/html', 'cache-control': 'private, no-store' })
          headers.append('set-cookie', 'a=1')
          headers.append('set-cookie', 'b=2')
          return new Response('<p>login</p>', { status: 401, headers })
        },
      })
      const res = await oauth(new Request(`${BASE}/authorize?${query}`))
      expect(res.status).toBe(401)
      expect(await res.text()).toBe('<p>login</p>')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('cache-control')).toBe('private, no-store')
      expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
    })

    it('accepts a Response with immutable headers (Response.redirect) from the hook', async () => {
      const oauth = await handler({ authorize: () => Response.redirect('http://localhost/login', 303) })
      const res = await oauth(new Request(`${BASE}/authorize?${query}`))
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toBe('http://localhost/login')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
    })

    it('answers a hook that returns nothing with the 500 page and reports a TypeError', async () => {
      const onError = vi.fn()
      const oauth = await handler({ onError, authorize: (() => undefined) as unknown as AuthorizeHook })
      const res = await oauth(new Request(`${BASE}/authorize?${query}`))
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(onError).toHaveBeenCalledWith(expect.any(TypeError), expect.any(Request))
    })

    it("renders an error page with the app's renderError Response, given the request, with the page headers", async () => {
      const renderError = vi.fn((_request: Request, error: { status: number; error: string }) => new Response(`custom ${error.error}`, { status: error.status }))
      const oauth = await handler({ renderError })
      const request = new Request(`${BASE}/authorize?client_id=nobody&response_type=code`)
      const res = await oauth(request)
      expect(res.status).toBe(400)
      expect(await res.text()).toBe('custom invalid_client')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(renderError).toHaveBeenCalledWith(request, { status: 400, error: 'invalid_client', description: 'unknown client' })
    })

    it('falls back to the default page when renderError answers something other than a Response', async () => {
      const onError = vi.fn()
      const oauth = await handler({ onError, renderError: (() => 'page') as never })
      const res = await oauth(new Request(`${BASE}/authorize?client_id=nobody&response_type=code`))
      expect(res.status).toBe(400)
      expect(await res.text()).toContain('invalid_client')
      expect(onError).toHaveBeenCalledWith(expect.any(TypeError), expect.any(Request))
    })
  })

  it('keeps its answer when onError itself throws', async () => {
    const oauth = await handler({
      onError: () => {
        throw new Error('logger down')
      },
      authorize: () => {
        throw new Error('hook failed')
      },
    })
    const res = await oauth(new Request(`${BASE}/authorize?${query}`))
    expect(res.status).toBe(500)
    expect(await res.text()).toContain('server_error')
  })
})
