import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  createOAuthRequest,
  hashToken,
  type Client,
  type GrantkitStore,
  type OAuthResponse,
} from '@grantkit/core'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, generateSecret, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { JWTBearerGrant, JWT_BEARER_GRANT_TYPE, type AssertionVerificationKey } from './jwt-bearer-grant.js'

const ISSUER = 'https://auth.example.com'
const TOKEN_ENDPOINT = `${ISSUER}/token`
const T0 = Date.UTC(2025, 0, 1)
const NOW = T0 / 1000

function basic(id: string, secret: string): string {
  return 'Basic ' + btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)
}

interface Keys {
  es: { privateKey: CryptoKey; publicJwk: JWK }
  // A Node KeyObject, not a CryptoKey: it signs RS256, PS256 and RS384 alike.
  rsa: { privateKey: KeyObject; publicJwk: JWK }
  stranger: { privateKey: CryptoKey }
  hmac: Uint8Array
}
let keys: Keys

beforeAll(async () => {
  const es = await generateKeyPair('ES256')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const stranger = await generateKeyPair('ES256')
  keys = {
    es: { privateKey: es.privateKey, publicJwk: { ...(await exportJWK(es.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' } },
    rsa: { privateKey: rsa.privateKey, publicJwk: { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', use: 'sig' } },
    stranger: { privateKey: stranger.privateKey },
    hmac: (await generateSecret('HS256', { extractable: true })) as unknown as Uint8Array,
  }
})

/** Registered only so that `server.hasGrantType('refresh_token')` is true; it never serves a request here. */
class RegisteredRefreshTokenGrant extends BaseGrant {
  static override GRANT_TYPE = 'refresh_token'
  static override TOKEN_ENDPOINT = true
}

class BasicOnlyJWTBearerGrant extends JWTBearerGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic']
}

interface SetupOptions<S extends GrantkitStore> {
  grant?: typeof JWTBearerGrant
  store?: S
}

async function setupOn<S extends GrantkitStore = TestStore>(openStore: OpenTestStore, { grant = JWTBearerGrant, store: given }: SetupOptions<S> = {}) {
  const store = given ?? ((await openStore()) as GrantkitStore as S)
  const clock = { t: T0 }
  const errors: unknown[] = []
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => clock.t, onError: (e) => errors.push(e) })
  server.registerGrant(grant)
  server.registerGrant(RegisteredRefreshTokenGrant)
  const jwks = { keys: [keys.es.publicJwk, keys.rsa.publicJwk] }
  const clients: Client[] = []
  for (const input of [
    { clientId: 'svc', clientSecret: 'svc-secret', grantTypes: [JWT_BEARER_GRANT_TYPE, 'refresh_token'], scope: 'read write', metadata: { jwks } },
    { clientId: 'other', clientSecret: 'other-secret', grantTypes: [JWT_BEARER_GRANT_TYPE], scope: 'read', metadata: { jwks } },
    { clientId: 'code-only', clientSecret: 'code-secret', grantTypes: ['authorization_code'], scope: 'read', metadata: { jwks } },
    { clientId: 'nokeys', clientSecret: 'nokeys-secret', grantTypes: [JWT_BEARER_GRANT_TYPE], scope: 'read', metadata: { jwks_uri: 'https://client.example/jwks' } },
    { clientId: 'post', clientSecret: 'post-secret', grantTypes: [JWT_BEARER_GRANT_TYPE], scope: 'read', tokenEndpointAuthMethod: 'client_secret_post', metadata: { jwks } },
    { clientId: 'spa', grantTypes: [JWT_BEARER_GRANT_TYPE], scope: 'read', tokenEndpointAuthMethod: 'none', metadata: { jwks } },
  ]) {
    const { client } = await createClient({ ...input, secretHash: 'sha256' })
    clients.push(client)
    await store.saveClient(client)
  }
  const users = store as Partial<TestStore>
  await users.saveUser?.({ id: 'u-1', username: 'alice', passwordHash: 'unused' })
  const token = (body: string, headers: Record<string, string> = { authorization: basic('svc', 'svc-secret') }): Promise<OAuthResponse> =>
    server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))
  const exchange = (assertion: string, extra = '', headers?: Record<string, string>) =>
    token(`grant_type=${encodeURIComponent(JWT_BEARER_GRANT_TYPE)}&assertion=${assertion}${extra}`, headers)
  return { store, server, clock, errors, token, exchange }
}

let jtiCounter = 0

/** Claims of a valid assertion from `svc` about `u-1`; `undefined` values drop a claim. */
function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const base: Record<string, unknown> = { iss: 'svc', sub: 'u-1', aud: TOKEN_ENDPOINT, exp: NOW + 300, iat: NOW, jti: `jti-${++jtiCounter}`, ...overrides }
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as JWTPayload
}

