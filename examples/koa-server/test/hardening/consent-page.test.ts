import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { connect, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createServer as createTlsServer } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAIN, adapterCases, freePort, startDemoServer, tempDir, writeSeed, type Adapter, type DemoServer } from '../support/demo-server.js'
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

    it('issues the CSRF cookie over plain HTTP as grantkit_csrf: HttpOnly, SameSite=Lax, Path=/, no Domain, and no Secure (browsers refuse __Host- without it)', async () => {
      const res = await fetch(authorizationUrl())
      const cookies = res.headers.getSetCookie().filter((c) => /^(__Host-)?grantkit_csrf=/.test(c))
      expect(cookies).toEqual([expect.stringMatching(/^grantkit_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)])
    })

    it('renders a fresh token every time, also to a browser that already has its cookie', async () => {
      const first = await openLoginForm(authorizationUrl())
      const again = await fetch(authorizationUrl(), { headers: { cookie: first.cookie } })
      expect(again.headers.getSetCookie()).toEqual([])
      const { hidden } = parseLoginPage(await again.text(), first.action)
      expect(hidden['csrf_token']).toEqual(expect.any(String))
      expect(hidden['csrf_token']).not.toBe(first.hidden['csrf_token'])
    })

    it('refuses the token of another authorization request of the same browser (issue 17 finding 3: bound to the request)', async () => {
      const mine = await openLoginForm(authorizationUrl({ state: 'mine' }))
      const res = await fetch(authorizationUrl({ state: 'other' }), { headers: { cookie: mine.cookie } })
      const other = { ...mine, ...parseLoginPage(await res.text(), authorizationUrl()) }
      // The other request's action, the first request's token: refused, no code.
      expectRefused(await submitLoginForm(other, APPROVE, { hidden: mine.hidden }))
      // Each request's own token still passes: the refusal was about the request, not the browser.
      const approved = await submitLoginForm(other, APPROVE)
      expect(approved.status).toBe(303)
      expect(new URL(approved.headers.get('location')!).searchParams.get('state')).toBe('other')
    })

    it('refuses a token once it was used: a replayed approval gets 403 and no second code (issue 17 finding 3: single use)', async () => {
      const form = await openLoginForm(authorizationUrl())
      const first = await submitLoginForm(form, APPROVE)
      expect(first.status).toBe(303)
      const replayed = await submitLoginForm(form, APPROVE)
      expectRefused(replayed)
      expect(await replayed.text()).not.toMatch(/code=/)
    })

    it('refuses a token used by a wrong-password POST, and accepts the fresh one of the form it re-rendered', async () => {
      const form = await openLoginForm(authorizationUrl())
      const wrong = await submitLoginForm(form, { ...APPROVE, password: 'wrong' })
      expect(wrong.status).toBe(200)
      const { hidden } = parseLoginPage(await wrong.text(), form.action)
      expectRefused(await submitLoginForm(form, APPROVE))
      expect((await submitLoginForm(form, APPROVE, { hidden })).status).toBe(303)
    })

    it.each([
      ['a foreign Origin', { origin: 'https://evil.example' }],
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
      ['Sec-Fetch-Site: cross-site with Origin: null', { 'sec-fetch-site': 'cross-site', origin: 'null' }],
      ['Sec-Fetch-Site: same-site from a sibling host', { 'sec-fetch-site': 'same-site', origin: 'http://sibling.127.0.0.1.nip.io' }],
      ['the issuer host on another port', { origin: 'http://127.0.0.1:9' }],
    ])('refuses a POST with %s even with the right cookie and token (OWASP: verifying the origin; Fetch Metadata)', async (_name, headers) => {
      const form = await openLoginForm(authorizationUrl())
      const post = (extra: Record<string, string>) =>
        fetch(form.action, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: form.cookie, ...extra },
          body: new URLSearchParams({ ...form.hidden, ...APPROVE }),
        })
      expectRefused(await post(headers))
      // The same form from the issuer's own page (a no-referrer page sends Origin: null) passes: the refusal was the origin.
      expect((await post({ origin: 'null', 'sec-fetch-site': 'same-origin' })).status).toBe(303)
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

/** A self-signed certificate for 127.0.0.1 (openssl, as the MCP test makes its own), valid one day. */
function selfSignedCertificate(dir: string): { key: string; cert: string } {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  )
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') }
}

