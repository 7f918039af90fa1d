import { OAuthError } from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../context.js'
import { FORM, ISSUER, REDIRECT_URI, authorizeQuery } from '../../fixtures.js'

function expectPageHeaders(headers: Headers): void {
  // RFC 6749 §10.13 (clickjacking) and no caching of a page that holds the user's session.
  expect(headers.get('x-frame-options')).toBe('DENY')
  expect(headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
  expect(headers.get('cache-control')).toBe('no-store')
  expect(headers.get('referrer-policy')).toBe('no-referrer')
  expect(headers.get('x-content-type-options')).toBe('nosniff')
}

function location(res: Response): URL {
  const value = res.headers.get('location')
  expect(value).not.toBeNull()
  return new URL(value as string)
}

/** The authorization endpoint and the app's `authorize` hook (RFC 6749 §3.1, §4.1). */
export function authorizationEndpointChecks(ctx: SuiteContext): void {
  describe('authorization endpoint (RFC 6749 §3.1, §4.1)', () => {
    it('hands the validated request to the authorize hook once, which renders its page with the page headers (§10.13)', async () => {
      const { url, authorize } = await ctx.start({ oauth: { authorize: () => ({ page: '<p>consent</p>' }) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await res.text()).toBe('<p>consent</p>')
      expectPageHeaders(res.headers)
      expect(authorize).toHaveBeenCalledOnce()
      const [interaction] = authorize.mock.calls[0]!
      expect(interaction.request).toMatchObject({ redirectUri: REDIRECT_URI, state: 's t', scopes: ['profile'], client: { clientId: 'app' } })
      expect(interaction.actionUrl).toBe(`/authorize?${authorizeQuery()}`)
      expect([...interaction.form]).toEqual([])
    })

    it('keeps the status of a page the hook renders', async () => {
      const { url } = await ctx.start({ oauth: { authorize: () => ({ page: 'who are you?', status: 401 }) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(401)
      expect(await res.text()).toBe('who are you?')
      expectPageHeaders(res.headers)
    })

    it('redirects 302 with the code, state and iss after a GET when the hook answers { user } (§4.1.2, RFC 9207)', async () => {
      const { url, authorize } = await ctx.start({ oauth: { authorize: () => ({ user: { id: 'u1' } }) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const to = location(res)
      expect(to.origin + to.pathname).toBe(REDIRECT_URI)
      expect(Object.fromEntries(to.searchParams)).toMatchObject({ code: 'code-for-u1', state: 's t', iss: ISSUER })
      expect(authorize).toHaveBeenCalledOnce()
    })

    it('hands the login form posted back to actionUrl to the hook once, and redirects 303 (RFC 9700 §4.12)', async () => {
      const { url, authorize } = await ctx.start({
        oauth: { authorize: ({ form }) => (form.get('password') === 'pw' ? { user: { id: form.get('username') as string } } : { page: 'login' }) },
      })
      const page = await fetch(`${url}/authorize?${authorizeQuery()}`)
      expect(await page.text()).toBe('login')
      const actionUrl = authorize.mock.calls[0]![0].actionUrl
      const res = await fetch(url + actionUrl, { method: 'POST', headers: FORM, body: 'username=ada&password=pw', redirect: 'manual' })
      expect(res.status).toBe(303)
      expect(Object.fromEntries(location(res).searchParams)).toMatchObject({ code: 'code-for-ada', state: 's t' })
      expect(authorize).toHaveBeenCalledTimes(2)
      expect(Object.fromEntries(authorize.mock.calls[1]![0].form)).toEqual({ username: 'ada', password: 'pw' })
    })

    it('accepts the authorization request in a POST body (§3.1 "MAY support POST") and redirects 303', async () => {
      const { url } = await ctx.start({ oauth: { authorize: () => ({ user: { id: 'u3' } }) } })
      const res = await fetch(`${url}/authorize`, { method: 'POST', headers: FORM, body: authorizeQuery(), redirect: 'manual' })
      expect(res.status).toBe(303)
      expect(location(res).searchParams.get('state')).toBe('s t')
    })

    it('redirects access_denied with the state when the hook answers { deny: true } (§4.1.2.1)', async () => {
      const { url, authorize } = await ctx.start({ oauth: { authorize: () => ({ deny: true }) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(Object.fromEntries(location(res).searchParams)).toMatchObject({ error: 'access_denied', state: 's t' })
      expect(authorize).toHaveBeenCalledOnce()
    })

    it('sends a protocol error the hook throws back to the client (§4.1.2.1)', async () => {
      const { url, onError } = await ctx.start({
        oauth: {
          authorize: () => {
            throw new OAuthError('access_denied', 'the user cancelled')
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(Object.fromEntries(location(res).searchParams)).toMatchObject({ error: 'access_denied', error_description: 'the user cancelled', state: 's t' })
      expect(onError).not.toHaveBeenCalled()
    })

    it.each([
      ['an unsupported response_type', authorizeQuery({ response_type: 'bogus' }), 'unsupported_response_type'],
      ['an unknown scope', authorizeQuery({ scope: 'admin' }), 'invalid_scope'],
    ])('redirects %s, found after the redirect URI was validated, without calling the hook (§4.1.2.1)', async (_name, query, error) => {
      const { url, authorize } = await ctx.start({ oauth: { authorize: () => ({ user: { id: 'u1' } }) } })
      const res = await fetch(`${url}/authorize?${query}`, { redirect: 'manual' })
      expect(res.status).toBe(302)
      expect(Object.fromEntries(location(res).searchParams)).toMatchObject({ error, state: 's t' })
      expect(authorize).not.toHaveBeenCalled()
    })

    it.each([
      ['an unknown client_id', authorizeQuery({ client_id: 'nobody' }), 'invalid_client'],
      ['an unregistered redirect_uri', authorizeQuery({ redirect_uri: 'https://evil.example/cb' }), 'invalid_request'],
      ['a missing client_id', 'response_type=code', 'invalid_request'],
      ['malformed percent-encoding', 'response_type=code&client_id=%ZZ', 'invalid_request'],
    ])('shows a 400 HTML page with the page headers, never a redirect, for %s (§4.1.2.1)', async (_name, query, error) => {
      const { url, authorize } = await ctx.start({ oauth: { authorize: () => ({ user: { id: 'u1' } }) } })
      const res = await fetch(`${url}/authorize?${query}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expectPageHeaders(res.headers)
      expect(await res.text()).toContain(error)
      expect(authorize).not.toHaveBeenCalled()
    })

    it('escapes markup in the default error page', async () => {
      const { url, store } = await ctx.start()
      store.findClient = async () => {
        throw new OAuthError('invalid_client', 'no client "<script>alert(1)</script>"', { status: 400 })
      }
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      const html = await res.text()
      expect(html).not.toContain('<script>')
      expect(html).toContain('&lt;script&gt;')
    })

    it('renders the error page with the app renderError, given the unescaped error, with the page headers', async () => {
      const renderError = (error: { status: number; error: string; description: string }) => ({ status: error.status, html: `custom ${error.error}` })
      const seen: unknown[] = []
      const { url } = await ctx.start({ oauth: { renderError: (error) => (seen.push(error), renderError(error)) } })
      const res = await fetch(`${url}/authorize?${authorizeQuery({ client_id: 'nobody' })}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(await res.text()).toBe('custom invalid_client')
      expectPageHeaders(res.headers)
      expect(seen).toEqual([{ status: 400, error: 'invalid_client', description: 'unknown client' }])
    })

    it('falls back to the default page, with the same status, when renderError throws, and reports it', async () => {
      const { url, onError } = await ctx.start({
        oauth: {
          renderError: () => {
            throw new Error('renderer broke')
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery({ client_id: 'nobody' })}`, { redirect: 'manual' })
      expect(res.status).toBe(400)
      const html = await res.text()
      expect(html).toContain('invalid_client')
      expect(html).not.toContain('renderer broke')
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'renderer broke' }))
    })

    it('answers a hook that throws with the 500 page, without the error message, and reports the error once', async () => {
      const thrown = new Error('secret <internals>')
      const { url, onError, authorize } = await ctx.start({
        oauth: {
          authorize: () => {
            throw thrown
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      expect(res.headers.get('location')).toBeNull()
      const text = await res.text()
      expect(text).toContain('server_error')
      expect(text).not.toContain('secret')
      expect(onError).toHaveBeenCalledOnce()
      expect(onError).toHaveBeenCalledWith(thrown)
      expect(authorize).toHaveBeenCalledOnce()
    })

    it.each([
      ['a user without an id', { user: {} }],
      ['a user with an empty id', { user: { id: '' } }],
      ['something else', { approve: true }],
    ])('answers a hook answer that is %s with the 500 page, never a redirect', async (_name, answer) => {
      const { url, onError } = await ctx.start({ oauth: { authorize: () => answer as never } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      expect(res.headers.get('location')).toBeNull()
      expect(await res.text()).toContain('server_error')
      expect(onError).toHaveBeenCalledWith(expect.any(TypeError))
    })

    it('answers a login form over bodyLimit with a 413 page', async () => {
      const { url, authorize } = await ctx.start({ oauth: { bodyLimit: 100 } })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: FORM, body: 'x='.padEnd(200, 'a'), redirect: 'manual' })
      expect(res.status).toBe(413)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(res.headers.get('location')).toBeNull()
      expect(authorize).not.toHaveBeenCalled()
    })
  })
}