interface SignOptions {
  alg?: string
  kid?: string | undefined
  key?: CryptoKey | KeyObject | Uint8Array
}

function sign(payload: JWTPayload = claims(), { alg = 'ES256', kid = 'es-1', key }: SignOptions = {}): Promise<string> {
  const header = kid === undefined ? { alg } : { alg, kid }
  const signingKey = key ?? (alg.startsWith('ES') ? keys.es.privateKey : keys.rsa.privateKey)
  return new SignJWT(payload).setProtectedHeader(header).sign(signingKey)
}

describe.each(TEST_STORES)('JWTBearerGrant (RFC 7523 §2.1, §3) on the %s', (_storeName, openStore) => {
  const setup = <S extends GrantkitStore = TestStore>(options?: SetupOptions<S>) => setupOn<S>(openStore, options)

  it('declares the jwt-bearer grant type at the token endpoint, client authentication optional', () => {
    expect(JWTBearerGrant.GRANT_TYPE).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer')
    expect(JWTBearerGrant.TOKEN_ENDPOINT).toBe(true)
    expect(JWTBearerGrant.AUTHORIZATION_ENDPOINT).toBe(false)
    expect(JWTBearerGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['client_secret_basic', 'client_secret_post', 'none'])
    expect(JWTBearerGrant.ALGORITHMS).not.toContain('HS256')
  })

  describe('when the assertion is valid', () => {
    it.each([
      ['ES256', 'es-1'],
      ['RS256', 'rsa-1'],
      ['PS256', 'rsa-1'],
    ])('issues a Bearer access token for an assertion signed with %s', async (alg, kid) => {
      const { exchange } = await setup()
      const response = await exchange(await sign(claims(), { alg, kid }))
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' })
      expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read write' })
    })

    it('issues no refresh token by default, even to a client allowed refresh_token', async () => {
      const { exchange, store } = await setup()
      const response = await exchange(await sign())
      expect(response.body).not.toHaveProperty('refresh_token')
      expect(store.snapshot().tokens.map((t) => t.type)).toEqual(['access_token'])
    })

    it('binds the token to the subject and the client, with the requested scope', async () => {
      const { exchange, store } = await setup()
      const response = await exchange(await sign(), '&scope=read')
      expect(response.body).toMatchObject({ scope: 'read' })
      const record = await store.findToken(hashToken(response.body?.['access_token'] as string))
      expect(record).toMatchObject({ clientId: 'svc', userId: 'u-1', scope: 'read' })
    })

    it.each([
      ['the token endpoint URL', TOKEN_ENDPOINT],
      ['the issuer identifier', ISSUER],
      ['a list that contains the token endpoint URL', [TOKEN_ENDPOINT, 'https://other.example']],
    ])('accepts an audience of %s (RFC 7523 §3 item 3)', async (_case, aud) => {
      const { exchange } = await setup()
      expect((await exchange(await sign(claims({ aud })))).status).toBe(200)
    })

    it('tolerates an expiry within the clock skew (60 s)', async () => {
      const { exchange, clock } = await setup()
      const assertion = await sign(claims({ exp: NOW + 10 }))
      clock.t += 50_000
      expect((await exchange(assertion)).status).toBe(200)
    })

    it('remembers the jti until the assertion expires plus the skew', async () => {
      const { exchange, store } = await setup()
      await exchange(await sign(claims({ jti: 'abc' })))
      expect(store.snapshot().replay).toEqual([{ key: 'jwt-bearer:svc:abc', expiresAt: new Date((NOW + 300 + 60) * 1000) }])
    })

    it('lets a public client identified by client_id (none) present its own assertion', async () => {
      const { exchange } = await setup()
      const response = await exchange(await sign(claims({ iss: 'spa' })), '&client_id=spa', {})
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ scope: 'read' })
    })

    it('accepts client_secret_post by default', async () => {
      const { exchange } = await setup()
      const response = await exchange(await sign(claims({ iss: 'post' })), '&client_id=post&client_secret=post-secret', {})
      expect(response.status).toBe(200)
    })
  })

  describe('when the request is invalid (RFC 6749 §5.2)', () => {
    it.each<[string, string, Record<string, string> | undefined, number, string]>([
      ['the client is unknown', '', { authorization: basic('nobody', 'x') }, 401, 'invalid_client'],
      ['the client secret is wrong', '', { authorization: basic('svc', 'wrong') }, 401, 'invalid_client'],
      ['the client is not identified at all', '', {}, 401, 'invalid_client'],
      ['the client is not allowed the grant type', '', { authorization: basic('code-only', 'code-secret') }, 400, 'unauthorized_client'],
      ['the scope is wider than the client may have', '&scope=read%20admin', undefined, 400, 'invalid_scope'],
      ['scope is repeated', '&scope=read&scope=write', undefined, 400, 'invalid_request'],
      ['assertion is repeated', '&assertion=x.y.z', undefined, 400, 'invalid_request'],
    ])('should fail because %s', async (_case, extra, headers, status, error) => {
      const { exchange } = await setup()
      const response = await exchange(await sign(), extra, headers)
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('requires assertion (invalid_request)', async () => {
      const { token } = await setup()
      const response = await token(`grant_type=${encodeURIComponent(JWT_BEARER_GRANT_TYPE)}`)
      expect(response.body).toMatchObject({ error: 'invalid_request', error_description: 'missing required parameter "assertion"' })
    })

    it('answers a wrong client secret over Basic with 401 and WWW-Authenticate', async () => {
      const { exchange } = await setup()
      const response = await exchange(await sign(), '', { authorization: basic('svc', 'wrong') })
      expect(response.status).toBe(401)
      expect(response.headers['www-authenticate']).toMatch(/^Basic /)
    })

    it('refuses client_secret_post when a subclass allows only client_secret_basic', async () => {
      const { exchange } = await setup({ grant: BasicOnlyJWTBearerGrant })
      const response = await exchange(await sign(claims({ iss: 'post' })), '&client_id=post&client_secret=post-secret', {})
      expect(response.status).toBe(401)
      expect(response.body).toMatchObject({ error: 'invalid_client' })
    })
  })

  describe('when the assertion is not acceptable (RFC 7523 §3, §3.1: invalid_grant)', () => {
    it.each<[string, () => Promise<string> | string, RegExp]>([
      ['it is not a JWT', () => 'not-a-jwt', /well-formed/],
      ['it is unsigned (alg none)', () => new UnsecuredJWT(claims()).encode(), /algorithm "none"/],
      ['it uses HS256, not accepted by default', () => sign(claims(), { alg: 'HS256', key: keys.hmac }), /algorithm "HS256"/],
      ['it uses an algorithm not in the list (RS384)', () => sign(claims(), { alg: 'RS384', kid: 'rsa-1' }), /algorithm "RS384"/],
      ['iss is missing', () => sign(claims({ iss: undefined })), /no "iss"/],
      ['the issuer is unknown', () => sign(claims({ iss: 'nobody' })), /issuer is unknown/],
      ['the issuer is another client', () => sign(claims({ iss: 'other' })), /not the requesting client/],
      ['it is signed by an unregistered key', () => sign(claims(), { key: keys.stranger.privateKey }), /signature is invalid/],
      ['it is signed by an unregistered key without kid', () => sign(claims(), { key: keys.stranger.privateKey, kid: undefined }), /signature is invalid/],
      ['its kid matches no registered key', () => sign(claims(), { kid: 'unknown' }), /no registered key/],
      ['sub is missing', () => sign(claims({ sub: undefined })), /no "sub"/],
      ['sub is empty', () => sign(claims({ sub: '' })), /"sub"/],
      ['sub is not a string', () => sign(claims({ sub: 42 })), /"sub"/],
      ['the subject is unknown', () => sign(claims({ sub: 'u-404' })), /subject is unknown/],
      ['aud is missing', () => sign(claims({ aud: undefined })), /no "aud"/],
      ['aud is another server', () => sign(claims({ aud: 'https://other.example/token' })), /audience/],
      ['exp is missing', () => sign(claims({ exp: undefined })), /no "exp"/],
      ['it expired beyond the clock skew', () => sign(claims({ exp: NOW - 61 })), /expired/],
      ['nbf is in the future beyond the skew', () => sign(claims({ nbf: NOW + 120 })), /not valid yet/],
      ['iat is in the future beyond the skew', () => sign(claims({ iat: NOW + 120 })), /"iat".*future/],
      ['iat is not a number', () => sign(claims({ iat: 'yesterday' })), /"iat"/],
      ['jti is missing (REQUIRE_JTI)', () => sign(claims({ jti: undefined })), /no "jti"/],
      ['jti is not a string', () => sign(claims({ jti: 7 })), /"jti"/],
    ])('should fail because %s', async (_case, make, description) => {
      const { exchange, store } = await setup()
      const response = await exchange(await make())
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
      expect(response.body?.['error_description']).toMatch(description)
      expect(store.snapshot().tokens).toEqual([])
    })

    it('refuses an assertion that expired since it was made (injected clock)', async () => {
      const { exchange, clock } = await setup()
      const assertion = await sign(claims({ exp: NOW + 300 }))
      clock.t += (300 + 61) * 1000
      expect((await exchange(assertion)).body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/expired/) })
    })

    it('refuses a replayed assertion (same iss and jti)', async () => {
      const { exchange } = await setup()
      const assertion = await sign()
      expect((await exchange(assertion)).status).toBe(200)
      const replay = await exchange(assertion)
      expect(replay.body).toMatchObject({ error: 'invalid_grant', error_description: 'the assertion was already used' })
    })

    it('accepts one of 10 concurrent uses of one assertion', async () => {
      const { exchange } = await setup()
      const assertion = await sign()
      const responses = await Promise.all(Array.from({ length: 10 }, () => exchange(assertion)))
      expect(responses.filter((r) => r.status === 200)).toHaveLength(1)
    })

    it('does not use up the jti of an assertion refused for its scope', async () => {
      const { exchange } = await setup()
      const assertion = await sign()
      expect((await exchange(assertion, '&scope=admin')).body).toMatchObject({ error: 'invalid_scope' })
      expect((await exchange(assertion)).status).toBe(200)
    })

    it('does not fetch jwks_uri by default', async () => {
      const fetchSpy = vi.spyOn(globalThis, 'fetch')
      try {
        const { exchange } = await setup()
        const response = await exchange(await sign(claims({ iss: 'nokeys' })), '', { authorization: basic('nokeys', 'nokeys-secret') })
        expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/no registered key/) })
        expect(fetchSpy).not.toHaveBeenCalled()
      } finally {
        fetchSpy.mockRestore()
      }
    })
  })

  describe('with options changed in a subclass', () => {
    it('requires a recent iat when MAX_AGE is set', async () => {
      class FreshJWTBearerGrant extends JWTBearerGrant {
        static override MAX_AGE = 120
      }
      const { exchange } = await setup({ grant: FreshJWTBearerGrant })
      expect((await exchange(await sign(claims({ iat: NOW - 100 })))).status).toBe(200)
      expect((await exchange(await sign(claims({ iat: NOW - 300 })))).body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/too old/) })
      expect((await exchange(await sign(claims({ iat: undefined })))).body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/no "iat"/) })
    })

    it('accepts assertions without jti, and replays of them, when REQUIRE_JTI is false', async () => {
      class NoJtiJWTBearerGrant extends JWTBearerGrant {
        static override REQUIRE_JTI = false
      }
      const { exchange } = await setup({ grant: NoJtiJWTBearerGrant })
      const assertion = await sign(claims({ jti: undefined }))
      expect((await exchange(assertion)).status).toBe(200)
      expect((await exchange(assertion)).status).toBe(200)
    })

    it('accepts HS256 with a shared secret only when a subclass allows it and supplies the key', async () => {
      class SharedSecretJWTBearerGrant extends JWTBearerGrant {
        static override ALGORITHMS = ['HS256']
        override async resolveClientPublicKey(): Promise<AssertionVerificationKey | null> {
          return keys.hmac
        }
      }
      const { exchange } = await setup({ grant: SharedSecretJWTBearerGrant })
      expect((await exchange(await sign(claims(), { alg: 'HS256', key: keys.hmac }))).status).toBe(200)
      expect((await exchange(await sign(claims()))).body).toMatchObject({ error: 'invalid_grant' })
    })

    it('answers server_error for "none" in ALGORITHMS (a configuration mistake)', async () => {
      class Unsafe extends JWTBearerGrant {
        static override ALGORITHMS = ['ES256', 'none']
      }
      const { exchange, errors } = await setup({ grant: Unsafe })
      const response = await exchange(new UnsecuredJWT(claims()).encode())
      expect(response.status).toBe(500)
      expect(String(errors[0])).toMatch(/without "none"/)
    })

    it('issues a refresh token when includeRefreshToken is overridden', async () => {
      class RefreshingJWTBearerGrant extends JWTBearerGrant {
        override includeRefreshToken(client: Client): boolean {
          return client.grantTypes.includes('refresh_token')
        }
      }
      const { exchange } = await setup({ grant: RefreshingJWTBearerGrant })
      expect(typeof (await exchange(await sign())).body?.['refresh_token']).toBe('string')
    })
  })

  describe('with hooks overridden', () => {
    it('verifies with a key returned by resolveClientPublicKey', async () => {
      let seenKid: unknown
      class KeyedJWTBearerGrant extends JWTBearerGrant {
        override async resolveClientPublicKey(_client: Client, header: { kid?: string }): Promise<AssertionVerificationKey | null> {
          seenKid = header.kid
          return keys.es.publicJwk
        }
      }
      const { exchange } = await setup({ grant: KeyedJWTBearerGrant })
      expect((await exchange(await sign())).status).toBe(200)
      expect(seenKid).toBe('es-1')
    })

    it('maps the subject with authenticateUser', async () => {
      class MappedJWTBearerGrant extends JWTBearerGrant {
        override async authenticateUser(sub: string, client: Client) {
          return sub.startsWith(`${client.clientId}:`) ? { id: sub.slice(client.clientId.length + 1) } : null
        }
      }
      const { exchange, store } = await setup({ grant: MappedJWTBearerGrant })
      const response = await exchange(await sign(claims({ sub: 'svc:u-77' })))
      expect((await store.findToken(hashToken(response.body?.['access_token'] as string)))?.userId).toBe('u-77')
      expect((await exchange(await sign(claims({ sub: 'u-77' })))).body).toMatchObject({ error: 'invalid_grant' })
    })

    it('trusts the subject when the store keeps no users', async () => {
      const { findUserById: _a, findUserByUsername: _b, saveUser: _c, ...withoutUsers } = await openStore()
      const { exchange } = await setup({ store: withoutUsers })
      expect((await exchange(await sign(claims({ sub: 'anyone' })))).status).toBe(200)
    })
  })
})

describe('JWTBearerGrant on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('writes the jti replay key and the issued token to the SQLite file', async () => {
    const { exchange, store } = await setupOn(openTempSqliteStore)
    const response = await exchange(await sign(claims({ jti: 'in-sqlite' })))
    expect(response.status).toBe(200)
    expect(readSqliteRows(store, 'grantkit_replay_keys')).toEqual([{ key: 'jwt-bearer:svc:in-sqlite', expires_at: (NOW + 300 + 60) * 1000 }])
    expect(readSqliteRows(store, 'grantkit_tokens')).toEqual([
      expect.objectContaining({ token_hash: hashToken(response.body?.['access_token'] as string), client_id: 'svc', user_id: 'u-1' }),
    ])
  })
})
