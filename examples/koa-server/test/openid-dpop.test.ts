// UserInfo with DPoP on the demo server (docs/demo-server.md "OpenID
// Connect", "DPoP"): RFC 9449 §7 and OpenID Connect Core §5.3, driven by
// oauth4webapi (unmodified) and its DPoP support. The tokens come from the
// code flow through the login and consent page.
import { createHash, randomUUID, webcrypto } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { authorize } from './support/login-form.js'

const CALLBACK = 'http://127.0.0.1:9/callback'
const ALICE = { username: 'alice', password: 'correct horse battery staple', name: 'Alice Liddell', email: 'alice@example.com', email_verified: true }
const APPROVE = { username: ALICE.username, password: ALICE.password, decision: 'approve' }
/** A public relying party whose tokens are all DPoP-bound (RFC 9449 §5.2 `dpop_bound_access_tokens`). */
const RP: oauth.Client = { client_id: 'oidc-dpop-spa', token_endpoint_auth_method: 'none' }
const insecure = { [oauth.allowInsecureRequests]: true } as const

const SEED = {
  clients: [
    {
      client_id: RP.client_id,
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile email',
      token_endpoint_auth_method: 'none',
      dpop_bound_access_tokens: true,
    },
  ],
  users: [ALICE],
}

/** An ES256 key pair for DPoP proofs, and its public JWK. */
async function dpopKey(): Promise<{ pair: webcrypto.CryptoKeyPair; jwk: Record<string, string> }> {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const { kty, crv, x, y } = await webcrypto.subtle.exportKey('jwk', pair.publicKey)
  return { pair, jwk: { kty: kty as string, crv: crv as string, x: x as string, y: y as string } }
}

