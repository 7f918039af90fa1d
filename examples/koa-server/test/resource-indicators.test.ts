import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemoServer, storeCases, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { decideDevice } from './support/device-page.js'
import { CALLBACK, CONFIDENTIAL, DEVICE_CLIENT, DEVICE_CODE_GRANT, USER, seed } from './support/fixtures.js'
import { authorize } from './support/login-form.js'
import { introspect, pkce, post } from './support/oauth-http.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const
/** An API the seeded confidential client lists in its `resources` metadata (the demo's policy allows those too). */
const OTHER_API = 'https://api.example.com/orders'
const web: oauth.Client = { client_id: CONFIDENTIAL.client_id }
const asConfidential = { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] as [string, string] }

/** The fixtures' seed, with the confidential client allowed `openid` and OTHER_API. */
function resourceSeed(): unknown {
  const seeded: { clients: Record<string, unknown>[]; users: unknown[] } = seed()
  seeded.clients[0] = { ...seeded.clients[0], scope: 'openid profile email read', resources: [OTHER_API] }
  return seeded
}

// Memory and SQLite always; PostgreSQL and MongoDB when configured: the audience is kept with codes, tokens and device codes.
describe.each(storeCases())('resource indicators (RFC 8707) on the demo with the $name store (docs/demo-server.md "Resource indicators")', ({ setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  let mcp: string
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const store = await setup(tmp.dir)
    cleanups.push(store.cleanup)
    demo = await startDemoServer({ OAUTH_STORE: store.spec, OAUTH_SEED: await writeSeed(tmp.dir, resourceSeed()) }, tmp.dir)
    cleanups.push(() => demo.stop())
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
    mcp = `${demo.issuer}/mcp`
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  /** Logs in and approves an authorization request of the confidential client; answers the redirect's parameters. */
  async function approve(params: Record<string, string | string[]>): Promise<URLSearchParams> {
    const url = new URL(as.authorization_endpoint as string)
    for (const [name, value] of Object.entries({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'st', ...params })) {
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, v)
    }
    const res = await authorize(url, { username: USER.username, password: USER.password, decision: 'approve' })
    expect(res.status).toBe(303)
    return new URL(res.headers.get('location') as string).searchParams
  }

  /** A code flow of the confidential client with PKCE, the given `resource`s at the authorization and token endpoints. */
  async function codeFlow(authorizeResources: string[], tokenResources: string[] = [], scope = 'read'): Promise<Response> {
    const { verifier, challenge } = pkce()
    const callback = await approve({ scope, code_challenge: challenge, code_challenge_method: 'S256', resource: authorizeResources })
    const params = oauth.validateAuthResponse(as, web, callback, 'st')
    return oauth.authorizationCodeGrantRequest(as, web, oauth.ClientSecretBasic(CONFIDENTIAL.client_secret), params, CALLBACK, verifier, {
      ...insecure,
      additionalParameters: tokenResources.map((resource) => ['resource', resource]),
    })
  }

  async function expectError(res: Response, status: number, error: string): Promise<void> {
    expect(res.status).toBe(status)
    const body = (await res.json()) as { error: string; error_description?: string }
    expect(body.error).toBe(error)
    // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
    expect(body.error_description ?? '').toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/)
  }

  it('runs a code flow with oauth4webapi 3.8.8 and resource at both endpoints: the access token has aud <issuer>/mcp in introspection, and /mcp accepts it (§2.1, §2.2, RFC 7662 §2.2)', async () => {
    const tokens = await oauth.processAuthorizationCodeResponse(as, web, await codeFlow([mcp], [mcp]))
    expect(await introspect(demo.issuer, tokens.access_token, asConfidential)).toMatchObject({ active: true, aud: mcp, scope: 'read', client_id: CONFIDENTIAL.client_id })
    const call = await fetch(mcp, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'oauth4webapi', version: '3' } } }),
    })
    expect(call.status).toBe(200)
  })

  it('keeps the ID token for the client: with openid, the ID token aud is the client_id while the access token aud is the resource (OpenID Core §2)', async () => {
    const { verifier, challenge } = pkce()
    const nonce = oauth.generateRandomNonce()
    const callback = await approve({ scope: 'openid read', nonce, code_challenge: challenge, code_challenge_method: 'S256', resource: mcp })
    const params = oauth.validateAuthResponse(as, web, callback, 'st')
    const as2 = await oauth.processDiscoveryResponse(new URL(demo.issuer), await oauth.discoveryRequest(new URL(demo.issuer), { ...insecure, algorithm: 'oidc' }))
    const res = await oauth.authorizationCodeGrantRequest(as2, web, oauth.ClientSecretBasic(CONFIDENTIAL.client_secret), params, CALLBACK, verifier, insecure)
    // oauth4webapi checks the ID token's aud against client_id.
    const tokens = await oauth.processAuthorizationCodeResponse(as2, web, res, { expectedNonce: nonce, requireIdToken: true })
    expect(oauth.getValidatedIdTokenClaims(tokens)?.aud).toBe(CONFIDENTIAL.client_id)
    expect(await introspect(demo.issuer, tokens.access_token, asConfidential)).toMatchObject({ aud: mcp })
  })

  it('gives tokens several audiences, and narrows the access token on refresh while the refresh token keeps them all; a refresh naming an audience the token lacks is invalid_target and leaves the refresh token usable (§2.2)', async () => {
    const tokens = await oauth.processAuthorizationCodeResponse(as, web, await codeFlow([mcp, OTHER_API]))
    expect(await introspect(demo.issuer, tokens.access_token, asConfidential)).toMatchObject({ aud: [mcp, OTHER_API] })
    const refreshToken = tokens.refresh_token as string
    const auth = oauth.ClientSecretBasic(CONFIDENTIAL.client_secret)
    // Widening: refused, the refresh token still works afterwards.
    const widened = await oauth.refreshTokenGrantRequest(as, web, auth, refreshToken, { ...insecure, additionalParameters: [['resource', 'https://api.example.com/other']] })
    await expectError(widened, 400, 'invalid_target')
    const narrowed = await oauth.processRefreshTokenResponse(as, web, await oauth.refreshTokenGrantRequest(as, web, auth, refreshToken, { ...insecure, additionalParameters: [['resource', OTHER_API]] }))
    expect(await introspect(demo.issuer, narrowed.access_token, asConfidential)).toMatchObject({ active: true, aud: OTHER_API })
    // A token for OTHER_API only is not one for /mcp.
    expect((await fetch(mcp, { method: 'POST', headers: { authorization: `Bearer ${narrowed.access_token}` } })).status).toBe(401)
    // The refresh token keeps every granted audience (§2.2): without resource the next refresh gets them all again.
    const kept = await oauth.processRefreshTokenResponse(as, web, await oauth.refreshTokenGrantRequest(as, web, auth, narrowed.refresh_token as string, insecure))
    expect(await introspect(demo.issuer, kept.access_token, asConfidential)).toMatchObject({ aud: [mcp, OTHER_API] })
  })

  it('refuses at the token endpoint a resource the authorization request did not name (§2.2)', async () => {
    await expectError(await codeFlow([mcp], [OTHER_API]), 400, 'invalid_target')
    await expectError(await codeFlow([], [mcp]), 400, 'invalid_target')
  })

  it('redirects invalid_target for a resource the client may not ask for, or that is no absolute URI without fragment (§2, §2.1)', async () => {
    for (const resource of ['https://api.example.com/not-listed', '/relative', `${mcp}#fragment`]) {
      const callback = await approveOrRedirect({ scope: 'read', resource })
      expect(callback.get('error')).toBe('invalid_target')
      expect(callback.get('state')).toBe('st')
      // RFC 9207 §2: errors too carry the issuer.
      expect(callback.get('iss')).toBe(demo.issuer)
      expect(callback.get('code')).toBeNull()
    }
  })

  /** An authorization request refused before the login page: its redirect's parameters. */
  async function approveOrRedirect(params: Record<string, string>): Promise<URLSearchParams> {
    const { challenge } = pkce()
    const url = new URL(as.authorization_endpoint as string)
    url.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...params }).toString()
    const res = await fetch(url, { redirect: 'manual' })
    expect(res.status).toBeGreaterThanOrEqual(302)
    expect(res.status).toBeLessThan(304)
    return new URL(res.headers.get('location') as string).searchParams
  }

  it('reads resource at the token endpoint for client credentials and the password grant, and refuses bad or disallowed ones with invalid_target (§2.2)', async () => {
    const res = await post(demo.issuer, '/token', { grant_type: 'password', username: USER.username, password: USER.password, scope: 'read', resource: mcp }, asConfidential)
    expect(res.status).toBe(200)
    expect(await introspect(demo.issuer, ((await res.json()) as { access_token: string }).access_token, asConfidential)).toMatchObject({ aud: mcp, username: USER.username })
    for (const resource of ['https://api.example.com/not-listed', 'relative/path', `${mcp}#f`]) {
      await expectError(await post(demo.issuer, '/token', { grant_type: 'client_credentials', scope: 'read', resource }, asConfidential), 400, 'invalid_target')
    }
    // Without resource the token has no audience (and /api/me serves it as before).
    const plain = await post(demo.issuer, '/token', { grant_type: 'client_credentials', scope: 'read' }, asConfidential)
    const introspected = await introspect(demo.issuer, ((await plain.json()) as { access_token: string }).access_token, asConfidential)
    expect(introspected['aud']).toBeUndefined()
  })

  it('/api/me serves a token requested without resource and refuses one meant for /mcp with 401 invalid_token (RFC 8707 section 2)', async () => {
    const token = async (extra: Record<string, string>) => {
      const res = await post(demo.issuer, '/token', { grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile', ...extra }, asConfidential)
      expect(res.status).toBe(200)
      return ((await res.json()) as { access_token: string }).access_token
    }
    expect((await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${await token({})}` } })).status).toBe(200)
    const refused = await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${await token({ resource: mcp })}` } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('reads resource in a pushed authorization request: refused at push time with invalid_target, and carried to the token (RFC 9126 §2.1, RFC 8707 §2.1)', async () => {
    const { verifier, challenge } = pkce()
    const push = (resource: string) =>
      post(demo.issuer, '/par', { response_type: 'code', redirect_uri: CALLBACK, scope: 'read', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', resource }, asConfidential)
    await expectError(await push('https://api.example.com/not-listed'), 400, 'invalid_target')
    const pushed = await push(mcp)
    expect(pushed.status).toBe(201)
    const { request_uri } = (await pushed.json()) as { request_uri: string }
    const callback = await approve({ request_uri })
    const params = oauth.validateAuthResponse(as, web, callback, 'st')
    const tokens = await oauth.processAuthorizationCodeResponse(as, web, await oauth.authorizationCodeGrantRequest(as, web, oauth.ClientSecretBasic(CONFIDENTIAL.client_secret), params, CALLBACK, verifier, insecure))
    expect(await introspect(demo.issuer, tokens.access_token, asConfidential)).toMatchObject({ aud: mcp })
  })

  it('reads resource at the device authorization endpoint: a bad one is invalid_target there, a good one is the tokens audience, and a poll may not name another (RFC 8628 §3.1, RFC 8707 §2)', async () => {
    const device = (params: Record<string, string>) => post(demo.issuer, '/device_authorization', { scope: 'read', ...params }, { clientId: DEVICE_CLIENT.client_id })
    await expectError(await device({ resource: OTHER_API }), 400, 'invalid_target')
    await expectError(await device({ resource: 'not a uri' }), 400, 'invalid_target')
    const approved = async (): Promise<string> => {
      const res = await device({ resource: mcp })
      expect(res.status).toBe(200)
      const body = (await res.json()) as { device_code: string; user_code: string; verification_uri: string }
      const decided = await decideDevice(body.verification_uri, body.user_code, 'approve')
      expect(decided.status).toBe(200)
      return body.device_code
    }
    const poll = (deviceCode: string, resource?: string) =>
      post(demo.issuer, '/token', { grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, ...(resource === undefined ? {} : { resource }) }, { clientId: DEVICE_CLIENT.client_id })
    // A poll naming a resource the device authorization request did not name.
    await expectError(await poll(await approved(), `${demo.issuer}/other`), 400, 'invalid_target')
    // A poll without resource gets the named one as audience.
    const res = await poll(await approved())
    expect(res.status).toBe(200)
    const tokens = (await res.json()) as { access_token: string; refresh_token: string }
    // Introspected by the device client itself: a client introspects its own tokens only.
    const asDevice = { clientId: DEVICE_CLIENT.client_id }
    expect(await introspect(demo.issuer, tokens.access_token, asDevice)).toMatchObject({ active: true, aud: mcp, client_id: DEVICE_CLIENT.client_id })
    // The refresh keeps the audience.
    const refreshed = await post(demo.issuer, '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { clientId: DEVICE_CLIENT.client_id })
    expect(refreshed.status).toBe(200)
    expect(await introspect(demo.issuer, ((await refreshed.json()) as { access_token: string }).access_token, asDevice)).toMatchObject({ active: true, aud: mcp })
  })
})
