import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterCases, startDemoServer, tempDir, writeSeed, type DemoServer } from '../support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, USER, seed } from '../support/fixtures.js'
import { openLoginForm, parseLoginPage, submitLoginForm } from '../support/login-form.js'

const APPROVE = { username: USER.username, password: USER.password, decision: 'approve' }

describe.each(adapterCases())('the consent page on $adapter', ({ adapter }) => {
  let demo: DemoServer
  let removeDir: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(tmp.dir, seed()), OAUTH_LOG: 'off' }, tmp.dir)
  })

  afterAll(async () => {
    await demo?.stop()
    await removeDir?.()
  })

  function authorizationUrl(params: Record<string, string> = {}): URL {
    const url = new URL(`${demo.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'st', scope: 'profile', ...params }).toString()
    return url
  }

  function expectRefused(res: Response): void {
    expect(res.status).toBe(403)
    expect(res.headers.get('location')).toBeNull()
  }

  function expectFramingForbidden(res: Response): void {
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('content-security-policy')).toMatch(/(^|;)\s*frame-ancestors 'none'/)
  }

  describe('the consent form requires its CSRF token (RFC 6749 §10.12, RFC 9700 §4.7)', () => {
    it('accepts the form with the token and cookie of its own session (the control case), redirecting with 303 (RFC 9700 §4.12)', async () => {
      const form = await openLoginForm(authorizationUrl())
      const res = await submitLoginForm(form, APPROVE)
      expect(res.status).toBe(303)
      expect(new URL(res.headers.get('location')!).searchParams.get('code')).toEqual(expect.any(String))
    })

    it.each([
      ['without the CSRF field', (hidden: Record<string, string>) => ({ ...hidden, csrf_token: undefined })],
      ['with an empty CSRF field', (hidden: Record<string, string>) => ({ ...hidden, csrf_token: '' })],
      ['with a wrong CSRF field', (hidden: Record<string, string>) => ({ ...hidden, csrf_token: 'A'.repeat(43) })],
      ['with the CSRF field altered by one character', (hidden: Record<string, string>) => ({ ...hidden, csrf_token: (hidden['csrf_token']!.startsWith('A') ? 'B' : 'A') + hidden['csrf_token']!.slice(1) })],
      ['with trailing bytes after the CSRF field', (hidden: Record<string, string>) => ({ ...hidden, csrf_token: `${hidden['csrf_token']}x` })],
    ])('refuses a POST %s with 403, no redirect and no code', async (_name, change) => {
      const form = await openLoginForm(authorizationUrl())
      const hidden = Object.fromEntries(Object.entries(change(form.hidden)).filter(([, v]) => v !== undefined)) as Record<string, string>
      const res = await submitLoginForm(form, APPROVE, { hidden })
      expectRefused(res)
      expect(await res.text()).not.toMatch(/code=/)
    })

    it('refuses a POST with the token from another session (another browser’s form, this browser’s cookie)', async () => {
      const mine = await openLoginForm(authorizationUrl())
      const theirs = await openLoginForm(authorizationUrl())
      expect(theirs.hidden['csrf_token']).not.toBe(mine.hidden['csrf_token'])
      expectRefused(await submitLoginForm(mine, APPROVE, { hidden: theirs.hidden }))
      expectRefused(await submitLoginForm(mine, APPROVE, { cookie: theirs.cookie }))
    })

    it('refuses a POST without the CSRF cookie', async () => {
      const form = await openLoginForm(authorizationUrl())
      expectRefused(await submitLoginForm(form, APPROVE, { cookie: '' }))
    })

    it('refuses a cross-site POST (another Origin, no cookie) even with a token that is valid elsewhere', async () => {
      const form = await openLoginForm(authorizationUrl())
      const res = await fetch(form.action, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', referer: 'https://evil.example/attack.html' },
        body: new URLSearchParams({ ...form.hidden, ...APPROVE }),
      })
      expectRefused(res)
    })

    it('refuses a cross-site POST of the decision alone, without any CSRF field', async () => {
      const res = await fetch(authorizationUrl(), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
        body: new URLSearchParams(APPROVE),
      })
      expectRefused(res)
    })

    it('issues the CSRF cookie HttpOnly, SameSite=Lax and scoped to the authorization endpoint', async () => {
      const res = await fetch(authorizationUrl())
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('grantkit_csrf='))!
      expect(cookie).toMatch(/;\s*httponly/i)
      expect(cookie).toMatch(/;\s*samesite=lax/i)
      expect(cookie).toMatch(/;\s*path=\/authorize/i)
    })
  })

  describe('a mistyped password never lands in a URL (issue 17 finding 7; RFC 6749 section 4.1.1)', () => {
    it('re-renders the form after a wrong password with an action URL of the authorization parameters only', async () => {
      const url = authorizationUrl()
      const form = await openLoginForm(url)
      const typed = 'mistyped-password-4d2f'
      const res = await submitLoginForm(form, { ...APPROVE, password: typed })
      expect(res.status).toBe(200)
      const { action } = parseLoginPage(await res.text(), url)
      expect(action.toString()).not.toContain(typed)
      for (const field of ['password', 'username', 'decision', 'csrf_token']) expect(action.searchParams.has(field)).toBe(false)
      // The same request as the first form's, parameter for parameter.
      expect([...action.searchParams].sort()).toEqual([...form.action.searchParams].sort())
      expect(action.pathname).toBe(form.action.pathname)
    })
  })

  describe('anti-framing on every page of the authorization endpoint (RFC 6749 §10.13, RFC 9700 §4.16)', () => {
    it('sends X-Frame-Options: DENY and frame-ancestors none on the consent page', async () => {
      const form = await openLoginForm(authorizationUrl())
      expect(form.status).toBe(200)
      expectFramingForbidden(new Response(null, { headers: form.headers }))
    })

    it('sends them on the re-rendered form after a wrong password', async () => {
      const form = await openLoginForm(authorizationUrl())
      const res = await submitLoginForm(form, { ...APPROVE, password: 'wrong' })
      expect(res.status).toBe(200)
      expectFramingForbidden(res)
    })

    it('sends them on the 403 CSRF page', async () => {
      const form = await openLoginForm(authorizationUrl())
      const res = await submitLoginForm(form, APPROVE, { cookie: '' })
      expectRefused(res)
      expectFramingForbidden(res)
    })

    it('sends them on the 400 error page', async () => {
      const res = await fetch(authorizationUrl({ client_id: 'nobody' }))
      expect(res.status).toBe(400)
      expectFramingForbidden(res)
    })
  })
})
