import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, PUBLIC_CLIENT, USER, seed } from './support/fixtures.js'
import { openLoginForm, parseLoginPage, submitLoginForm } from './support/login-form.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')

describe.each(adapterCases())('the demo server on $adapter', ({ adapter }) => {
  let demo: DemoServer
  let removeDir: () => Promise<void>
  const secretsSeen: string[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(tmp.dir, seed()) }, tmp.dir)
  })

  afterAll(async () => {
    await demo?.stop()
    await removeDir?.()
  })

  function authorizationUrl(params: Record<string, string>): URL {
    const url = new URL(`${demo.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'st', ...params }).toString()
    return url
  }

  async function token(body: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${demo.issuer}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret), ...headers }, body })
  }

  describe('the token endpoint of the demo server (RFC 6749 §3.2, §5.2)', () => {
    it('answers Cache-Control: no-store with tokens (§5.1)', async () => {
      const res = await token('grant_type=client_credentials')
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      secretsSeen.push(((await res.json()) as { access_token: string }).access_token)
    })

    it('answers GET with 405, Allow: POST and an RFC error body', async () => {
      const res = await fetch(`${demo.issuer}/token?grant_type=client_credentials`)
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toMatch(/POST/)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it.each([
      ['a JSON body', { 'content-type': 'application/json' }, '{"grant_type":"client_credentials"}', 400],
      ['malformed percent-encoding', {}, 'grant_type=client_credentials&scope=%G1', 400],
      ['a body over 64 KiB', {}, 'grant_type=client_credentials&pad=' + 'a'.repeat(70 * 1024), 413],
      ['a repeated grant_type (§3.2)', {}, 'grant_type=client_credentials&grant_type=password', 400],
    ])('answers %s with a 4xx invalid_request', async (_name, headers, body, status) => {
      const res = await token(body, headers)
      expect(res.status).toBe(status)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('answers invalid UTF-8 with 400 invalid_request, never a 5xx', async () => {
      const url = new URL(`${demo.issuer}/token`)
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(url, { method: 'POST', headers: FORM }, (r) => {
          let body = ''
          r.on('data', (c: Buffer) => (body += c.toString()))
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }))
        })
        req.on('error', reject)
        req.end(Buffer.from([0x61, 0x3d, 0xc3, 0x28]))
      })
      expect(res.status).toBe(400)
      expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' })
    })

    it.each([
      ['a wrong Basic secret', { authorization: basic(CONFIDENTIAL.client_id, 'wrong') }, 'grant_type=client_credentials'],
      ['a wrong client_secret_post secret', { authorization: '' }, `grant_type=client_credentials&client_id=${CONFIDENTIAL.client_id}&client_secret=wrong`],
      ['an unknown public client', { authorization: '' }, 'grant_type=authorization_code&code=x&client_id=nobody'],
      ['no client authentication', { authorization: '' }, 'grant_type=client_credentials'],
    ])('answers %s with 401 invalid_client and WWW-Authenticate', async (_name, headers, body) => {
      const init: Record<string, string> = { ...headers }
      if (init['authorization'] === '') delete init['authorization']
      const res = await fetch(`${demo.issuer}/token`, { method: 'POST', headers: { ...FORM, ...init }, body })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).not.toBeNull()
      expect(await res.json()).toMatchObject({ error: 'invalid_client' })
    })

    it('answers an unsupported grant type with unsupported_grant_type', async () => {
      const res = await token('grant_type=urn:example:nothing')
      expect(await res.json()).toMatchObject({ error: 'unsupported_grant_type' })
    })
  })

  describe('the login and consent page (docs/demo-server.md, RFC 6749 §4.1.1)', () => {
    it('answers a valid request with 200 HTML holding one POST form with username, password, CSRF and decision buttons', async () => {
      const url = authorizationUrl({ scope: 'profile email' })
      const form = await openLoginForm(url)
      expect(form.status).toBe(200)
      expect(form.headers.get('content-type')).toMatch(/^text\/html/)
      const parsed = parseLoginPage(form.html, url)
      expect(parsed.forms).toBe(1)
      expect(form.html).toMatch(/<form method="post"/)
      expect(parsed.inputs).toEqual(expect.arrayContaining(['username', 'password', 'csrf_token', 'decision']))
      expect(form.html).toMatch(/<button[^>]*name="decision"[^>]*value="approve"/)
      expect(form.html).toMatch(/<button[^>]*name="decision"[^>]*value="deny"/)
      // The form posts back the original authorization request.
      expect(Object.fromEntries(parsed.action.searchParams)).toEqual(Object.fromEntries(url.searchParams))
      expect(form.html).toContain('<code>profile</code>')
      expect(form.html).toContain('<code>email</code>')
    })

    it('escapes the client name', async () => {
      const form = await openLoginForm(authorizationUrl({}))
      expect(form.html).toContain('Confidential &lt;App&gt; &amp; &quot;Co&quot;')
      expect(form.html).not.toContain('<App>')
    })

    it('sends anti-framing, CSP and no-store headers, and an HttpOnly SameSite=Lax CSRF cookie', async () => {
      const res = await fetch(authorizationUrl({}))
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('grantkit_csrf='))
      expect(cookie).toMatch(/httponly/i)
      expect(cookie).toMatch(/samesite=lax/i)
    })

    it('re-renders the form on a wrong password, without a redirect', async () => {
      const form = await openLoginForm(authorizationUrl({}))
      const res = await submitLoginForm(form, { username: USER.username, password: 'wrong', decision: 'approve' })
      expect(res.status).toBe(200)
      expect(res.headers.get('location')).toBeNull()
      const html = await res.text()
      expect(html).toContain('Wrong username or password')
      expect(parseLoginPage(html, form.action).forms).toBe(1)
    })

    it('redirects with the code and state after approval, to the exact redirect URI', async () => {
      const form = await openLoginForm(authorizationUrl({ state: 'a b&c' }))
      const res = await submitLoginForm(form, { username: USER.username, password: USER.password, decision: 'approve' })
      expect([302, 303]).toContain(res.status)
      const location = new URL(res.headers.get('location')!)
      expect(location.origin + location.pathname).toBe(CALLBACK)
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ code: expect.any(String), state: 'a b&c', iss: demo.issuer })
      secretsSeen.push(location.searchParams.get('code')!)
    })

    it.each([
      ['no CSRF cookie', { cookie: '' }],
      ['another browser’s CSRF cookie', { cookie: 'grantkit_csrf=' + 'A'.repeat(43) }],
      ['no CSRF field', { hidden: {} }],
    ])('answers a POST with %s with 403 and no redirect', async (_name, override) => {
      const form = await openLoginForm(authorizationUrl({}))
      const res = await submitLoginForm(form, { username: USER.username, password: USER.password, decision: 'approve' }, override)
      expect(res.status).toBe(403)
      expect(res.headers.get('location')).toBeNull()
    })

    it.each([
      ['an unknown client_id', { client_id: 'nobody' }],
      ['an unregistered redirect_uri', { redirect_uri: 'http://127.0.0.1:9/evil' }],
      ['a redirect_uri differing only in case', { redirect_uri: CALLBACK.toUpperCase() }],
      ['malformed percent-encoding', { state: '%' }],
    ])('shows a 400 HTML page for %s, never redirecting (§4.1.2.1)', async (name, params) => {
      const url = authorizationUrl(params)
      if (name.startsWith('malformed')) url.search = url.search.replace(/state=[^&]*/, 'state=%E2%28')
      const res = await fetch(url, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    })

    it.each([
      ['an unsupported response_type', { response_type: 'bogus' }, 'unsupported_response_type'],
      ['a scope the client may not use', { scope: 'admin' }, 'invalid_scope'],
      ['a response type the client is not registered for', { response_type: 'token' }, 'unauthorized_client'],
    ])('redirects %s to the client with error, error_description and state', async (_name, params, error) => {
      const res = await fetch(authorizationUrl(params), { redirect: 'manual' })
      expect(res.status).toBe(302)
      const location = new URL(res.headers.get('location')!)
      const received = new URLSearchParams(location.hash === '' ? location.search : location.hash.slice(1))
      expect(Object.fromEntries(received)).toMatchObject({ error, error_description: expect.any(String), state: 'st' })
    })
  })

  describe('/api/me (RFC 6750)', () => {
    it.each(['bearer', 'BEARER'])('accepts the %s scheme (case-insensitive, §2.1)', async (scheme) => {
      const res = await fetch(`${demo.issuer}/token`, {
        method: 'POST',
        headers: { ...FORM, authorization: basic(CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret) },
        body: new URLSearchParams({ grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile' }),
      })
      const { access_token } = (await res.json()) as { access_token: string }
      secretsSeen.push(access_token)
      const me = await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `${scheme} ${access_token}` } })
      expect(me.status).toBe(200)
      expect(await me.json()).toEqual({ sub: expect.any(String), username: USER.username, scope: 'profile' })
    })

    it('answers 403 insufficient_scope for a user token without profile (§3.1)', async () => {
      const res = await token(new URLSearchParams({ grant_type: 'password', username: USER.username, password: USER.password, scope: 'read' }).toString())
      const { access_token } = (await res.json()) as { access_token: string }
      const me = await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${access_token}` } })
      expect(me.status).toBe(403)
      expect(me.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/)
      expect(await me.json()).toMatchObject({ error: 'insufficient_scope' })
    })

    it('answers another method with 405 and Allow, never echoing the method in error_description (RFC 6749 section 5.2)', async () => {
      const res = await fetch(`${demo.issuer}/api/me`, { method: 'DELETE' })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toContain('GET')
      const body = (await res.json()) as { error: string; error_description: string }
      expect(body.error).toBe('invalid_request')
      expect(body.error_description).not.toContain('DELETE')
    })
  })

  describe('the request log', () => {
    it('never contains tokens, codes, secrets or passwords', () => {
      const output = demo.output()
      expect(output).toMatch(/POST \/token 200/)
      for (const secret of [...secretsSeen, CONFIDENTIAL.client_secret, USER.password, PUBLIC_CLIENT.client_id + '&']) {
        expect(output).not.toContain(secret)
      }
    })
  })
})
