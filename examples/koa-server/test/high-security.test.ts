import { createHash, randomUUID, webcrypto } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CALLBACK, USER } from './support/fixtures.js'
import { authorize, openLoginForm, parseLoginPage, submitLoginForm } from './support/login-form.js'
import { FORM } from './support/oauth-http.js'

// docs/demo-server.md "JWT client authentication", "Pushed authorization requests (RFC 9126)", "DPoP (RFC 9449)":
// happy paths with oauth4webapi (unmodified), every refusal with raw requests.

const insecure = { [oauth.allowInsecureRequests]: true } as const
const APPROVE = { username: USER.username, password: USER.password, decision: 'approve' }
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

// ---- keys, JWS, proofs (written here so that the server's checks are tested against independent code) ----

interface TestKey {
  readonly pair: webcrypto.CryptoKeyPair
  readonly publicJwk: { kty: string; crv: string; x: string; y: string }
  /** RFC 7638 SHA-256 thumbprint (RFC 9449 §6 `cnf.jkt`). */
  readonly jkt: string
  sign(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string>
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const seconds = () => Math.floor(Date.now() / 1000)

async function testKey(): Promise<TestKey> {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const jwk = await webcrypto.subtle.exportKey('jwk', pair.publicKey)
  const publicJwk = { kty: jwk.kty as string, crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string }
  // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
  const jkt = createHash('sha256').update(JSON.stringify({ crv: publicJwk.crv, kty: publicJwk.kty, x: publicJwk.x, y: publicJwk.y })).digest('base64url')
  return {
    pair,
    publicJwk,
    jkt,
    async sign(header, payload) {
      const input = `${b64(header)}.${b64(payload)}`
      const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, Buffer.from(input))
      return `${input}.${Buffer.from(signature).toString('base64url')}`
    },
  }
}

/** A client assertion (RFC 7523 §3) of `clientId` for `aud`; `claims` override. */
function clientAssertion(key: TestKey, clientId: string, aud: string, claims: Record<string, unknown> = {}): Promise<string> {
  return key.sign({ alg: 'ES256', typ: 'JWT' }, { iss: clientId, sub: clientId, aud, jti: randomUUID(), iat: seconds(), exp: seconds() + 60, ...claims })
}

/** A DPoP proof (RFC 9449 §4.2) for `method` `url`, with `ath` of `accessToken`; `claims` override. */
function dpopProof(key: TestKey, method: string, url: string, options: { accessToken?: string; nonce?: string | null; claims?: Record<string, unknown> } = {}): Promise<string> {
  return key.sign(
    { typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk },
    {
      jti: randomUUID(),
      htm: method,
      htu: url,
      iat: seconds(),
      ...(options.accessToken === undefined ? {} : { ath: createHash('sha256').update(options.accessToken).digest('base64url') }),
      ...(options.nonce == null ? {} : { nonce: options.nonce }),
      ...options.claims,
    },
  )
}

/** The `name=value` pairs of a response's `Set-Cookie` headers, for a `Cookie` header. */
const cookiesOf = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';', 1)[0])
    .join('; ')