/** A proof written here, independently of the libraries (RFC 9449 §4.2), for the refusals oauth4webapi would never send. */
async function handMadeProof(key: Awaited<ReturnType<typeof dpopKey>>, claims: Record<string, unknown>): Promise<string> {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })}.${b64({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })}`
  const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.pair.privateKey, Buffer.from(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}

/** The parsed challenges of a refused UserInfo answer, as oauth4webapi reads them (RFC 9110 §11.6.1). */
async function challengesOf(as: oauth.AuthorizationServer, response: Response): Promise<oauth.WWWAuthenticateChallenge[]> {
  const error = await oauth.processUserInfoResponse(as, RP, oauth.skipSubjectCheck, response).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError)
  return (error as oauth.WWWAuthenticateChallengeError).cause
}

describe.each(serverCases())('UserInfo with DPoP on the demo server, $adapter with the $store store (RFC 9449 §7, Core §5.3)', ({ adapter, setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    const store = await setup(tmp.dir)
    cleanup = async () => {
      await store.cleanup()
      await tmp.remove()
    }
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: store.spec, OAUTH_SEED: await writeSeed(tmp.dir, SEED), OAUTH_LOG: 'off' }, tmp.dir)
    const issuer = new URL(demo.issuer)
    // Discovery §4: the OpenID Provider configuration, as oauth4webapi reads it.
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }))
  })

  afterAll(async () => {
    const code = demo === undefined ? undefined : await demo.stop()
    await cleanup?.()
    if (demo !== undefined) expect(code).toBe(0)
  })

  /** The code flow with a DPoP key (the code exchange asks for a nonce once, docs "DPoP"): answers the validated tokens and their ID token claims. */
  async function dpopLogin(key: Awaited<ReturnType<typeof dpopKey>>) {
    const verifier = oauth.generateRandomCodeVerifier()
    const nonce = oauth.generateRandomNonce()
    const url = new URL(as.authorization_endpoint as string)
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: RP.client_id,
      redirect_uri: CALLBACK,
      scope: 'openid profile email',
      state: 'dpop',
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString()
    const res = await authorize(url, APPROVE)
    const params = oauth.validateAuthResponse(as, RP, new URL(res.headers.get('location') as string), 'dpop')
    const DPoP = oauth.DPoP(RP, key.pair)
    const exchange = async () =>
      oauth.processAuthorizationCodeResponse(as, RP, await oauth.authorizationCodeGrantRequest(as, RP, oauth.None(), params, CALLBACK, verifier, { ...insecure, DPoP }), { expectedNonce: nonce, requireIdToken: true })
    // RFC 9449 §8: the first exchange is answered use_dpop_nonce, without spending the code; the handle keeps the nonce.
    const tokens = await exchange().catch((error: unknown) => {
      if (!oauth.isDPoPNonceError(error)) throw error
      return exchange()
    })
    return { tokens, claims: oauth.getValidatedIdTokenClaims(tokens)!, DPoP }
  }

  it('answers UserInfo for a DPoP-bound token with a proof of its key: oauth4webapi’s userInfoRequest with DPoP (§7.1)', async () => {
    const key = await dpopKey()
    const { tokens, claims, DPoP } = await dpopLogin(key)
    expect(tokens.token_type).toBe('dpop')
    const response = await oauth.userInfoRequest(as, RP, tokens.access_token, { ...insecure, DPoP })
    expect(await oauth.processUserInfoResponse(as, RP, claims.sub, response)).toEqual({
      sub: claims.sub,
      name: ALICE.name,
      preferred_username: ALICE.username,
      email: ALICE.email,
      email_verified: true,
    })
  })

  it('after a refresh (with the server’s DPoP nonce, §8) the new token and its fresh ID token work the same (Core §12.2)', async () => {
    const key = await dpopKey()
    const { tokens, claims } = await dpopLogin(key)
    // A new handle of the same key: it has no nonce yet, so the refresh is asked for one.
    const DPoP = oauth.DPoP(RP, key.pair)
    const refresh = () => oauth.refreshTokenGrantRequest(as, RP, oauth.None(), tokens.refresh_token as string, { ...insecure, DPoP })
    let refreshed: oauth.TokenEndpointResponse
    try {
      refreshed = await oauth.processRefreshTokenResponse(as, RP, await refresh())
      throw new Error('expected use_dpop_nonce')
    } catch (error) {
      expect(oauth.isDPoPNonceError(error)).toBe(true)
      // the DPoP handle kept the nonce: the same request again succeeds
      refreshed = await oauth.processRefreshTokenResponse(as, RP, await refresh())
    }
    expect(refreshed.token_type).toBe('dpop')
    expect(oauth.getValidatedIdTokenClaims(refreshed)).toMatchObject({ sub: claims.sub, auth_time: claims.auth_time })
    const response = await oauth.userInfoRequest(as, RP, refreshed.access_token, { ...insecure, DPoP })
    expect((await oauth.processUserInfoResponse(as, RP, claims.sub, response)).email).toBe(ALICE.email)
  })

  it('refuses the DPoP-bound token sent as Bearer: 401 invalid_token with the DPoP challenge (§7.2)', async () => {
    const { tokens } = await dpopLogin(await dpopKey())
    const response = await oauth.userInfoRequest(as, RP, tokens.access_token, insecure)
    expect(response.status).toBe(401)
    const [challenge] = await challengesOf(as, response)
    expect(challenge).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_token' } })
    expect(challenge?.parameters.algs).toContain('ES256')
  })

  it('refuses a proof made with another key: 401 invalid_dpop_proof with the DPoP challenge (§7, §7.1)', async () => {
    const { tokens } = await dpopLogin(await dpopKey())
    const thief = oauth.DPoP(RP, (await dpopKey()).pair)
    const response = await oauth.userInfoRequest(as, RP, tokens.access_token, { ...insecure, DPoP: thief })
    expect(response.status).toBe(401)
    const [challenge] = await challengesOf(as, response)
    expect(challenge).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_dpop_proof' } })
  })

  it('refuses a proof made for another URL or method, or replayed (§4.3, §11.1)', async () => {
    const key = await dpopKey()
    const { tokens } = await dpopLogin(key)
    const ath = createHash('sha256').update(tokens.access_token).digest('base64url')
    const send = (proof: string) => fetch(as.userinfo_endpoint as string, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } })
    for (const claims of [
      { htm: 'GET', htu: as.token_endpoint, ath },
      { htm: 'POST', htu: as.userinfo_endpoint, ath },
      { htm: 'GET', htu: as.userinfo_endpoint },
    ]) {
      const response = await send(await handMadeProof(key, claims))
      expect(response.status).toBe(401)
      const [challenge] = await challengesOf(as, response)
      expect(challenge).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_dpop_proof' } })
    }
    const once = await handMadeProof(key, { htm: 'GET', htu: as.userinfo_endpoint, ath })
    const first = await send(once)
    expect(first.status).toBe(200)
    await first.arrayBuffer()
    const replay = await send(once)
    expect(replay.status).toBe(401)
    expect((await challengesOf(as, replay))[0]).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_dpop_proof' } })
  })

  it('without a token: 401 with a Bearer and a DPoP challenge naming the algs of dpop_signing_alg_values_supported (§7.1, §7.2)', async () => {
    const response = await fetch(as.userinfo_endpoint as string)
    expect(response.status).toBe(401)
    const challenges = await challengesOf(as, response)
    expect(challenges.map((c) => c.scheme)).toEqual(['bearer', 'dpop'])
    expect(challenges[0]?.parameters).toEqual({ realm: demo.issuer })
    expect(challenges[1]?.parameters).toEqual({ realm: demo.issuer, algs: (as.dpop_signing_alg_values_supported as string[]).join(' ') })
  })
})
