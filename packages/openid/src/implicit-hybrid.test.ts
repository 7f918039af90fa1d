// The implicit (Core §3.2) and hybrid (Core §3.3) flows end to end over
// real HTTP (Koa): openid-client 6.9.0 validates `id_token` and
// `code id_token` responses; `id_token token` and the other hybrid types,
// which openid-client does not implement, are checked with jose against the
// published JWK Set and node:crypto for the hashes.
import { createHash } from 'node:crypto'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { ALICE_CLAIMS, TEST_STORES, WEB_SECRET, responseParams, startProvider, type OpenTestStore } from './internal/testing.js'

/** Core §3.2.2.10 `at_hash`, §3.3.2.11 `c_hash`, computed independently: left half of SHA-256, base64url. */
const leftHalf = (value: string) => createHash('sha256').update(value, 'ascii').digest().subarray(0, 16).toString('base64url')

describe.each(TEST_STORES)('the implicit and hybrid flows on the %s', (_name, openStore: OpenTestStore) => {
  const authorizeUrl = (issuer: string, params: Record<string, string>) => {
    const url = new URL(`${issuer}/authorize`)
    url.search = new URLSearchParams(params).toString()
    return url
  }

  it('response_type=id_token: an ID token only, in the fragment, with the scope’s claims (Core §3.2.2.5, §5.4), validated by openid-client', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('spa', {}, [client.useIdTokenResponseType])
    const nonce = client.randomNonce()
    const state = client.randomState()
    const url = client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/spa', scope: 'openid email', nonce, state })
    const callback = await p.location(url)
    expect(callback.search).toBe('')
    expect(responseParams(callback).get('access_token')).toBeNull()
    const claims = await client.implicitAuthentication(config, callback, nonce, { expectedState: state })
    expect(claims).toMatchObject({ iss: p.issuer, sub: 'alice', aud: 'spa', nonce, email: ALICE_CLAIMS.email, email_verified: true })
    expect(claims).not.toHaveProperty('at_hash')
  })

  it('response_type=id_token token: access token and ID token with at_hash (Core §3.2.2.10)', async () => {
    const p = await startProvider(openStore)
    const url = authorizeUrl(p.issuer, { response_type: 'id_token token', client_id: 'spa', redirect_uri: 'http://localhost/spa', scope: 'openid email', nonce: 'n-0', state: 's-0' })
    const params = responseParams(await p.location(url))
    expect(params.get('state')).toBe('s-0')
    expect(params.get('token_type')).toBe('Bearer')
    expect(params.get('refresh_token')).toBeNull()
    const accessToken = params.get('access_token') as string
    const { payload } = await jwtVerify(params.get('id_token') as string, createRemoteJWKSet(new URL(`${p.issuer}/jwks.json`)), { issuer: p.issuer, audience: 'spa' })
    expect(payload).toMatchObject({ sub: 'alice', nonce: 'n-0', at_hash: leftHalf(accessToken) })
    // the scope's claims go to UserInfo when an access token is issued (Core §5.4)
    expect(payload).not.toHaveProperty('email')
    const info = await fetch(`${p.issuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })
    expect(await info.json()).toEqual({ sub: 'alice', email: ALICE_CLAIMS.email, email_verified: true })
  })

  it('response_type=code id_token: c_hash, then the code redeemed for an ID token with the same nonce (Core §3.3), validated by openid-client', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('web', {}, [client.useCodeIdTokenResponseType])
    const nonce = client.randomNonce()
    const state = client.randomState()
    const verifier = client.randomPKCECodeVerifier()
    const url = client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/cb', scope: 'openid profile', nonce, state, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const callback = await p.location(url)
    const params = responseParams(callback)
    expect(callback.search).toBe('')
    const front = await jwtVerify(params.get('id_token') as string, createRemoteJWKSet(new URL(`${p.issuer}/jwks.json`)), { issuer: p.issuer, audience: 'web' })
    expect(front.payload.c_hash).toBe(leftHalf(params.get('code') as string))
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state })
    expect(tokens.claims()).toMatchObject({ sub: 'alice', nonce, aud: 'web' })
  })

  it('response_type=code id_token token: code, access token, ID token with c_hash and at_hash (Core §3.3.2.11)', async () => {
    const p = await startProvider(openStore)
    const url = authorizeUrl(p.issuer, { response_type: 'code id_token token', client_id: 'web', redirect_uri: 'http://localhost/cb', scope: 'openid', nonce: 'n-1', state: 's-1', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })
    const params = responseParams(await p.location(url))
    const { payload } = await jwtVerify(params.get('id_token') as string, createRemoteJWKSet(new URL(`${p.issuer}/jwks.json`)), { issuer: p.issuer, audience: 'web' })
    expect(payload).toMatchObject({ nonce: 'n-1', c_hash: leftHalf(params.get('code') as string), at_hash: leftHalf(params.get('access_token') as string) })
  })

  it('response_type=code token: code and access token in the fragment, no ID token', async () => {
    const p = await startProvider(openStore)
    const url = authorizeUrl(p.issuer, { response_type: 'code token', client_id: 'web', redirect_uri: 'http://localhost/cb', scope: 'openid', nonce: 'n-2', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })
    const callback = await p.location(url)
    const params = responseParams(callback)
    expect(callback.hash).not.toBe('')
    expect(params.get('code')).toBeTruthy()
    expect(params.get('access_token')).toBeTruthy()
    expect(params.get('id_token')).toBeNull()
  })

  it('code token: a replayed code revokes the access token of the authorization response too (RFC 6749 §4.1.2)', async () => {
    const p = await startProvider(openStore)
    const verifier = client.randomPKCECodeVerifier()
    const url = authorizeUrl(p.issuer, { response_type: 'code token', client_id: 'web', redirect_uri: 'http://localhost/cb', scope: 'openid email', nonce: 'n-3', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })
    const params = responseParams(await p.location(url))
    const frontToken = params.get('access_token') as string
    const redeem = () =>
      fetch(`${p.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`web:${WEB_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code') as string, redirect_uri: 'http://localhost/cb', code_verifier: verifier }),
      })
    expect((await redeem()).status).toBe(200)
    expect((await fetch(`${p.issuer}/userinfo`, { headers: { authorization: `Bearer ${frontToken}` } })).status).toBe(200)
    expect((await redeem()).status).toBe(400)
    expect((await fetch(`${p.issuer}/userinfo`, { headers: { authorization: `Bearer ${frontToken}` } })).status).toBe(401)
  })

  it.each([
    ['id_token', 'spa', 'http://localhost/spa'],
    ['id_token token', 'spa', 'http://localhost/spa'],
    ['code id_token', 'web', 'http://localhost/cb'],
    ['code token', 'web', 'http://localhost/cb'],
  ])('%s without nonce: invalid_request in the fragment (Core §3.2.2.1, §3.3.2.11)', async (responseType, clientId, redirectUri) => {
    const p = await startProvider(openStore)
    const url = authorizeUrl(p.issuer, { response_type: responseType, client_id: clientId, redirect_uri: redirectUri, scope: 'openid', state: 'st', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })
    const callback = await p.location(url)
    expect(callback.search).toBe('')
    expect(responseParams(callback).get('error')).toBe('invalid_request')
    expect(responseParams(callback).get('state')).toBe('st')
  })

  it.each([
    ['id_token', 'spa', 'http://localhost/spa'],
    ['code id_token', 'web', 'http://localhost/cb'],
  ])('%s without the openid scope: invalid_scope (only OpenID requests)', async (responseType, clientId, redirectUri) => {
    const p = await startProvider(openStore)
    const url = authorizeUrl(p.issuer, { response_type: responseType, client_id: clientId, redirect_uri: redirectUri, scope: 'email', nonce: 'n', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })
    expect(responseParams(await p.location(url)).get('error')).toBe('invalid_scope')
  })

  it('openid-client rejects an implicit ID token with another nonce', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('spa', {}, [client.useIdTokenResponseType])
    const url = client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/spa', scope: 'openid', nonce: 'sent' })
    const callback = await p.location(url)
    await expect(client.implicitAuthentication(config, callback, 'expected-other')).rejects.toThrow()
    await expect(client.implicitAuthentication(config, callback, 'sent')).resolves.toMatchObject({ nonce: 'sent' })
  })
})
