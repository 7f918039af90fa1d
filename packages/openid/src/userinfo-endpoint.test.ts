// UserInfo (Core §5.3) refusals over real HTTP: RFC 6750 §3 errors with
// WWW-Authenticate (Core §5.3.3), from core's bearer token verification.
import { hashToken } from '@grantkit/core'
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { TEST_STORES, startProvider, type OpenTestStore } from './internal/testing.js'

describe.each(TEST_STORES)('UserInfo errors (Core §5.3.3, RFC 6750 §3) on the %s', (_name, openStore: OpenTestStore) => {
  /** A provider and an access token for alice with `scope`. */
  async function withToken(scope = 'openid email') {
    const p = await startProvider(openStore)
    const config = await p.rp('web')
    const verifier = client.randomPKCECodeVerifier()
    const callback = await p.location(client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/cb', scope, nonce: 'n', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }))
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: scope.includes('openid') ? 'n' : undefined })
    return { ...p, accessToken: tokens.access_token }
  }
  const userinfo = (issuer: string, authorization?: string) => fetch(`${issuer}/userinfo`, authorization === undefined ? {} : { headers: { authorization } })

  it('without a token: 401 with a bare Bearer challenge, no error code (RFC 6750 §3.1)', async () => {
    const p = await withToken()
    const response = await userinfo(p.issuer)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="${p.issuer}"`)
    expect(await response.text()).toBe('')
  })

  it.each([
    ['an unknown token', 'Bearer unknown-token'],
    ['a malformed token', 'Bearer a b'],
  ])('%s: 401 invalid_token with its challenge', async (_case, header) => {
    const p = await withToken()
    const response = await userinfo(p.issuer, header)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"')
    expect(await response.json()).toMatchObject({ error: 'invalid_token' })
  })

  it('a revoked token: 401 invalid_token', async () => {
    const p = await withToken()
    await p.store.revokeToken(hashToken(p.accessToken), new Date(p.clock()))
    const response = await userinfo(p.issuer, `Bearer ${p.accessToken}`)
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'invalid_token' })
  })

  it('an expired token: 401 invalid_token', async () => {
    const p = await withToken()
    p.advance(3601)
    expect((await userinfo(p.issuer, `Bearer ${p.accessToken}`)).status).toBe(401)
  })

  it('a token without the openid scope: 403 insufficient_scope with scope="openid" (Core §5.3)', async () => {
    const p = await withToken('email')
    const response = await userinfo(p.issuer, `Bearer ${p.accessToken}`)
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope", scope="openid"')
  })

  it('answers only sub for a user findClaims does not know', async () => {
    const p = await withToken()
    p.session.user = { id: 'bob' }
    const config = await p.rp('web')
    const verifier = client.randomPKCECodeVerifier()
    const callback = await p.location(client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/cb', scope: 'openid email', nonce: 'n', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }))
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: 'n' })
    expect(await client.fetchUserInfo(config, tokens.access_token, 'bob')).toEqual({ sub: 'bob' })
  })

  it('answers 405 to other methods', async () => {
    const p = await withToken()
    const response = await fetch(`${p.issuer}/userinfo`, { method: 'PUT', headers: { authorization: `Bearer ${p.accessToken}` } })
    expect(response.status).toBe(405)
  })
})