/** One HTTPS exchange that trusts `ca`; a repeated header (Set-Cookie) as a list. */
function sendTls(ca: string, url: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * The demo as it runs in production behind a TLS-terminating proxy: the
 * proxy (node:tls, piping each connection to the demo's plain-HTTP port)
 * serves https://127.0.0.1:<port>, which is OAUTH_ISSUER. The demo is
 * spawned here rather than by startDemoServer, whose readiness probe cannot
 * trust the test certificate.
 */
async function startBehindTls(adapter: Adapter, dir: string): Promise<{ issuer: string; ca: string; stop: () => Promise<void> }> {
  const { key, cert } = selfSignedCertificate(dir)
  const demoPort = await freePort()
  const proxy = createTlsServer({ key, cert }, (socket) => {
    const upstream = connect(demoPort, '127.0.0.1')
    socket.pipe(upstream).pipe(socket)
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const issuer = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`
  const child = spawn(process.execPath, [MAIN], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: String(demoPort), OAUTH_ISSUER: issuer, OAUTH_ADAPTER: adapter, OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(dir, seed()), OAUTH_LOG: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
    await new Promise<void>((resolve) => proxy.close(() => resolve()))
  }
  // The listening line comes once the app is ready to route.
  const deadline = Date.now() + 30_000
  while (!output.includes('[grantkit] listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`the demo server did not start behind TLS:\n${output}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { issuer, ca: cert, stop }
}

describe.each(adapterCases())('the consent page over HTTPS (a TLS-terminating proxy, an https issuer) on $adapter', ({ adapter }) => {
  let tls: Awaited<ReturnType<typeof startBehindTls>>
  let removeDir: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    tls = await startBehindTls(adapter, tmp.dir)
  })

  afterAll(async () => {
    await tls?.stop()
    await removeDir?.()
  })

  const authorizePath = () =>
    `/authorize?${new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'st', scope: 'profile' }).toString()}`

  async function openForm() {
    const page = await sendTls(tls.ca, tls.issuer + authorizePath(), 'GET')
    expect(page.status).toBe(200)
    const setCookie = (page.headers['set-cookie'] as string[] | undefined) ?? []
    const { action, hidden } = parseLoginPage(page.text, new URL(tls.issuer + authorizePath()))
    return { setCookie, cookie: setCookie.map((c) => c.split(';', 1)[0]).join('; '), action, hidden }
  }

  const post = (form: Awaited<ReturnType<typeof openForm>>, cookie: string) =>
    sendTls(
      tls.ca,
      form.action.toString(),
      'POST',
      { 'content-type': 'application/x-www-form-urlencoded', cookie, origin: tls.issuer, 'sec-fetch-site': 'same-origin' },
      new URLSearchParams({ ...form.hidden, ...APPROVE }).toString(),
    )

  it('issues the CSRF cookie as __Host-grantkit_csrf: Secure, Path=/, no Domain (RFC 6265bis section 4.1.3.2), and the form posts back through the proxy', async () => {
    const form = await openForm()
    expect(form.setCookie).toEqual([expect.stringMatching(/^__Host-grantkit_csrf=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax$/)])
    const res = await post(form, form.cookie)
    expect(res.status).toBe(303)
    expect(new URL(String(res.headers['location'])).searchParams.get('code')).toEqual(expect.any(String))
    // The login session cookie is Secure too: the browser is on https.
    expect(res.headers['set-cookie']).toEqual([expect.stringMatching(/^grantkit_session=[^;]+;.*; secure; httponly$/)])
  })

  it('ignores a CSRF cookie without the __Host- prefix (one a sibling host could plant): 403', async () => {
    const form = await openForm()
    const res = await post(form, form.cookie.replace('__Host-grantkit_csrf=', 'grantkit_csrf='))
    expect(res.status).toBe(403)
    expect(res.headers['location']).toBeUndefined()
  })

  it('issues the same __Host- cookie on the device verification page', async () => {
    const page = await sendTls(tls.ca, `${tls.issuer}/device`, 'GET')
    expect(page.status).toBe(200)
    expect(page.headers['set-cookie']).toEqual([expect.stringMatching(/^__Host-grantkit_csrf=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax$/)])
  })
})
