// private_key_jwt (RFC 7523 §2.2, §3; OpenID Connect Core §9) at the token,
// introspection and revocation endpoints, over the memory and SQLite stores.
import { createClient, createOAuthRequest, memoryThrottle } from '@grantkit/core'
import { CompactSign, UnsecuredJWT, base64url } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { TEST_STORES } from '../../../test-support/stores.js'
import { ASSERTION_TYPE, ISSUER, NOW, TOKEN_ENDPOINT, claims, setup as setupOn, sign, testKeys, type SetupOptions, type TestKeys } from './internal/testing.js'
import { PRIVATE_KEY_JWT_ALGORITHMS, privateKeyJwt } from './private-key-jwt.js'

let keys: TestKeys
beforeAll(async () => {
  keys = await testKeys()
})

/** An ES256 assertion of `svc` with `overrides`. */
const es256 = (overrides: Record<string, unknown> = {}, client = 'svc') => sign(claims(overrides, client), keys.es.privateKey, 'ES256', 'es-1')

describe.each(TEST_STORES)('privateKeyJwt on the %s', (_storeName, openStore) => {
  const setup = (options?: SetupOptions) => setupOn(openStore, keys, options)

  /**
   * Expects the RFC 6749 §5.2 invalid_client answer, never a 5xx. The methods
   * throw a 401; core answers 400 without a challenge where no HTTP
   * authentication scheme (Basic) is allowed, as at these endpoints.
   */
  const expectInvalidClient = (response: { status: number; headers: Record<string, string>; body?: Record<string, unknown> }) => {
    expect(response.body).toMatchObject({ error: 'invalid_client' })
    expect(response.status).toBe(400)
    expect(response.headers).not.toHaveProperty('www-authenticate')
  }

  describe('accepts a valid assertion (RFC 7523 §3)', () => {
    it.each([
      ['ES256', 'es', 'es-1'],
      ['RS256', 'rs', 'rs-1'],
      ['PS256', 'ps', 'ps-1'],
      ['EdDSA', 'ed', 'ed-1'],
    ] as const)('signed with %s: a token for the client', async (alg, key, kid) => {
      const { token, store } = await setup()
      const response = await token(await sign(claims(), keys[key].privateKey, alg, kid))
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ token_type: 'Bearer', scope: 'read write' })
      expect(store.snapshot().tokens).toMatchObject([{ clientId: 'svc', userId: null }])
    })

    it.each([
      ['the issuer identifier', ISSUER],
      ['the token endpoint URL', TOKEN_ENDPOINT],
      ['an array naming the issuer among others', ['https://other.example', ISSUER]],
    ])('with aud = %s', async (_name, aud) => {
      const { token } = await setup()
      expect((await token(await es256({ aud }))).status).toBe(200)
    })

    it('with a matching client_id in the body (RFC 7521 §4.2)', async () => {
      const { token } = await setup()
      expect((await token(await es256(), { client_id: 'svc' })).status).toBe(200)
    })

    it('without a kid when exactly one registered key fits the algorithm', async () => {
      const { token } = await setup()
      expect((await token(await sign(claims(), keys.ed.privateKey, 'EdDSA'))).status).toBe(200)
    })

    it('within the clock skew: exp just passed, nbf and iat just ahead', async () => {
      const { token } = await setup()
      expect((await token(await es256({ exp: NOW - 20, iat: NOW - 50 }))).status).toBe(200)
      expect((await token(await es256({ nbf: NOW + 20, iat: NOW + 20 }))).status).toBe(200)
    })

    it('with exp exactly maxLifetime ahead, and without iat', async () => {
      const { token } = await setup({ privateKeyJwt: { maxLifetime: 120 } })
      expect((await token(await es256({ iat: undefined, exp: NOW + 120 }))).status).toBe(200)
    })
  })

  describe('refuses with invalid_client (RFC 7521 §4.2.1)', () => {
    it('a bad signature: the right kid, another private key', async () => {
      const { token } = await setup()
      const response = await token(await sign(claims(), keys.stranger.privateKey, 'ES256', 'es-1'))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/signature/)
    })

    it('a tampered payload', async () => {
      const { token } = await setup()
      const [header, , signature] = (await es256()).split('.')
      const payload = base64url.encode(JSON.stringify(claims({ scope: 'admin' })))
      expectInvalidClient(await token(`${header}.${payload}.${signature}`))
    })

    it('a replayed jti (RFC 7523 §3 item 7), also within its lifetime', async () => {
      const { token, advance } = await setup()
      const assertion = await es256()
      expect((await token(assertion)).status).toBe(200)
      advance(10)
      const replay = await token(assertion)
      expectInvalidClient(replay)
      expect(replay.body?.['error_description']).toMatch(/already used/)
    })

    it('the same jti in a new assertion of the same client', async () => {
      const { token } = await setup()
      expect((await token(await es256({ jti: 'fixed' }))).status).toBe(200)
      expectInvalidClient(await token(await es256({ jti: 'fixed' })))
    })

    it('accepts one of 20 concurrent requests with the same assertion', async () => {
      const { token, store } = await setup()
      const assertion = await es256()
      const responses = await Promise.all(Array.from({ length: 20 }, () => token(assertion)))
      expect(responses.filter((r) => r.status === 200)).toHaveLength(1)
      for (const r of responses.filter((r) => r.status !== 200)) expectInvalidClient(r)
      expect(store.snapshot().tokens).toHaveLength(1)
    })

    it.each([
      ['another server', 'https://other.example'],
      ['the issuer with a trailing slash', `${ISSUER}/`],
      ['another endpoint of this server', `${ISSUER}/introspect`],
      ['an empty array', []],
    ])('a wrong aud: %s (RFC 7523 §3 item 3)', async (_name, aud) => {
      const { token } = await setup()
      const response = await token(await es256({ aud }))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/aud/)
    })

    it("an aud naming another server's token endpoint, even when the request URL is in absolute form with that host", async () => {
      const { server } = await setup()
      const assertion = await es256({ aud: 'https://evil.example/token' })
      const request = createOAuthRequest({
        method: 'POST',
        url: 'https://evil.example/token',
        body: { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion },
      })
      expectInvalidClient(await server.createTokenResponse(request))
    })

    it('an expired assertion (RFC 7523 §3 item 4), beyond the clock skew', async () => {
      const { token } = await setup()
      const response = await token(await es256({ exp: NOW - 31, iat: NOW - 60 }))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/expired/)
    })

    it('an assertion that expired while waiting', async () => {
      const { token, advance } = await setup()
      const assertion = await es256()
      advance(91)
      expectInvalidClient(await token(assertion))
    })

    it.each([
      ['exp far in the future', { exp: NOW + 365 * 24 * 3600, iat: undefined }],
      ['exp one second beyond maxLifetime and the skew', { exp: NOW + 300 + 30 + 1, iat: undefined }],
      ['exp more than maxLifetime after iat', { iat: NOW - 20, exp: NOW + 290 }],
      ['exp = 1e20', { exp: 1e20 }],
    ])('%s (a long-lived credential)', async (_name, overrides) => {
      const { token } = await setup()
      expectInvalidClient(await token(await es256(overrides)))
    })

    it('exp written as 1e400 (Infinity once parsed)', async () => {
      const { token } = await setup()
      const payload = JSON.stringify(claims({ exp: 0 })).replace('"exp":0', '"exp":1e400')
      const assertion = await new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'ES256', kid: 'es-1' }).sign(keys.es.privateKey)
      expectInvalidClient(await token(assertion))
    })

    it.each([
      ['exp', /exp/],
      ['jti', /jti/],
      ['aud', /aud/],
      ['iss', /iss/],
      ['sub', /sub/],
    ])('a missing %s claim', async (claim, description) => {
      const { token } = await setup()
      const response = await token(await es256({ [claim]: undefined }))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(description)
    })

    it.each([
      ['an empty jti', { jti: '' }],
      ['a numeric jti', { jti: 42 }],
      ['a string exp', { exp: String(NOW + 60) }],
      ['nbf beyond the clock skew', { nbf: NOW + 31 }],
      ['iat beyond the clock skew', { iat: NOW + 31 }],
    ])('%s', async (_name, overrides) => {
      const { token } = await setup()
      expectInvalidClient(await token(await es256(overrides)))
    })

    it('iss ≠ sub (RFC 7523 §3 items 1 and 2)', async () => {
      const { token } = await setup()
      const response = await token(await es256({ sub: 'pinned' }))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/'iss' and 'sub'/)
    })

    it('a client_id in the body naming another client (RFC 7521 §4.2)', async () => {
      const { token } = await setup()
      expectInvalidClient(await token(await es256(), { client_id: 'pinned' }))
    })

    it('alg none (RFC 8725 §3.1), whatever the claims', async () => {
      const { token } = await setup()
      const unsecured = new UnsecuredJWT(claims()).encode()
      expectInvalidClient(await token(unsecured))
    })

    it('HS256 keyed with the public key (algorithm confusion), when only private_key_jwt is registered', async () => {
      const { token } = await setup({ clientSecretJwt: false })
      const publicKeyBytes = new TextEncoder().encode(JSON.stringify(keys.es.publicJwk))
      expectInvalidClient(await token(await sign(claims(), publicKeyBytes, 'HS256', 'es-1')))
    })

    it('HS256 keyed with the public key, handed to the method directly: not an allowed algorithm', async () => {
      const { store, server } = await setup()
      const publicKeyBytes = new TextEncoder().encode(keys.rs.publicJwk.n ?? '')
      const assertion = await sign(claims(), publicKeyBytes, 'HS256', 'rs-1')
      const request = createOAuthRequest({ method: 'POST', url: '/token', body: { client_assertion_type: ASSERTION_TYPE, client_assertion: assertion } })
      const method = privateKeyJwt()
      const context = { store, replay: store, now: () => server.now(), tokenEndpoint: TOKEN_ENDPOINT, issuer: ISSUER }
      await expect(method.authenticate(request, context)).rejects.toMatchObject({ code: 'invalid_client', status: 401, description: expect.stringMatching(/algorithm/) })
    })

    it('HS256 for a private_key_jwt client when client_secret_jwt is registered too', async () => {
      const { token } = await setup()
      const publicKeyBytes = new TextEncoder().encode(JSON.stringify(keys.es.publicJwk).padEnd(64, ' '))
      expectInvalidClient(await token(await sign(claims(), publicKeyBytes, 'HS256', 'es-1')))
    })

    it('a store without the replay capability is a configuration error (TypeError), not a silent acceptance', async () => {
      const { store, server } = await setup()
      const request = createOAuthRequest({ method: 'POST', url: '/token', body: { client_assertion_type: ASSERTION_TYPE, client_assertion: await es256() } })
      const context = { store, replay: {} as typeof store, now: () => server.now(), tokenEndpoint: TOKEN_ENDPOINT, issuer: ISSUER }
      await expect(privateKeyJwt().authenticate(request, context)).rejects.toThrow(TypeError)
    })

    it("an algorithm other than the client's registered token_endpoint_auth_signing_alg", async () => {
      const { token } = await setup()
      expect((await token(await es256({}, 'pinned'))).status).toBe(200)
      expectInvalidClient(await token(await sign(claims({}, 'pinned'), keys.rs.privateKey, 'RS256', 'rs-1')))
    })

    it('an algorithm outside the configured allow-list', async () => {
      const { token } = await setup({ privateKeyJwt: { algorithms: ['ES256'] } })
      expectInvalidClient(await token(await sign(claims(), keys.ps.privateKey, 'PS256', 'ps-1')))
      expect((await token(await es256())).status).toBe(200)
    })

    it('a kid the client has not registered', async () => {
      const { token } = await setup()
      const response = await token(await sign(claims(), keys.rotated.privateKey, 'ES256', 'es-2'))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/no registered key/)
    })

    it('an assertion without kid when several registered keys match (OpenID Connect Core §10.1)', async () => {
      const { token, store } = await setup()
      const { client } = await createClient({
        clientId: 'multi',
        tokenEndpointAuthMethod: 'private_key_jwt',
        grantTypes: ['client_credentials'],
        metadata: { jwks: { keys: [keys.es.publicJwk, keys.rotated.publicJwk] } },
      })
      await store.saveClient(client)
      const response = await token(await sign(claims({}, 'multi'), keys.es.privateKey, 'ES256'))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/kid/)
      expect((await token(await sign(claims({}, 'multi'), keys.es.privateKey, 'ES256', 'es-1')))).toMatchObject({ status: 200 })
    })

    it('an unknown client, and a client registered for another method', async () => {
      const { token } = await setup()
      expectInvalidClient(await token(await es256({}, 'nobody')))
      expectInvalidClient(await token(await es256({}, 'basic')))
      expectInvalidClient(await token(await es256({}, 'hmac')))
    })

    it('a client without keys, and one registering both jwks and jwks_uri (RFC 7591 §2)', async () => {
      const { token, remote } = await setup()
      expectInvalidClient(await token(await es256({}, 'nokeys')))
      expectInvalidClient(await token(await es256({}, 'both')))
      expect(remote.hits).toBe(0)
    })

    it.each([
      ['not a JWT', 'not-a-jwt'],
      ['three dots of garbage', 'a.b.c'],
      ['a JWE-shaped value', 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d'],
      ['an overlong assertion', 'a'.repeat(20_000)],
    ])('%s', async (_name, assertion) => {
      const { token } = await setup()
      expectInvalidClient(await token(assertion))
    })

    it('an unsupported client_assertion_type', async () => {
      const { post } = await setup()
      const response = await post({ grant_type: 'client_credentials', client_assertion_type: 'urn:example:saml', client_assertion: await es256() })
      expectInvalidClient(response)
    })
  })

  describe('refuses a malformed request with invalid_request (RFC 6749 §5.2)', () => {
    it.each([
      ['client_assertion missing', () => ({ client_assertion_type: ASSERTION_TYPE })],
      ['client_assertion_type missing', async () => ({ client_assertion: await es256() })],
    ])('%s (RFC 7521 §4.2)', async (_name, params) => {
      const { post } = await setup()
      const response = await post({ grant_type: 'client_credentials', ...(await params()) })
      expect(response).toMatchObject({ status: 400, body: { error: 'invalid_request' } })
    })

    it('a repeated client_assertion (RFC 6749 §3.1)', async () => {
      const { server } = await setup()
      const body = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: await es256() })
      body.append('client_assertion', await es256())
      const response = await server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', body }))
      expect(response).toMatchObject({ status: 400, body: { error: 'invalid_request' } })
    })

    it('an assertion together with a client_secret: two methods (RFC 6749 §2.3)', async () => {
      const { token } = await setup()
      const response = await token(await es256(), { client_id: 'svc', client_secret: 'x' })
      expect(response).toMatchObject({ status: 400, body: { error: 'invalid_request' } })
    })
  })

  describe('at the introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) endpoints', () => {
    it('authenticates with an assertion whose aud is the endpoint URL, the issuer or the token endpoint', async () => {
      const { token, post } = await setup()
      const accessToken = (await token(await es256())).body?.['access_token'] as string
      const introspect = async (aud: string) =>
        post({ token: accessToken, client_assertion_type: ASSERTION_TYPE, client_assertion: await es256({ aud }) }, '/introspect')
      for (const aud of [`${ISSUER}/introspect`, ISSUER, TOKEN_ENDPOINT]) {
        expect(await introspect(aud)).toMatchObject({ status: 200, body: { active: true, client_id: 'svc' } })
      }
      const revoke = await post({ token: accessToken, client_assertion_type: ASSERTION_TYPE, client_assertion: await es256({ aud: `${ISSUER}/revoke` }) }, '/revoke')
      expect(revoke.status).toBe(200)
      expect(await introspect(ISSUER)).toMatchObject({ status: 200, body: { active: false } })
    })

    it('refuses an assertion for the revocation endpoint at the introspection endpoint', async () => {
      const { token, post } = await setup()
      const accessToken = (await token(await es256())).body?.['access_token'] as string
      const response = await post({ token: accessToken, client_assertion_type: ASSERTION_TYPE, client_assertion: await es256({ aud: `${ISSUER}/revoke` }) }, '/introspect')
      expectInvalidClient(response)
    })
  })

  describe('jwks_uri (fetched with @grantkit/safe-fetch)', () => {
    it('fetches the client keys once and caches them', async () => {
      const { token, remote } = await setup()
      expect((await token(await es256({}, 'remote'))).status).toBe(200)
      expect((await token(await es256({}, 'remote'))).status).toBe(200)
      expect(remote.hits).toBe(1)
    })

    it('refetches once for an unknown kid: a rotated key is accepted', async () => {
      const { token, remote, advance } = await setup()
      expect((await token(await es256({}, 'remote'))).status).toBe(200)
      remote.jwks = { keys: [keys.es.publicJwk, keys.rotated.publicJwk] }
      advance(61)
      const rotated = (o: Record<string, unknown> = {}) => sign(claims(o, 'remote'), keys.rotated.privateKey, 'ES256', 'es-2')
      expect((await token(await rotated())).status).toBe(200)
      expect(remote.hits).toBe(2)
      expect((await token(await rotated())).status).toBe(200)
      expect(remote.hits).toBe(2)
    })

    it('rate-limits refetches: a flood of unknown kids makes at most one request', async () => {
      const { token, remote, advance } = await setup()
      expect((await token(await es256({}, 'remote'))).status).toBe(200)
      advance(61)
      const flood = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => token(await sign(claims({}, 'remote'), keys.rotated.privateKey, 'ES256', `unknown-${i}`))),
      )
      for (const response of flood) expectInvalidClient(response)
      expect(remote.hits).toBe(2)
      // Still rate-limited a little later.
      advance(30)
      expectInvalidClient(await token(await sign(claims({}, 'remote'), keys.rotated.privateKey, 'ES256', 'unknown-x')))
      expect(remote.hits).toBe(2)
    })

    it.each([
      ['a 500', (res: import('node:http').ServerResponse) => res.writeHead(500).end()],
      ['HTML', (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>')],
      ['bad JSON', (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('{')],
      ['JSON that is not a JWK Set', (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":1}')],
      ['a huge body', (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end(' '.repeat(300_000))],
      ['a redirect', (res: import('node:http').ServerResponse) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end()],
    ])('answers invalid_client, never a 5xx, when the jwks_uri serves %s', async (_name, handler) => {
      const { token, remote, errors } = await setup()
      remote.handler = (_req, res) => handler(res)
      expectInvalidClient(await token(await es256({}, 'remote')))
      expect(errors).toEqual([])
    })

    it('answers invalid_client when the jwks_uri does not answer in time', async () => {
      const { token, remote } = await setup({ cache: { timeout: 300 } })
      remote.handler = () => {
        /* never answers */
      }
      const response = await token(await es256({}, 'remote'))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/timeout/)
    })

    it('refuses a loopback or http jwks_uri with the default fetch limits (https, public addresses only)', async () => {
      const { token, remote } = await setup({ cache: { allowHttp: false, allowAddresses: [] } })
      const response = await token(await es256({}, 'remote'))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/bad_url/)
      expect(remote.hits).toBe(0)
    })

    it('refuses a loopback jwks_uri even over http when only http is allowed (forbidden_address)', async () => {
      const { token, remote } = await setup({ cache: { allowHttp: true, allowAddresses: [] } })
      const response = await token(await es256({}, 'remote'))
      expectInvalidClient(response)
      expect(response.body?.['error_description']).toMatch(/forbidden_address/)
      expect(remote.hits).toBe(0)
    })
  })

  describe("the server's throttle (RFC 6819 §5.1.4.2.3)", () => {
    it('counts failed assertions against the client the assertion names, not another client', async () => {
      const { token } = await setup({ throttle: memoryThrottle({ limit: 3 }) })
      for (let i = 0; i < 3; i++) expectInvalidClient(await token(await sign(claims(), keys.stranger.privateKey, 'ES256', 'es-1')))
      // The next attempt for svc is refused before verification, even a valid one.
      expect(await token(await es256())).toMatchObject({ status: 429 })
      expect((await token(await es256({}, 'pinned'))).status).toBe(200)
    })
  })

  describe('metadata (RFC 8414 §2)', () => {
    it('advertises the method and its signing algorithms', async () => {
      const { server } = await setup({ clientSecretJwt: false, privateKeyJwt: { algorithms: ['ES256', 'EdDSA'] } })
      expect(server.metadata()).toMatchObject({
        token_endpoint_auth_methods_supported: ['private_key_jwt'],
        token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA'],
      })
    })
  })
})

describe('privateKeyJwt options are checked once (TypeError)', () => {
  it.each([
    ['an HMAC algorithm', { algorithms: ['HS256'] }],
    ['none', { algorithms: ['none'] }],
    ['an empty list', { algorithms: [] }],
    ['a negative clock skew', { clockSkew: -1 }],
    ['a clock skew over 5 minutes', { clockSkew: 301 }],
    ['a zero maxLifetime', { maxLifetime: 0 }],
    ['a maxLifetime over an hour', { maxLifetime: 3601 }],
    ['a jwksCache that is not a cache', { jwksCache: {} as never }],
  ])('%s', (_name, options) => {
    expect(() => privateKeyJwt(options)).toThrow(TypeError)
  })

  it('defaults to the asymmetric algorithms only', () => {
    expect(PRIVATE_KEY_JWT_ALGORITHMS.some((alg) => alg.startsWith('HS') || alg === 'none')).toBe(false)
    expect(privateKeyJwt().metadata?.()).toEqual({ token_endpoint_auth_signing_alg_values_supported: [...PRIVATE_KEY_JWT_ALGORITHMS] })
  })
})
