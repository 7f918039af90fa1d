import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../context.js'
import { CLIENT_FORM, FORM, authorizeQuery } from '../../fixtures.js'

const METADATA = '/.well-known/oauth-authorization-server'

/** Which endpoints are served, with which methods (RFC 9110 §15.5.6 405, §9.3.7 OPTIONS). */
export function endpointChecks(ctx: SuiteContext): void {
  describe('endpoints and methods (RFC 6749 §3.1, §3.2; RFC 9110 §15.5.6)', () => {
    it.each([
      { method: 'GET', path: '/token', allow: 'POST, OPTIONS' },
      { method: 'PUT', path: '/token', allow: 'POST, OPTIONS' },
      { method: 'DELETE', path: '/token', allow: 'POST, OPTIONS' },
      { method: 'PATCH', path: '/token', allow: 'POST, OPTIONS' },
      { method: 'GET', path: '/revoke', allow: 'POST, OPTIONS' },
      { method: 'GET', path: '/introspect', allow: 'POST, OPTIONS' },
      { method: 'POST', path: METADATA, allow: 'GET, HEAD, OPTIONS' },
      { method: 'DELETE', path: METADATA, allow: 'GET, HEAD, OPTIONS' },
    ])('answers $method $path with 405, Allow: $allow and a JSON invalid_request', async ({ method, path, allow }) => {
      const { url } = await ctx.start()
      const res = await fetch(url + path, { method })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe(allow)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it.each(['PUT', 'DELETE'])('answers %s /authorize with a 405 HTML page and Allow: GET, HEAD, POST, OPTIONS', async (method) => {
      const { url, authorize } = await ctx.start()
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method, redirect: 'manual' })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('GET, HEAD, POST, OPTIONS')
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(await res.text()).toContain('invalid_request')
      expect(authorize).not.toHaveBeenCalled()
    })

    it.each([
      { path: '/token', allow: 'POST, OPTIONS' },
      { path: '/revoke', allow: 'POST, OPTIONS' },
      { path: '/introspect', allow: 'POST, OPTIONS' },
      { path: METADATA, allow: 'GET, HEAD, OPTIONS' },
      { path: '/authorize', allow: 'GET, HEAD, POST, OPTIONS' },
    ])('answers OPTIONS $path with 204 and Allow: $allow (RFC 9110 §9.3.7)', async ({ path, allow }) => {
      const { url, authorize } = await ctx.start()
      const res = await fetch(url + path, { method: 'OPTIONS' })
      expect(res.status).toBe(204)
      expect(res.headers.get('allow')).toBe(allow)
      expect(await res.text()).toBe('')
      expect(authorize).not.toHaveBeenCalled()
    })

    it('answers HEAD on the metadata with 200 and no body (RFC 9110 §9.3.2)', async () => {
      const { url } = await ctx.start()
      const res = await fetch(url + METADATA, { method: 'HEAD' })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(await res.text()).toBe('')
    })

    it('serves revocation (RFC 7009 §2) and introspection (RFC 7662 §2) with client authentication', async () => {
      const { url } = await ctx.start()
      const issued = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
      const { access_token } = (await issued.json()) as { access_token: string }
      const active = await fetch(`${url}/introspect`, { method: 'POST', headers: CLIENT_FORM, body: `token=${access_token}` })
      expect(active.status).toBe(200)
      expect(await active.json()).toMatchObject({ active: true, client_id: 'app' })
      const revoked = await fetch(`${url}/revoke`, { method: 'POST', headers: CLIENT_FORM, body: `token=${access_token}` })
      expect(revoked.status).toBe(200)
      expect(revoked.headers.get('cache-control')).toBe('no-store')
      const inactive = await fetch(`${url}/introspect`, { method: 'POST', headers: CLIENT_FORM, body: `token=${access_token}` })
      expect(await inactive.json()).toEqual({ active: false })
    })

    it('answers 401 invalid_client at introspection without client authentication (RFC 7662 §2.1)', async () => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/introspect`, { method: 'POST', headers: FORM, body: 'token=x' })
      expect(res.status).toBe(401)
      expect(await res.json()).toMatchObject({ error: 'invalid_client' })
    })

    it('serves only what the server registered: no revocation or introspection route without them', async () => {
      const { url } = await ctx.start({ endpoints: false })
      expect((await fetch(`${url}/revoke`, { method: 'POST', headers: CLIENT_FORM, body: 'token=x' })).status).toBe(404)
      expect((await fetch(`${url}/introspect`, { method: 'POST', headers: CLIENT_FORM, body: 'token=x' })).status).toBe(404)
    })

    it('leaves other paths to the app (404)', async () => {
      const { url } = await ctx.start()
      expect((await fetch(`${url}/nowhere`)).status).toBe(404)
      expect((await fetch(`${url}/token/extra`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })).status).toBe(404)
    })
  })
}
