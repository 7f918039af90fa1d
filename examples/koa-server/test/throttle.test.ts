// OAUTH_THROTTLE (docs/demo-server.md "Environment variables"): failed
// credentials bounded only when asked (RFC 6819 §5.1.4.2.3), never by default.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { openDevicePage, submitDevicePage } from './support/device-page.js'
import { CALLBACK, CONFIDENTIAL, USER, seed } from './support/fixtures.js'
import { openLoginForm, submitLoginForm } from './support/login-form.js'
import { post } from './support/oauth-http.js'

describe('OAUTH_THROTTLE', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  async function start(env: Record<string, string>): Promise<DemoServer> {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const server = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_LOG: 'off', OAUTH_SEED: await writeSeed(tmp.dir, seed()), ...env }, tmp.dir)
    cleanups.push(() => server.stop())
    return server
  }
  const wrongSecret = (issuer: string) => post(issuer, '/token', { grant_type: 'client_credentials' }, { basic: [CONFIDENTIAL.client_id, 'wrong'] })

  it('is off by default: a client may fail authentication as often as it likes', async () => {
    const { issuer } = await start({})
    for (let i = 0; i < 12; i++) expect((await wrongSecret(issuer)).status).toBe(401)
  })

  it('with on, answers 429 invalid_client with Retry-After after 10 failures of one client, before checking the secret', async () => {
    const { issuer } = await start({ OAUTH_THROTTLE: 'on' })
    for (let i = 0; i < 10; i++) expect((await wrongSecret(issuer)).status).toBe(401)
    const refused = await post(issuer, '/token', { grant_type: 'client_credentials' }, { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/)
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' })
  })

  it.each(['yes', 'ON', '1'])('refuses to start with OAUTH_THROTTLE=%j, naming the variable', async (value) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    await expect(startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_THROTTLE: value }, tmp.dir)).rejects.toThrow(/failed to start: OAUTH_THROTTLE must be "on" or "off"/)
  })
})

/** Up to 100 scrypt verifications in one test: a generous bound on a loaded machine, not a timing check. */
const SLOW = 180_000

/** Extra users, one per test, so that each test's count starts at zero. */
const USERS = ['bob', 'carol', 'dave'].map((username) => ({ username, password: `${username} horse battery staple` }))
const [BOB, CAROL, DAVE] = USERS as [(typeof USERS)[number], (typeof USERS)[number], (typeof USERS)[number]]

function consentUrl(issuer: string): URL {
  const url = new URL(`${issuer}/authorize`)
  url.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'st', scope: 'profile' }).toString()
  return url
}

/** One sign-in at the consent page, as a browser makes it: GET the form, POST it. */
async function atConsent(issuer: string, username: string, password: string): Promise<Response> {
  return submitLoginForm(await openLoginForm(consentUrl(issuer)), { username, password, decision: 'approve' })
}

/** One sign-in at the device verification page, with a user code no request has (the password is checked first). */
async function atDevice(issuer: string, username: string, password: string): Promise<Response> {
  return submitDevicePage(await openDevicePage(`${issuer}/device`), { user_code: 'BCDF-GHJK', username, password, decision: 'approve' })
}

/** A 429 of a form: Retry-After in whole seconds, an HTML page with the form again and the reason. */
async function expectThrottledForm(res: Response): Promise<void> {
  expect(res.status).toBe(429)
  expect(res.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/)
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
  expect(res.headers.get('location')).toBeNull()
  const html = await res.text()
  expect(html).toContain('Too many failed sign-ins.')
  expect(html).toContain('name="password"')
}

describe('OAUTH_THROTTLE off (the default) at the sign-in forms', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('lets a username fail at the consent page as often as it likes, then sign in', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const demo = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_LOG: 'off', OAUTH_SEED: await writeSeed(tmp.dir, seed()) }, tmp.dir)
    cleanups.push(() => demo.stop())
    for (let i = 0; i < 12; i++) expect((await atConsent(demo.issuer, USER.username, 'wrong')).status).toBe(200)
    expect((await atConsent(demo.issuer, USER.username, USER.password)).status).toBe(303)
  })
})

describe.each(adapterCases())('OAUTH_THROTTLE=on at the demo’s own sign-in forms on $adapter (issue 17 finding 5; RFC 6819 section 4.4.3.6, section 5.1.4.2.3)', ({ adapter }) => {
  let demo: DemoServer
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const seeded = { ...seed(), users: [USER, ...USERS] }
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: 'memory:', OAUTH_LOG: 'off', OAUTH_THROTTLE: 'on', OAUTH_SEED: await writeSeed(tmp.dir, seeded) }, tmp.dir)
    cleanups.push(() => demo.stop())
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('the consent page: after 10 wrong passwords for a username even the right one gets a 429 form with Retry-After; another username signs in', async () => {
    for (let i = 0; i < 10; i++) {
      const wrong = await atConsent(demo.issuer, USER.username, `wrong-${i}`)
      expect(wrong.status).toBe(200)
      expect(await wrong.text()).toContain('Wrong username or password.')
    }
    await expectThrottledForm(await atConsent(demo.issuer, USER.username, USER.password))
    // The username is case-folded, as the password grant counts it.
    await expectThrottledForm(await atConsent(demo.issuer, USER.username.toUpperCase(), USER.password))
    expect((await atConsent(demo.issuer, BOB.username, BOB.password)).status).toBe(303)
  })

  it('the device verification page: likewise, on the count the consent page and the password grant share', async () => {
    for (let i = 0; i < 5; i++) expect((await atDevice(demo.issuer, CAROL.username, `wrong-${i}`)).status).toBe(200)
    for (let i = 0; i < 5; i++) expect((await atConsent(demo.issuer, CAROL.username, `wrong-${i}`)).status).toBe(200)
    await expectThrottledForm(await atDevice(demo.issuer, CAROL.username, CAROL.password))
    await expectThrottledForm(await atConsent(demo.issuer, CAROL.username, CAROL.password))
    const grant = await post(demo.issuer, '/token', { grant_type: 'password', username: CAROL.username, password: CAROL.password, scope: 'profile' }, { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] })
    expect(grant.status).toBe(429)
    // Another username: its password is checked (then the unknown user code is what is refused).
    const other = await atDevice(demo.issuer, BOB.username, BOB.password)
    expect(other.status).toBe(400)
    expect(await other.text()).toContain('No pending request has this code.')
  })

  it('a successful sign-in resets the username’s count', async () => {
    for (let i = 0; i < 9; i++) expect((await atConsent(demo.issuer, DAVE.username, 'wrong')).status).toBe(200)
    expect((await atConsent(demo.issuer, DAVE.username, DAVE.password)).status).toBe(303)
    for (let i = 0; i < 10; i++) expect((await atConsent(demo.issuer, DAVE.username, 'wrong')).status).toBe(200)
    await expectThrottledForm(await atConsent(demo.issuer, DAVE.username, DAVE.password))
   }, SLOW)

  // Last: it uses up this address's budget for the rest of the window.
  it('counts failures per client address too: past 100 from one address, any username gets 429, the right password included', async () => {
    let failures = 0
    let refused: Response | undefined
    while (refused === undefined && failures <= 100) {
      const res = await atConsent(demo.issuer, `nobody-${failures}`, 'wrong')
      if (res.status === 429) refused = res
      else {
        expect(res.status).toBe(200)
        failures++
      }
    }
    // The earlier tests' failures (from this address) count too.
    expect(refused).toBeDefined()
    await expectThrottledForm(refused!)
    await expectThrottledForm(await atConsent(demo.issuer, BOB.username, BOB.password))
   }, SLOW)
})
