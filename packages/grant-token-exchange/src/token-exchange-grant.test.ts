import {
  AuthorizationServer,
  BaseGrant,
  IntrospectionEndpoint,
  OAuthError,
  createClient,
  createOAuthRequest,
  hashToken,
  jwtAccessTokens,
  parseScope,
  type GrantClass,
  type GrantExtension,
  type OAuthResponse,
  type TokenRecord,
} from '@grantkit/core'
import { generateKeyPairSync } from 'node:crypto'
import { SignJWT, decodeJwt, generateKeyPair, jwtVerify, type CryptoKey } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { invalidTarget, safeDescription } from '@grantkit/core'
import { TARGET_LIMITS, TOKEN_EXCHANGE_GRANT_TYPE, TOKEN_TYPES, TokenExchangeGrant, type ExchangeTokenInfo, type TokenExchangeContext } from './index.js'

const ISSUER = 'https://auth.example.com'
const T0 = Date.UTC(2025, 0, 1)
const AT = TOKEN_TYPES.accessToken
const GT = TOKEN_EXCHANGE_GRANT_TYPE

// Tokens seeded in every store, as other grants of this server would have issued them (hashes only are stored).
const ALICE = 'alice-token-may-act-gateway'
const ALICE_BY_CLIENT_ID = 'alice-token-may-act-client-id-gateway'
const ALICE_PLAIN = 'alice-token-without-may-act'
const ALICE_OTHER_ACTOR = 'alice-token-may-act-someone-else'
const ALICE_REVOKED = 'alice-token-revoked'
const ALICE_EXPIRED = 'alice-token-expired'
const ALICE_REFRESH = 'alice-refresh-token'
const ALICE_WITH_AUD = 'alice-token-with-aud'
const GATEWAY = 'gateway-client-token'
const GATEWAY_REVOKED = 'gateway-client-token-revoked'
const ORDERS = 'orders-client-token'

function basic(id: string, secret: string): string {
  return 'Basic ' + btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)
}

const GATEWAY_AUTH = { authorization: basic('api-gateway', 'gateway-secret') }

type Params = ReadonlyArray<readonly [string, string]>

/** A form body from name/value pairs (a name may repeat), percent-encoded as a client would send it. */
function form(params: Params): string {
  return new URLSearchParams(params as [string, string][]).toString()
}

/** The parameters of a delegation of Alice's token to the gateway, with `more` appended. */
function delegation(subject = ALICE, actor = GATEWAY, ...more: Params): Params {
  return [['grant_type', GT], ['subject_token', subject], ['subject_token_type', AT], ['actor_token', actor], ['actor_token_type', AT], ...more]
}

/** The parameters of an impersonation (no actor token), with `more` appended. */
function impersonation(subject = ALICE_PLAIN, ...more: Params): Params {
  return [['grant_type', GT], ['subject_token', subject], ['subject_token_type', AT], ...more]
}

interface Seed {
  readonly type?: TokenRecord['type']
  readonly clientId?: string
  readonly userId?: string | null
  readonly scope?: string
  readonly expiresAt?: number
  readonly revoked?: boolean
  readonly claims?: Record<string, unknown>
}

async function seed(store: TestStore, raw: string, options: Seed = {}): Promise<void> {
  await store.saveTokens([
    {
      tokenHash: hashToken(raw),
      type: options.type ?? 'access_token',
      clientId: options.clientId ?? 'web-app',
      userId: options.userId === undefined ? 'alice' : options.userId,
      scope: options.scope ?? 'read write profile',
      familyId: `family-of-${raw}`,
      issuedAt: new Date(T0 - 60_000),
      expiresAt: new Date(options.expiresAt ?? T0 + 3_600_000),
      revokedAt: options.revoked === true ? new Date(T0 - 1000) : null,
      rotatedAt: null,
      ...(options.claims === undefined ? {} : { extra: { claims: options.claims } }),
    },
  ])
}

/** Registered only so that a client allowed `refresh_token` could be given one; it never serves a request here. */
class RegisteredRefreshTokenGrant extends BaseGrant {
  static override GRANT_TYPE = 'refresh_token'
  static override TOKEN_ENDPOINT = true
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']
  override async validateTokenRequest(): Promise<void> {
    throw new Error('this stand-in serves no request in these tests')
  }
}

class ImpersonatingGrant extends TokenExchangeGrant {
  static override ALLOW_IMPERSONATION = true
}

interface SetupOptions {
  readonly grant?: GrantClass
  readonly extensions?: GrantExtension[]
  readonly server?: Partial<ConstructorParameters<typeof AuthorizationServer>[0]>
}

