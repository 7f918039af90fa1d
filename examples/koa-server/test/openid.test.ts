import { createHash } from 'node:crypto'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { openLoginForm, submitLoginForm } from './support/login-form.js'

const CALLBACK = 'http://127.0.0.1:9/callback'
const LOGGED_OUT = 'http://127.0.0.1:9/logged-out'
const RP = { client_id: 'oidc-rp', client_secret: 'oidc-rp-secret' }
const SPA = { client_id: 'oidc-spa' }
const ALICE = { username: 'alice', password: 'correct horse battery staple', name: 'Alice Liddell', email: 'alice@example.com', email_verified: true }
const APPROVE = { username: ALICE.username, password: ALICE.password, decision: 'approve' }

const SEED = {
  clients: [
    {
      ...RP,
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile email read',
      id_token_signed_response_alg: 'ES256',
      post_logout_redirect_uris: [LOGGED_OUT],
    },
    {
      ...SPA,
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'implicit'],
      response_types: ['code', 'id_token', 'id_token token', 'code id_token'],
      scope: 'openid profile email',
      token_endpoint_auth_method: 'none',
    },
  ],
  users: [ALICE],
}

/** Core §3.1.3.6: the left half of SHA-256 of the access token, base64url (ES256 and RS256 hash with SHA-256). */
function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url')
}

/** The query of a redirect's Location (302 for a GET of the authorization endpoint, RFC 6749 §4.1.2.1). */
function redirectParams(res: Response): URLSearchParams {
  expect(res.status).toBe(302)
  return new URL(res.headers.get('location') as string).searchParams
}

/** The `grantkit_session=…` pair of a response's Set-Cookie, if any. */
function sessionCookie(res: Response): string | undefined {
  return res.headers
    .getSetCookie()
    .find((c) => c.startsWith('grantkit_session='))
    ?.split(';', 1)[0]
}

