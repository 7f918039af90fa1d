// UserInfo (Core §5.3) with DPoP-bound access tokens (RFC 9449 §7): the
// tokens come from the code flow with @grantkit/ext-dpop, over real HTTP
// (Koa); the happy paths with openid-client 6.9.0 (unmodified), the
// refusals with proofs written here with jose, independently of the server.
import { createHash, randomUUID } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { ALICE_CLAIMS, TEST_STORES, startProvider, type OpenTestStore } from './internal/testing.js'

/** The algorithms @grantkit/ext-dpop accepts by default, as the challenge names them (RFC 9449 §7.1 `algs`). */
const ALGS = 'ES256 EdDSA Ed25519 PS256 RS256'

interface ProofKey {
  readonly pair: { publicKey: CryptoKey; privateKey: CryptoKey }
  readonly jwk: JWK
}

async function proofKey(): Promise<ProofKey> {
  const pair = await generateKeyPair('ES256', { extractable: true })
  const { kty, crv, x, y } = await exportJWK(pair.publicKey)
  return { pair, jwk: { kty, crv, x, y } }
}

/** A DPoP proof (RFC 9449 §4.2) of `key` for `method` `htu`, with `ath` of `accessToken` unless told otherwise. */
function proof(key: ProofKey, method: string, htu: string, accessToken: string | null, claims: Record<string, unknown> = {}): Promise<string> {
  const ath = accessToken === null ? {} : { ath: createHash('sha256').update(accessToken).digest('base64url') }
  return new SignJWT({ jti: randomUUID(), htm: method, htu, iat: Math.floor(Date.now() / 1000), ...ath, ...claims })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
    .sign(key.pair.privateKey)
}

