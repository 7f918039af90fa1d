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
import { CompactSign, SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, generateSecret, type CryptoKey, type JWK, type JWTPayload } from 'jose'
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
  // registerGrant refuses a token-endpoint grant that overrides neither token method.
  override async validateTokenRequest(): Promise<void> {
    throw new Error('RegisteredRefreshTokenGrant serves no request in these tests')
  }
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
    { clientId: 'spa-code', grantTypes: ['authorization_code'], scope: 'read', tokenEndpointAuthMethod: 'none', metadata: { jwks } },
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

/**
 * An ES256 assertion whose claims are `claims(overrides)` with some values
 * written as raw JSON text, e.g. `{ exp: '1e400' }` (which JSON.parse reads
 * as Infinity, and SignJWT cannot produce).
 */
function signRaw(raw: Record<string, string>, overrides: Record<string, unknown> = {}): Promise<string> {
  const base = claims(overrides) as Record<string, unknown>
  const members = Object.entries(base).filter(([name]) => !(name in raw)).map(([name, value]) => `${JSON.stringify(name)}:${JSON.stringify(value)}`)
  for (const [name, json] of Object.entries(raw)) members.push(`${JSON.stringify(name)}:${json}`)
  return new CompactSign(new TextEncoder().encode(`{${members.join(',')}}`)).setProtectedHeader({ alg: 'ES256', kid: 'es-1' }).sign(keys.es.privateKey)
}

/** Records the store calls made while `recording` is on (method and arguments). */
function recordingStore<S extends object>(store: S): { store: S; calls: { method: string; args: unknown[] }[]; recording: { on: boolean } } {
  const calls: { method: string; args: unknown[] }[] = []
  const recording = { on: false }
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (recording.on) calls.push({ method: String(property), args })
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store: proxy, calls, recording }
}

/**
 * An assertion as Go's golang.org/x/oauth2/jwt makes it: RS256, `typ: JWT`,
 * its ClaimSet's JSON (`"jti":""` when unset, iat 10 s back, exp an hour
 * after iat), then PrivateClaims appended as JSON members — so a private
 * `jti` is a second "jti" member, which JSON.parse lets win.
 */
function signGo(iss: string, privateClaims: Record<string, unknown> = {}): Promise<string> {
  const iat = NOW - 10
  let json = JSON.stringify({ iss, aud: TOKEN_ENDPOINT, exp: iat + 3600, iat, sub: 'u-1', jti: '' })
  const extra = JSON.stringify(privateClaims)
  if (extra !== '{}') json = `${json.slice(0, -1)},${extra.slice(1)}`
  return new CompactSign(new TextEncoder().encode(json)).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'rsa-1' }).sign(keys.rsa.privateKey)
}

