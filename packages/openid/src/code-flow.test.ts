// The authorization code flow end to end over real HTTP (Koa), every ID
// token validated by openid-client 6.9.0, unmodified.
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose'
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { ALICE_CLAIMS, CLIENTS, TEST_STORES, WEB_SECRET, responseParams, startProvider, type OpenTestStore } from './internal/testing.js'
import { tokenHash } from './provider.js'

const REDIRECT = 'http://localhost/cb'

describe.each(TEST_STORES)('the OpenID Connect code flow (Core §3.1) on the %s', (_name, openStore: OpenTestStore) => {
  /** Runs the code flow with PKCE and a nonce through openid-client; returns its validated tokens. */
  async function codeFlow(p: Awaited<ReturnType<typeof startProvider>>, clientId: keyof typeof CLIENTS = 'web', extra: Record<string, string> = {}, metadata: Partial<client.ClientMetadata> = {}) {
    const config = await p.rp(clientId, metadata)
    const verifier = client.randomPKCECodeVerifier()
    const nonce = client.randomNonce()
    const state = client.randomState()
    const redirectUri = CLIENTS[clientId].redirectUris[0] as string
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile email',
      nonce,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    })
    const callback = await p.location(url)
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state })
    return { config, tokens, nonce, claims: tokens.claims() }
  }

  it('discovery (Discovery §3, §4) is read by openid-client and lists the OpenID fields', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('web')
    const metadata = config.serverMetadata()
    expect(metadata).toMatchObject({
      issuer: p.issuer,
      authorization_endpoint: `${p.issuer}/authorize`,
      token_endpoint: `${p.issuer}/token`,
      userinfo_endpoint: `${p.issuer}/userinfo`,
      jwks_uri: `${p.issuer}/jwks.json`,
      end_session_endpoint: `${p.issuer}/logout`,
      subject_types_supported: ['public', 'pairwise'],
      claims_parameter_supported: true,
    })
    expect(metadata.id_token_signing_alg_values_supported?.[0]).toBe('RS256')
    expect(metadata.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'PS256', 'ES256', 'EdDSA']))
    expect(metadata.scopes_supported).toContain('openid')
    expect(metadata.response_types_supported).toEqual(expect.arrayContaining(['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token']))
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['sub', 'email', 'name']))
  })

  it('issues an ID token with iss, sub, aud, exp, iat, auth_time, nonce, at_hash, acr, amr (Core §3.1.3.3, §3.1.3.6)', async () => {
    const p = await startProvider(openStore)
    const { tokens, nonce, claims } = await codeFlow(p)
    expect(claims).toMatchObject({ iss: p.issuer, sub: 'alice', aud: 'web', nonce, acr: 'urn:example:loa:2', amr: ['pwd', 'otp'] })
    expect(claims?.auth_time).toBe(Math.floor(((p.session.user?.authTime as Date).getTime()) / 1000))
    expect((claims?.exp as number) - (claims?.iat as number)).toBe(3600)
    expect(claims?.at_hash).toBe(tokenHash(tokens.access_token, 'RS256'))
    // No profile claims in an ID token issued with an access token (Core §5.4): UserInfo serves them.
    expect(claims).not.toHaveProperty('email')
    const header = decodeProtectedHeader(tokens.id_token as string)
    expect(header).toMatchObject({ alg: 'RS256', typ: 'JWT' })
    expect(p.provider.keys.jwks().keys.map((k) => (k as { kid: string }).kid)).toContain(header.kid)
  })

  it('serves UserInfo (Core §5.3) with sub and the granted scopes’ claims only, validated by openid-client', async () => {
    const p = await startProvider(openStore)
    const { config, tokens } = await codeFlow(p)
    const info = await client.fetchUserInfo(config, tokens.access_token, 'alice')
    expect(info).toEqual({ sub: 'alice', name: ALICE_CLAIMS.name, given_name: 'Alice', email: ALICE_CLAIMS.email, email_verified: true })
  })

  it('answers UserInfo by POST too (Core §5.3.1)', async () => {
    const p = await startProvider(openStore)
    const { tokens } = await codeFlow(p)
    const response = await fetch(`${p.issuer}/userinfo`, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ sub: 'alice', email: ALICE_CLAIMS.email })
  })

  it('refreshes with a fresh ID token: same iss, sub, aud, original auth_time, no nonce (Core §12.2)', async () => {
    const p = await startProvider(openStore)
    const { config, tokens, claims } = await codeFlow(p)
    p.advance(120)
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string)
    const fresh = refreshed.claims()
    expect(fresh).toMatchObject({ iss: claims?.iss, sub: claims?.sub, aud: claims?.aud, auth_time: claims?.auth_time, acr: claims?.acr, amr: claims?.amr })
    expect(fresh).not.toHaveProperty('nonce')
    expect(fresh?.iat).toBeGreaterThanOrEqual((claims?.iat as number) + 120)
    expect(fresh?.at_hash).toBe(tokenHash(refreshed.access_token, 'RS256'))
  })

  it('repeats the claims asked for with claims.id_token in every refreshed ID token (Core §5.5, §12.2)', async () => {
    const p = await startProvider(openStore)
    const claimsParam = JSON.stringify({ id_token: { email: { essential: true }, phone_number: null }, userinfo: { address: null } })
    const { config, tokens, claims } = await codeFlow(p, 'web', { scope: 'openid', claims: claimsParam })
    expect(claims).toMatchObject({ email: ALICE_CLAIMS.email, phone_number: ALICE_CLAIMS.phone_number })
    p.advance(60)
    const once = await client.refreshTokenGrant(config, tokens.refresh_token as string)
    // The same claims as the first ID token, found again with findClaims; the UserInfo-only one stays out.
    expect(once.claims()).toMatchObject({ sub: 'alice', email: ALICE_CLAIMS.email, phone_number: ALICE_CLAIMS.phone_number })
    expect(once.claims()).not.toHaveProperty('address')
    expect(once.claims()).not.toHaveProperty('nonce')
    // and on the refresh of the refresh: the names travel with the rotated tokens
    p.advance(60)
    const twice = await client.refreshTokenGrant(config, once.refresh_token as string)
    expect(twice.claims()).toMatchObject({ email: ALICE_CLAIMS.email, phone_number: ALICE_CLAIMS.phone_number })
    // UserInfo keeps answering its own requested claim after the refreshes.
    expect(await client.fetchUserInfo(config, twice.access_token, 'alice')).toEqual({ sub: 'alice', address: ALICE_CLAIMS.address })
  })

  it('a refreshed ID token without a claims request carries no end-user claims, as the first (Core §5.4, §12.2)', async () => {
    const p = await startProvider(openStore)
    const { config, tokens } = await codeFlow(p)
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string)
    expect(refreshed.claims()).not.toHaveProperty('email')
    expect(refreshed.claims()).not.toHaveProperty('name')
  })

  it('issues no ID token on a refresh narrowed to scopes without openid (Core §12.2)', async () => {
    const p = await startProvider(openStore)
    const { config, tokens } = await codeFlow(p)
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string, { scope: 'profile' })
    expect(refreshed.id_token).toBeUndefined()
  })

  it('issues no ID token without the openid scope (plain OAuth 2.0)', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('web')
    const verifier = client.randomPKCECodeVerifier()
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const tokens = await client.authorizationCodeGrant(config, await p.location(url), { pkceCodeVerifier: verifier })
    expect(tokens.id_token).toBeUndefined()
  })

  it.each([['es256', 'ES256'], ['eddsa', 'EdDSA'], ['ps256', 'PS256']] as const)('signs with the client’s id_token_signed_response_alg: %s → %s', async (clientId, alg) => {
    const p = await startProvider(openStore)
    const { tokens, claims } = await codeFlow(p, clientId, { scope: 'openid' }, { id_token_signed_response_alg: alg })
    expect(decodeProtectedHeader(tokens.id_token as string).alg).toBe(alg)
    expect(claims?.at_hash).toBe(tokenHash(tokens.access_token, alg))
    // and jose verifies it against the published JWK Set
    const jwks = createRemoteJWKSet(new URL(`${p.issuer}/jwks.json`))
    await expect(jwtVerify(tokens.id_token as string, jwks, { issuer: p.issuer, audience: clientId })).resolves.toBeTruthy()
  })

  it('puts auth_time in the ID token when max_age was requested (Core §3.1.2.1)', async () => {
    const p = await startProvider(openStore)
    const { claims } = await codeFlow(p, 'web', { max_age: '300' })
    expect(typeof claims?.auth_time).toBe('number')
    expect(p.session.seen?.maxAge).toBe(300)
  })

  it('answers login_required when the authentication is older than max_age (Core §3.1.2.1)', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('web')
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', nonce: 'n-1', state: 's', max_age: '10', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })
    const params = responseParams(await p.location(url))
    expect(params.get('error')).toBe('login_required')
    expect(params.get('state')).toBe('s')
  })

  it('releases the claims asked for with the claims parameter (Core §5.5), in the ID token and UserInfo', async () => {
    const p = await startProvider(openStore)
    const claimsParam = JSON.stringify({ id_token: { email: { essential: true } }, userinfo: { phone_number: null, password_hash: null } })
    const { config, tokens, claims } = await codeFlow(p, 'web', { scope: 'openid', claims: claimsParam })
    expect(claims?.email).toBe(ALICE_CLAIMS.email)
    expect(claims?.sub).toBe('alice')
    const info = await client.fetchUserInfo(config, tokens.access_token, 'alice')
    // password_hash is not in claims_supported: never released, even when asked for
    expect(info).toEqual({ sub: 'alice', phone_number: ALICE_CLAIMS.phone_number })
  })

  it('gives pairwise clients a per-sector sub (Core §8.1), the same in the ID token and UserInfo', async () => {
    const p = await startProvider(openStore)
    const one = await codeFlow(p, 'pairwise', { scope: 'openid profile' })
    const two = await codeFlow(p, 'pairwise2', { scope: 'openid profile' })
    expect(one.claims?.sub).not.toBe('alice')
    expect(one.claims?.sub).not.toBe(two.claims?.sub)
    expect(one.claims?.sub).toBe(p.provider.subject((await p.store.findClient('pairwise'))!, 'alice'))
    const info = await client.fetchUserInfo(one.config, one.tokens.access_token, one.claims?.sub as string)
    expect(info.sub).toBe(one.claims?.sub)
    // stable across flows
    expect((await codeFlow(p, 'pairwise', { scope: 'openid' })).claims?.sub).toBe(one.claims?.sub)
  })

  it('openid-client rejects an ID token whose nonce is not the one it sent (Core §3.1.3.7 step 11)', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('web')
    const verifier = client.randomPKCECodeVerifier()
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', nonce: 'the-nonce-sent', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const callback = await p.location(url)
    const error = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: 'another-nonce' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(Error)
    const cause = (error as Error & { cause?: { code?: string; cause?: { claim?: string } } }).cause
    expect(cause?.code).toBe('OAUTH_JWT_CLAIM_COMPARISON_FAILED')
    expect(cause?.cause?.claim).toBe('nonce')
  })

  it('redeems a code raced by 20 requests exactly once: one ID token (RFC 6749 §4.1.2)', async () => {
    const p = await startProvider(openStore)
    const verifier = client.randomPKCECodeVerifier()
    const url = new URL(`${p.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'openid', nonce: 'n', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString()
    const code = (await p.location(url)).searchParams.get('code') as string
    const basic = `Basic ${Buffer.from(`web:${WEB_SECRET}`).toString('base64')}`
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${p.issuer}/token`, { method: 'POST', headers: { authorization: basic }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> })),
      ),
    )
    const ok = answers.filter((a) => a.status === 200)
    expect(ok).toHaveLength(1)
    expect(decodeJwt(ok[0]?.body['id_token'] as string).nonce).toBe('n')
    for (const a of answers.filter((x) => x.status !== 200)) expect(a.body).toMatchObject({ error: 'invalid_grant' })
  })
})

describe.each(TEST_STORES)('requireNonce (OpenIDCode option) on the %s', (_name, openStore: OpenTestStore) => {
  it('refuses a code-flow authentication request without nonce with invalid_request, redirected to the client', async () => {
    const p = await startProvider(openStore, { code: { requireNonce: true } })
    const url = new URL(`${p.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'openid', state: 'xyz', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString()
    const params = responseParams(await p.location(url))
    expect(params.get('error')).toBe('invalid_request')
    expect(params.get('error_description')).toContain('nonce')
    expect(params.get('state')).toBe('xyz')
  })

  it('does not require a nonce for plain OAuth requests (no openid scope)', async () => {
    const p = await startProvider(openStore, { code: { requireNonce: true } })
    const url = new URL(`${p.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'profile', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString()
    expect(responseParams(await p.location(url)).get('code')).toBeTruthy()
  })
})
