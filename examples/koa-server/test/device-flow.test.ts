import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { decideDevice, openDevicePage, submitDevicePage, type DevicePage } from './support/device-page.js'
import { DEVICE_CLIENT, DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT, USER, seed } from './support/fixtures.js'
import { parseLoginPage } from './support/login-form.js'
import { FORM, post } from './support/oauth-http.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const
const tv: oauth.Client = { client_id: DEVICE_CLIENT.client_id }
const SIGN_IN = { username: USER.username, password: USER.password }

/** The OAuth error code oauth4webapi saw in an error response. */
async function oauthError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) return error.error
    throw error
  }
  throw new Error('expected an OAuth error response')
}

/**
 * What a POST of the verification form answered, read as a browser reads
 * it: the HTML, and the page to post next, with the fresh CSRF token the
 * answer's form carries (a token is accepted once).
 */
async function answered(page: DevicePage, res: Response): Promise<{ status: number; html: string; next: DevicePage }> {
  const html = await res.text()
  return { status: res.status, html, next: { ...page, hidden: parseLoginPage(html, page.action).hidden } }
}

interface DeviceAuthorization {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete: string
  expires_in: number
  interval: number
}

describe.each(serverCases())('the device flow (RFC 8628) on $adapter with the $store store', ({ adapter, setup }) => {
  let demo: DemoServer
  /** A second server, with OAUTH_DEVICE_CODE_TTL=1 and a store of its own: expiry, and the guess limit (nothing else guesses there). */
  let short: DemoServer
  let as: oauth.AuthorizationServer
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const seedFile = await writeSeed(tmp.dir, seed())
    const start = async (env: Record<string, string>, dir: string) => {
      const store = await setup(dir)
      cleanups.push(store.cleanup)
      const started = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: store.spec, OAUTH_SEED: seedFile, ...env }, dir)
      cleanups.push(() => started.stop())
      return started
    }
    demo = await start({}, tmp.dir)
    const other = await tempDir()
    cleanups.push(other.remove)
    short = await start({ OAUTH_DEVICE_CODE_TTL: '1' }, other.dir)
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  /** A device authorization request of the public device app (RFC 8628 §3.1). */
  async function authorizeDevice(server: DemoServer = demo, scope = 'profile read'): Promise<DeviceAuthorization> {
    const res = await post(server.issuer, '/device_authorization', { scope }, { clientId: DEVICE_CLIENT.client_id })
    expect(res.status).toBe(200)
    return (await res.json()) as DeviceAuthorization
  }

  /** One poll of the token endpoint (RFC 8628 §3.4), raw. */
  function poll(deviceCode: string, server: DemoServer = demo): Promise<Response> {
    return post(server.issuer, '/token', { grant_type: DEVICE_CODE_GRANT, device_code: deviceCode }, { clientId: DEVICE_CLIENT.client_id })
  }

  async function expectPollError(res: Response, error: string): Promise<void> {
    expect(res.status).toBe(400)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.json()).toMatchObject({ error })
  }

  it('advertises device_authorization_endpoint and both new grant types in its metadata (RFC 8628 §4, RFC 8414 §2)', () => {
    expect(as.device_authorization_endpoint).toBe(`${demo.issuer}/device_authorization`)
    expect(as.grant_types_supported).toEqual(expect.arrayContaining([DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT]))
  })

  it('answers the device authorization request as RFC 8628 §3.2 says, with the demo page as verification_uri', async () => {
    const body = await authorizeDevice()
    expect(body).toEqual({
      device_code: expect.any(String),
      user_code: expect.stringMatching(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/),
      verification_uri: `${demo.issuer}/device`,
      verification_uri_complete: `${demo.issuer}/device?user_code=${body.user_code}`,
      expires_in: 600,
      interval: 5,
    })
    expect((await authorizeDevice(short)).expires_in).toBe(1)
  })

  it('completes with openid-client 6.9.0 (initiateDeviceAuthorization, pollDeviceAuthorizationGrant), the user approving on the page', async () => {
    const config = await client.discovery(new URL(demo.issuer), DEVICE_CLIENT.client_id, undefined, client.None(), { execute: [client.allowInsecureRequests], algorithm: 'oauth2' })
    const response = await client.initiateDeviceAuthorization(config, { scope: 'profile read' })
    // The device polls (openid-client waits `interval` seconds first) while the user approves.
    const polling = client.pollDeviceAuthorizationGrant(config, response)
    const approved = await decideDevice(response.verification_uri, response.user_code, 'approve')
    expect(approved.status).toBe(200)
    const tokens = await polling
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'profile read', access_token: expect.any(String), refresh_token: expect.any(String) })
    const me = await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
    expect(await me.json()).toMatchObject({ username: USER.username, scope: 'profile read' })
  })

  it('completes with oauth4webapi 3.8.8: authorization_pending, then tokens once approved, then invalid_grant for the redeemed code (§3.5)', async () => {
    const response = await oauth.processDeviceAuthorizationResponse(as, tv, await oauth.deviceAuthorizationRequest(as, tv, oauth.None(), { scope: 'read' }, insecure))
    const grant = () => oauth.deviceCodeGrantRequest(as, tv, oauth.None(), response.device_code, insecure).then((res) => oauth.processDeviceCodeResponse(as, tv, res))
    expect(await oauthError(grant())).toBe('authorization_pending')
    // The user types the code in lower case, without the dash (RFC 8628 §6.1).
    expect((await decideDevice(response.verification_uri, response.user_code.replace('-', '').toLowerCase(), 'approve')).status).toBe(200)
    const tokens = await grant()
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read' })
    expect(await oauthError(grant())).toBe('invalid_grant')
  })

  it('answers slow_down to a poll sooner than interval seconds after the previous one (§3.5)', async () => {
    const { device_code } = await authorizeDevice()
    await expectPollError(await poll(device_code), 'authorization_pending')
    await expectPollError(await poll(device_code), 'slow_down')
  })

  it('answers access_denied once the user denied (§3.5), and the page says so', async () => {
    const { device_code, user_code, verification_uri } = await authorizeDevice()
    const denied = await decideDevice(verification_uri, user_code, 'deny')
    expect(denied.status).toBe(200)
    expect(await denied.text()).toContain('Device denied')
    await expectPollError(await poll(device_code), 'access_denied')
  })

  it('answers expired_token once the code outlived OAUTH_DEVICE_CODE_TTL (§3.5)', async () => {
    const { device_code, expires_in } = await authorizeDevice(short)
    // Expiry is the server's clock from the issue: twice the lifetime later it has passed, however slow the machine.
    await new Promise((resolve) => setTimeout(resolve, expires_in * 2000 + 500))
    await expectPollError(await poll(device_code, short), 'expired_token')
  })

  it('answers invalid_grant to a device code it never issued, and invalid_client to an unknown client (RFC 6749 §5.2)', async () => {
    await expectPollError(await poll('not-a-device-code'), 'invalid_grant')
    const res = await post(demo.issuer, '/device_authorization', {}, { clientId: 'nobody' })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: 'invalid_client' })
  })

  it('issues tokens once to 20 concurrent polls of an approved code; the others get invalid_grant (§3.5)', async () => {
    const { device_code, user_code, verification_uri } = await authorizeDevice()
    expect((await decideDevice(verification_uri, user_code, 'approve')).status).toBe(200)
    const answers = await Promise.all(Array.from({ length: 20 }, () => poll(device_code).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }))))
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1)
    const refused = answers.filter((a) => a.status !== 200)
    expect(refused).toHaveLength(19)
    for (const answer of refused) expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
  })

  describe('the verification page (RFC 8628 §3.3)', () => {
    it('answers GET with 200 HTML: one POST form (user_code, username, password, decision), the CSRF cookie and the page headers', async () => {
      const page = await openDevicePage(`${demo.issuer}/device`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
      expect(page.headers.get('cache-control')).toBe('no-store')
      expect(page.headers.get('x-frame-options')).toBe('DENY')
      expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/)
      expect(page.forms).toBe(1)
      expect(page.html).toMatch(/<form method="post" action="\/device">/)
      expect(page.inputs).toEqual(['csrf_token', 'user_code', 'username', 'password', 'decision', 'decision'])
      expect(page.html).toMatch(/name="decision" value="approve"/)
      expect(page.html).toMatch(/name="decision" value="deny"/)
      expect(page.userCode).toBe('')
      // Core's createCsrfProtection over plain HTTP: no __Host- prefix, no Secure (docs/demo-server.md "The verification page").
      expect(page.headers.getSetCookie()).toEqual([expect.stringMatching(/^grantkit_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)])
    })

    it('pre-fills user_code through verification_uri_complete and names the client and scopes asked for (§3.3.1, §5.4)', async () => {
      const { device_code, user_code, verification_uri_complete } = await authorizeDevice(demo, 'read')
      const page = await openDevicePage(verification_uri_complete)
      expect(page.status).toBe(200)
      expect(page.userCode).toBe(user_code)
      expect(page.html).toContain('Living-room &lt;TV&gt;')
      expect(page.html).toContain('<code>read</code>')
      // Showing the page decided nothing.
      await expectPollError(await poll(device_code), 'authorization_pending')
    })

    it('refuses a POST without the cookie, or with another CSRF token, with 403 and decides nothing (RFC 6749 §10.12)', async () => {
      const { device_code, user_code } = await authorizeDevice()
      const page = await openDevicePage(`${demo.issuer}/device`)
      const fields = { user_code, ...SIGN_IN, decision: 'approve' }
      expect((await submitDevicePage(page, fields, { cookie: '' })).status).toBe(403)
      expect((await submitDevicePage(page, fields, { hidden: { csrf_token: 'A'.repeat(43) } })).status).toBe(403)
      const other = await openDevicePage(`${demo.issuer}/device`)
      expect((await submitDevicePage(page, fields, { cookie: other.cookie })).status).toBe(403)
      await expectPollError(await poll(device_code), 'authorization_pending')
    })

    it('refuses a replayed POST (a CSRF token is accepted once), a foreign Origin and Sec-Fetch-Site: cross-site with 403, and decides nothing (RFC 6749 §10.12)', async () => {
      const { device_code, user_code } = await authorizeDevice()
      const page = await openDevicePage(`${demo.issuer}/device`)
      const fields = { user_code, ...SIGN_IN, decision: 'approve' }
      const crossSite = (headers: Record<string, string>) =>
        fetch(page.action, { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie: page.cookie, ...headers }, body: new URLSearchParams({ ...page.hidden, ...fields }) })
      expect((await crossSite({ origin: 'https://evil.example' })).status).toBe(403)
      expect((await crossSite({ 'sec-fetch-site': 'cross-site' })).status).toBe(403)
      // A wrong password spends the token (the refused posts above did not): its replay is refused even with the right password.
      const wrong = await answered(page, await submitDevicePage(page, { ...fields, password: 'wrong' }))
      expect(wrong.status).toBe(200)
      expect((await submitDevicePage(page, fields)).status).toBe(403)
      await expectPollError(await poll(device_code), 'authorization_pending')
      // The fresh token of the form it answered passes.
      expect((await submitDevicePage(wrong.next, fields)).status).toBe(200)
      expect((await poll(device_code)).status).toBe(200)
    })

    it('shows the form again for a wrong password or no decision, and the code stays usable', async () => {
      const { device_code, user_code, verification_uri } = await authorizeDevice()
      const page = await openDevicePage(verification_uri)
      const wrong = await answered(page, await submitDevicePage(page, { user_code, username: USER.username, password: 'wrong', decision: 'approve' }))
      expect(wrong.status).toBe(200)
      expect(wrong.html).toContain('Wrong username or password.')
      expect(wrong.html).toContain(`value="${user_code}"`)
      const undecided = await answered(page, await submitDevicePage(wrong.next, { user_code, ...SIGN_IN }))
      expect(undecided.status).toBe(200)
      expect(undecided.html).toContain('Choose Approve or Deny.')
      await expectPollError(await poll(device_code), 'authorization_pending')
      expect((await submitDevicePage(undecided.next, { user_code, ...SIGN_IN, decision: 'approve' })).status).toBe(200)
      expect((await poll(device_code)).status).toBe(200)
    })

    it('answers an unknown user code with 400 and the form, and a used one with 400: a user code is single use (§6.1)', async () => {
      const page = await openDevicePage(`${demo.issuer}/device`)
      const unknown = await answered(page, await submitDevicePage(page, { user_code: 'BCDF-GHJK', ...SIGN_IN, decision: 'approve' }))
      expect(unknown.status).toBe(400)
      expect(unknown.html).toContain('No pending request has this code.')
      const { user_code } = await authorizeDevice()
      expect((await submitDevicePage(unknown.next, { user_code, ...SIGN_IN, decision: 'approve' })).status).toBe(200)
      for (const decision of ['approve', 'deny']) {
        const again = await submitDevicePage(await openDevicePage(`${demo.issuer}/device`), { user_code, ...SIGN_IN, decision })
        expect(again.status).toBe(400)
        expect(await again.text()).toContain('This code was already used.')
      }
    })

    it('answers a body that is not a form with a 400 HTML page, never a 5xx', async () => {
      const page = await openDevicePage(`${demo.issuer}/device`)
      const res = await fetch(page.action, { method: 'POST', headers: { 'content-type': 'application/json', cookie: page.cookie }, body: '{}' })
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
      const bad = await fetch(page.action, { method: 'POST', headers: { ...FORM, cookie: page.cookie }, body: 'user_code=%E2%28' })
      expect(bad.status).toBe(400)
    })

    it('bounds wrong user codes per client address: after 5, even the right code gets 429 (§5.1)', async () => {
      let page = await openDevicePage(`${short.issuer}/device`)
      for (let i = 0; i < 5; i++) {
        const wrong = await answered(page, await submitDevicePage(page, { user_code: `BCDF-GHJ${'KLMNP'[i]}`, ...SIGN_IN, decision: 'approve' }))
        expect(wrong.status).toBe(400)
        page = wrong.next
      }
      const { user_code } = await authorizeDevice(short)
      const limited = await submitDevicePage(page, { user_code, ...SIGN_IN, decision: 'approve' })
      expect(limited.status).toBe(429)
      expect(await limited.text()).toContain('Too many wrong codes.')
      const shown = await openDevicePage(`${short.issuer}/device?user_code=${user_code}`)
      expect(shown.status).toBe(200)
      expect(shown.html).toContain('Too many wrong codes.')
    })
  })
})