describe.each(TEST_STORES)('UserInfo with DPoP (RFC 9449 §7, Core §5.3) on the %s', (_name, openStore: OpenTestStore) => {
  /** A provider with DPoP, and a DPoP-bound access token of alice for `scope`, obtained by openid-client with `key`. */
  async function withBoundToken(scope = 'openid email') {
    const p = await startProvider(openStore, { dpop: true })
    const config = await p.rp('web')
    const key = await proofKey()
    const DPoP = client.getDPoPHandle(config, key.pair)
    const verifier = client.randomPKCECodeVerifier()
    const url = client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/cb', scope, nonce: 'n', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const tokens = await client.authorizationCodeGrant(config, await p.location(url), { pkceCodeVerifier: verifier, expectedNonce: scope.includes('openid') ? 'n' : undefined }, undefined, { DPoP })
    const endpoint = `${p.issuer}/userinfo`
    /** A raw UserInfo request. */
    const userinfo = async (authorization: string | undefined, dpop?: string, method = 'GET') => {
      const response = await fetch(endpoint, { method, headers: { ...(authorization === undefined ? {} : { authorization }), ...(dpop === undefined ? {} : { dpop }) } })
      const text = await response.text()
      return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
    }
    return { ...p, config, key, DPoP, tokens, token: tokens.access_token, endpoint, userinfo }
  }

  it('serves a DPoP-bound token with a proof of its key: openid-client’s fetchUserInfo with its DPoP handle (§7.1)', async () => {
    const p = await withBoundToken()
    expect(p.tokens.token_type).toBe('dpop')
    const info = await client.fetchUserInfo(p.config, p.token, 'alice', { DPoP: p.DPoP })
    expect(info).toEqual({ sub: 'alice', email: ALICE_CLAIMS.email, email_verified: true })
  })

  it('serves POST with a proof whose htm is POST (Core §5.3.1, RFC 9449 §4.3 item 8)', async () => {
    const p = await withBoundToken()
    const answer = await p.userinfo(`DPoP ${p.token}`, await proof(p.key, 'POST', p.endpoint, p.token), 'POST')
    expect(answer).toMatchObject({ status: 200, body: { sub: 'alice', email: ALICE_CLAIMS.email } })
  })

  it('refuses the DPoP-bound token sent as Bearer: 401 invalid_token with the DPoP challenge (§7.2)', async () => {
    const p = await withBoundToken()
    const answer = await p.userinfo(`Bearer ${p.token}`)
    expect(answer.status).toBe(401)
    expect(answer.challenge).toMatch(/^DPoP realm="[^"]+", algs="ES256 EdDSA Ed25519 PS256 RS256", error="invalid_token"/)
    expect(answer.body).toMatchObject({ error: 'invalid_token' })
    // and openid-client without its DPoP handle gets the same refusal
    const refused = await client.fetchUserInfo(p.config, p.token, 'alice').catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(client.WWWAuthenticateChallengeError)
    expect((refused as client.WWWAuthenticateChallengeError).cause[0]).toMatchObject({ scheme: 'dpop', parameters: { error: 'invalid_token' } })
  })

  it.each([
    ['another key', async (p: Awaited<ReturnType<typeof withBoundToken>>) => proof(await proofKey(), 'GET', p.endpoint, p.token)],
    ['another method', (p: Awaited<ReturnType<typeof withBoundToken>>) => proof(p.key, 'POST', p.endpoint, p.token)],
    ['another URL', (p: Awaited<ReturnType<typeof withBoundToken>>) => proof(p.key, 'GET', `${p.issuer}/token`, p.token)],
    ['another host for the same port', (p: Awaited<ReturnType<typeof withBoundToken>>) => proof(p.key, 'GET', p.endpoint.replace('127.0.0.1', 'localhost'), p.token)],
    ['no ath', (p: Awaited<ReturnType<typeof withBoundToken>>) => proof(p.key, 'GET', p.endpoint, null)],
    ['the ath of another token', (p: Awaited<ReturnType<typeof withBoundToken>>) => proof(p.key, 'GET', p.endpoint, 'another-token')],
    ['an iat an hour old', (p: Awaited<ReturnType<typeof withBoundToken>>) => proof(p.key, 'GET', p.endpoint, p.token, { iat: Math.floor(Date.now() / 1000) - 3600 })],
    ['no proof at all', async () => undefined],
  ])('refuses a proof with %s: 401 invalid_dpop_proof with the DPoP challenge and its algs (§4.3, §7.1)', async (_case, make) => {
    const p = await withBoundToken()
    const answer = await p.userinfo(`DPoP ${p.token}`, await make(p))
    expect(answer.status).toBe(401)
    expect(answer.challenge).toMatch(new RegExp(`^DPoP realm="${p.issuer}", algs="${ALGS}", error="invalid_dpop_proof"`))
    expect(answer.body).toMatchObject({ error: 'invalid_dpop_proof' })
    expect(answer.body).not.toHaveProperty('sub')
  })

  it('accepts a proof once (§11.1): the replay is 401 invalid_dpop_proof', async () => {
    const p = await withBoundToken()
    const once = await proof(p.key, 'GET', p.endpoint, p.token)
    expect((await p.userinfo(`DPoP ${p.token}`, once)).status).toBe(200)
    const replay = await p.userinfo(`DPoP ${p.token}`, once)
    expect(replay.status).toBe(401)
    expect(replay.body).toMatchObject({ error: 'invalid_dpop_proof' })
  })

  it('without a token: 401, no body, the Bearer and the DPoP challenge with algs (§7.2, RFC 6750 §3.1)', async () => {
    const p = await withBoundToken()
    const answer = await p.userinfo(undefined)
    expect(answer).toEqual({ status: 401, challenge: `Bearer realm="${p.issuer}", DPoP realm="${p.issuer}", algs="${ALGS}"`, body: {} })
  })

  it('refuses a token that is not DPoP-bound sent with the DPoP scheme: 401 invalid_token (§7.1)', async () => {
    const p = await withBoundToken()
    const config = await p.rp('web')
    const verifier = client.randomPKCECodeVerifier()
    const url = client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/cb', scope: 'openid', nonce: 'b', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const bearer = (await client.authorizationCodeGrant(config, await p.location(url), { pkceCodeVerifier: verifier, expectedNonce: 'b' })).access_token
    const answer = await p.userinfo(`DPoP ${bearer}`, await proof(p.key, 'GET', p.endpoint, bearer))
    expect(answer.status).toBe(401)
    expect(answer.challenge).toMatch(/^DPoP .*error="invalid_token"/)
    // the same token as Bearer is fine
    expect((await p.userinfo(`Bearer ${bearer}`)).status).toBe(200)
  })

  it('a DPoP-bound token without openid: 403 insufficient_scope with the DPoP challenge (Core §5.3, RFC 9449 §7.1)', async () => {
    const p = await withBoundToken('email')
    const answer = await p.userinfo(`DPoP ${p.token}`, await proof(p.key, 'GET', p.endpoint, p.token))
    expect(answer.status).toBe(403)
    expect(answer.challenge).toMatch(/^DPoP .*error="insufficient_scope", scope="openid"/)
  })

  it('an expired DPoP-bound token: 401 invalid_token with the DPoP challenge', async () => {
    const p = await withBoundToken()
    p.advance(3601)
    // The proof is fresh by the server's clock: only the token is out of date.
    const answer = await p.userinfo(`DPoP ${p.token}`, await proof(p.key, 'GET', p.endpoint, p.token, { iat: Math.floor(p.clock() / 1000) }))
    expect(answer.status).toBe(401)
    expect(answer.challenge).toMatch(/^DPoP .*error="invalid_token"/)
  })
})