async function setupOn(openStore: OpenTestStore, options: SetupOptions = {}) {
  const store = await openStore()
  let now = T0
  const errors: unknown[] = []
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => now, onError: (e) => void errors.push(e), ...options.server })
  server.registerGrant(options.grant ?? TokenExchangeGrant, options.extensions ?? [])
  server.registerGrant(RegisteredRefreshTokenGrant)
  server.registerEndpoint(IntrospectionEndpoint)
  const clients = await Promise.all([
    createClient({ clientId: 'api-gateway', clientSecret: 'gateway-secret', secretHash: 'sha256', grantTypes: [GT, 'refresh_token'], scope: 'read write' }),
    createClient({
      clientId: 'orders-service',
      clientSecret: 'orders-secret',
      secretHash: 'sha256',
      grantTypes: [GT],
      scope: 'read',
      tokenEndpointAuthMethod: 'client_secret_post',
    }),
    createClient({ clientId: 'web-app', clientSecret: 'web-secret', secretHash: 'sha256', grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'], scope: 'read write profile' }),
  ])
  for (const { client } of clients) await store.saveClient(client)
  await seed(store, ALICE, { claims: { may_act: { sub: 'api-gateway' } } })
  await seed(store, ALICE_BY_CLIENT_ID, { claims: { may_act: { client_id: 'api-gateway' } } })
  await seed(store, ALICE_PLAIN)
  await seed(store, ALICE_OTHER_ACTOR, { claims: { may_act: { sub: 'someone-else' } } })
  await seed(store, ALICE_REVOKED, { revoked: true, claims: { may_act: { sub: 'api-gateway' } } })
  await seed(store, ALICE_EXPIRED, { expiresAt: T0 - 1, claims: { may_act: { sub: 'api-gateway' } } })
  await seed(store, ALICE_REFRESH, { type: 'refresh_token', claims: { may_act: { sub: 'api-gateway' } } })
  await seed(store, ALICE_WITH_AUD, { claims: { aud: 'https://api.example/orders', may_act: { sub: 'api-gateway' } } })
  await seed(store, GATEWAY, { clientId: 'api-gateway', userId: null, scope: 'read write' })
  await seed(store, GATEWAY_REVOKED, { clientId: 'api-gateway', userId: null, scope: 'read write', revoked: true })
  await seed(store, ORDERS, { clientId: 'orders-service', userId: null, scope: 'read' })

  const token = (params: Params, headers: Record<string, string> = GATEWAY_AUTH): Promise<OAuthResponse> =>
    // Parameters as an adapter hands them over (already decoded), so that the grant's own checks are reached.
    server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body: new URLSearchParams(params as [string, string][]) }))
  const introspect = (value: string, headers: Record<string, string> = GATEWAY_AUTH, more: Params = []): Promise<OAuthResponse> =>
    server.createEndpointResponse('introspection', createOAuthRequest({ method: 'POST', url: '/introspect', headers, body: form([['token', value], ...more]) }))
  /** The stored record of an issued token. */
  const record = async (response: OAuthResponse): Promise<TokenRecord | null> => store.findToken(hashToken(response.body?.['access_token'] as string))
  const advance = (seconds: number) => {
    now += seconds * 1000
  }
  return { store, server, token, introspect, record, advance, errors }
}

