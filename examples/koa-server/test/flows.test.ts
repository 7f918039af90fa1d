import { randomUUID } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, JWT_CLIENT, POST_CLIENT, PUBLIC_CLIENT, USER, assertionKey, seed } from './support/fixtures.js'
import { authorize } from './support/login-form.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const
const APPROVE = { username: USER.username, password: USER.password, decision: 'approve' }

/** The OAuth error code oauth4webapi saw in a token endpoint error response. */
async function tokenError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) return error.error
    throw error
  }
  throw new Error('expected an OAuth error response')
}

describe.each(serverCases())('the demo server on $adapter with the $store store (docs/demo-server.md)', ({ adapter, setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  let removeDir: () => Promise<void>
  let cleanupStore: () => Promise<void>
  let sign: (payload: Record<string, unknown>) => Promise<string>

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    const key = await assertionKey()
    sign = key.sign
    const seedFile = await writeSeed(tmp.dir, seed({ jwks: key.jwks }))
    const store = await setup(tmp.dir)
    cleanupStore = store.cleanup
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: store.spec, OAUTH_SEED: seedFile }, tmp.dir)
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  })

  afterAll(async () => {
    const code = demo === undefined ? undefined : await demo.stop()
    await cleanupStore?.()
    await removeDir?.()
    // It stops cleanly on SIGTERM.
    if (demo !== undefined) expect(code).toBe(0)
  })

  /** Runs the code flow through the login form; answers the token response. */
  async function codeFlow(client: oauth.Client, auth: oauth.ClientAuth, options: { pkce: boolean; scope?: string }) {
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const url = new URL(as.authorization_endpoint!)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('client_id', client.client_id)
    url.searchParams.set('redirect_uri', CALLBACK)
    url.searchParams.set('scope', options.scope ?? 'profile read')
    url.searchParams.set('state', state)
    if (options.pkce) {
      url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
      url.searchParams.set('code_challenge_method', 'S256')
    }
    const res = await authorize(url, APPROVE)
    expect([302, 303]).toContain(res.status)
    const callback = new URL(res.headers.get('location')!)
    expect(callback.origin + callback.pathname).toBe(CALLBACK)
    const params = oauth.validateAuthResponse(as, client, callback, state)
    const response = await oauth.authorizationCodeGrantRequest(as, client, auth, params, CALLBACK, options.pkce ? verifier : oauth.nopkce, insecure)
    return oauth.processAuthorizationCodeResponse(as, client, response)
  }

  async function me(token: string): Promise<Response> {
    // Plain fetch: oauth4webapi's protectedResourceRequest throws on a challenge, and these tests read it.
    return fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${token}` } })
  }

  it('advertises every endpoint, grant and feature in its RFC 8414 metadata', () => {
    expect(as).toMatchObject({
      issuer: demo.issuer,
      authorization_endpoint: `${demo.issuer}/authorize`,
      token_endpoint: `${demo.issuer}/token`,
      revocation_endpoint: `${demo.issuer}/revoke`,
      introspection_endpoint: `${demo.issuer}/introspect`,
      authorization_response_iss_parameter_supported: true,
    })
    expect(as.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'implicit', 'password', 'client_credentials', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer']),
    )
    expect(as.response_types_supported).toEqual(expect.arrayContaining(['code', 'token']))
    expect(as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'none']))
    expect(as.code_challenge_methods_supported).toContain('S256')
    expect(as.scopes_supported).toEqual(expect.arrayContaining(['profile', 'email', 'read']))
  })

  describe('authorization code grant (RFC 6749 §4.1)', () => {
    it('issues tokens to a public client with PKCE (RFC 7636), usable at /api/me', async () => {
      const tokens = await codeFlow(PUBLIC_CLIENT, oauth.None(), { pkce: true })
      expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'profile read' })
      expect(tokens.refresh_token).toEqual(expect.any(String))
      const res = await me(tokens.access_token)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ sub: expect.any(String), username: USER.username, scope: 'profile read' })
    })

    it('refuses a public client without PKCE (RFC 9700 §2.1.1), redirecting the error with the state', async () => {
      const url = new URL(as.authorization_endpoint!)
      url.search = new URLSearchParams({ response_type: 'code', client_id: PUBLIC_CLIENT.client_id, redirect_uri: CALLBACK, state: 'xyz' }).toString()
      const res = await fetch(url, { redirect: 'manual' })
      expect(res.status).toBe(302)
      const location = new URL(res.headers.get('location')!)
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'invalid_request', state: 'xyz' })
    })

    it('issues tokens to a confidential client with client_secret_basic, without PKCE', async () => {
      const tokens = await codeFlow(CONFIDENTIAL, oauth.ClientSecretBasic(CONFIDENTIAL.client_secret), { pkce: false, scope: 'profile email' })
      expect(tokens).toMatchObject({ scope: 'profile email', refresh_token: expect.any(String) })
    })

    it('redirects access_denied with the state when the user denies (§4.1.2.1)', async () => {
      const url = new URL(as.authorization_endpoint!)
      url.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'deny-state' }).toString()
      const res = await authorize(url, { decision: 'deny' })
      expect([302, 303]).toContain(res.status)
      const location = new URL(res.headers.get('location')!)
      expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'access_denied', state: 'deny-state' })
      expect(location.searchParams.has('code')).toBe(false)
    })
  })

  describe('refresh token grant with rotation (RFC 6749 §6, RFC 9700 §4.14.2)', () => {
    it('rotates the refresh token and rejects the old one with invalid_grant', async () => {
      const auth = oauth.ClientSecretBasic(CONFIDENTIAL.client_secret)
      const first = await codeFlow(CONFIDENTIAL, auth, { pkce: true })
      const refreshed = await oauth.processRefreshTokenResponse(as, CONFIDENTIAL, await oauth.refreshTokenGrantRequest(as, CONFIDENTIAL, auth, first.refresh_token!, insecure))
      expect(refreshed.refresh_token).toEqual(expect.any(String))
      expect(refreshed.refresh_token).not.toBe(first.refresh_token)
      expect((await me(refreshed.access_token)).status).toBe(200)
      const reuse = oauth.refreshTokenGrantRequest(as, CONFIDENTIAL, auth, first.refresh_token!, insecure).then((r) => oauth.processRefreshTokenResponse(as, CONFIDENTIAL, r))
      expect(await tokenError(reuse)).toBe('invalid_grant')
    })

    it('lets a public client refresh with its client_id alone', async () => {
      const first = await codeFlow(PUBLIC_CLIENT, oauth.None(), { pkce: true })
      const refreshed = await oauth.processRefreshTokenResponse(as, PUBLIC_CLIENT, await oauth.refreshTokenGrantRequest(as, PUBLIC_CLIENT, oauth.None(), first.refresh_token!, insecure))
      expect(refreshed.access_token).toEqual(expect.any(String))
    })
  })

  describe('client credentials grant (RFC 6749 §4.4)', () => {
    it('issues a token without a user, which /api/me refuses with 403 insufficient_scope (RFC 6750 §3.1)', async () => {
      const auth = oauth.ClientSecretBasic(CONFIDENTIAL.client_secret)
      const tokens = await oauth.processClientCredentialsResponse(as, CONFIDENTIAL, await oauth.clientCredentialsGrantRequest(as, CONFIDENTIAL, auth, { scope: 'profile' }, insecure))
      expect(tokens).toMatchObject({ scope: 'profile' })
      expect(tokens.refresh_token).toBeUndefined()
      const res = await me(tokens.access_token)
      expect(res.status).toBe(403)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="insufficient_scope"/)
    })

    it('authenticates a client registered for client_secret_post', async () => {
      const auth = oauth.ClientSecretPost(POST_CLIENT.client_secret)
      const tokens = await oauth.processClientCredentialsResponse(as, POST_CLIENT, await oauth.clientCredentialsGrantRequest(as, POST_CLIENT, auth, {}, insecure))
      expect(tokens.scope).toBe('profile read')
    })

    it('refuses a client using another method than the one it registered, with 401 invalid_client', async () => {
      const auth = oauth.ClientSecretPost(CONFIDENTIAL.client_secret)
      const res = await oauth.clientCredentialsGrantRequest(as, CONFIDENTIAL, auth, {}, insecure)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).not.toBeNull()
      expect(await res.json()).toMatchObject({ error: 'invalid_client' })
    })
  })

  describe('resource owner password credentials grant (RFC 6749 §4.3)', () => {
    it('issues an access and a refresh token for the right password', async () => {
      const auth = oauth.ClientSecretBasic(CONFIDENTIAL.client_secret)
      const res = await oauth.genericTokenEndpointRequest(as, CONFIDENTIAL, auth, 'password', { username: USER.username, password: USER.password, scope: 'profile' }, insecure)
      const tokens = await oauth.processGenericTokenEndpointResponse(as, CONFIDENTIAL, res)
      expect(tokens).toMatchObject({ scope: 'profile', refresh_token: expect.any(String) })
      expect(await (await me(tokens.access_token)).json()).toMatchObject({ username: USER.username })
    })

    it('refuses a wrong password with invalid_grant', async () => {
      const auth = oauth.ClientSecretPost(POST_CLIENT.client_secret)
      const res = oauth.genericTokenEndpointRequest(as, POST_CLIENT, auth, 'password', { username: USER.username, password: 'wrong' }, insecure).then((r) => oauth.processGenericTokenEndpointResponse(as, POST_CLIENT, r))
      expect(await tokenError(res)).toBe('invalid_grant')
    })
  })

  describe('implicit grant (RFC 6749 §4.2)', () => {
    it('returns the access token and state in the fragment, without a refresh token', async () => {
      const url = new URL(as.authorization_endpoint!)
      url.search = new URLSearchParams({ response_type: 'token', client_id: PUBLIC_CLIENT.client_id, redirect_uri: CALLBACK, scope: 'profile', state: 'imp' }).toString()
      const res = await authorize(url, APPROVE)
      expect([302, 303]).toContain(res.status)
      const location = new URL(res.headers.get('location')!)
      expect(location.search).toBe('')
      const fragment = new URLSearchParams(location.hash.slice(1))
      expect(Object.fromEntries(fragment)).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', state: 'imp', scope: 'profile' })
      expect(fragment.has('refresh_token')).toBe(false)
      expect((await me(fragment.get('access_token')!)).status).toBe(200)
    })
  })

  describe('JWT bearer grant (RFC 7523 §2.1)', () => {
    it('issues a token for a signed assertion naming a user', async () => {
      const now = Math.floor(Date.now() / 1000)
      const assertion = await sign({ iss: JWT_CLIENT.client_id, sub: USER.username, aud: as.token_endpoint, iat: now, exp: now + 60, jti: randomUUID() })
      const auth = oauth.ClientSecretBasic(JWT_CLIENT.client_secret)
      const res = await oauth.genericTokenEndpointRequest(as, JWT_CLIENT, auth, 'urn:ietf:params:oauth:grant-type:jwt-bearer', { assertion }, insecure)
      const tokens = await oauth.processGenericTokenEndpointResponse(as, JWT_CLIENT, res)
      expect(await (await me(tokens.access_token)).json()).toMatchObject({ username: USER.username, scope: 'profile' })
    })
  })

  describe('revocation (RFC 7009) and introspection (RFC 7662)', () => {
    it('introspects an active token with its user, revokes it, then introspects it inactive', async () => {
      const auth = oauth.ClientSecretBasic(CONFIDENTIAL.client_secret)
      const res = await oauth.genericTokenEndpointRequest(as, CONFIDENTIAL, auth, 'password', { username: USER.username, password: USER.password }, insecure)
      const { access_token } = await oauth.processGenericTokenEndpointResponse(as, CONFIDENTIAL, res)
      const introspect = async () => oauth.processIntrospectionResponse(as, CONFIDENTIAL, await oauth.introspectionRequest(as, CONFIDENTIAL, auth, access_token, insecure))
      expect(await introspect()).toMatchObject({
        active: true,
        client_id: CONFIDENTIAL.client_id,
        username: USER.username,
        sub: expect.any(String),
        scope: 'profile email read',
        token_type: 'Bearer',
        exp: expect.any(Number),
        iat: expect.any(Number),
      })
      await oauth.processRevocationResponse(await oauth.revocationRequest(as, CONFIDENTIAL, auth, access_token, insecure))
      expect(await introspect()).toEqual({ active: false })
      const denied = await me(access_token)
      expect(denied.status).toBe(401)
      expect(denied.headers.get('www-authenticate')).toMatch(/error="invalid_token"/)
    })

    it('lets a public client introspect its own token with its client_id', async () => {
      const tokens = await codeFlow(PUBLIC_CLIENT, oauth.None(), { pkce: true })
      const res = await oauth.introspectionRequest(as, PUBLIC_CLIENT, oauth.None(), tokens.access_token, insecure)
      expect(await oauth.processIntrospectionResponse(as, PUBLIC_CLIENT, res)).toMatchObject({ active: true, client_id: PUBLIC_CLIENT.client_id })
    })
  })

  describe('/api/me (RFC 6750)', () => {
    it('answers 401 invalid_token for an unknown token', async () => {
      const res = await me('not-a-real-token')
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/)
    })

    it('answers 401 with a bare Bearer challenge without a token', async () => {
      const res = await fetch(`${demo.issuer}/api/me`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
    })
  })
})
