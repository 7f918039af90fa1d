import { randomUUID, webcrypto } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { decideDevice } from './support/device-page.js'
import { ACCESS_TOKEN_TYPE, CALLBACK, DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT, USER } from './support/fixtures.js'
import { authorize } from './support/login-form.js'
import { FORM } from './support/oauth-http.js'

// docs/demo-server.md "Environment variables" (OAUTH_PAR_TTL), "Pushed authorization requests", "DPoP",
// "JWT client authentication": the rest of the high-security profile (issue 14), over HTTP, with oauth4webapi
// (unmodified) for the happy paths and raw requests for the refusals.

const insecure = { [oauth.allowInsecureRequests]: true } as const
const APPROVE = { username: USER.username, password: USER.password, decision: 'approve' }
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

const KEY_CLIENT = 'key-agent' // private_key_jwt
const HMAC_CLIENT = { client_id: 'hmac-agent', client_secret: 'an-hmac-agent-secret-of-more-than-32-bytes' } // client_secret_jwt
const SPA = 'bound-spa' // public: the code flow, PAR and dpop_jkt
const TV = 'bound-tv' // public: the device flow

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const seconds = () => Math.floor(Date.now() / 1000)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface TestKey {
  readonly pair: webcrypto.CryptoKeyPair
  readonly publicJwk: Record<string, string>
  sign(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string>
}

async function testKey(): Promise<TestKey> {
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const jwk = await webcrypto.subtle.exportKey('jwk', pair.publicKey)
  return {
    pair,
    publicJwk: { kty: jwk.kty as string, crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string },
    async sign(header, payload) {
      const input = `${b64(header)}.${b64(payload)}`
      const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, Buffer.from(input))
      return `${input}.${Buffer.from(signature).toString('base64url')}`
    },
  }
}

/** A JWT bearer authorization grant (RFC 7523 §2.1, §3) of `clientId` for USER, signed by `key`. */
function grantAssertion(key: TestKey, clientId: string, aud: string): Promise<string> {
  return key.sign({ alg: 'ES256', typ: 'JWT' }, { iss: clientId, sub: USER.username, aud, jti: randomUUID(), iat: seconds(), exp: seconds() + 60 })
}

/** Runs `attempt` again once when the server asked for a DPoP nonce (RFC 9449 §8), as oauth4webapi's users do. */
async function nonceRetry<T>(attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt()
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error
    return attempt()
  }
}

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

