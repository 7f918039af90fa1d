import { generateKeyPairSync } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { IntrospectionEndpoint } from './introspection-endpoint.js'
import { basic, ISSUER, saveClient, setup, TestTokenGrant } from './internal/test-fixtures.js'
import { jwtAccessTokens, type JwtAccessTokenAlgorithm } from './jwt-access-tokens.js'
import { createOAuthRequest } from './request.js'

const KEYS: [JwtAccessTokenAlgorithm, () => ReturnType<typeof generateKeyPairSync>][] = [
  ['ES256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ['ES384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' })],
  ['RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['PS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['EdDSA', () => generateKeyPairSync('ed25519')],
]

async function issue(alg: JwtAccessTokenAlgorithm, makeKey: () => ReturnType<typeof generateKeyPairSync>, body: string) {
  const { privateKey } = makeKey()
  const strategy = jwtAccessTokens({ privateKey, alg, kid: 'k1', audience: 'https://api.example.com' })
  const s = setup({ tokenStrategy: strategy, clock: () => Date.now() })
  s.server.registerGrant(TestTokenGrant).registerEndpoint(IntrospectionEndpoint)
  const { clientId, clientSecret } = await saveClient(s.store, { grantTypes: ['urn:test:token'], scope: 'read write' })
  const response = await s.server.createTokenResponse(
    createOAuthRequest({ method: 'POST', url: '/token', headers: { authorization: basic(clientId, clientSecret) }, body }),
  )
  expect(response.status).toBe(200)
  return { ...s, strategy, clientId, clientSecret, token: response.body?.['access_token'] as string, body: response.body }
}

describe('jwtAccessTokens (RFC 9068)', () => {
  describe.each(KEYS)('with %s', (alg, makeKey) => {
    it('issues a JWT that the published JWK Set verifies, with the RFC 9068 §2.2 claims and typ at+jwt', async () => {
      const { token, strategy, clientId } = await issue(alg, makeKey, 'grant_type=urn:test:token&scope=read&user_id=u-1')
      const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(strategy.jwks() as never), {
        issuer: ISSUER,
        audience: 'https://api.example.com',
        typ: 'at+jwt',
        algorithms: [alg],
      })
      expect(protectedHeader).toMatchObject({ typ: 'at+jwt', alg, kid: 'k1' })
      expect(payload).toMatchObject({ iss: ISSUER, sub: 'u-1', client_id: clientId, scope: 'read', aud: 'https://api.example.com' })
      expect(payload.exp! - payload.iat!).toBe(3600)
      expect(typeof payload.jti).toBe('string')
    })
  })

  it('uses the client id as sub when no resource owner is involved (RFC 9068 §2.2)', async () => {
    const { token, clientId } = await issue('ES256', KEYS[0]![1], 'grant_type=urn:test:token')
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())).toMatchObject({ sub: clientId })
  })

  it('gives every token its own jti and keeps refresh tokens opaque', async () => {
    const first = await issue('ES256', KEYS[0]![1], 'grant_type=urn:test:token&with_refresh=true')
    expect(first.body?.['refresh_token']).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const payload = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { jti: string }
    const second = await first.server.createTokenResponse(
      createOAuthRequest({ method: 'POST', url: '/token', headers: { authorization: basic(first.clientId, first.clientSecret) }, body: 'grant_type=urn:test:token' }),
    )
    expect(payload(second.body?.['access_token'] as string).jti).not.toBe(payload(first.token).jti)
  })

  it('stores only the hash, so bearer validation, introspection and revocation work as with opaque tokens', async () => {
    const { server, token, clientId, clientSecret, store } = await issue('ES256', KEYS[0]![1], 'grant_type=urn:test:token&scope=read')
    expect(JSON.stringify(store.snapshot())).not.toContain(token)
    const info = await server.authenticateBearerToken(createOAuthRequest({ headers: { authorization: `Bearer ${token}` } }), { scope: 'read' })
    expect(info.clientId).toBe(clientId)
    const introspection = await server.createEndpointResponse(
      'introspection',
      createOAuthRequest({ method: 'POST', url: '/introspect', headers: { authorization: basic(clientId, clientSecret) }, body: `token=${token}` }),
    )
    expect(introspection.body).toMatchObject({ active: true, client_id: clientId })
  })

  it('publishes jwks_uri in the metadata (RFC 8414 §2) and the public key only', async () => {
    const { server, strategy } = await issue('EdDSA', KEYS[4]![1], 'grant_type=urn:test:token')
    expect(server.metadata()['jwks_uri']).toBe(`${ISSUER}/jwks.json`)
    const [key] = strategy.jwks().keys
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'k1', alg: 'EdDSA', use: 'sig' })
    expect(key).not.toHaveProperty('d')
    expect(decodeProtectedHeader((await issue('EdDSA', KEYS[4]![1], 'grant_type=urn:test:token')).token)).toMatchObject({ alg: 'EdDSA' })
  })

  it('has no jwks_uri with the default opaque tokens', () => {
    const { server } = setup()
    expect(server.jwks()).toBeNull()
    expect(server.metadata()).not.toHaveProperty('jwks_uri')
  })

  it.each([
    ['an unknown alg', () => ({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, alg: 'HS256' })],
    ['a public key', () => ({ publicKey: undefined, privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, alg: 'ES256' })],
    ['a key of another type', () => ({ privateKey: generateKeyPairSync('ed25519').privateKey, alg: 'RS256' })],
    ['a curve that does not fit the alg', () => ({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, alg: 'ES256' })],
    ['a bad audience', () => ({ privateKey: generateKeyPairSync('ed25519').privateKey, alg: 'EdDSA', audience: 42 })],
  ])('rejects %s with a TypeError at setup', (_, options) => {
    expect(() => jwtAccessTokens(options() as never)).toThrow(TypeError)
  })
})
