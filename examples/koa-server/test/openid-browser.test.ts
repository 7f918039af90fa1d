// The OpenID Connect login session and consent page in a real browser
// (headless Chromium driven by playwright-core): docs/demo-server.md
// "Login and consent" and "OpenID Connect". The relying party is
// openid-client (unmodified) with a loopback redirect URI served by a tiny
// node:http server that records the codes it receives. Without
// /usr/bin/chromium every test fails, none is skipped (scripts/services.sh
// installs it).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as client from 'openid-client'
import type { Browser, BrowserContext, Cookie, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './support/browser.js'
import { startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'

const RP = { client_id: 'browser-rp', client_secret: 'browser-rp-secret-0123456789' }
const ALICE = { username: 'alice', password: 'correct horse battery staple', name: 'Alice Liddell', email: 'alice@example.com', email_verified: true }
/** Eight hours (docs/demo-server.md "The login session"). */
const SESSION_SECONDS = 8 * 3600

let demo: DemoServer
let launched: Promise<Browser> | undefined
let rp: Server
let callback: string
let loggedOut: string
/** Every request the relying party's redirect URI received, in order. */
const received: URL[] = []
let config: client.Configuration
let removeDir: () => Promise<void>

/**
 * The browser, launched on first use. A missing Chromium fails each test
 * that needs it with this message (a failing hook would only skip them).
 */
function browser(): Promise<Browser> {
  launched ??= launchChromium()
  return launched
}

beforeAll(async () => {
  rp = createServer((req, res) => {
    const url = new URL(req.url ?? '/', callback)
    // Only the redirect URIs: the browser also asks for /favicon.ico.
    if (url.pathname !== '/callback' && url.pathname !== '/logged-out') {
      res.writeHead(404).end()
      return
    }
    received.push(url)
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>relying party</title><p id="rp">back at the relying party</p>')
  })
  await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(rp.address() as AddressInfo).port}`
  callback = `${origin}/callback`
  loggedOut = `${origin}/logged-out`
  const tmp = await tempDir()
  removeDir = tmp.remove
  const seed = {
    clients: [{ ...RP, redirect_uris: [callback], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile email', post_logout_redirect_uris: [loggedOut] }],
    users: [ALICE],
  }
  demo = await startDemoServer({ OAUTH_STORE: `sqlite:${tmp.dir}/openid-browser.sqlite`, OAUTH_SEED: await writeSeed(tmp.dir, seed), OAUTH_LOG: 'off' }, tmp.dir)
  config = await client.discovery(new URL(demo.issuer), RP.client_id, {}, client.ClientSecretBasic(RP.client_secret), { execute: [client.allowInsecureRequests] })
})

afterAll(async () => {
  await (await launched?.catch(() => undefined))?.close()
  if (demo !== undefined) expect(await demo.stop()).toBe(0)
  rp?.closeAllConnections()
  await new Promise((resolve) => (rp === undefined ? resolve(undefined) : rp.close(resolve)))
  await removeDir?.()
})

/** An authentication request (Core §3.1.2.1) by openid-client: scope openid profile email, PKCE S256, a nonce and a state. */
async function authenticationRequest(extra: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier()
  const nonce = client.randomNonce()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callback,
    scope: 'openid profile email',
    nonce,
    state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  })
  return { url, verifier, nonce, state }
}

/** Clicks a decision button and waits until the browser is back at the relying party; answers where it landed. */
async function decide(page: Page, decision: 'approve' | 'deny'): Promise<URL> {
  await Promise.all([page.waitForURL((url) => url.toString().startsWith(callback)), page.click(`button[value=${decision}]`)])
  expect(await page.textContent('#rp')).toBe('back at the relying party')
  return new URL(page.url())
}

/** The code exchange and ID token validation by openid-client (Core §3.1.3.7), for the redirect the browser landed on. */
async function redeem(landed: URL, request: Awaited<ReturnType<typeof authenticationRequest>>) {
  // The RP's server saw the same redirect the browser shows.
  expect(received.at(-1)?.searchParams.get('code')).toBe(landed.searchParams.get('code'))
  return client.authorizationCodeGrant(config, landed, { pkceCodeVerifier: request.verifier, expectedNonce: request.nonce, expectedState: request.state })
}

function cookieNamed(cookies: Cookie[], name: string): Cookie {
  const cookie = cookies.find((c) => c.name === name)
  if (cookie === undefined) throw new Error(`the browser holds no ${name} cookie (it has ${cookies.map((c) => c.name).join(', ') || 'none'})`)
  return cookie
}

describe('the OpenID Connect session and consent page in a real browser (docs/demo-server.md "Login and consent")', () => {
  /** One browser context (one cookie jar) for the whole sequence, as one user's browser. */
  let context: BrowserContext
  let page: Page
  let firstAuthTime: number
  let idToken: string

  afterAll(async () => {
    await context?.close()
  })

  it('runs Chromium from /usr/bin/chromium (installed by scripts/services.sh)', async () => {
    context = await (await browser()).newContext()
    page = await context.newPage()
    expect((await browser()).version()).toMatch(/^\d+\./)
  })

  it('logs in on the form, consents, and the code redeems for an ID token openid-client validates (Core §3.1.2, §3.1.3.7)', async () => {
    const request = await authenticationRequest()
    await page.goto(request.url.toString())
    expect(await page.locator('form').count()).toBe(1)
    expect(await page.locator('input[name=password]').count()).toBe(1)
    await page.fill('input[name=username]', ALICE.username)
    await page.fill('input[name=password]', ALICE.password)
    const landed = await decide(page, 'approve')
    expect(landed.searchParams.get('iss')).toBe(demo.issuer)
    const tokens = await redeem(landed, request)
    const claims = tokens.claims()!
    expect(claims).toMatchObject({ iss: demo.issuer, aud: RP.client_id, nonce: request.nonce, amr: ['pwd'] })
    expect(Math.abs((claims.auth_time as number) - Date.now() / 1000)).toBeLessThan(120)
    firstAuthTime = claims.auth_time as number
    idToken = tokens.id_token as string
    expect(await client.fetchUserInfo(config, tokens.access_token, claims.sub)).toEqual({
      sub: claims.sub,
      name: ALICE.name,
      preferred_username: ALICE.username,
      email: ALICE.email,
      email_verified: true,
    })
  })

  it('the browser holds the session and CSRF cookies: HttpOnly, SameSite=Lax, the session on the authorization endpoint’s path for 8 hours, the CSRF cookie host-wide (Path=/)', async () => {
    const cookies = await context.cookies(`${demo.issuer}/authorize`)
    const session = cookieNamed(cookies, 'grantkit_session')
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/authorize', domain: '127.0.0.1' })
    expect(Math.abs(session.expires - (firstAuthTime + SESSION_SECONDS))).toBeLessThan(120)
    const csrf = cookieNamed(cookies, 'grantkit_csrf')
    expect(csrf).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' })
  })

  it('a second authorization in the same browser shows the consent step without a password field; auth_time stays the login’s', async () => {
    const request = await authenticationRequest()
    await page.goto(request.url.toString())
    expect(await page.locator('input[name=password]').count()).toBe(0)
    expect(await page.locator('input[name=username]').count()).toBe(0)
    expect(await page.textContent('body')).toContain('Signed in as alice')
    // HttpOnly: a script of this very page (the cookies' path) reads neither cookie. The function runs in
    // the page; the test's tsconfig has no DOM types, so document is reached through globalThis.
    expect((await context.cookies(page.url())).map((c) => c.name).sort()).toEqual(['grantkit_csrf', 'grantkit_session'])
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe('')
    const tokens = await redeem(await decide(page, 'approve'), request)
    expect(tokens.claims()!.auth_time).toBe(firstAuthTime)
  })

  it('prompt=login shows the password field again despite the session, and the new login counts (Core §3.1.2.1)', async () => {
    const request = await authenticationRequest({ prompt: 'login' })
    await page.goto(request.url.toString())
    expect(await page.locator('input[name=password]').count()).toBe(1)
    await page.fill('input[name=username]', ALICE.username)
    await page.fill('input[name=password]', ALICE.password)
    const tokens = await redeem(await decide(page, 'approve'), request)
    expect(tokens.claims()!.auth_time).toBeGreaterThanOrEqual(firstAuthTime)
  })

  it('prompt=none with the session answers consent_required, since the demo remembers no consent; no page is shown (Core §3.1.2.6)', async () => {
    const request = await authenticationRequest({ prompt: 'none' })
    await page.goto(request.url.toString())
    const landed = new URL(page.url())
    expect(landed.origin + landed.pathname).toBe(callback)
    expect(Object.fromEntries(landed.searchParams)).toMatchObject({ error: 'consent_required', state: request.state, iss: demo.issuer })
    expect(landed.searchParams.has('code')).toBe(false)
  })

  it('prompt=none in a browser without the session answers login_required (Core §3.1.2.6)', async () => {
    const fresh = await (await browser()).newContext()
    try {
      const other = await fresh.newPage()
      const request = await authenticationRequest({ prompt: 'none' })
      await other.goto(request.url.toString())
      const landed = new URL(other.url())
      expect(landed.origin + landed.pathname).toBe(callback)
      expect(landed.searchParams.get('error')).toBe('login_required')
      expect(landed.searchParams.get('state')).toBe(request.state)
    } finally {
      await fresh.close()
    }
  })

  it('logout at the end_session_endpoint drops the session cookie: the next authorization asks for the password (RP-Initiated Logout 1.0 §2)', async () => {
    const url = client.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: loggedOut, state: 'bye' })
    const response = await page.goto(url.toString())
    const landed = new URL(page.url())
    expect(landed.origin + landed.pathname, `${response?.status()} ${await page.content()}`).toBe(loggedOut)
    expect(landed.searchParams.get('state')).toBe('bye')
    expect((await context.cookies(`${demo.issuer}/authorize`)).map((c) => c.name)).not.toContain('grantkit_session')
    const request = await authenticationRequest()
    await page.goto(request.url.toString())
    expect(await page.locator('input[name=password]').count()).toBe(1)
  })
})