describe.each(TEST_STORES)('TokenExchangeGrant (RFC 8693) on the %s', (_storeName, openStore) => {
  const setup = (options?: SetupOptions) => setupOn(openStore, options)

  it('declares the token-exchange grant type at the token endpoint only, for authenticated clients (RFC 8693 §2.1)', async () => {
    expect(TokenExchangeGrant.GRANT_TYPE).toBe('urn:ietf:params:oauth:grant-type:token-exchange')
    expect(TokenExchangeGrant.TOKEN_ENDPOINT).toBe(true)
    expect(TokenExchangeGrant.AUTHORIZATION_ENDPOINT).toBe(false)
    expect(TokenExchangeGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['client_secret_basic', 'client_secret_post'])
    expect(TokenExchangeGrant.STORE_CAPABILITIES).toEqual(['clients', 'tokens'])
    const { server } = await setup()
    expect(server.metadata()).toMatchObject({ grant_types_supported: expect.arrayContaining([GT]) })
  })

  describe('delegation: with an actor token, the issued token says who acts (RFC 8693 §1.1, §4.1)', () => {
    it('issues an access token with act naming the actor when the subject token\'s may_act names it (§2.2.1, §4.4)', async () => {
      const { token, record } = await setup()
      const response = await token(delegation())
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' })
      expect(response.body).toEqual({ access_token: expect.any(String), issued_token_type: AT, token_type: 'Bearer', expires_in: 3600, scope: 'read write' })
      expect(await record(response)).toMatchObject({
        type: 'access_token',
        userId: 'alice',
        clientId: 'api-gateway',
        scope: 'read write',
        extra: { claims: { act: { sub: 'api-gateway', client_id: 'api-gateway' } } },
      })
    })

    it('starts a new token family, so that revoking the new token leaves the subject token alone', async () => {
      const { token, record, store } = await setup()
      const issued = await record(await token(delegation()))
      expect(issued?.familyId).not.toBe(`family-of-${ALICE}`)
      expect(typeof issued?.familyId).toBe('string')
      expect(store.snapshot().tokens.filter((t) => t.familyId === issued?.familyId)).toHaveLength(1)
    })

    it('accepts a may_act that names the requesting client by client_id (§4.4)', async () => {
      const { token, record } = await setup()
      const response = await token(delegation(ALICE_BY_CLIENT_ID))
      expect(response.status).toBe(200)
      expect((await record(response))?.extra).toEqual({ claims: { act: { sub: 'api-gateway', client_id: 'api-gateway' } } })
    })

    it('nests the subject token\'s act inside the new one, the current actor outermost (§4.1 delegation chain)', async () => {
      // A policy trusting the gateway to pass on what it was delegated to the orders service.
      class ChainGrant extends TokenExchangeGrant {
        override async authorizeExchange(context: TokenExchangeContext): Promise<void> {
          const previous = context.subject.claims?.['act'] as { sub?: unknown } | undefined
          if (previous?.sub === 'api-gateway' && context.actor?.subject === 'orders-service' && context.client.clientId === 'orders-service') return
          return super.authorizeExchange(context)
        }
      }
      const { token, record, introspect } = await setup({ grant: ChainGrant })
      const first = await token(delegation())
      expect(first.status).toBe(200)
      const second = await token(
        [...delegation(first.body?.['access_token'] as string, ORDERS), ['client_id', 'orders-service'], ['client_secret', 'orders-secret']],
        {},
      )
      expect(second.status).toBe(200)
      expect(second.body).toMatchObject({ issued_token_type: AT, scope: 'read' })
      const act = { sub: 'orders-service', client_id: 'orders-service', act: { sub: 'api-gateway', client_id: 'api-gateway' } }
      expect(await record(second)).toMatchObject({ userId: 'alice', clientId: 'orders-service', extra: { claims: { act } } })
      const introspection = await introspect(second.body?.['access_token'] as string, {}, [['client_id', 'orders-service'], ['client_secret', 'orders-secret']])
      expect(introspection.body).toMatchObject({ active: true, sub: 'alice', client_id: 'orders-service', act })
    })

    it('answers act, aud, sub and client_id through the introspection endpoint (RFC 7662 §2.2, RFC 8693 §4.1)', async () => {
      const { token, introspect } = await setup()
      const response = await token(delegation(ALICE, GATEWAY, ['audience', 'orders-api'], ['scope', 'read']))
      const introspection = await introspect(response.body?.['access_token'] as string)
      expect(introspection.status).toBe(200)
      expect(introspection.body).toEqual({
        active: true,
        sub: 'alice',
        client_id: 'api-gateway',
        scope: 'read',
        token_type: 'Bearer',
        aud: 'orders-api',
        act: { sub: 'api-gateway', client_id: 'api-gateway' },
        iat: T0 / 1000,
        exp: T0 / 1000 + 3600,
        iss: ISSUER,
      })
    })

    it('issues a token the resource server accepts for the subject user', async () => {
      const { token, server } = await setup()
      const response = await token(delegation(ALICE, GATEWAY, ['scope', 'read']))
      const info = await server.authenticateBearerToken(
        createOAuthRequest({ url: '/api', headers: { authorization: `Bearer ${response.body?.['access_token'] as string}` } }),
        { scope: 'read' },
      )
      expect(info).toMatchObject({ clientId: 'api-gateway', userId: 'alice', scopes: ['read'] })
    })

    it('keeps the delegation consistent in a JWT access token: sub, client_id, act and aud (RFC 9068, RFC 8693 §4.1)', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const { token } = await setup({ server: { tokenStrategy: jwtAccessTokens({ privateKey, alg: 'ES256' }) } })
      const response = await token(delegation(ALICE, GATEWAY, ['resource', 'https://api.example/orders']))
      expect(response.status).toBe(200)
      expect(decodeJwt(response.body?.['access_token'] as string)).toMatchObject({
        iss: ISSUER,
        sub: 'alice',
        client_id: 'api-gateway',
        aud: 'https://api.example/orders',
        act: { sub: 'api-gateway', client_id: 'api-gateway' },
      })
    })
  })

  describe('may_act: which actor the subject token authorizes (RFC 8693 §4.4)', () => {
    it.each<['allows' | 'refuses', string, unknown]>([
      ['allows', 'sub naming the actor', { sub: 'api-gateway' }],
      ['allows', 'client_id naming the requesting client', { client_id: 'api-gateway' }],
      ['allows', 'both, each matching', { sub: 'api-gateway', client_id: 'api-gateway' }],
      ['allows', 'sub and this server as iss', { sub: 'api-gateway', iss: ISSUER }],
      ['refuses', 'sub matching but client_id naming another client (every member must match)', { sub: 'api-gateway', client_id: 'orders-service' }],
      ['refuses', 'client_id matching but sub naming another actor', { sub: 'someone-else', client_id: 'api-gateway' }],
      ['refuses', 'sub matching but another iss', { sub: 'api-gateway', iss: 'https://idp.example.org' }],
      ['refuses', 'neither sub nor client_id', { iss: ISSUER }],
      ['refuses', 'an empty object', {}],
      ['refuses', 'a string, not an object', 'api-gateway'],
      ['refuses', 'a list, not an object', [{ sub: 'api-gateway' }]],
    ])('%s the delegation when may_act has %s', async (verdict, _case, mayAct) => {
      const { token, store } = await setup()
      await seed(store, 'alice-token-under-test', { claims: { may_act: mayAct } })
      const response = await token(delegation('alice-token-under-test'))
      if (verdict === 'allows') expect(response.status).toBe(200)
      else expect(response.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/may_act/) })
    })

    it.each<[string, Record<string, unknown>, string]>([
      ['act is not an object', { may_act: { sub: 'api-gateway' }, act: 'svc' }, 'the subject token\'s "act" claim is malformed'],
      ['aud is not a string or a list of strings', { may_act: { sub: 'api-gateway' }, aud: [1] }, 'the subject token\'s "aud" claim is malformed'],
    ])('refuses a subject token whose %s with invalid_request, rather than drop it (§2.2.2)', async (_case, claims, description) => {
      const { token, store } = await setup()
      await seed(store, 'alice-token-under-test', { claims })
      expect((await token(delegation('alice-token-under-test'))).body).toEqual({ error: 'invalid_request', error_description: safeDescription(description) })
    })
  })

  describe('impersonation: without an actor token, the issued token is simply the subject\'s (RFC 8693 §1.1)', () => {
    it('is refused by default with unauthorized_client, storing nothing', async () => {
      const { token, store } = await setup()
      const before = store.snapshot().tokens.length
      const response = await token(impersonation())
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'unauthorized_client' })
      expect(store.snapshot().tokens).toHaveLength(before)
    })

    it('issues a token for the subject, without act, when a subclass sets ALLOW_IMPERSONATION', async () => {
      const { token, record } = await setup({ grant: ImpersonatingGrant })
      const response = await token(impersonation())
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ issued_token_type: AT, token_type: 'Bearer', scope: 'read write' })
      const issued = await record(response)
      expect(issued).toMatchObject({ userId: 'alice', clientId: 'api-gateway', scope: 'read write' })
      expect(issued?.extra).toBeUndefined()
    })

    it('lets an overridden authorizeExchange allow it for one client only', async () => {
      class OneClientGrant extends TokenExchangeGrant {
        override async authorizeExchange(context: TokenExchangeContext): Promise<void> {
          if (context.actor === null && context.client.clientId === 'orders-service') return
          return super.authorizeExchange(context)
        }
      }
      const { token } = await setup({ grant: OneClientGrant })
      const allowed = await token([...impersonation(), ['client_id', 'orders-service'], ['client_secret', 'orders-secret']], {})
      expect(allowed.status).toBe(200)
      expect(allowed.body).toMatchObject({ scope: 'read' })
      const refused = await token(impersonation())
      expect(refused.body).toMatchObject({ error: 'unauthorized_client' })
    })

    it('keeps the subject token\'s act, so that an earlier delegation stays visible (§4.1)', async () => {
      const { token, record } = await setup({ grant: ImpersonatingGrant })
      const delegated = await token(delegation())
      const response = await token(impersonation(delegated.body?.['access_token'] as string))
      expect(response.status).toBe(200)
      expect((await record(response))?.extra).toEqual({ claims: { act: { sub: 'api-gateway', client_id: 'api-gateway' } } })
    })

    it('exchanges a client-only token for its own client only, keeping it client-only (userId null)', async () => {
      const { token, record } = await setup({ grant: ImpersonatingGrant })
      const own = await token(impersonation(GATEWAY, ['audience', 'orders-api']))
      expect(own.status).toBe(200)
      expect(await record(own)).toMatchObject({ userId: null, clientId: 'api-gateway', extra: { claims: { aud: 'orders-api' } } })
      const other = await token(impersonation(ORDERS))
      expect(other.status).toBe(400)
      expect(other.body).toMatchObject({ error: 'invalid_request', error_description: 'a client-only subject token can be exchanged only by its own client' })
    })
  })

  describe('targets: resource and audience become the issued token\'s aud (RFC 8693 §2.1, RFC 8707)', () => {
    it.each<[string, Params, unknown]>([
      ['one audience, as a string', [['audience', 'orders-api']], 'orders-api'],
      ['one resource, as a string', [['resource', 'https://api.example/orders']], 'https://api.example/orders'],
      ['several, resources first, duplicates dropped', [['audience', 'orders-api'], ['resource', 'urn:example:billing'], ['audience', 'orders-api'], ['resource', 'https://api.example/orders'], ['audience', 'urn:example:billing']], ['urn:example:billing', 'https://api.example/orders', 'orders-api']],
      ['empty values ignored (RFC 6749 §3.1)', [['audience', ''], ['audience', 'orders-api']], 'orders-api'],
    ])('puts %s into aud', async (_case, targets, aud) => {
      const { token, record } = await setup()
      const response = await token(delegation(ALICE, GATEWAY, ...targets))
      expect(response.status).toBe(200)
      expect((await record(response))?.extra).toEqual({ claims: { aud, act: { sub: 'api-gateway', client_id: 'api-gateway' } } })
    })

    it('keeps the subject token\'s aud when no target is asked for, so that an exchange never widens the audience', async () => {
      const { token, record } = await setup()
      const response = await token(delegation(ALICE_WITH_AUD))
      expect((await record(response))?.extra).toMatchObject({ claims: { aud: 'https://api.example/orders' } })
    })

    it('lets a policy refuse a target with invalid_target (§2.2.2), storing nothing', async () => {
      class KnownTargetsGrant extends TokenExchangeGrant {
        override async authorizeExchange(context: TokenExchangeContext): Promise<void> {
          await super.authorizeExchange(context)
          if ([...context.resources, ...context.audiences].some((t) => t !== 'orders-api')) throw invalidTarget('the token cannot be issued for that target')
        }
      }
      const { token, store } = await setup({ grant: KnownTargetsGrant })
      const before = store.snapshot().tokens.length
      expect((await token(delegation(ALICE, GATEWAY, ['audience', 'orders-api']))).status).toBe(200)
      const refused = await token(delegation(ALICE, GATEWAY, ['audience', 'orders-api'], ['resource', 'https://evil.example/']))
      expect(refused.status).toBe(400)
      expect(refused.body).toEqual({ error: 'invalid_target', error_description: 'the token cannot be issued for that target' })
      expect(refused.headers['cache-control']).toBe('no-store')
      expect(store.snapshot().tokens).toHaveLength(before + 1)
    })
  })

  describe('scope: never wider than the subject token\'s (RFC 8693 §2.1, RFC 6749 §3.3)', () => {
    it('omitted, is the subject token\'s scope the client may have', async () => {
      const { token } = await setup()
      // Alice's token has "read write profile"; the gateway may have "read write".
      expect((await token(delegation())).body).toMatchObject({ scope: 'read write' })
    })

    it('narrows to a requested subset', async () => {
      const { token, record } = await setup()
      const response = await token(delegation(ALICE, GATEWAY, ['scope', 'write']))
      expect(response.body).toMatchObject({ scope: 'write' })
      expect((await record(response))?.scope).toBe('write')
    })
  })

  describe('refresh tokens (RFC 8693 §2.2.1: optional)', () => {
    it('are never issued by default, even to a client allowed refresh_token', async () => {
      const { token, record } = await setup()
      const response = await token(delegation())
      expect(response.body).not.toHaveProperty('refresh_token')
      expect((await record(response))?.type).toBe('access_token')
    })

    class RefreshingGrant extends TokenExchangeGrant {
      static override ISSUE_REFRESH_TOKEN = true
      static override ALLOW_IMPERSONATION = true
    }

    it('are issued with ISSUE_REFRESH_TOKEN, in the new family, to a client allowed refresh_token', async () => {
      const { token, record, store } = await setup({ grant: RefreshingGrant })
      const response = await token(delegation())
      expect(typeof response.body?.['refresh_token']).toBe('string')
      const refresh = await store.findToken(hashToken(response.body?.['refresh_token'] as string))
      expect(refresh).toMatchObject({ type: 'refresh_token', userId: 'alice', clientId: 'api-gateway', familyId: (await record(response))?.familyId })
    })

    it('are not issued with ISSUE_REFRESH_TOKEN to a client not allowed refresh_token', async () => {
      const { token } = await setup({ grant: RefreshingGrant })
      const response = await token([...impersonation(), ['client_id', 'orders-service'], ['client_secret', 'orders-secret']], {})
      expect(response.status).toBe(200)
      expect(response.body).not.toHaveProperty('refresh_token')
    })
  })

  describe('resource and audience lists are bounded before anything is parsed (RFC 6819 §4.4.1.11, RFC 8693 §2.2.2)', () => {
    const many = (name: string, count: number, value = (i: number) => `https://api.example/r${i}`): Params => Array.from({ length: count }, (_, i) => [name, value(i)] as const)

    it.each([
      ['resource', (i: number) => `https://api.example/r${i}`],
      ['audience', (i: number) => `service-${i}`],
    ])('refuses 16,000 distinct %s values with invalid_target before authenticating the client or reading a token', async (name, value) => {
      const { token, store } = await setup()
      const before = store.snapshot().tokens.length
      // A wrong secret: the bound answers first, so the request costs no client lookup and no token lookup.
      const response = await token([...delegation(), ...many(name, 16_000, value)], { authorization: basic('api-gateway', 'wrong') })
      expect(response.status).toBe(400)
      expect(response.body).toEqual({ error: 'invalid_target', error_description: `a request may carry at most ${TARGET_LIMITS.maxValues} ${name} parameters` })
      expect(store.snapshot().tokens).toHaveLength(before)
    })

    it('accepts TARGET_LIMITS.maxValues values of each parameter and refuses one more, duplicates counted', async () => {
      expect(TARGET_LIMITS).toEqual({ maxValues: 10, maxValueLength: 2048 })
      const { token, record } = await setup()
      const resources = many('resource', TARGET_LIMITS.maxValues)
      const audiences = many('audience', TARGET_LIMITS.maxValues, (i) => `service-${i}`)
      const accepted = await token(delegation(ALICE, GATEWAY, ...resources, ...audiences))
      expect(accepted.status).toBe(200)
      expect((await record(accepted))?.extra?.['claims']).toMatchObject({ aud: [...resources, ...audiences].map(([, v]) => v) })
      for (const extra of [
        many('resource', TARGET_LIMITS.maxValues + 1),
        many('audience', TARGET_LIMITS.maxValues + 1, () => 'orders-api'),
      ]) {
        expect((await token(delegation(ALICE, GATEWAY, ...extra))).body).toMatchObject({ error: 'invalid_target' })
      }
    })

    it.each([
      ['resource', (length: number) => `https://api.example/${'a'.repeat(length - 'https://api.example/'.length)}`],
      ['audience', (length: number) => 'a'.repeat(length)],
    ])('accepts a %s of maxValueLength characters and refuses a longer one with invalid_request', async (name, value) => {
      const { token } = await setup()
      expect((await token(delegation(ALICE, GATEWAY, [name, value(TARGET_LIMITS.maxValueLength)]))).status).toBe(200)
      const refused = await token(delegation(ALICE, GATEWAY, [name, value(TARGET_LIMITS.maxValueLength + 1)]))
      expect(refused.status).toBe(400)
      expect(refused.body).toEqual({ error: 'invalid_request', error_description: `a ${name} value must be at most ${TARGET_LIMITS.maxValueLength} characters` })
    })
  })

  describe('refusals are 4xx with the RFC error code, and store nothing (RFC 8693 §2.2.2, RFC 6749 §5.2)', () => {
    const base: Params = [['grant_type', GT]]
    const INVALID_SUBJECT = 'the subject token is invalid, expired or revoked'
    const INVALID_ACTOR = 'the actor token is invalid, expired or revoked'
    const NUL = 'the request parameters must not contain a NUL character'
    const MAY_ACT = 'the subject token does not authorize this actor to act for it ("may_act", RFC 8693 §4.4)'
    const REQUESTED_TYPE = 'the "requested_token_type" is not supported: this server issues access tokens only'
    const RESOURCE = 'each resource must be an absolute URI without a fragment (RFC 8693 section 2.1)'
    const repeated = (name: string) => `parameter "${name}" must not be included more than once`
    it.each<[string, Params, Record<string, string> | undefined, number, string, string]>([
      ['subject_token is missing', [...base, ['subject_token_type', AT]], undefined, 400, 'invalid_request', 'missing required parameter "subject_token"'],
      ['subject_token_type is missing', [...base, ['subject_token', ALICE]], undefined, 400, 'invalid_request', 'missing required parameter "subject_token_type"'],
      ['subject_token is repeated', [...delegation(), ['subject_token', ALICE]], undefined, 400, 'invalid_request', repeated('subject_token')],
      ['subject_token_type is repeated', [...delegation(), ['subject_token_type', AT]], undefined, 400, 'invalid_request', repeated('subject_token_type')],
      ['actor_token is repeated', [...delegation(), ['actor_token', GATEWAY]], undefined, 400, 'invalid_request', repeated('actor_token')],
      ['actor_token_type is repeated', [...delegation(), ['actor_token_type', AT]], undefined, 400, 'invalid_request', repeated('actor_token_type')],
      ['requested_token_type is repeated', [...delegation(), ['requested_token_type', AT], ['requested_token_type', AT]], undefined, 400, 'invalid_request', repeated('requested_token_type')],
      ['scope is repeated', [...delegation(), ['scope', 'read'], ['scope', 'read']], undefined, 400, 'invalid_request', repeated('scope')],
      ['grant_type is repeated', [...delegation(), ['grant_type', GT]], undefined, 400, 'invalid_request', repeated('grant_type')],
      ['actor_token comes without actor_token_type (§2.1)', [...impersonation(ALICE), ['actor_token', GATEWAY]], undefined, 400, 'invalid_request', 'missing required parameter "actor_token_type" (with "actor_token", RFC 8693 §2.1)'],
      ['actor_token_type comes without actor_token (§2.1)', [...impersonation(ALICE), ['actor_token_type', AT]], undefined, 400, 'invalid_request', '"actor_token_type" must not be sent without "actor_token" (RFC 8693 §2.1)'],
      ['the subject_token_type is not supported', [...base, ['subject_token', ALICE], ['subject_token_type', TOKEN_TYPES.jwt], ['actor_token', GATEWAY], ['actor_token_type', AT]], undefined, 400, 'invalid_request', 'the "subject_token_type" is not supported by this server'],
      ['the actor_token_type is not supported', [...base, ['subject_token', ALICE], ['subject_token_type', AT], ['actor_token', GATEWAY], ['actor_token_type', TOKEN_TYPES.saml2]], undefined, 400, 'invalid_request', 'the "actor_token_type" is not supported by this server'],
      ['the requested_token_type is a refresh token (§2.2.2: no dedicated code)', [...delegation(), ['requested_token_type', TOKEN_TYPES.refreshToken]], undefined, 400, 'invalid_request', REQUESTED_TYPE],
      ['the requested_token_type is unknown', [...delegation(), ['requested_token_type', 'urn:example:token-type:cookie']], undefined, 400, 'invalid_request', REQUESTED_TYPE],
      ['the subject token is unknown', delegation('no-such-token'), undefined, 400, 'invalid_request', INVALID_SUBJECT],
      ['the subject token is revoked', delegation(ALICE_REVOKED), undefined, 400, 'invalid_request', INVALID_SUBJECT],
      ['the subject token is expired', delegation(ALICE_EXPIRED), undefined, 400, 'invalid_request', INVALID_SUBJECT],
      ['the subject token is a refresh token, not an access token', delegation(ALICE_REFRESH), undefined, 400, 'invalid_request', INVALID_SUBJECT],
      ['the actor token is unknown', delegation(ALICE, 'no-such-token'), undefined, 400, 'invalid_request', INVALID_ACTOR],
      ['the actor token is revoked', delegation(ALICE, GATEWAY_REVOKED), undefined, 400, 'invalid_request', INVALID_ACTOR],
      ['the actor token was issued to another client', delegation(ALICE, ORDERS), undefined, 400, 'invalid_request', 'the actor token was issued to another client'],
      ['the subject token has no may_act: delegation is not authorized (§4.4)', delegation(ALICE_PLAIN), undefined, 400, 'invalid_request', MAY_ACT],
      ['the subject token\'s may_act names another actor (§4.4)', delegation(ALICE_OTHER_ACTOR), undefined, 400, 'invalid_request', MAY_ACT],
      ['impersonation is off by default', impersonation(ALICE), undefined, 400, 'unauthorized_client', 'the client is not allowed impersonation: send an actor_token to act for the subject (RFC 8693 §1.1)'],
      ['a client-only subject token belongs to another client', delegation(ORDERS), undefined, 400, 'invalid_request', 'a client-only subject token can be exchanged only by its own client'],
      ['the scope is wider than the subject token\'s', [...delegation(), ['scope', 'read admin']], undefined, 400, 'invalid_scope', 'the requested scope is wider than the subject token\'s'],
      ['the scope is wider than the client\'s', [...delegation(), ['scope', 'profile']], undefined, 400, 'invalid_scope', 'a requested scope is not allowed for this client'],
      ['the scope has invalid characters', [...delegation(), ['scope', 'read"']], undefined, 400, 'invalid_scope', 'scope contains invalid characters'],
      ['a resource is a relative reference', [...delegation(), ['resource', '/orders']], undefined, 400, 'invalid_request', RESOURCE],
      ['a resource has a fragment (§2.1)', [...delegation(), ['resource', 'https://api.example/orders#x']], undefined, 400, 'invalid_request', RESOURCE],
      ['a resource has a space', [...delegation(), ['resource', 'https://api.example/a b']], undefined, 400, 'invalid_request', RESOURCE],
      ['subject_token holds a NUL', delegation(`${ALICE}\u0000`), undefined, 400, 'invalid_request', NUL],
      ['actor_token holds a NUL', delegation(ALICE, `${GATEWAY}\u0000`), undefined, 400, 'invalid_request', NUL],
      ['audience holds a NUL', [...delegation(), ['audience', 'orders\u0000api']], undefined, 400, 'invalid_request', NUL],
      ['a parameter name holds a NUL', [...delegation(), ['x\u0000', '1']], undefined, 400, 'invalid_request', NUL],
      ['client_id holds a NUL', [...delegation(), ['client_id', 'orders-service\u0000'], ['client_secret', 'orders-secret']], {}, 400, 'invalid_request', NUL],
      ['the client is not allowed the grant type', delegation(), { authorization: basic('web-app', 'web-secret') }, 400, 'unauthorized_client', `client is not allowed the grant type "${GT}"`],
      ['the client does not authenticate', delegation(), {}, 401, 'invalid_client', 'client authentication is required'],
      ['the client identifies itself without a secret (none is not accepted)', [...delegation(), ['client_id', 'api-gateway']], {}, 401, 'invalid_client', 'client authentication method "none" is not allowed here'],
      ['the secret is wrong', delegation(), { authorization: basic('api-gateway', 'wrong') }, 401, 'invalid_client', 'client authentication failed'],
      ['the client is unknown', delegation(), { authorization: basic('nobody', 'x') }, 401, 'invalid_client', 'client authentication failed'],
    ])('refuses the exchange when %s', async (_case, params, headers, status, error, description) => {
      const { token, store } = await setup()
      const before = store.snapshot().tokens.length
      const response = await token(params, headers)
      expect(response.status).toBe(status)
      // Core keeps every description to the RFC 6749 §5.2 characters.
      expect(response.body).toEqual({ error, error_description: safeDescription(description) })
      expect(response.headers['cache-control']).toBe('no-store')
      expect(store.snapshot().tokens).toHaveLength(before)
    })

    it('refuses a subject token once it expires by the server\'s clock', async () => {
      const { token, advance } = await setup()
      expect((await token(delegation())).status).toBe(200)
      advance(3600)
      const response = await token(delegation())
      expect(response.body).toEqual({ error: 'invalid_request', error_description: 'the subject token is invalid, expired or revoked' })
    })

    it('names the unsupported parameter without echoing the token type the client sent', async () => {
      const { token } = await setup()
      const type = 'urn:example:token-type:zz-echo-me'
      const response = await token([['grant_type', GT], ['subject_token', ALICE], ['subject_token_type', type]])
      expect(response.body).toEqual({ error: 'invalid_request', error_description: "the 'subject_token_type' is not supported by this server" })
      expect(JSON.stringify(response.body)).not.toContain('zz-echo-me')
    })

    it('answers a failed Basic authentication with 401 and WWW-Authenticate (RFC 6749 §5.2)', async () => {
      const { token } = await setup()
      const response = await token(delegation(), { authorization: basic('api-gateway', 'wrong') })
      expect(response.status).toBe(401)
      expect(response.headers['www-authenticate']).toMatch(/^Basic /)
    })

    it('refuses a NUL before any store call', async () => {
      const store = await openStore()
      const calls: string[] = []
      const counted = {
        ...store,
        findClient: (id: string) => (calls.push('findClient'), store.findClient(id)),
        findToken: (hash: string) => (calls.push('findToken'), store.findToken(hash)),
      }
      const server = new AuthorizationServer({ issuer: ISSUER, store: counted, clock: () => T0 })
      server.registerGrant(TokenExchangeGrant)
      const response = await server.createTokenResponse(
        createOAuthRequest({ method: 'POST', url: '/token', headers: GATEWAY_AUTH, body: new URLSearchParams(delegation(`${ALICE}\u0000`) as [string, string][]) }),
      )
      expect(response.body).toEqual({ error: 'invalid_request', error_description: 'the request parameters must not contain a NUL character' })
      expect(calls).toEqual([])
    })

    it('answers server_error, never a token, when an override answers a malformed token', async () => {
      class BrokenGrant extends TokenExchangeGrant {
        override async validateSubjectToken(): Promise<ExchangeTokenInfo | null> {
          return { subject: '', scopes: [] }
        }
      }
      const { token, errors, store } = await setup({ grant: BrokenGrant })
      const before = store.snapshot().tokens.length
      const response = await token(delegation())
      expect(response.status).toBe(500)
      expect(response.body).toMatchObject({ error: 'server_error' })
      expect(errors).toEqual([expect.objectContaining({ name: 'TypeError', message: expect.stringMatching(/"subject" must be a non-empty string/) })])
      expect(store.snapshot().tokens).toHaveLength(before)
    })
  })

  describe('with extensions', () => {
    it('runs afterValidateTokenRequest with the validated exchange, and beforeTokenResponse', async () => {
      const seen: unknown[] = []
      const extension: GrantExtension = {
        afterValidateTokenRequest: ({ grant, client }) => {
          const exchange = (grant as TokenExchangeGrant).exchange
          seen.push([client.clientId, exchange?.subject.subject, exchange?.actor?.subject])
        },
        beforeTokenResponse: ({ body }) => {
          body['note'] = 'hello'
        },
      }
      const { token } = await setup({ extensions: [extension] })
      const response = await token(delegation())
      expect(seen).toEqual([['api-gateway', 'alice', 'api-gateway']])
      expect(response.body).toMatchObject({ note: 'hello', issued_token_type: AT })
    })

    it('lets an afterValidateTokenRequest hook refuse before any token is issued', async () => {
      const extension: GrantExtension = {
        afterValidateTokenRequest: () => {
          throw new OAuthError('invalid_request', 'resource is required')
        },
      }
      const { token, store } = await setup({ extensions: [extension] })
      const before = store.snapshot().tokens.length
      expect((await token(delegation())).body).toEqual({ error: 'invalid_request', error_description: 'resource is required' })
      expect(store.snapshot().tokens).toHaveLength(before)
    })
  })

  describe('static configuration is checked at registration (TypeError, code ERR_GRANTKIT_CONFIG)', () => {
    it.each<[string, Record<string, unknown>, RegExp]>([
      ['ALLOW_IMPERSONATION a string', { ALLOW_IMPERSONATION: 'false' }, /ALLOW_IMPERSONATION/],
      ['ALLOW_IMPERSONATION a number', { ALLOW_IMPERSONATION: 1 }, /ALLOW_IMPERSONATION/],
      ['ISSUE_REFRESH_TOKEN null', { ISSUE_REFRESH_TOKEN: null }, /ISSUE_REFRESH_TOKEN/],
      ['TOKEN_ENDPOINT_AUTH_METHODS empty', { TOKEN_ENDPOINT_AUTH_METHODS: [] }, /TOKEN_ENDPOINT_AUTH_METHODS/],
      ['TOKEN_ENDPOINT_AUTH_METHODS with none (the client must authenticate)', { TOKEN_ENDPOINT_AUTH_METHODS: ['client_secret_basic', 'none'] }, /must not include "none"/],
      ['TOKEN_ENDPOINT_AUTH_METHODS a string (BaseGrant)', { TOKEN_ENDPOINT_AUTH_METHODS: 'client_secret_basic' }, /TOKEN_ENDPOINT_AUTH_METHODS/],
    ])('refuses %s, from validateConfiguration and registerGrant', async (_case, statics, message) => {
      class Bad extends TokenExchangeGrant {}
      Object.assign(Bad, statics)
      const refusal = expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG', message: expect.stringMatching(message) })
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => Bad.validateConfiguration(server)).toThrow(refusal)
      expect(() => server.registerGrant(Bad)).toThrow(refusal)
    })

    it.each<[string, Record<string, unknown>]>([
      ['the defaults', {}],
      ['ALLOW_IMPERSONATION true', { ALLOW_IMPERSONATION: true }],
      ['ISSUE_REFRESH_TOKEN true', { ISSUE_REFRESH_TOKEN: true }],
      ['client_secret_basic only', { TOKEN_ENDPOINT_AUTH_METHODS: ['client_secret_basic'] }],
    ])('accepts %s', async (_case, statics) => {
      class Fine extends TokenExchangeGrant {}
      Object.assign(Fine, statics)
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => Fine.validateConfiguration(server)).not.toThrow()
      expect(() => server.registerGrant(Fine)).not.toThrow()
    })

    it('still refuses a public client when none is added to the methods after registration (unauthorized_client)', async () => {
      class Later extends TokenExchangeGrant {}
      const { token, store } = await setup({ grant: Later })
      const { client } = await createClient({ clientId: 'spa', grantTypes: [GT], scope: 'read', tokenEndpointAuthMethod: 'none' })
      await store.saveClient(client)
      Later.TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'none']
      const response = await token([...delegation(), ['client_id', 'spa']], {})
      expect(response.status).toBe(400)
      expect(response.body).toEqual({ error: 'unauthorized_client', error_description: 'token exchange is only for confidential clients' })
    })

    it('never turns impersonation on from a static mistyped after registration', async () => {
      class Later extends TokenExchangeGrant {}
      const { token } = await setup({ grant: Later })
      Object.assign(Later, { ALLOW_IMPERSONATION: 'yes' })
      expect((await token(impersonation())).body).toMatchObject({ error: 'unauthorized_client' })
    })
  })
})