const goStyle = (assertion: string) => `grant_type=${encodeURIComponent(JWT_BEARER_GRANT_TYPE)}&assertion=${assertion}`

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
      expect(response.body).toMatchObject({ error: 'invalid_request', error_description: "missing required parameter 'assertion'" })
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
      ['it is unsigned (alg none)', () => new UnsecuredJWT(claims()).encode(), /signature algorithm is not accepted/],
      ['it uses HS256, not accepted by default', () => sign(claims(), { alg: 'HS256', key: keys.hmac }), /signature algorithm is not accepted/],
      ['it uses an algorithm not in the list (RS384)', () => sign(claims(), { alg: 'RS384', kid: 'rsa-1' }), /signature algorithm is not accepted/],
      ['iss is missing', () => sign(claims({ iss: undefined })), /no 'iss'/],
      ['the issuer is unknown', () => sign(claims({ iss: 'nobody' })), /issuer is unknown/],
      ['the issuer is another client', () => sign(claims({ iss: 'other' })), /not the requesting client/],
      ['it is signed by an unregistered key', () => sign(claims(), { key: keys.stranger.privateKey }), /signature is invalid/],
      ['it is signed by an unregistered key without kid', () => sign(claims(), { key: keys.stranger.privateKey, kid: undefined }), /signature is invalid/],
      ['its kid matches no registered key', () => sign(claims(), { kid: 'unknown' }), /no registered key/],
      ['sub is missing', () => sign(claims({ sub: undefined })), /no 'sub'/],
      ['sub is empty', () => sign(claims({ sub: '' })), /'sub'/],
      ['sub is not a string', () => sign(claims({ sub: 42 })), /'sub'/],
      ['the subject is unknown', () => sign(claims({ sub: 'u-404' })), /subject is unknown/],
      ['aud is missing', () => sign(claims({ aud: undefined })), /no 'aud'/],
      ['aud is another server', () => sign(claims({ aud: 'https://other.example/token' })), /audience/],
      ['exp is missing', () => sign(claims({ exp: undefined })), /no 'exp'/],
      ['it expired beyond the clock skew', () => sign(claims({ exp: NOW - 61 })), /expired/],
      ['nbf is in the future beyond the skew', () => sign(claims({ nbf: NOW + 120 })), /not valid yet/],
      ['iat is in the future beyond the skew', () => sign(claims({ iat: NOW + 120 })), /'iat'.*future/],
      ['iat is not a number', () => sign(claims({ iat: 'yesterday' })), /'iat'/],
      ['jti is missing (REQUIRE_JTI)', () => sign(claims({ jti: undefined })), /no 'jti'/],
      ['jti is not a string', () => sign(claims({ jti: 7 })), /'jti'/],
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
    it('requires iat by default (MAX_AGE 3600 s), refusing an assertion without it before any store call (RFC 7523 §3 item 6)', async () => {
      expect(JWTBearerGrant.MAX_AGE).toBe(3600)
      const { exchange, store } = await setup()
      // The oldest accepted: an hour and the skew back, still unexpired.
      expect((await exchange(await sign(claims({ iat: NOW - 3600 - 60, exp: NOW })))).status).toBe(200)
      const replay = store.snapshot().replay.length
      for (const overrides of [
        { iat: undefined },
        // Signed ten years ago with exp now + 300 s: refused, whereas without iat its age is unknown.
        { iat: NOW - 10 * 365 * 24 * 3600, exp: NOW + 300 },
      ]) {
        const response = await exchange(await sign(claims(overrides)))
        expect(response.status).toBe(400)
        expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/no 'iat'|longer than 3600 s/) })
      }
      expect(store.snapshot().replay).toHaveLength(replay)
    })

    it('refuses an iat older than the default MAX_AGE plus skew even when MAX_LIFETIME is longer', async () => {
      class LongJWTBearerGrant extends JWTBearerGrant {
        static override MAX_LIFETIME = 7200
      }
      const { exchange } = await setup({ grant: LongJWTBearerGrant })
      expect((await exchange(await sign(claims({ iat: NOW - 3660, exp: NOW + 300 })))).status).toBe(200)
      expect((await exchange(await sign(claims({ iat: NOW - 3661, exp: NOW + 300 })))).body).toEqual({ error: 'invalid_grant', error_description: "the assertion is too old ('iat')" })
    })

    it('accepts an assertion without iat when MAX_AGE is null, bounded by MAX_LIFETIME only', async () => {
      class NoAgeJWTBearerGrant extends JWTBearerGrant {
        static override MAX_AGE = null
      }
      const { exchange } = await setup({ grant: NoAgeJWTBearerGrant })
      expect((await exchange(await sign(claims({ iat: undefined })))).status).toBe(200)
      expect((await exchange(await sign(claims({ iat: undefined, exp: NOW + 3600 + 61 })))).body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/too far in the future/) })
    })

    it('requires a recent iat when MAX_AGE is set', async () => {
      class FreshJWTBearerGrant extends JWTBearerGrant {
        static override MAX_AGE = 120
      }
      const { exchange } = await setup({ grant: FreshJWTBearerGrant })
      expect((await exchange(await sign(claims({ iat: NOW - 100 })))).status).toBe(200)
      expect((await exchange(await sign(claims({ iat: NOW - 300 })))).body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/too old/) })
      expect((await exchange(await sign(claims({ iat: undefined })))).body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/no 'iat'/) })
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

    it('refuses "none" in ALGORITHMS at registration, and per request if set after (a configuration mistake)', async () => {
      class Unsafe extends JWTBearerGrant {
        static override ALGORITHMS = ['ES256', 'none']
      }
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => server.registerGrant(Unsafe)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG', message: expect.stringMatching(/without "none"/) }))
      class LaterUnsafe extends JWTBearerGrant {}
      const { exchange, errors } = await setup({ grant: LaterUnsafe })
      LaterUnsafe.ALGORITHMS = ['ES256', 'none']
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

  describe('RFC 7523 §3 item 4: an "exp" unreasonably far in the future is refused (MAX_LIFETIME, default 3600 s)', () => {
    it.each<[string, () => Promise<string>]>([
      ['1e20', () => sign(claims({ exp: 1e20 }))],
      ['past the largest Date (year 275760)', () => sign(claims({ exp: 8.64e12 + 1 }))],
      ['Number.MAX_SAFE_INTEGER', () => sign(claims({ exp: Number.MAX_SAFE_INTEGER }))],
      ['one second beyond MAX_LIFETIME + CLOCK_SKEW', () => sign(claims({ exp: NOW + 3600 + 60 + 1 }))],
    ])('refuses exp = %s with invalid_grant and records no replay key nor token', async (_case, make) => {
      const { exchange, store, errors } = await setup()
      const response = await exchange(await make())
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/'exp'.*too far in the future/) })
      expect(errors).toEqual([])
      expect(store.snapshot().replay).toEqual([])
      expect(store.snapshot().tokens).toEqual([])
    })

    it('accepts the one-hour assertion of Go x/oauth2/jwt (iat now, exp now + 3600) and remembers its jti until exp + skew', async () => {
      const { exchange, store } = await setup()
      expect((await exchange(await sign(claims({ iat: NOW, exp: NOW + 3600, jti: 'go' })))).status).toBe(200)
      expect(store.snapshot().replay).toEqual([{ key: 'jwt-bearer:svc:go', expiresAt: new Date((NOW + 3600 + 60) * 1000) }])
    })

    it('tolerates a client clock up to CLOCK_SKEW ahead: exp = now + MAX_LIFETIME + CLOCK_SKEW, replay key valid and bounded', async () => {
      const { exchange, store } = await setup()
      expect((await exchange(await sign(claims({ iat: NOW + 60, exp: NOW + 3660, jti: 'edge' })))).status).toBe(200)
      const [row] = store.snapshot().replay
      expect(row?.expiresAt).toEqual(new Date((NOW + 3600 + 2 * 60) * 1000))
      expect(Number.isFinite(row?.expiresAt.getTime())).toBe(true)
    })

    it('follows MAX_LIFETIME set in a subclass', async () => {
      class ShortJWTBearerGrant extends JWTBearerGrant {
        static override MAX_LIFETIME = 300
      }
      const { exchange } = await setup({ grant: ShortJWTBearerGrant })
      expect((await exchange(await sign(claims({ exp: NOW + 300 })))).status).toBe(200)
      expect((await exchange(await sign(claims({ exp: NOW + 361 })))).body).toMatchObject({
        error: 'invalid_grant',
        error_description: expect.stringMatching(/at most 300 s ahead/),
      })
    })

    it('refuses a lifetime from "iat" to "exp" longer than MAX_LIFETIME (RFC 7523 §3 item 6: "iat" unreasonably far in the past)', async () => {
      const { exchange } = await setup()
      const response = await exchange(await sign(claims({ iat: NOW - 7200, exp: NOW + 300 })))
      expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/lifetime.*longer than 3600 s/) })
    })

    it('answers server_error, storing nothing, when the server clock is not a valid date (never an invalid expiry)', async () => {
      const { exchange, clock, store, errors } = await setup()
      const assertion = await sign()
      clock.t = Number.NaN
      const response = await exchange(assertion)
      expect(response.status).toBe(500)
      expect(String(errors[0])).toMatch(/clock/)
      expect(store.snapshot().replay).toEqual([])
      expect(store.snapshot().tokens).toEqual([])
    })
  })

  describe('RFC 7519 §2 NumericDate: "exp", "nbf" and "iat" must be whole, non-negative seconds (RFC 7523 §3 items 4 to 6)', () => {
    it.each<[string, () => Promise<string>, RegExp]>([
      ['exp is 1e400 (Infinity once parsed)', () => signRaw({ exp: '1e400' }), /'exp'.*NumericDate/],
      ['exp is a fraction', () => sign(claims({ exp: NOW + 300.5 })), /'exp'.*NumericDate/],
      ['exp is null', () => signRaw({ exp: 'null' }), /'exp'.*NumericDate/],
      ['exp is a string', () => sign(claims({ exp: String(NOW + 300) })), /'exp'.*NumericDate/],
      ['exp is negative', () => sign(claims({ exp: -1 })), /'exp'.*NumericDate/],
      ['nbf is 1e400', () => signRaw({ nbf: '1e400' }), /'nbf'/],
      ['nbf is -1e400 (-Infinity)', () => signRaw({ nbf: '-1e400' }), /'nbf'.*NumericDate/],
      ['nbf is negative', () => sign(claims({ nbf: -5 })), /'nbf'.*NumericDate/],
      ['nbf is a fraction', () => sign(claims({ nbf: NOW - 0.5 })), /'nbf'.*NumericDate/],
      ['iat is 1e400', () => signRaw({ iat: '1e400' }), /'iat'.*NumericDate/],
      ['iat is -1e400', () => signRaw({ iat: '-1e400' }), /'iat'.*NumericDate/],
      ['iat is a fraction', () => sign(claims({ iat: NOW - 0.25 })), /'iat'.*NumericDate/],
      ['iat is negative', () => sign(claims({ iat: -1 })), /'iat'.*NumericDate/],
      ['iat is 1e20', () => sign(claims({ iat: 1e20 })), /'iat'.*future/],
    ])('should fail because %s (invalid_grant, nothing recorded)', async (_case, make, description) => {
      const { exchange, store, errors } = await setup()
      const response = await exchange(await make())
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(description) })
      expect(errors).toEqual([])
      expect(store.snapshot().replay).toEqual([])
      expect(store.snapshot().tokens).toEqual([])
    })
  })

  describe('NUL in "iss", "sub", "jti" or "kid" (RFC 7523 §3.1: invalid_grant) is refused before any store call', () => {
    it.each<[string, () => Promise<string>, RegExp]>([
      ['iss', () => sign(claims({ iss: 'svc\u0000' })), /'iss'.*NUL/],
      ['sub', () => sign(claims({ sub: 'u-1\u0000admin' })), /'sub'.*NUL/],
      ['jti', () => sign(claims({ jti: 'a\u0000b' })), /'jti'.*NUL/],
      ['kid', () => sign(claims(), { kid: 'es-1\u0000' }), /'kid'.*NUL/],
    ])('refuses a NUL in %s with a 400, and makes no store call', async (_case, make, description) => {
      const recorded = recordingStore(await openStore())
      const { exchange } = await setup({ store: recorded.store })
      const assertion = await make()
      recorded.recording.on = true
      const response = await exchange(assertion)
      recorded.recording.on = false
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(description) })
      expect(recorded.calls).toEqual([])
    })

    it('refuses a NUL in iss without client authentication too, before looking the issuer up', async () => {
      const recorded = recordingStore(await openStore())
      const { token } = await setup({ store: recorded.store })
      const assertion = await sign(claims({ iss: 'spa\u0000' }))
      recorded.recording.on = true
      const response = await token(goStyle(assertion), {})
      recorded.recording.on = false
      expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/'iss'.*NUL/) })
      expect(recorded.calls).toEqual([])
    })
  })

  describe('RFC 7523 §3.1 and §2.1 interop: without client authentication, the client is the assertion\'s issuer', () => {
    it('issues a token to a public client that sends only grant_type and assertion (Go x/oauth2/jwt, Python assertion clients)', async () => {
      const { token, store } = await setup()
      const response = await token(goStyle(await sign(claims({ iss: 'spa', exp: NOW + 3600 }))), {})
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ token_type: 'Bearer', scope: 'read' })
      expect(await store.findToken(hashToken(response.body?.['access_token'] as string))).toMatchObject({ clientId: 'spa', userId: 'u-1', scope: 'read' })
    })

    it('still refuses a confidential client that does not authenticate (invalid_client, 401), without using up its jti', async () => {
      const { token, exchange } = await setup()
      const assertion = await sign(claims({ iss: 'svc' }))
      const response = await token(goStyle(assertion), {})
      expect(response.status).toBe(401)
      expect(response.body).toMatchObject({ error: 'invalid_client', error_description: 'client authentication is required' })
      expect(response.headers['www-authenticate']).toMatch(/^Basic /)
      expect((await exchange(assertion)).status).toBe(200)
    })

    it('answers an unknown issuer exactly as a confidential one (no client enumeration)', async () => {
      const { token } = await setup()
      const confidential = await token(goStyle(await sign(claims({ iss: 'svc' }))), {})
      const unknown = await token(goStyle(await sign(claims({ iss: 'nobody' }))), {})
      expect(unknown.status).toBe(confidential.status)
      expect(unknown.body).toEqual(confidential.body)
    })

    it('refuses a public issuer that is not allowed the grant type (unauthorized_client)', async () => {
      const { token } = await setup()
      const response = await token(goStyle(await sign(claims({ iss: 'spa-code' }))), {})
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'unauthorized_client' })
    })

    it('refuses it when a subclass does not accept "none" in TOKEN_ENDPOINT_AUTH_METHODS', async () => {
      const { token } = await setup({ grant: BasicOnlyJWTBearerGrant })
      const response = await token(goStyle(await sign(claims({ iss: 'spa' }))), {})
      expect(response.status).toBe(401)
      expect(response.body).toMatchObject({ error: 'invalid_client' })
    })

    it.each<[string, () => Promise<string>, RegExp]>([
      ['signed by a key the client did not register', () => sign(claims({ iss: 'spa' }), { key: keys.stranger.privateKey }), /signature is invalid/],
      ['signed with HS256', () => sign(claims({ iss: 'spa' }), { alg: 'HS256', key: keys.hmac }), /signature algorithm is not accepted/],
      ['for another audience', () => sign(claims({ iss: 'spa', aud: 'https://other.example/token' })), /audience/],
      ['expired', () => sign(claims({ iss: 'spa', exp: NOW - 61 })), /expired/],
      ['without jti', () => sign(claims({ iss: 'spa', jti: undefined })), /no 'jti'/],
    ])('keeps every check of the assertion: refuses one %s (invalid_grant)', async (_case, make, description) => {
      const { token, store } = await setup()
      const response = await token(goStyle(await make()), {})
      expect(response.body).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(description) })
      expect(store.snapshot().tokens).toEqual([])
    })

    it('accepts Go x/oauth2/jwt with a jti in PrivateClaims (its ClaimSet also sends "jti":""), once', async () => {
      const { token, store } = await setup()
      const body = goStyle(await signGo('spa', { jti: 'go-private-jti' }))
      expect((await token(body, {})).status).toBe(200)
      expect(store.snapshot().replay.map((r) => r.key)).toEqual(['jwt-bearer:spa:go-private-jti'])
      expect((await token(body, {})).body).toMatchObject({ error: 'invalid_grant', error_description: 'the assertion was already used' })
    })

    it('refuses a replay of the public client\'s assertion (RFC 7523 §3 item 7)', async () => {
      const { token } = await setup()
      const body = goStyle(await sign(claims({ iss: 'spa' })))
      expect((await token(body, {})).status).toBe(200)
      expect((await token(body, {})).body).toMatchObject({ error: 'invalid_grant', error_description: 'the assertion was already used' })
    })
  })

  describe('RFC 7523 §3 item 7: "jti" MAY be included — required by default (REQUIRE_JTI = true)', () => {
    it('requires jti by default', async () => {
      expect(JWTBearerGrant.REQUIRE_JTI).toBe(true)
      const { exchange } = await setup()
      expect((await exchange(await sign(claims({ jti: undefined })))).body).toMatchObject({ error: 'invalid_grant', error_description: "the assertion has no 'jti' claim" })
    })

    it('counts an empty jti as none: Go x/oauth2/jwt\'s default "jti":"" is refused by default, accepted with REQUIRE_JTI = false', async () => {
      const strict = await setup()
      expect((await strict.token(goStyle(await signGo('spa')), {})).body).toMatchObject({ error: 'invalid_grant', error_description: "the assertion has no 'jti' claim" })
      class NoJtiJWTBearerGrant extends JWTBearerGrant {
        static override REQUIRE_JTI = false
      }
      const lenient = await setup({ grant: NoJtiJWTBearerGrant })
      const body = goStyle(await signGo('spa'))
      expect((await lenient.token(body, {})).status).toBe(200)
      expect(lenient.store.snapshot().replay).toEqual([])
    })

    it('with REQUIRE_JTI = false, still uses a jti that is sent only once', async () => {
      class NoJtiJWTBearerGrant extends JWTBearerGrant {
        static override REQUIRE_JTI = false
      }
      const { exchange } = await setup({ grant: NoJtiJWTBearerGrant })
      const assertion = await sign(claims({ jti: 'once' }))
      expect((await exchange(assertion)).status).toBe(200)
      expect((await exchange(assertion)).body).toMatchObject({ error: 'invalid_grant', error_description: 'the assertion was already used' })
    })
  })

  describe('static configuration is checked at registration (TypeError, code ERR_GRANTKIT_CONFIG)', () => {
    const YEAR = 365 * 24 * 3600
    it.each<[string, Record<string, unknown>, RegExp]>([
      ['MAX_AGE negative', { MAX_AGE: -1 }, /MAX_AGE/],
      ['MAX_AGE zero', { MAX_AGE: 0 }, /MAX_AGE/],
      ['MAX_AGE not an integer', { MAX_AGE: 1.5 }, /MAX_AGE/],
      ['MAX_AGE Infinity', { MAX_AGE: Infinity }, /MAX_AGE/],
      ['MAX_AGE a string', { MAX_AGE: '60' }, /MAX_AGE/],
      ['MAX_LIFETIME zero', { MAX_LIFETIME: 0 }, /MAX_LIFETIME/],
      ['MAX_LIFETIME negative', { MAX_LIFETIME: -3600 }, /MAX_LIFETIME/],
      ['MAX_LIFETIME not an integer', { MAX_LIFETIME: 60.5 }, /MAX_LIFETIME/],
      ['MAX_LIFETIME NaN', { MAX_LIFETIME: Number.NaN }, /MAX_LIFETIME/],
      ['MAX_LIFETIME Infinity (unbounded)', { MAX_LIFETIME: Infinity }, /MAX_LIFETIME/],
      ['MAX_LIFETIME null (unbounded)', { MAX_LIFETIME: null }, /MAX_LIFETIME/],
      ['MAX_LIFETIME over a year', { MAX_LIFETIME: YEAR + 1 }, /MAX_LIFETIME/],
      ['CLOCK_SKEW negative', { CLOCK_SKEW: -1 }, /CLOCK_SKEW/],
      ['CLOCK_SKEW NaN', { CLOCK_SKEW: Number.NaN }, /CLOCK_SKEW/],
      ['CLOCK_SKEW not an integer', { CLOCK_SKEW: 0.5 }, /CLOCK_SKEW/],
      ['CLOCK_SKEW over an hour', { CLOCK_SKEW: 3601 }, /CLOCK_SKEW/],
      ['REQUIRE_JTI a string', { REQUIRE_JTI: 'false' }, /REQUIRE_JTI/],
      ['REQUIRE_JTI a number', { REQUIRE_JTI: 0 }, /REQUIRE_JTI/],
      ['ALGORITHMS empty', { ALGORITHMS: [] }, /ALGORITHMS/],
      ['ALGORITHMS a string', { ALGORITHMS: 'ES256' }, /ALGORITHMS/],
      ['ALGORITHMS with none', { ALGORITHMS: ['none'] }, /ALGORITHMS/],
    ])('refuses %s, from validateConfiguration and registerGrant', async (_case, statics, message) => {
      class Bad extends JWTBearerGrant {}
      Object.assign(Bad, statics)
      const refusal = expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG', message: expect.stringMatching(message) })
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => Bad.validateConfiguration(server)).toThrow(refusal)
      expect(() => server.registerGrant(Bad)).toThrow(refusal)
    })

    it.each<[string, Record<string, unknown>]>([
      ['the defaults', {}],
      ['MAX_AGE 120', { MAX_AGE: 120 }],
      ['MAX_AGE null (iat optional)', { MAX_AGE: null }],
      ['MAX_LIFETIME 300 and CLOCK_SKEW 0', { MAX_LIFETIME: 300, CLOCK_SKEW: 0 }],
      ['MAX_LIFETIME one year', { MAX_LIFETIME: YEAR }],
      ['REQUIRE_JTI false', { REQUIRE_JTI: false }],
      ['ALGORITHMS HS256', { ALGORITHMS: ['HS256'] }],
    ])('accepts %s', async (_case, statics) => {
      class Fine extends JWTBearerGrant {}
      Object.assign(Fine, statics)
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => Fine.validateConfiguration(server)).not.toThrow()
      expect(() => server.registerGrant(Fine)).not.toThrow()
    })

    it.each<[string, Record<string, unknown>]>([
      ['MAX_AGE -1', { MAX_AGE: -1 }],
      ['MAX_LIFETIME Infinity', { MAX_LIFETIME: Infinity }],
      ['REQUIRE_JTI "yes"', { REQUIRE_JTI: 'yes' }],
    ])('refuses each request, storing nothing, when %s is set after registration (per-request fallback)', async (_case, statics) => {
      class Later extends JWTBearerGrant {}
      const { exchange, errors, store } = await setup({ grant: Later })
      Object.assign(Later, statics)
      const response = await exchange(await sign(claims({ exp: NOW + 1e9 })))
      expect(response.status).toBe(500)
      expect(response.body).toMatchObject({ error: 'server_error' })
      expect(errors).toEqual([expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' })])
      expect(store.snapshot().replay).toEqual([])
      expect(store.snapshot().tokens).toEqual([])
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