async function answer(res: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

function profileSeed(clientKey: TestKey) {
  const jwks = { keys: [{ ...clientKey.publicJwk, alg: 'ES256', use: 'sig' }] }
  const grants = ['client_credentials', TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT]
  return {
    clients: [
      // The JWT bearer grant checks its assertion with the client's jwks (both clients have them).
      { client_id: KEY_CLIENT, grant_types: grants, scope: 'profile read', token_endpoint_auth_method: 'private_key_jwt', jwks },
      { ...HMAC_CLIENT, grant_types: grants, scope: 'profile read', token_endpoint_auth_method: 'client_secret_jwt', jwks },
      { client_id: SPA, redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'], scope: 'profile read', token_endpoint_auth_method: 'none' },
      { client_id: TV, grant_types: [DEVICE_CODE_GRANT, 'refresh_token'], scope: 'profile read', token_endpoint_auth_method: 'none' },
    ],
    users: [USER],
  }
}

// Memory and SQLite: what is tested here is the wiring of the demo, the stores are the other suites'.
const cases = storeCases().filter((c) => c.name === 'memory' || c.name === 'sqlite')

describe.each(cases)('the high-security profile of the demo on the $name store', ({ setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  let clientKey: TestKey
  let cleanup: () => Promise<void>
  const spa: oauth.Client = { client_id: SPA, token_endpoint_auth_method: 'none' }

  beforeAll(async () => {
    const tmp = await tempDir()
    clientKey = await testKey()
    const seedFile = await writeSeed(tmp.dir, profileSeed(clientKey))
    const store = await setup(tmp.dir)
    cleanup = async () => {
      await store.cleanup()
      await tmp.remove()
    }
    // The longest request_uri lifetime there is: OAUTH_PAR_TTL is answered as expires_in.
    demo = await startDemoServer({ OAUTH_STORE: store.spec, OAUTH_SEED: seedFile, OAUTH_LOG: 'off', OAUTH_PAR_TTL: '600' }, tmp.dir)
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  })

  afterAll(async () => {
    const code = demo === undefined ? undefined : await demo.stop()
    await cleanup?.()
    if (demo !== undefined) expect(code).toBe(0)
  })

  const clients = () => [
    { name: 'private_key_jwt', client: { client_id: KEY_CLIENT, token_endpoint_auth_method: 'private_key_jwt' } as oauth.Client, auth: () => oauth.PrivateKeyJwt(clientKey.pair.privateKey) },
    { name: 'client_secret_jwt', client: { client_id: HMAC_CLIENT.client_id, token_endpoint_auth_method: 'client_secret_jwt' } as oauth.Client, auth: () => oauth.ClientSecretJwt(HMAC_CLIENT.client_secret) },
  ]

  describe('JWT client authentication at the token exchange and JWT bearer grants (RFC 7523 §2.2: every endpoint that authenticates clients)', () => {
    it.each(clients().map((c) => [c.name, c.client.client_id as string] as const))('exchanges a token with %s client authentication, with oauth4webapi (RFC 8693 §2.1)', async (name) => {
      const { client, auth } = clients().find((c) => c.name === name) as ReturnType<typeof clients>[number]
      const own = await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth(), { scope: 'profile read' }, insecure))
      const response = await oauth.genericTokenEndpointRequest(as, client, auth(), TOKEN_EXCHANGE_GRANT, { subject_token: own.access_token, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'read' }, insecure)
      const exchanged = await oauth.processGenericTokenEndpointResponse(as, client, response)
      expect(exchanged).toMatchObject({ token_type: 'bearer', scope: 'read', issued_token_type: ACCESS_TOKEN_TYPE })
      expect(exchanged.access_token).not.toBe(own.access_token)
    })

    it.each(clients().map((c) => [c.name, c.client.client_id as string] as const))('grants a JWT bearer assertion with %s client authentication, with oauth4webapi (RFC 7523 §2.1, §3.1)', async (name, clientId) => {
      const { client, auth } = clients().find((c) => c.name === name) as ReturnType<typeof clients>[number]
      const assertion = await grantAssertion(clientKey, clientId, as.token_endpoint as string)
      const tokens = await oauth.processGenericTokenEndpointResponse(as, client, await oauth.genericTokenEndpointRequest(as, client, auth(), JWT_BEARER_GRANT, { assertion, scope: 'read' }, insecure))
      expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read' })
      const introspection = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth(), tokens.access_token, insecure))
      expect(introspection).toMatchObject({ active: true, client_id: clientId, username: USER.username })
    })

    it.each([
      ['token exchange', TOKEN_EXCHANGE_GRANT, async () => ({ subject_token: 'unknown', subject_token_type: ACCESS_TOKEN_TYPE })],
      // A valid grant assertion: only the client's authentication is wrong.
      ['JWT bearer', JWT_BEARER_GRANT, async () => ({ assertion: await grantAssertion(clientKey, KEY_CLIENT, as.token_endpoint as string) })],
    ])('refuses a client assertion signed by another key at the %s grant: 401 invalid_client (RFC 7523 §3 item 5)', async (_name, grantType, makeParams) => {
      const params = await makeParams()
      const forged = await (await testKey()).sign({ alg: 'ES256', typ: 'JWT' }, { iss: KEY_CLIENT, sub: KEY_CLIENT, aud: demo.issuer, jti: randomUUID(), iat: seconds(), exp: seconds() + 60 })
      const res = await fetch(as.token_endpoint as string, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ grant_type: grantType, ...params, client_assertion_type: ASSERTION_TYPE, client_assertion: forged }),
      })
      const { status, body } = await answer(res)
      expect(status).toBe(401)
      expect(body['error']).toBe('invalid_client')
    })
  })

  describe('dpop_jkt: codes bound to a DPoP key at the authorization endpoint (RFC 9449 §10)', () => {
    /** A code of the SPA for `dpop_jkt`, straight or through a push (RFC 9126 §2, §4). */
    async function boundCode(jkt: string, pushed: boolean): Promise<{ params: URLSearchParams; verifier: string }> {
      const verifier = oauth.generateRandomCodeVerifier()
      const state = oauth.generateRandomState()
      const request = { response_type: 'code', redirect_uri: CALLBACK, scope: 'profile read', state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', dpop_jkt: jkt }
      const url = new URL(as.authorization_endpoint as string)
      if (pushed) {
        const { request_uri, expires_in } = await oauth.processPushedAuthorizationResponse(as, spa, await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), request, insecure))
        expect(expires_in).toBe(600)
        url.search = new URLSearchParams({ client_id: SPA, request_uri }).toString()
      } else {
        url.search = new URLSearchParams({ client_id: SPA, ...request }).toString()
      }
      const res = await authorize(url, APPROVE)
      expect([302, 303]).toContain(res.status)
      return { params: oauth.validateAuthResponse(as, spa, new URL(res.headers.get('location') as string), state), verifier }
    }

    const exchange = (code: { params: URLSearchParams; verifier: string }, DPoP?: oauth.DPoPHandle) =>
      oauth.authorizationCodeGrantRequest(as, spa, oauth.None(), code.params, CALLBACK, code.verifier, { ...insecure, ...(DPoP === undefined ? {} : { DPoP }) })

    describe.each([
      ['at the authorization endpoint', false],
      ['through a pushed authorization request (RFC 9126)', true],
    ] as const)('%s', (_where, pushed) => {
      it('redeems the code with a proof of the key whose thumbprint oauth4webapi sent, and binds the tokens to it', async () => {
        const DPoP = oauth.DPoP(spa, await oauth.generateKeyPair('ES256'))
        const jkt = await DPoP.calculateThumbprint()
        const code = await boundCode(jkt, pushed)
        const tokens = await nonceRetry(async () => oauth.processAuthorizationCodeResponse(as, spa, await exchange(code, DPoP)))
        expect(tokens.token_type).toBe('dpop')
        const introspection = await oauth.processIntrospectionResponse(as, spa, await oauth.introspectionRequest(as, spa, oauth.None(), tokens.access_token, insecure))
        expect(introspection).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } })
      })

      it('refuses the code redeemed with a proof of another key: 400 invalid_dpop_proof, and the code is spent', async () => {
        const owner = oauth.DPoP(spa, await oauth.generateKeyPair('ES256'))
        const code = await boundCode(await owner.calculateThumbprint(), pushed)
        const thief = oauth.DPoP(spa, await oauth.generateKeyPair('ES256'))
        expect(await oauthError(nonceRetry(async () => oauth.processAuthorizationCodeResponse(as, spa, await exchange(code, thief))))).toBe('invalid_dpop_proof')
        // A code that failed a check never gets a second chance (RFC 6749 §4.1.2), not even with the right key.
        expect(await oauthError(nonceRetry(async () => oauth.processAuthorizationCodeResponse(as, spa, await exchange(code, owner))))).toBe('invalid_grant')
      })

      it('refuses the code redeemed without a proof: 400 invalid_dpop_proof', async () => {
        const owner = oauth.DPoP(spa, await oauth.generateKeyPair('ES256'))
        const code = await boundCode(await owner.calculateThumbprint(), pushed)
        const { status, body } = await answer(await exchange(code))
        expect(status).toBe(400)
        expect(body['error']).toBe('invalid_dpop_proof')
        expect(body['access_token']).toBeUndefined()
      })
    })

    it('refuses a malformed dpop_jkt when it is pushed: 400 invalid_request (RFC 9449 §10, RFC 9126 §2.3)', async () => {
      const params = { response_type: 'code', client_id: SPA, redirect_uri: CALLBACK, scope: 'profile', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', dpop_jkt: 'not-a-thumbprint' }
      const res = await answer(await fetch(as.pushed_authorization_request_endpoint as string, { method: 'POST', headers: FORM, body: new URLSearchParams(params) }))
      expect(res.status).toBe(400)
      expect(res.body['error']).toBe('invalid_request')
    })
  })

  describe('pushed authorization requests with OAUTH_PAR_TTL (RFC 9126 §2.2, §4)', () => {
    it('answers expires_in as OAUTH_PAR_TTL and uses the request_uri once: a reuse is invalid_request_uri, never a redirect', async () => {
      const state = oauth.generateRandomState()
      const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier())
      const pushed = await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), { response_type: 'code', redirect_uri: CALLBACK, scope: 'profile', state, code_challenge: challenge, code_challenge_method: 'S256' }, insecure)
      const { request_uri, expires_in } = await oauth.processPushedAuthorizationResponse(as, spa, pushed)
      expect(expires_in).toBe(600)
      const url = new URL(as.authorization_endpoint as string)
      url.search = new URLSearchParams({ client_id: SPA, request_uri }).toString()
      const approved = await authorize(url, APPROVE)
      expect(new URL(approved.headers.get('location') as string).searchParams.get('code')).not.toBeNull()
      const reused = await fetch(url, { redirect: 'manual' })
      expect(reused.status).toBe(400)
      expect(reused.headers.get('location')).toBeNull()
      expect(await reused.text()).toContain('invalid_request_uri')
    })
  })

  describe('DPoP nonces on the device code grant (RFC 9449 §8, RFC 8628 §3.4)', () => {
    it('asks the first poll with a proof for a nonce, which oauth4webapi retries with: the refused poll did not use the device code up', async () => {
      const tv: oauth.Client = { client_id: TV, token_endpoint_auth_method: 'none' }
      const authorization = await oauth.processDeviceAuthorizationResponse(as, tv, await oauth.deviceAuthorizationRequest(as, tv, oauth.None(), { scope: 'profile read' }, insecure))
      const decided = await decideDevice(authorization.verification_uri, authorization.user_code, 'approve')
      expect(decided.status).toBeLessThan(400)
      const DPoP = oauth.DPoP(tv, await oauth.generateKeyPair('ES256'))
      const poll = () => oauth.deviceCodeGrantRequest(as, tv, oauth.None(), authorization.device_code, { ...insecure, DPoP })
      const first = await poll()
      expect(first.status).toBe(400)
      expect(first.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]+$/)
      await expect(oauth.processDeviceCodeResponse(as, tv, first)).rejects.toSatisfy(oauth.isDPoPNonceError)
      const tokens = await oauth.processDeviceCodeResponse(as, tv, await poll())
      expect(tokens).toMatchObject({ token_type: 'dpop', scope: 'profile read' })
      // Redeemed once: the next poll is refused (RFC 8628 §3.5).
      expect(await oauthError(oauth.processDeviceCodeResponse(as, tv, await poll()))).toBe('invalid_grant')
    })
  })
})

