// The demo's answers to request objects (OpenID Connect Core §6: refused,
// never ignored; pushed requests keep working) and to the claims parameter
// across refreshes (Core §5.5, §12.2): docs/demo-server.md "OpenID Connect".
// openid-client (unmodified) plays the relying party.
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemoServer, storeCases, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { authorize } from './support/login-form.js'

const CALLBACK = 'http://127.0.0.1:9/callback'
const RP = { client_id: 'oidc-rp', client_secret: 'oidc-rp-secret-0123456789' }
const ALICE = { username: 'alice', password: 'correct horse battery staple', name: 'Alice Liddell', email: 'alice@example.com', email_verified: true }
const APPROVE = { username: ALICE.username, password: ALICE.password, decision: 'approve' }
const SEED = {
  clients: [{ ...RP, redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile email' }],
  users: [ALICE],
}
/** A request object as a client would send it (Core §6.1); never looked into. */
const REQUEST_OBJECT = 'eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6Im9wZW5pZCBlbWFpbCJ9.c2lnbmF0dXJl'

// The default adapter and store: what is tested here lives in @grantkit/openid and core, the same on every adapter (wire-equivalence.test.ts).
const sqlite = storeCases().find((c) => c.name === 'sqlite')!

describe('request objects and the claims parameter on the demo server (docs/demo-server.md "OpenID Connect")', () => {
  let demo: DemoServer
  let config: client.Configuration
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    const store = await sqlite.setup(tmp.dir)
    cleanup = async () => {
      await store.cleanup()
      await tmp.remove()
    }
    demo = await startDemoServer({ OAUTH_STORE: store.spec, OAUTH_SEED: await writeSeed(tmp.dir, SEED), OAUTH_LOG: 'off' }, tmp.dir)
    config = await client.discovery(new URL(demo.issuer), RP.client_id, {}, client.ClientSecretBasic(RP.client_secret), { execute: [client.allowInsecureRequests] })
  })

  afterAll(async () => {
    const code = demo === undefined ? undefined : await demo.stop()
    await cleanup?.()
    if (demo !== undefined) expect(code).toBe(0)
  })

  /** An authentication request with PKCE and a nonce; `extra` added. */
  async function request(extra: Record<string, string> = {}) {
    const verifier = client.randomPKCECodeVerifier()
    const nonce = client.randomNonce()
    const state = client.randomState()
    const params = { redirect_uri: CALLBACK, scope: 'openid profile email', nonce, state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra }
    return { params, verifier, nonce, state, url: client.buildAuthorizationUrl(config, params) }
  }

  it('discovery: request_parameter_supported and request_uri_parameter_supported false, beside the PAR endpoint (Discovery §3, RFC 9126 §5)', () => {
    expect(config.serverMetadata()).toMatchObject({
      request_parameter_supported: false,
      request_uri_parameter_supported: false,
      claims_parameter_supported: true,
      pushed_authorization_request_endpoint: `${demo.issuer}/par`,
    })
  })

  it('request beside the OAuth parameters (Core section 6.1 style) → 302 to the redirect URI with error=request_not_supported, state and iss', async () => {
    const { params, state } = await request()
    const url = new URL(config.serverMetadata().authorization_endpoint as string)
    url.search = new URLSearchParams({ response_type: 'code', client_id: RP.client_id, ...params, request: REQUEST_OBJECT }).toString()
    const res = await fetch(url, { redirect: 'manual' })
    expect(res.status).toBe(302)
    const location = new URL(res.headers.get('location') as string)
    expect(location.origin + location.pathname).toBe(CALLBACK)
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'request_not_supported', state, iss: demo.issuer })
    expect(location.searchParams.has('code')).toBe(false)
  })

  it('a request object alone (openid-client buildAuthorizationUrlWithJAR, RFC 9101 section 5) → 400 page request_not_supported, never a redirect', async () => {
    const { params } = await request()
    const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
    const url = await client.buildAuthorizationUrlWithJAR(config, params, privateKey)
    const res = await fetch(url, { redirect: 'manual' })
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
    expect(await res.text()).toContain('request_not_supported')
  })

  it('a request_uri the PAR endpoint did not issue → 400 page invalid_request_uri, never a redirect (RFC 9126 §4)', async () => {
    const url = new URL(config.serverMetadata().authorization_endpoint as string)
    url.search = new URLSearchParams({ client_id: RP.client_id, request_uri: 'https://rp.example/requests/1.jwt' }).toString()
    const res = await fetch(url, { redirect: 'manual' })
    expect(res.status).toBe(400)
    expect(res.headers.get('location')).toBeNull()
    expect(await res.text()).toContain('invalid_request_uri')
  })

  it('a pushed authentication request’s request_uri is not a request object: login, consent, ID token with the nonce (RFC 9126 §4)', async () => {
    const { params, verifier, nonce, state } = await request()
    const url = await client.buildAuthorizationUrlWithPAR(config, params)
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)
    const res = await authorize(url, APPROVE)
    expect(res.status).toBe(303)
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location') as string), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state })
    expect(tokens.claims()).toMatchObject({ iss: demo.issuer, aud: RP.client_id, nonce })
  })

  it('claims asked for with claims.id_token are in the first ID token and in every refreshed one (Core §5.5, §12.2)', async () => {
    const claims = JSON.stringify({ id_token: { email: { essential: true }, name: null } })
    const { url, verifier, nonce, state } = await request({ scope: 'openid', claims })
    const res = await authorize(url, APPROVE)
    const tokens = await client.authorizationCodeGrant(config, new URL(res.headers.get('location') as string), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state })
    expect(tokens.claims()).toMatchObject({ email: ALICE.email, name: ALICE.name })
    // The scope was openid alone: the scope claims of email and profile stay out (Core §5.4).
    expect(tokens.claims()).not.toHaveProperty('email_verified')
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string)
    expect(refreshed.claims()).toMatchObject({ sub: tokens.claims()!.sub, email: ALICE.email, name: ALICE.name })
    expect(refreshed.claims()).not.toHaveProperty('nonce')
    expect(refreshed.claims()).not.toHaveProperty('email_verified')
    const again = await client.refreshTokenGrant(config, refreshed.refresh_token as string)
    expect(again.claims()).toMatchObject({ email: ALICE.email, name: ALICE.name })
  })
})