describe.each(serverCases())('OpenID Connect on the demo server, $adapter with the $store store (docs/demo-server.md "OpenID Connect")', ({ adapter, setup }) => {
  let demo: DemoServer
  let config: client.Configuration
  let cleanup: () => Promise<void>
  let removeDir: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    const store = await setup(tmp.dir)
    cleanup = store.cleanup
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: store.spec, OAUTH_SEED: await writeSeed(tmp.dir, SEED), OAUTH_LOG: 'off' }, tmp.dir)
    // Discovery §4: openid-client reads /.well-known/openid-configuration.
    config = await client.discovery(new URL(demo.issuer), RP.client_id, { id_token_signed_response_alg: 'ES256' }, client.ClientSecretBasic(RP.client_secret), {
      execute: [client.allowInsecureRequests],
    })
  })

  afterAll(async () => {
    if (demo !== undefined) expect(await demo.stop()).toBe(0)
    await cleanup?.()
    await removeDir?.()
  })

  function authorizationUrl(params: Record<string, string>): { url: URL; verifier: string; state: string; nonce: string } {
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const nonce = client.randomNonce()
    const url = new URL(config.serverMetadata().authorization_endpoint as string)
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    for (const [k, v] of Object.entries({ response_type: 'code', client_id: RP.client_id, redirect_uri: CALLBACK, scope: 'openid profile email', state, nonce, code_challenge: challenge, code_challenge_method: 'S256', ...params })) {
      url.searchParams.set(k, v)
    }
    return { url, verifier, state, nonce }
  }

  /** Signs in with the password (no session cookie): answers the tokens and the session cookie the login set. */
  async function passwordLogin(params: Record<string, string> = {}) {
    const { url, verifier, state, nonce } = authorizationUrl(params)
    const form = await openLoginForm(url)
    expect(form.status).toBe(200)
    const res = await submitLoginForm(form, APPROVE)
    const location = new URL(res.headers.get('location') as string)
    const tokens = await client.authorizationCodeGrant(config, location, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })
    return { tokens, session: sessionCookie(res), redirect: res }
  }

  it('discovery: the OpenID Provider metadata (Discovery §3)', () => {
    const meta = config.serverMetadata()
    expect(meta.issuer).toBe(demo.issuer)
    expect(meta.userinfo_endpoint).toBe(`${demo.issuer}/userinfo`)
    expect(meta.end_session_endpoint).toBe(`${demo.issuer}/logout`)
    expect(meta.jwks_uri).toEqual(expect.any(String))
    expect(meta.id_token_signing_alg_values_supported?.[0]).toBe('RS256')
    expect(meta.id_token_signing_alg_values_supported).toContain('ES256')
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email']))
    expect(meta.response_types_supported).toEqual(expect.arrayContaining(['code', 'id_token', 'code id_token']))
  })

  it('the code flow answers an ID token openid-client validates: nonce, at_hash, auth_time (Core §3.1.3.6)', async () => {
    const before = Math.floor(Date.now() / 1000) - 5
    const { tokens } = await passwordLogin()
    const claims = tokens.claims()!
    expect(claims.iss).toBe(demo.issuer)
    expect(claims.aud).toBe(RP.client_id)
    expect(claims['at_hash']).toBe(atHash(tokens.access_token))
    expect(claims.auth_time).toBeGreaterThanOrEqual(before)
    const [header] = tokens.id_token!.split('.')
    expect(JSON.parse(Buffer.from(header as string, 'base64url').toString()).alg).toBe('ES256')
  })

  it('a refresh answers a fresh ID token, same sub and auth_time, no nonce (Core §12.2)', async () => {
    const { tokens } = await passwordLogin()
    const first = tokens.claims()!
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!)
    const second = refreshed.claims()!
    expect(refreshed.id_token).not.toBe(tokens.id_token)
    expect(second.sub).toBe(first.sub)
    expect(second.auth_time).toBe(first.auth_time)
    expect(second.nonce).toBeUndefined()
  })

  it('userinfo releases the claims of the granted scopes (Core §5.3, §5.4)', async () => {
    const all = (await passwordLogin()).tokens
    const sub = all.claims()!.sub
    expect(await client.fetchUserInfo(config, all.access_token, sub)).toEqual({
      sub,
      name: ALICE.name,
      preferred_username: ALICE.username,
      email: ALICE.email,
      email_verified: true,
    })
    const profileOnly = (await passwordLogin({ scope: 'openid profile' })).tokens
    expect(await client.fetchUserInfo(config, profileOnly.access_token, sub)).toEqual({ sub, name: ALICE.name, preferred_username: ALICE.username })
  })

  it('the login session cookie: HttpOnly, SameSite=Lax, set after the password login only', async () => {
    const { redirect } = await passwordLogin()
    const header = redirect.headers.getSetCookie().find((c) => c.startsWith('grantkit_session=')) as string
    expect(header).toMatch(/; httponly$/i)
    expect(header).toMatch(/samesite=lax/i)
    expect(header).toMatch(/path=\/authorize/)
    // A failed login sets none.
    const form = await openLoginForm(authorizationUrl({}).url)
    const wrong = await submitLoginForm(form, { ...APPROVE, password: 'wrong' })
    expect(wrong.status).toBe(200)
    expect(sessionCookie(wrong)).toBeUndefined()
  })

  it('a second authorization in the same browser shows the consent step only, and auth_time is the login time', async () => {
    const first = await passwordLogin()
    const authTime = first.tokens.claims()!.auth_time
    const { url, verifier, state, nonce } = authorizationUrl({})
    const page = await fetch(url, { headers: { cookie: first.session! } })
    const html = await page.text()
    expect(page.status).toBe(200)
    expect(html).not.toContain('name="password"')
    expect(html).toContain('Signed in as <strong>alice</strong>')
    const form = await openLoginForm(url)
    const csrf = form.cookie
    const res = await submitLoginForm(form, { decision: 'approve' }, { cookie: `${csrf}; ${first.session}` })
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location') as string), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })
    expect(tokens.claims()!.sub).toBe(first.tokens.claims()!.sub)
    expect(tokens.claims()!.auth_time).toBe(authTime)
    // A forged session (another signature) counts as none: the password form.
    const forged = first.session!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))
    expect(await (await fetch(url, { headers: { cookie: forged } })).text()).toContain('name="password"')
  })

  it('prompt=none: login_required without a session, consent_required with one (Core §3.1.2.6)', async () => {
    const none = await fetch(authorizationUrl({ prompt: 'none' }).url, { redirect: 'manual' })
    expect(redirectParams(none).get('error')).toBe('login_required')
    const { session } = await passwordLogin()
    const signedIn = await fetch(authorizationUrl({ prompt: 'none' }).url, { redirect: 'manual', headers: { cookie: session! } })
    expect(redirectParams(signedIn).get('error')).toBe('consent_required')
  })

  it('prompt=login and an exceeded max_age show the password form despite the session (Core §3.1.2.1)', async () => {
    const { session } = await passwordLogin()
    const login = await (await fetch(authorizationUrl({ prompt: 'login' }).url, { headers: { cookie: session! } })).text()
    expect(login).toContain('name="password"')
    // The consent-only form is refused with prompt=login: no password, no approval.
    const { url } = authorizationUrl({ prompt: 'login' })
    const form = await openLoginForm(url)
    const res = await submitLoginForm(form, { decision: 'approve' }, { cookie: `${form.cookie}; ${session}` })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('Wrong username or password.')
    await new Promise((resolve) => setTimeout(resolve, 2100))
    const stale = await (await fetch(authorizationUrl({ max_age: '1' }).url, { headers: { cookie: session! } })).text()
    expect(stale).toContain('name="password"')
    const fresh = await (await fetch(authorizationUrl({ max_age: '3600' }).url, { headers: { cookie: session! } })).text()
    expect(fresh).not.toContain('name="password"')
  })

  it('implicit id_token and hybrid code id_token for a client registered for them (Core §3.2, §3.3)', async () => {
    const discover = () => client.discovery(new URL(demo.issuer), SPA.client_id, {}, client.None(), { execute: [client.allowInsecureRequests] })
    const signIn = async (url: URL) => {
      const res = await submitLoginForm(await openLoginForm(url), APPROVE)
      expect(res.status).toBe(303)
      return new URL(res.headers.get('location') as string)
    }
    const implicit = await discover()
    client.useIdTokenResponseType(implicit)
    const one = authorizationUrl({ client_id: SPA.client_id, response_type: 'id_token', scope: 'openid profile' })
    const claims = await client.implicitAuthentication(implicit, await signIn(one.url), one.nonce, { expectedState: one.state })
    // Core §5.4: with no access token issued, the scope's claims are in the ID token.
    expect(claims.name).toBe(ALICE.name)
    expect(claims.preferred_username).toBe(ALICE.username)

    const hybrid = await discover()
    client.useCodeIdTokenResponseType(hybrid)
    const two = authorizationUrl({ client_id: SPA.client_id, response_type: 'code id_token' })
    const tokens = await client.authorizationCodeGrant(hybrid, await signIn(two.url), { pkceCodeVerifier: two.verifier, expectedState: two.state, expectedNonce: two.nonce })
    // Core §3.3.3.6: the token endpoint's ID token repeats the nonce.
    expect(tokens.claims()!.nonce).toBe(two.nonce)

    // Core §3.2.2.1: nonce is REQUIRED in the implicit flow; the error goes to the redirect URI's fragment.
    const noNonce = authorizationUrl({ client_id: SPA.client_id, response_type: 'id_token' })
    noNonce.url.searchParams.delete('nonce')
    const refused = await fetch(noNonce.url, { redirect: 'manual' })
    expect(refused.status).toBe(302)
    expect(new URLSearchParams(new URL(refused.headers.get('location') as string).hash.slice(1)).get('error')).toBe('invalid_request')
    // The confidential RP is not registered for id_token: unauthorized_client (RFC 6749 §4.2.2.1), not an ID token.
    const rp = await fetch(authorizationUrl({ response_type: 'id_token' }).url, { redirect: 'manual' })
    expect(new URLSearchParams(new URL(rp.headers.get('location') as string).hash.slice(1)).get('error')).toMatch(/^(unauthorized_client|unsupported_response_type)$/)
  })

  it('logout at end_session_endpoint clears the session cookie and redirects with state (RP-Initiated Logout 1.0 §2, §3)', async () => {
    const { tokens, session } = await passwordLogin()
    const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT, state: 'bye' })
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: session! } })
    expect(res.status).toBe(302)
    const location = new URL(res.headers.get('location') as string)
    expect(location.origin + location.pathname).toBe(LOGGED_OUT)
    expect(location.searchParams.get('state')).toBe('bye')
    const cleared = res.headers.getSetCookie().find((c) => c.startsWith('grantkit_session=')) as string
    expect(cleared).toMatch(/^grantkit_session=; max-age=0; path=\/authorize/)
    // An unregistered post_logout_redirect_uri is shown as an error, never redirected (§3).
    const refused = await fetch(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/elsewhere' }), { redirect: 'manual' })
    expect(refused.status).toBe(400)
    expect(refused.headers.get('location')).toBeNull()
  })
})