describe('OAUTH_PAR_TTL (docs/demo-server.md "Environment variables", RFC 9126 §2.2)', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('refuses a request_uri used after its lifetime: OAUTH_PAR_TTL=1, used 2 s later, is invalid_request_uri on a 400 page (§4)', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const seedFile = await writeSeed(tmp.dir, { clients: [{ client_id: SPA, redirect_uris: [CALLBACK], grant_types: ['authorization_code'], scope: 'profile', token_endpoint_auth_method: 'none' }] })
    const demo = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_SEED: seedFile, OAUTH_LOG: 'off', OAUTH_PAR_TTL: '1' }, tmp.dir)
    cleanups.push(() => demo.stop())
    const issuer = new URL(demo.issuer)
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
    const spa: oauth.Client = { client_id: SPA, token_endpoint_auth_method: 'none' }
    const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier())
    const pushed = await oauth.pushedAuthorizationRequest(as, spa, oauth.None(), { response_type: 'code', redirect_uri: CALLBACK, scope: 'profile', code_challenge: challenge, code_challenge_method: 'S256' }, insecure)
    const { request_uri, expires_in } = await oauth.processPushedAuthorizationResponse(as, spa, pushed)
    expect(expires_in).toBe(1)
    await sleep(2000)
    const url = new URL(as.authorization_endpoint as string)
    url.search = new URLSearchParams({ client_id: SPA, request_uri }).toString()
    const expired = await fetch(url, { redirect: 'manual' })
    expect(expired.status).toBe(400)
    expect(expired.headers.get('location')).toBeNull()
    expect(await expired.text()).toContain('invalid_request_uri')
  })

  it.each(['0', '601', '60s', '-5', '1.5', ' 300'])('refuses to start with OAUTH_PAR_TTL=%j, naming the variable', async (value) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const refused = startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_PAR_TTL: value }, tmp.dir)
    await expect(refused).rejects.toThrow(/exited with 1[\s\S]*\[grantkit\] failed to start: OAUTH_PAR_TTL must be a whole number of seconds from 1 to 600/)
  })

  it('answers the default lifetime, 300 seconds, without OAUTH_PAR_TTL', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const seedFile = await writeSeed(tmp.dir, { clients: [{ client_id: SPA, redirect_uris: [CALLBACK], grant_types: ['authorization_code'], scope: 'profile', token_endpoint_auth_method: 'none' }] })
    const demo = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_SEED: seedFile, OAUTH_LOG: 'off', OAUTH_PAR_TTL: '' }, tmp.dir)
    cleanups.push(() => demo.stop())
    const body = new URLSearchParams({ response_type: 'code', client_id: SPA, redirect_uri: CALLBACK, scope: 'profile', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })
    const res = await answer(await fetch(`${demo.issuer}/par`, { method: 'POST', headers: FORM, body }))
    expect(res).toMatchObject({ status: 201, body: { expires_in: 300 } })
  })
})