describe('device flow and token exchange configuration (docs/demo-server.md "Environment variables", "Seed file")', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it.each(['0', '1801', '60s', '-5', '1.5', ' 600'])('refuses to start with OAUTH_DEVICE_CODE_TTL=%j, naming the variable', async (value) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const refused = startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_DEVICE_CODE_TTL: value }, tmp.dir)
    await expect(refused).rejects.toThrow(/exited with 1[\s\S]*\[grantkit\] failed to start: OAUTH_DEVICE_CODE_TTL must be a whole number of seconds from 1 to 1800/)
  })

  it('refuses a seed giving the token exchange grant to a public client', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const seedFile = await writeSeed(tmp.dir, { clients: [{ client_id: 'public-exchanger', grant_types: [TOKEN_EXCHANGE_GRANT] }] })
    const refused = startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_SEED: seedFile }, tmp.dir)
    await expect(refused).rejects.toThrow(/failed to start: OAUTH_SEED: clients\[0\] has the grant type "urn:ietf:params:oauth:grant-type:token-exchange", which needs a client_secret/)
  })

  it('gives the first-start demo clients the device grant, and demo-confidential token exchange', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const demo = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_DEVICE_CODE_TTL: '300' }, tmp.dir)
    cleanups.push(() => demo.stop())
    const res = await post(demo.issuer, '/device_authorization', { scope: 'profile' }, { clientId: 'demo-public' })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ expires_in: 300, verification_uri: `${demo.issuer}/device` })
    const secret = /client_id=demo-confidential\s+client_secret=(\S+)/.exec(demo.output())?.[1] as string
    const exchange = await post(demo.issuer, '/token', { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: 'x', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, { basic: ['demo-confidential', secret] })
    // Registered for the grant: the unknown subject token is what is refused (RFC 8693 §2.2.2).
    expect(exchange.status).toBe(400)
    expect(await exchange.json()).toMatchObject({ error: 'invalid_request' })
  })
})