describe('OpenID Connect settings of the demo server (docs/demo-server.md "OpenID Connect")', () => {
  it('OAUTH_OIDC_KEY_FILE: created with mode 0600 when missing, and the same keys after a restart', async () => {
    const tmp = await tempDir()
    try {
      const keyFile = join(tmp.dir, 'oidc-keys.json')
      const env = { OAUTH_STORE: 'memory:', OAUTH_OIDC_KEY_FILE: keyFile, OAUTH_LOG: 'off' }
      const jwks = async (issuer: string) => {
        const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string }
        return ((await (await fetch(meta.jwks_uri)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort()
      }
      const first = await startDemoServer(env, tmp.dir)
      const before = await jwks(first.issuer)
      expect(await first.stop()).toBe(0)
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
      const second = await startDemoServer(env, tmp.dir)
      expect(await jwks(second.issuer)).toEqual(before)
      expect(await second.stop()).toBe(0)
      // A file that is not an exported key set stops the start.
      await writeFile(keyFile, '{"not": "keys"}')
      await expect(startDemoServer(env, tmp.dir)).rejects.toThrow(/OAUTH_OIDC_KEY_FILE: .* is not an exported key set/)
    } finally {
      await tmp.remove()
    }
  })

  it('the seed refuses an id_token_signed_response_alg the key set does not sign with (OpenID Connect Registration §2)', async () => {
    const tmp = await tempDir()
    try {
      const bad = { clients: [{ client_id: 'hs', client_secret: 's', redirect_uris: [CALLBACK], scope: 'openid', id_token_signed_response_alg: 'HS256' }] }
      await expect(startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(tmp.dir, bad) }, tmp.dir)).rejects.toThrow(
        /OAUTH_SEED: clients\[0\]\.id_token_signed_response_alg must be one of RS256, /,
      )
      const badUser = { users: [{ username: 'bob', password: 'x', email_verified: 'yes' }] }
      await expect(startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(tmp.dir, badUser) }, tmp.dir)).rejects.toThrow(
        /OAUTH_SEED: users\[0\]\.email_verified must be a boolean/,
      )
    } finally {
      await tmp.remove()
    }
  })
})
