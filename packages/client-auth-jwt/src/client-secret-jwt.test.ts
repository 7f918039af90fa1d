// client_secret_jwt (RFC 7523 §2.2, §3; OpenID Connect Core §9) over the
// memory and SQLite stores; the secret comes from the app (resolveSecret).
import { createClient } from '@grantkit/core'
import { beforeAll, describe, expect, it } from 'vitest'
import { TEST_STORES } from '../../../test-support/stores.js'
import { CLIENT_SECRET_JWT_ALGORITHMS, clientSecretJwt } from './client-secret-jwt.js'
import { ISSUER, NOW, SHARED_SECRET, claims, setup as setupOn, sign, testKeys, type SetupOptions, type TestKeys } from './internal/testing.js'

let keys: TestKeys
beforeAll(async () => {
  keys = await testKeys()
})

const secret = new TextEncoder().encode(SHARED_SECRET)
const hs = (overrides: Record<string, unknown> = {}, alg = 'HS256', key: Uint8Array = secret) => sign(claims(overrides, 'hmac'), key, alg)

describe.each(TEST_STORES)('clientSecretJwt on the %s', (_storeName, openStore) => {
  const setup = (options?: SetupOptions) => setupOn(openStore, keys, options)
  const expectInvalidClient = (response: { status: number; body?: Record<string, unknown> }) => {
    expect(response.body).toMatchObject({ error: 'invalid_client' })
    expect(response.status).toBe(400)
  }

  it.each([['HS256'], ['HS384']])('accepts an assertion signed with %s keyed by the client secret (OpenID Connect Core §9)', async (alg) => {
    const { token, store } = await setup()
    const response = await token(await hs({}, alg))
    expect(response).toMatchObject({ status: 200, body: { token_type: 'Bearer' } })
    expect(store.snapshot().tokens).toMatchObject([{ clientId: 'hmac' }])
  })

  it('keeps no secret in clear in the store: only its hash and the sealed copy', async () => {
    const { store } = await setup()
    const stored = JSON.stringify(store.snapshot().clients)
    expect(stored).not.toContain(SHARED_SECRET)
    expect(stored).toContain('sealed_client_secret')
  })

  it('refuses an assertion signed with another secret', async () => {
    const { token } = await setup()
    expectInvalidClient(await token(await hs({}, 'HS256', new TextEncoder().encode(SHARED_SECRET.replace('a', 'b')))))
  })

  it('refuses a replayed jti (RFC 7523 §3 item 7), once of 20 concurrent requests', async () => {
    const { token } = await setup()
    const assertion = await hs()
    const responses = await Promise.all(Array.from({ length: 20 }, () => token(assertion)))
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1)
    for (const r of responses.filter((r) => r.status !== 200)) expectInvalidClient(r)
  })

  it.each([
    ['a wrong aud', { aud: 'https://other.example' }],
    ['an expired assertion', { exp: NOW - 60, iat: NOW - 90 }],
    ['a far-future exp', { exp: NOW + 24 * 3600, iat: undefined }],
    ['no jti', { jti: undefined }],
    ['iss ≠ sub', { sub: 'svc' }],
  ])('refuses %s', async (_name, overrides) => {
    const { token } = await setup()
    expectInvalidClient(await token(await hs(overrides)))
  })

  it('refuses HS512 with a secret shorter than 64 bytes (RFC 7518 §3.2)', async () => {
    const { token } = await setup()
    const response = await token(await hs({}, 'HS512'))
    expectInvalidClient(response)
    expect(response.body?.['error_description']).toMatch(/too short/)
  })

  it('refuses when resolveSecret answers null (no secret kept for the client)', async () => {
    const { token } = await setup({ clientSecretJwt: { resolveSecret: () => null } })
    expectInvalidClient(await token(await hs()))
  })

  it('refuses a sealed secret copied from another client (bound to its client_id)', async () => {
    const { token, store, secrets } = await setup()
    const { client } = await createClient({
      clientId: 'copycat',
      tokenEndpointAuthMethod: 'client_secret_jwt',
      grantTypes: ['client_credentials'],
      metadata: { sealed_client_secret: secrets.seal('hmac', SHARED_SECRET) },
    })
    await store.saveClient(client)
    expectInvalidClient(await token(await sign(claims({}, 'copycat'), secret, 'HS256')))
  })

  it('refuses an asymmetric assertion for a client_secret_jwt client, and an HMAC one for a private_key_jwt client', async () => {
    const { token } = await setup()
    expectInvalidClient(await token(await sign(claims({}, 'hmac'), keys.es.privateKey, 'ES256', 'es-1')))
    expectInvalidClient(await token(await sign(claims({}, 'svc'), secret, 'HS256')))
  })

  it("honours the client's registered token_endpoint_auth_signing_alg", async () => {
    const { token, store, secrets } = await setup()
    const { client } = await createClient({
      clientId: 'hs384-only',
      tokenEndpointAuthMethod: 'client_secret_jwt',
      grantTypes: ['client_credentials'],
      metadata: { token_endpoint_auth_signing_alg: 'HS384', sealed_client_secret: secrets.seal('hs384-only', SHARED_SECRET) },
    })
    await store.saveClient(client)
    expectInvalidClient(await token(await sign(claims({}, 'hs384-only'), secret, 'HS256')))
    expect((await token(await sign(claims({}, 'hs384-only'), secret, 'HS384'))).status).toBe(200)
  })

  it('does not call resolveSecret for a client registered for another method', async () => {
    const seen: string[] = []
    const { token } = await setup({
      clientSecretJwt: {
        resolveSecret: (client) => {
          seen.push(client.clientId)
          return SHARED_SECRET
        },
      },
    })
    expectInvalidClient(await token(await sign(claims({}, 'svc'), secret, 'HS256')))
    expect(seen).toEqual([])
  })

  it('advertises the HMAC algorithms as token_endpoint_auth_signing_alg_values_supported (RFC 8414 §2)', async () => {
    const { server } = await setup({ clientSecretJwt: { algorithms: ['HS256'] } })
    const metadata = server.metadata()
    expect(metadata['token_endpoint_auth_methods_supported']).toEqual(['private_key_jwt', 'client_secret_jwt'])
    expect(metadata['issuer']).toBe(ISSUER)
    // Core unites the lists of the offered methods: private_key_jwt's asymmetric algorithms, then the HMAC ones.
    const algorithms = metadata['token_endpoint_auth_signing_alg_values_supported'] as string[]
    expect(algorithms).toContain('HS256')
    expect(algorithms).toContain('ES256')
    expect(algorithms).not.toContain('HS384')
  })
})

describe('clientSecretJwt options are checked once (TypeError)', () => {
  const none = (): null => null
  it.each<[string, Record<string, unknown>]>([
    ['no resolveSecret', {}],
    ['an asymmetric algorithm', { resolveSecret: none, algorithms: ['RS256'] }],
    ['none', { resolveSecret: none, algorithms: ['none'] }],
    ['a bad clock skew', { resolveSecret: none, clockSkew: 1.5 }],
  ])('%s', (_name, options) => {
    expect(() => clientSecretJwt(options as never)).toThrow(TypeError)
  })

  it('defaults to HS256, HS384 and HS512', () => {
    expect(CLIENT_SECRET_JWT_ALGORITHMS).toEqual(['HS256', 'HS384', 'HS512'])
  })
})