/** The body and status of a JSON answer. */
async function answer(res: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

// ---- the seed: one client per feature ----

const KEY_CLIENT = 'key-service' // private_key_jwt, confidential
const PAR_CLIENT = 'par-only-app' // public, require_pushed_authorization_requests
const DPOP_CLIENT = 'dpop-spa' // public, dpop_bound_access_tokens

function highSecuritySeed(jwks: unknown) {
  return {
    clients: [
      {
        client_id: KEY_CLIENT,
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        scope: 'profile read',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks,
      },
      {
        client_id: PAR_CLIENT,
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code'],
        scope: 'profile read',
        token_endpoint_auth_method: 'none',
        require_pushed_authorization_requests: true,
      },
      {
        client_id: DPOP_CLIENT,
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: 'profile read',
        token_endpoint_auth_method: 'none',
        dpop_bound_access_tokens: true,
      },
    ],
    users: [USER],
  }
}

// Memory and SQLite always; PostgreSQL when DATABASE_URL is set (storeCases).
const cases = storeCases().filter((c) => c.name !== 'mongodb')

describe.each(cases)('high-security features of the demo on the $name store', ({ setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  let clientKey: TestKey
  let cleanup: () => Promise<void>
  const keyClient: oauth.Client = { client_id: KEY_CLIENT, token_endpoint_auth_method: 'private_key_jwt' }
  const keyAuth = () => oauth.PrivateKeyJwt(clientKey.pair.privateKey)

  beforeAll(async () => {
    const tmp = await tempDir()
    clientKey = await testKey()
    const seedFile = await writeSeed(tmp.dir, highSecuritySeed({ keys: [{ ...clientKey.publicJwk, alg: 'ES256', use: 'sig' }] }))
    const store = await setup(tmp.dir)
    cleanup = async () => {
      await store.cleanup()
      await tmp.remove()
    }
    demo = await startDemoServer({ OAUTH_STORE: store.spec, OAUTH_SEED: seedFile, OAUTH_LOG: 'off' }, tmp.dir)
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  })

  afterAll(async () => {
    const code = demo === undefined ? undefined : await demo.stop()
    await cleanup?.()
    if (demo !== undefined) expect(code).toBe(0)
  })

  /** Logs in through the consent page at `url` and approves; answers the callback URL. */
  async function approve(url: URL): Promise<URL> {
    const res = await authorize(url, APPROVE)
    expect([302, 303]).toContain(res.status)
    return new URL(res.headers.get('location') as string)
  }

  /** A client_credentials request of the key client with a raw assertion. */
  function assertionTokenRequest(assertion: string): Promise<Response> {
    return fetch(as.token_endpoint as string, {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }),
    })
  }

  /** A code of the DPoP client, through the consent page (its exchange is the caller's). */
  async function dpopClientCode(): Promise<{ params: URLSearchParams; verifier: string }> {
    const verifier = oauth.generateRandomCodeVerifier()
    const url = new URL(as.authorization_endpoint as string)
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: DPOP_CLIENT,
      redirect_uri: CALLBACK,
      scope: 'profile read',
      state: 'dpop',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString()
    const params = oauth.validateAuthResponse(as, { client_id: DPOP_CLIENT }, await approve(url), 'dpop')
    return { params, verifier }
  }

  /** A DPoP-bound token of the DPoP client, with oauth4webapi, retried once if the server asks for a nonce (RFC 9449 §8: the server decides where). */
  async function dpopTokens(key: TestKey): Promise<oauth.TokenEndpointResponse> {
    const client: oauth.Client = { client_id: DPOP_CLIENT, token_endpoint_auth_method: 'none' }
    const { params, verifier } = await dpopClientCode()
    const DPoP = oauth.DPoP(client, key.pair)
    const exchange = async () => oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, CALLBACK, verifier, { ...insecure, DPoP }))
    try {
      return await exchange()
    } catch (error) {
      if (!oauth.isDPoPNonceError(error)) throw error
      return exchange()
    }
  }

  const meUrl = () => `${new URL(demo.issuer).origin}/api/me`

  it('advertises the JWT methods, the PAR endpoint and DPoP in its metadata (RFC 8414 §2, RFC 9126 §5, RFC 9449 §5.1)', () => {
    expect(as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_jwt']))
    expect(as.introspection_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_jwt']))
    expect(as.revocation_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_jwt']))
    expect(as.token_endpoint_auth_signing_alg_values_supported).toContain('ES256')
    expect(as.pushed_authorization_request_endpoint).toBe(`${demo.issuer}/par`)
    expect(as.require_pushed_authorization_requests).not.toBe(true)
    expect(as.dpop_signing_alg_values_supported).toContain('ES256')
  })

  describe('private_key_jwt (RFC 7523 §2.2)', () => {
    it('authenticates at the token, introspection and revocation endpoints with oauth4webapi', async () => {
      const response = await oauth.clientCredentialsGrantRequest(as, keyClient, keyAuth(), { scope: 'read' }, insecure)
      const tokens = await oauth.processClientCredentialsResponse(as, keyClient, response)
      expect(tokens.token_type).toBe('bearer')
      const introspection = await oauth.processIntrospectionResponse(as, keyClient, await oauth.introspectionRequest(as, keyClient, keyAuth(), tokens.access_token, insecure))
      expect(introspection).toMatchObject({ active: true, client_id: KEY_CLIENT, scope: 'read' })
      await oauth.processRevocationResponse(await oauth.revocationRequest(as, keyClient, keyAuth(), tokens.access_token, insecure))
      const after = await oauth.processIntrospectionResponse(as, keyClient, await oauth.introspectionRequest(as, keyClient, keyAuth(), tokens.access_token, insecure))
      expect(after.active).toBe(false)
    })

    it('accepts the issuer, the token endpoint URL and the URL of the endpoint as aud (RFC 7523 §3 item 3)', async () => {
      for (const aud of [demo.issuer, as.token_endpoint as string]) {
        expect((await assertionTokenRequest(await clientAssertion(clientKey, KEY_CLIENT, aud))).status).toBe(200)
      }
      const res = await fetch(as.introspection_endpoint as string, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ token: 'unknown', client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(clientKey, KEY_CLIENT, as.introspection_endpoint as string) }),
      })
      expect(await answer(res)).toEqual({ status: 200, body: { active: false } })
    })

    it.each([
      ['a signature by another key', async () => clientAssertion(await testKey(), KEY_CLIENT, demo.issuer)],
      ['a wrong aud', async () => clientAssertion(clientKey, KEY_CLIENT, 'https://elsewhere.example/token')],
      ['an expired assertion', async () => clientAssertion(clientKey, KEY_CLIENT, demo.issuer, { iat: seconds() - 600, exp: seconds() - 300 })],
      ['no exp', async () => clientAssertion(clientKey, KEY_CLIENT, demo.issuer, { exp: undefined })],
      ['no jti', async () => clientAssertion(clientKey, KEY_CLIENT, demo.issuer, { jti: undefined })],
      ['iss other than sub', async () => clientAssertion(clientKey, KEY_CLIENT, demo.issuer, { iss: PAR_CLIENT })],
      ['alg none', async () => `${b64({ alg: 'none' })}.${b64({ iss: KEY_CLIENT, sub: KEY_CLIENT, aud: demo.issuer, jti: randomUUID(), exp: seconds() + 60 })}.`],
      ['a JWT that is not one', async () => 'not-a-jwt'],
    ])('refuses %s with 401 invalid_client (RFC 7523 §3, RFC 7521 §4.2.1)', async (_name, make) => {
      const { status, body } = await answer(await assertionTokenRequest(await make()))
      expect(status).toBe(401)
      expect(body['error']).toBe('invalid_client')
    })

    it('accepts a jti once: a replay is 401 invalid_client (RFC 7523 §3 item 7)', async () => {
      const assertion = await clientAssertion(clientKey, KEY_CLIENT, demo.issuer)
      expect((await assertionTokenRequest(assertion)).status).toBe(200)
      const { status, body } = await answer(await assertionTokenRequest(assertion))
      expect(status).toBe(401)
      expect(body['error']).toBe('invalid_client')
    })

    it('of 20 concurrent requests with one assertion, exactly one is served (RFC 7523 §3 item 7)', async () => {
      const assertion = await clientAssertion(clientKey, KEY_CLIENT, demo.issuer)
      const results = await Promise.all(Array.from({ length: 20 }, async () => answer(await assertionTokenRequest(assertion))))
      expect(results.filter((r) => r.status === 200)).toHaveLength(1)
      for (const r of results.filter((x) => x.status !== 200)) expect(r).toMatchObject({ status: 401, body: { error: 'invalid_client' } })
    })

    it('refuses a client_assertion_type other than jwt-bearer: 401 invalid_client (RFC 7523 §2.2)', async () => {
      const res = await fetch(as.token_endpoint as string, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:example:other', client_assertion: await clientAssertion(clientKey, KEY_CLIENT, demo.issuer) }),
      })
      const { status, body } = await answer(res)
      expect(status).toBe(401)
      expect(body['error']).toBe('invalid_client')
    })
  })

  describe('pushed authorization requests (RFC 9126)', () => {
    it('runs the code flow with PKCE through a pushed request with oauth4webapi (§2, §4)', async () => {
      const verifier = oauth.generateRandomCodeVerifier()
      const state = oauth.generateRandomState()
      const pushed = await oauth.pushedAuthorizationRequest(
        as,
        keyClient,
        keyAuth(),
        { response_type: 'code', redirect_uri: CALLBACK, scope: 'profile read', state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' },
        insecure,
      )
      expect(pushed.status, await pushed.clone().text()).toBe(201)
      const { request_uri, expires_in } = await oauth.processPushedAuthorizationResponse(as, keyClient, pushed)
      expect(request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/)
      expect(expires_in).toBe(300)
      const url = new URL(as.authorization_endpoint as string)
      url.search = new URLSearchParams({ client_id: KEY_CLIENT, request_uri }).toString()
      const params = oauth.validateAuthResponse(as, keyClient, await approve(url), state)
      const response = await oauth.authorizationCodeGrantRequest(as, keyClient, keyAuth(), params, CALLBACK, verifier, insecure)
      const tokens = await oauth.processAuthorizationCodeResponse(as, keyClient, response)
      expect(tokens.scope).toBe('profile read')
      const me = await fetch(meUrl(), { headers: { authorization: `Bearer ${tokens.access_token}` } })
      expect(me.status).toBe(200)
    })

    /** Pushes a request of the public PAR-only client; answers its request_uri and state. */
    async function pushPublic(): Promise<{ requestUri: string; state: string }> {
      const state = oauth.generateRandomState()
      const client: oauth.Client = { client_id: PAR_CLIENT, token_endpoint_auth_method: 'none' }
      const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier())
      const pushed = await oauth.pushedAuthorizationRequest(
        as,
        client,
        oauth.None(),
        { response_type: 'code', redirect_uri: CALLBACK, scope: 'profile', state, code_challenge: challenge, code_challenge_method: 'S256' },
        insecure,
      )
      return { requestUri: (await oauth.processPushedAuthorizationResponse(as, client, pushed)).request_uri, state }
    }

    const authorizeUrl = (params: Record<string, string>) => {
      const url = new URL(as.authorization_endpoint as string)
      url.search = new URLSearchParams(params).toString()
      return url
    }

    it('lets a client registered with require_pushed_authorization_requests in only through a push (§6)', async () => {
      const { requestUri, state } = await pushPublic()
      const callback = await approve(authorizeUrl({ client_id: PAR_CLIENT, request_uri: requestUri }))
      expect(callback.searchParams.get('state')).toBe(state)
      expect(callback.searchParams.get('code')).not.toBeNull()

      const skipped = await fetch(
        authorizeUrl({ response_type: 'code', client_id: PAR_CLIENT, redirect_uri: CALLBACK, scope: 'profile', state: 's', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }),
        { redirect: 'manual' },
      )
      // §6: refused with invalid_request on an error page, never redirected with a code.
      expect(skipped.status).toBe(400)
      expect(skipped.headers.get('location')).toBeNull()
      expect(await skipped.text()).toContain('invalid_request')
    })

    it('uses a request_uri once: a second answer is invalid_request_uri, shown as a 4xx page (§4, §7.3)', async () => {
      const { requestUri } = await pushPublic()
      await approve(authorizeUrl({ client_id: PAR_CLIENT, request_uri: requestUri }))
      const again = await fetch(authorizeUrl({ client_id: PAR_CLIENT, request_uri: requestUri }), { redirect: 'manual' })
      expect(again.status).toBe(400)
      expect(again.headers.get('location')).toBeNull()
      expect(await again.text()).toContain('invalid_request_uri')
    })

    it('of 20 concurrent approvals of one pushed request, exactly one gets a code (§7.3)', async () => {
      // A password login first, for its login session cookie: the 20 answers are then consent-only (no scrypt each).
      const first = await pushPublic()
      const login = await submitLoginForm(await openLoginForm(authorizeUrl({ client_id: PAR_CLIENT, request_uri: first.requestUri })), APPROVE)
      const session = cookiesOf(login)
      expect(session).not.toBe('')
      const { requestUri } = await pushPublic()
      const url = authorizeUrl({ client_id: PAR_CLIENT, request_uri: requestUri })
      const page = await fetch(url, { headers: { cookie: session }, redirect: 'manual' })
      expect(page.status).toBe(200)
      const { action, hidden, inputs } = parseLoginPage(await page.text(), url)
      expect(inputs).not.toContain('password')
      const cookie = [session, cookiesOf(page)].filter((c) => c !== '').join('; ')
      // A CSRF token is accepted once: each approval posts a form (and token) of its own, so that the request_uri's single use decides.
      const others = await Promise.all(Array.from({ length: 19 }, async () => parseLoginPage(await (await fetch(url, { headers: { cookie }, redirect: 'manual' })).text(), url).hidden))
      const results = await Promise.all(
        [hidden, ...others].map((fields) =>
          fetch(action, { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie }, body: new URLSearchParams({ ...fields, decision: 'approve' }) }),
        ),
      )
      const codes = results.filter((r) => r.headers.get('location')?.includes('code=') === true)
      expect(codes).toHaveLength(1)
      for (const r of results) expect(r.status, await r.clone().text()).toBeLessThan(500)
      // The others: invalid_request_uri, on the error page, or (a loser of the final race, whose redirect URI was already
      // validated) redirected to the client with the error and no code.
      for (const r of results.filter((x) => x !== codes[0])) {
        const location = r.headers.get('location')
        if (location === null) {
          expect(r.status).toBe(400)
          expect(await r.text()).toContain('invalid_request_uri')
        } else {
          expect(Object.fromEntries(new URL(location).searchParams)).toMatchObject({ error: 'invalid_request_uri' })
          expect(new URL(location).searchParams.get('code')).toBeNull()
        }
      }
    })

    it.each([
      ['an unknown request_uri', () => `urn:ietf:params:oauth:request_uri:${randomUUID()}`],
      ['a request_uri not issued here', () => 'https://attacker.example/request.jwt'],
    ])('refuses %s with invalid_request_uri, never a redirect (§4)', async (_name, make) => {
      const res = await fetch(authorizeUrl({ client_id: PAR_CLIENT, request_uri: make() }), { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(await res.text()).toContain('invalid_request_uri')
    })

    it('refuses a request_uri of another client (§4)', async () => {
      const { requestUri } = await pushPublic()
      const res = await fetch(authorizeUrl({ client_id: DPOP_CLIENT, request_uri: requestUri }), { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(await res.text()).toContain('invalid_request_uri')
    })

    it.each([
      ['a request_uri in the push', 400, 'invalid_request', { request_uri: 'urn:ietf:params:oauth:request_uri:x' }],
      ['an unregistered redirect_uri', 400, 'invalid_request', { redirect_uri: 'https://attacker.example/cb' }],
      ['a scope the client may not have', 400, 'invalid_scope', { scope: 'write' }],
    ])('answers a push with %s: %i %s (§2.3)', async (_name, status, error, change) => {
      const params = { response_type: 'code', client_id: PAR_CLIENT, redirect_uri: CALLBACK, scope: 'profile', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', ...change }
      const res = await answer(await fetch(as.pushed_authorization_request_endpoint as string, { method: 'POST', headers: FORM, body: new URLSearchParams(params) }))
      expect(res.status).toBe(status)
      expect(res.body['error']).toBe(error)
    })

    it('refuses a push without client authentication of a confidential client: 401 invalid_client (§2.1)', async () => {
      const params = { response_type: 'code', client_id: KEY_CLIENT, redirect_uri: CALLBACK, scope: 'profile' }
      const res = await answer(await fetch(as.pushed_authorization_request_endpoint as string, { method: 'POST', headers: FORM, body: new URLSearchParams(params) }))
      expect(res.status).toBe(401)
      expect(res.body['error']).toBe('invalid_client')
    })
  })

  describe('DPoP (RFC 9449)', () => {
    it('binds the code flow tokens to the key: token_type DPoP, introspection cnf.jkt, /api/me with a proof (§5, §6, §7)', async () => {
      const key = await testKey()
      const tokens = await dpopTokens(key)
      expect(tokens.token_type).toBe('dpop')
      const client: oauth.Client = { client_id: DPOP_CLIENT, token_endpoint_auth_method: 'none' }
      const introspection = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, oauth.None(), tokens.access_token, insecure))
      expect(introspection).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } })
      const DPoP = oauth.DPoP(client, key.pair)
      const me = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(meUrl()), undefined, undefined, { ...insecure, DPoP })
      expect(me.status).toBe(200)
      expect(await me.json()).toMatchObject({ username: USER.username, scope: 'profile read' })
    })

    it('asks a refresh for a nonce, which oauth4webapi retries with; the public client\'s refresh token stays bound (§5, §8)', async () => {
      const key = await testKey()
      const client: oauth.Client = { client_id: DPOP_CLIENT, token_endpoint_auth_method: 'none' }
      const tokens = await dpopTokens(key)
      const DPoP = oauth.DPoP(client, key.pair)
      const refresh = () => oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token as string, { ...insecure, DPoP })
      let refreshed: oauth.TokenEndpointResponse
      try {
        refreshed = await oauth.processRefreshTokenResponse(as, client, await refresh())
        throw new Error('expected use_dpop_nonce')
      } catch (error) {
        expect(oauth.isDPoPNonceError(error)).toBe(true)
        refreshed = await oauth.processRefreshTokenResponse(as, client, await refresh())
      }
      expect(refreshed.token_type).toBe('dpop')
      // Another key cannot use the public client's refresh token (§5).
      const thief = oauth.DPoP(client, (await testKey()).pair)
      const stolen = async () => oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token as string, { ...insecure, DPoP: thief }))
      const code = await stolen().then(
        () => 'issued',
        async (error: unknown) => (oauth.isDPoPNonceError(error) ? stolen().then(() => 'issued', (e: oauth.ResponseBodyError) => e.error) : (error as oauth.ResponseBodyError).error),
      )
      expect(code).toBe('invalid_dpop_proof')
    })

    it('retries client credentials with private_key_jwt after use_dpop_nonce (§8), the nonce in the DPoP-Nonce header', async () => {
      const key = await testKey()
      const DPoP = oauth.DPoP(keyClient, key.pair)
      const request = () => oauth.clientCredentialsGrantRequest(as, keyClient, keyAuth(), { scope: 'read' }, { ...insecure, DPoP })
      const first = await request()
      expect(first.status).toBe(400)
      expect(first.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]+$/)
      await expect(oauth.processClientCredentialsResponse(as, keyClient, first)).rejects.toSatisfy(oauth.isDPoPNonceError)
      const tokens = await oauth.processClientCredentialsResponse(as, keyClient, await request())
      expect(tokens.token_type).toBe('dpop')
    })

    describe('refusals at the token endpoint (§4.3, §5)', () => {
      /** A raw client_credentials request of the key client with `dpop` as its DPoP header. */
      async function tokenWithProof(dpop: string | undefined): Promise<{ status: number; body: Record<string, unknown>; nonce: string | null }> {
        const res = await fetch(as.token_endpoint as string, {
          method: 'POST',
          headers: { ...FORM, ...(dpop === undefined ? {} : { dpop }) },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', client_assertion_type: ASSERTION_TYPE, client_assertion: await clientAssertion(clientKey, KEY_CLIENT, demo.issuer) }),
        })
        return { ...(await answer(res)), nonce: res.headers.get('dpop-nonce') }
      }

      async function currentNonce(key: TestKey): Promise<string> {
        const first = await tokenWithProof(await dpopProof(key, 'POST', as.token_endpoint as string))
        expect(first).toMatchObject({ status: 400, body: { error: 'use_dpop_nonce' } })
        return first.nonce as string
      }

      it('answers a proof without a nonce 400 use_dpop_nonce with a DPoP-Nonce header (§8)', async () => {
        const key = await testKey()
        expect(await currentNonce(key)).toMatch(/^[A-Za-z0-9_-]{20,}$/)
      })

      it.each([
        ['the wrong method', (key: TestKey, nonce: string) => dpopProof(key, 'GET', as.token_endpoint as string, { nonce })],
        ['the wrong URL', (key: TestKey, nonce: string) => dpopProof(key, 'POST', `${demo.issuer}/introspect`, { nonce })],
        ['an old iat', (key: TestKey, nonce: string) => dpopProof(key, 'POST', as.token_endpoint as string, { nonce, claims: { iat: seconds() - 3600 } })],
        ['a wrong typ', (key: TestKey, nonce: string) => key.sign({ typ: 'JWT', alg: 'ES256', jwk: key.publicJwk }, { jti: randomUUID(), htm: 'POST', htu: as.token_endpoint, iat: seconds(), nonce })],
        ['a signature of another key', async (key: TestKey, nonce: string) => {
          const other = await testKey()
          return other.sign({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk }, { jti: randomUUID(), htm: 'POST', htu: as.token_endpoint, iat: seconds(), nonce })
        }],
        ['a wrong nonce', (key: TestKey) => dpopProof(key, 'POST', as.token_endpoint as string, { nonce: 'not-the-nonce' })],
      ])('refuses a proof with %s: 400 invalid_dpop_proof (a wrong nonce: use_dpop_nonce, §8), no token', async (name, make) => {
        const key = await testKey()
        const nonce = await currentNonce(key)
        const res = await tokenWithProof(await make(key, nonce))
        expect(res.status).toBe(400)
        expect(res.body['error']).toBe(name === 'a wrong nonce' ? 'use_dpop_nonce' : 'invalid_dpop_proof')
        expect(res.body['access_token']).toBeUndefined()
      })

      it('accepts a proof once: of 20 concurrent requests with one proof, one gets a token (§11.1)', async () => {
        const key = await testKey()
        const proof = await dpopProof(key, 'POST', as.token_endpoint as string, { nonce: await currentNonce(key) })
        const results = await Promise.all(Array.from({ length: 20 }, () => tokenWithProof(proof)))
        expect(results.filter((r) => r.status === 200)).toHaveLength(1)
        for (const r of results.filter((x) => x.status !== 200)) expect(r).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } })
      })

      it('refuses a code exchange without a proof for a dpop_bound_access_tokens client (§5.2)', async () => {
        const { params, verifier } = await dpopClientCode()
        const res = await answer(
          await fetch(as.token_endpoint as string, {
            method: 'POST',
            headers: FORM,
            body: new URLSearchParams({ grant_type: 'authorization_code', client_id: DPOP_CLIENT, code: params.get('code') as string, redirect_uri: CALLBACK, code_verifier: verifier }),
          }),
        )
        expect(res).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } })
      })
    })

    describe('refusals at /api/me (§7)', () => {
      let key: TestKey
      let token: string
      beforeAll(async () => {
        key = await testKey()
        token = (await dpopTokens(key)).access_token
      })

      async function me(authorization: string, dpop?: string): Promise<{ status: number; challenge: string }> {
        const res = await fetch(meUrl(), { headers: { authorization, ...(dpop === undefined ? {} : { dpop }) } })
        await res.arrayBuffer()
        return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '' }
      }

      it('serves a proof made for this request', async () => {
        expect((await me(`DPoP ${token}`, await dpopProof(key, 'GET', meUrl(), { accessToken: token }))).status).toBe(200)
      })

      it.each([
        ['the wrong method', () => dpopProof(key, 'POST', meUrl(), { accessToken: token })],
        ['the wrong URL', () => dpopProof(key, 'GET', `${new URL(demo.issuer).origin}/api/other`, { accessToken: token })],
        ['another key', async () => dpopProof(await testKey(), 'GET', meUrl(), { accessToken: token })],
        ['a wrong ath', () => dpopProof(key, 'GET', meUrl(), { accessToken: 'another token' })],
        ['no ath', () => dpopProof(key, 'GET', meUrl())],
      ])('refuses a proof with %s: 401 invalid_dpop_proof with a DPoP challenge (§7.1)', async (_name, make) => {
        const { status, challenge } = await me(`DPoP ${token}`, await make())
        expect(status).toBe(401)
        expect(challenge).toMatch(/^DPoP /)
        expect(challenge).toContain('error="invalid_dpop_proof"')
      })

      it('refuses a replayed proof (§11.1)', async () => {
        const proof = await dpopProof(key, 'GET', meUrl(), { accessToken: token })
        expect((await me(`DPoP ${token}`, proof)).status).toBe(200)
        const replay = await me(`DPoP ${token}`, proof)
        expect(replay.status).toBe(401)
        expect(replay.challenge).toContain('error="invalid_dpop_proof"')
      })

      it('refuses the DPoP scheme without a proof (§7.1)', async () => {
        const { status, challenge } = await me(`DPoP ${token}`)
        expect(status).toBe(401)
        expect(challenge).toMatch(/^DPoP /)
      })

      it('refuses the bound token presented as Bearer: 401 invalid_token (§7.2)', async () => {
        const { status, challenge } = await me(`Bearer ${token}`)
        expect(status).toBe(401)
        expect(challenge).toContain('error="invalid_token"')
      })
    })
  })
})