describe.each(TEST_STORES)('A validateSubjectToken override accepting JWTs from a trusted issuer (RFC 8693 §2.1, §3) on the %s', (_storeName, openStore) => {
  const TRUSTED = 'https://idp.example.org'
  let trusted: { publicKey: CryptoKey; privateKey: CryptoKey }
  let stranger: { publicKey: CryptoKey; privateKey: CryptoKey }

  beforeAll(async () => {
    trusted = await generateKeyPair('ES256')
    stranger = await generateKeyPair('ES256')
  })

  /** Verifies JWTs of the trusted issuer (the test's own code: the package depends on nothing but core). */
  class TrustedJwtGrant extends TokenExchangeGrant {
    override async validateSubjectToken(token: string, type: string): Promise<ExchangeTokenInfo | null> {
      if (type !== TOKEN_TYPES.jwt) return super.validateSubjectToken(token, type)
      const payload = await jwtVerify(token, trusted.publicKey, {
        issuer: TRUSTED,
        audience: ISSUER,
        algorithms: ['ES256'],
        requiredClaims: ['sub', 'exp'],
        currentDate: this.now(),
      }).then(
        (result) => result.payload,
        () => null,
      )
      if (payload === null || typeof payload.sub !== 'string') return null
      return { subject: payload.sub, issuer: TRUSTED, scopes: parseScope(typeof payload.scope === 'string' ? payload.scope : ''), claims: { may_act: payload['may_act'] } }
    }
  }

  const NOW = T0 / 1000
  const jwt = (claims: Record<string, unknown> = {}, key: CryptoKey = trusted.privateKey) =>
    new SignJWT({ iss: TRUSTED, sub: 'bob', aud: ISSUER, exp: NOW + 300, iat: NOW, scope: 'read write', may_act: { sub: 'api-gateway' }, ...claims })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(key)
  const jwtExchange = (subject: string): Params => [
    ['grant_type', GT],
    ['subject_token', subject],
    ['subject_token_type', TOKEN_TYPES.jwt],
    ['actor_token', GATEWAY],
    ['actor_token_type', AT],
  ]

  it('exchanges a JWT signed by the trusted key for an access token delegated to the actor its may_act names', async () => {
    const { token, record, introspect } = await setupOn(openStore, { grant: TrustedJwtGrant })
    const response = await token([...jwtExchange(await jwt()), ['audience', 'orders-api']])
    expect(response.status).toBe(200)
    expect(response.body).toMatchObject({ issued_token_type: AT, token_type: 'Bearer', scope: 'read write' })
    expect(await record(response)).toMatchObject({ userId: 'bob', clientId: 'api-gateway' })
    expect((await introspect(response.body?.['access_token'] as string)).body).toMatchObject({
      active: true,
      sub: 'bob',
      aud: 'orders-api',
      act: { sub: 'api-gateway', client_id: 'api-gateway' },
    })
  })

  it.each<[string, () => Promise<string>]>([
    ['it is signed by another key', () => jwt({}, stranger.privateKey)],
    ['it expired by the server\'s clock', () => jwt({ exp: NOW - 1, iat: NOW - 600 })],
    ['it is for another audience', () => jwt({ aud: 'https://other.example.com' })],
    ['it is from another issuer', () => jwt({ iss: 'https://idp.example.net' })],
    ['it is not a JWT', async () => 'not-a-jwt'],
  ])('refuses the JWT with invalid_request when %s (RFC 8693 §2.2.2)', async (_case, make) => {
    const { token } = await setupOn(openStore, { grant: TrustedJwtGrant })
    const response = await token(jwtExchange(await make()))
    expect(response.status).toBe(400)
    expect(response.body).toEqual({ error: 'invalid_request', error_description: 'the subject token is invalid, expired or revoked' })
  })

  it('refuses a validly signed JWT whose subject holds a NUL, before it reaches the store (invalid_request)', async () => {
    const { token, store } = await setupOn(openStore, { grant: TrustedJwtGrant })
    const before = store.snapshot().tokens.length
    const response = await token(jwtExchange(await jwt({ sub: 'bob\u0000admin' })))
    expect(response.body).toEqual({ error: 'invalid_request', error_description: 'the subject token\'s identifiers must not contain a NUL character' })
    expect(store.snapshot().tokens).toHaveLength(before)
  })

  it('refuses a JWT whose scope the exchange would widen (invalid_scope)', async () => {
    const { token } = await setupOn(openStore, { grant: TrustedJwtGrant })
    const response = await token([...jwtExchange(await jwt({ scope: 'read' })), ['scope', 'read write']])
    expect(response.body).toMatchObject({ error: 'invalid_scope' })
  })

  it('refuses the delegation when the JWT\'s may_act names the actor at another issuer (§4.4 "iss")', async () => {
    const { token } = await setupOn(openStore, { grant: TrustedJwtGrant })
    const response = await token(jwtExchange(await jwt({ may_act: { sub: 'api-gateway', iss: TRUSTED } })))
    // may_act.iss is the trusted issuer, but the actor token was issued by this server.
    expect(response.body).toMatchObject({ error: 'invalid_request' })
  })

  it('leaves the other types to the default: its own access tokens still work, SAML is still unsupported', async () => {
    const { token } = await setupOn(openStore, { grant: TrustedJwtGrant })
    expect((await token(delegation())).status).toBe(200)
    const saml = await token([['grant_type', GT], ['subject_token', 'PHNhbWw+'], ['subject_token_type', TOKEN_TYPES.saml2], ['actor_token', GATEWAY], ['actor_token_type', AT]])
    expect(saml.body).toEqual({ error: 'invalid_request', error_description: "the 'subject_token_type' is not supported by this server" })
  })
})

describe('TokenExchangeGrant on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('writes the issued token with its act and aud claims to the SQLite file', async () => {
    const { token, store } = await setupOn(openTempSqliteStore)
    const response = await token(delegation(ALICE, GATEWAY, ['resource', 'https://api.example/orders']))
    expect(response.status).toBe(200)
    const row = readSqliteRows(store, 'grantkit_tokens').find((r) => r['token_hash'] === hashToken(response.body?.['access_token'] as string))
    expect(row).toMatchObject({ type: 'access_token', client_id: 'api-gateway', user_id: 'alice', scope: 'read write' })
    expect(JSON.parse(row?.['extra'] as string)).toEqual({
      claims: { aud: 'https://api.example/orders', act: { sub: 'api-gateway', client_id: 'api-gateway' } },
    })
  })
})
