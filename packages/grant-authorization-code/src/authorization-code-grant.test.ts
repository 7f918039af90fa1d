import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  createOAuthRequest,
  hashToken,
  type AuthorizationCodeRecord,
  type AuthorizationRequest,
  type Client,
  type ClientInput,
  type GrantClass,
  type GrantExtension,
  type GrantUser,
  type OAuthResponse,
  type SecurityEvent,
} from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { AuthorizationCodeGrant } from './authorization-code-grant.js'

const ISSUER = 'https://auth.example.com'
const REDIRECT = 'https://client.example.com/cb'
const OTHER_REDIRECT = 'https://client.example.com/other'
const T0 = Date.UTC(2026, 0, 1)
const ALICE: GrantUser = { id: 'user-alice' }
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'

/** A minimal refresh_token grant, so that `includeRefreshToken` sees one registered. */
class TestRefreshTokenGrant extends BaseGrant {
  static override GRANT_TYPE: string | null = 'refresh_token'
  static override TOKEN_ENDPOINT = true
  // registerGrant refuses a token-endpoint grant that overrides neither token method.
  override async validateTokenRequest(): Promise<void> {
    throw new Error('this stand-in serves no request in these tests')
  }
}

/** Stands in for PKCE: accepts any `code_challenge` as an S256 challenge. */
const acceptChallenge: GrantExtension = {
  afterValidateAuthorizationRequest({ authorization }) {
    const challenge = authorization.params.get('code_challenge')
    if (challenge !== null) {
      authorization.codeChallenge = challenge
      authorization.codeChallengeMethod = 'S256'
    }
  },
}

const CLIENTS: Record<string, ClientInput> = {
  web: { clientId: 'web', clientSecret: 'web-secret', redirectUris: [REDIRECT, OTHER_REDIRECT], scope: 'read write' },
  single: { clientId: 'single', clientSecret: 'single-secret', redirectUris: [REDIRECT], scope: 'read' },
  post: { clientId: 'post', clientSecret: 'post-secret', redirectUris: [REDIRECT], scope: 'read', tokenEndpointAuthMethod: 'client_secret_post' },
  spa: { clientId: 'spa', redirectUris: [REDIRECT], scope: 'read', tokenEndpointAuthMethod: 'none' },
  refreshing: {
    clientId: 'refreshing',
    clientSecret: 'refreshing-secret',
    redirectUris: [REDIRECT],
    scope: 'read',
    grantTypes: ['authorization_code', 'refresh_token'],
    responseTypes: ['code'],
  },
  machine: { clientId: 'machine', clientSecret: 'machine-secret', redirectUris: [REDIRECT], scope: 'read', grantTypes: ['client_credentials'], responseTypes: ['code'] },
  tokenOnly: { clientId: 'tokenOnly', clientSecret: 'tokenOnly-secret', redirectUris: [REDIRECT], scope: 'read', grantTypes: ['authorization_code'], responseTypes: ['token'] },
}

interface Fixture {
  server: AuthorizationServer
  store: TestStore
  advance(seconds: number): void
  /** What `onSecurityEvent` received. */
  events: SecurityEvent[]
}

interface SetupOptions {
  refreshGrant?: boolean
}

async function setupOn(
  openStore: OpenTestStore,
  grantClass: GrantClass = AuthorizationCodeGrant,
  extensions: GrantExtension[] = [],
  options: SetupOptions = {},
): Promise<Fixture> {
  const store = await openStore()
  let now = T0
  const events: SecurityEvent[] = []
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => now, onError: () => {}, onSecurityEvent: (e) => events.push(e) })
  server.registerGrant(grantClass, extensions)
  if (options.refreshGrant !== false) server.registerGrant(TestRefreshTokenGrant)
  for (const input of Object.values(CLIENTS)) {
    const { client } = await createClient({ ...input, secretHash: 'sha256' })
    await store.saveClient(client)
  }
  return { server, store, advance: (seconds) => (now += seconds * 1000), events }
}

function authorize(server: AuthorizationServer, params: Record<string, string> | string, user: GrantUser | null = ALICE): Promise<OAuthResponse> {
  const query = typeof params === 'string' ? params : new URLSearchParams(params).toString()
  return server.createAuthorizationResponse(createOAuthRequest({ method: 'GET', url: `/authorize?${query}` }), user)
}

function location(response: OAuthResponse): URL {
  expect(response.status).toBe(302)
  return new URL(response.headers['location'] as string)
}

async function issueCode(server: AuthorizationServer, params: Record<string, string> = {}): Promise<string> {
  const response = await authorize(server, { response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, ...params })
  const code = location(response).searchParams.get('code')
  if (code === null) throw new Error(`no code in ${response.headers['location']}`)
  return code
}

function basic(id: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${btoa(`${id}:${secret}`)}` }
}

function token(server: AuthorizationServer, body: Record<string, string> | string, headers: Record<string, string> = basic('web', 'web-secret')): Promise<OAuthResponse> {
  return server.createTokenResponse(
    createOAuthRequest({ method: 'POST', url: '/token', headers, body: typeof body === 'string' ? body : new URLSearchParams(body).toString() }),
  )
}

describe.each(TEST_STORES)('AuthorizationCodeGrant on the %s', (_storeName, openStore) => {
  const setup = (grantClass?: GrantClass, extensions?: GrantExtension[], options?: SetupOptions) => setupOn(openStore, grantClass, extensions, options)

  it('has Authlib’s defaults as static configuration', () => {
    expect(AuthorizationCodeGrant.GRANT_TYPE).toBe('authorization_code')
    expect(AuthorizationCodeGrant.RESPONSE_TYPES).toEqual(['code'])
    expect(AuthorizationCodeGrant.AUTHORIZATION_ENDPOINT).toBe(true)
    expect(AuthorizationCodeGrant.TOKEN_ENDPOINT).toBe(true)
    expect(AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['client_secret_basic', 'client_secret_post', 'none'])
    expect(AuthorizationCodeGrant.REQUIRE_PKCE_FOR_PUBLIC_CLIENTS).toBe(true)
  })

  it('appears in the RFC 8414 metadata', async () => {
    const { server } = await setup()
    expect(server.metadata()).toMatchObject({
      grant_types_supported: expect.arrayContaining(['authorization_code']),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    })
  })

  describe('authorization response (RFC 6749 §4.1.2)', () => {
    it('redirects with a code, the state and the RFC 9207 iss', async () => {
      const { server } = await setup()
      const response = await authorize(server, { response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, state: 'xyz' })
      const url = location(response)
      expect(url.origin + url.pathname).toBe(REDIRECT)
      expect(url.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(url.searchParams.get('state')).toBe('xyz')
      expect(url.searchParams.get('iss')).toBe(ISSUER)
      expect(url.hash).toBe('')
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('stores only the hash of the code, bound to client, user, redirect_uri, scope and lifetime', async () => {
      const { server, store } = await setup()
      const code = await issueCode(server, { scope: 'read' })
      const [record] = store.snapshot().codes
      expect(record).toMatchObject({
        codeHash: hashToken(code),
        clientId: 'web',
        userId: ALICE.id,
        redirectUri: REDIRECT,
        scope: 'read',
        codeChallenge: null,
        codeChallengeMethod: null,
        createdAt: new Date(T0),
        expiresAt: new Date(T0 + 60_000),
        consumedAt: null,
      })
      expect(record?.familyId).toEqual(expect.any(String))
      expect(JSON.stringify(store.snapshot())).not.toContain(code)
    })

    it('stores a null redirect_uri when the request omitted it', async () => {
      const { server, store } = await setup()
      const response = await authorize(server, { response_type: 'code', client_id: 'single' })
      expect(location(response).origin + location(response).pathname).toBe(REDIRECT)
      expect(store.snapshot().codes[0]).toMatchObject({ clientId: 'single', redirectUri: null })
    })

    it('binds the code to the PKCE challenge an extension accepted and to the extension data', async () => {
      const carryExtra: GrantExtension = {
        afterValidateAuthorizationRequest({ authorization }) {
          authorization.extra['nonce'] = 'n-0S6_WzA2Mj'
        },
      }
      const { server, store } = await setup(AuthorizationCodeGrant, [acceptChallenge, carryExtra])
      await issueCode(server, { code_challenge: CHALLENGE })
      expect(store.snapshot().codes[0]).toMatchObject({ codeChallenge: CHALLENGE, codeChallengeMethod: 'S256', extra: { nonce: 'n-0S6_WzA2Mj' } })
    })

    it('gives every code its own token family', async () => {
      const { server, store } = await setup()
      await issueCode(server)
      await issueCode(server)
      const [a, b] = store.snapshot().codes
      expect(a?.familyId).not.toBe(b?.familyId)
    })

    it('redirects access_denied when the user denies the request (RFC 6749 §4.1.2.1)', async () => {
      const { server, store } = await setup()
      const response = await authorize(server, { response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, state: 's' }, null)
      const url = location(response)
      expect(Object.fromEntries(url.searchParams)).toMatchObject({ error: 'access_denied', state: 's', iss: ISSUER })
      expect(store.snapshot().codes).toHaveLength(0)
    })
  })

  describe('authorization request errors (RFC 6749 §4.1.2.1)', () => {
    it.each([
      ['the response type is not registered', { response_type: 'id_token', client_id: 'web', redirect_uri: REDIRECT }, 'unsupported_response_type'],
      ['response_type is missing', { client_id: 'web', redirect_uri: REDIRECT }, 'invalid_request'],
      ['response_type is repeated', 'response_type=code&response_type=code&client_id=web&redirect_uri=' + encodeURIComponent(REDIRECT), 'invalid_request'],
      ['state is repeated', 'response_type=code&client_id=web&state=a&state=b&redirect_uri=' + encodeURIComponent(REDIRECT), 'invalid_request'],
      ['scope is repeated', 'response_type=code&client_id=web&scope=read&scope=write&redirect_uri=' + encodeURIComponent(REDIRECT), 'invalid_request'],
      ['the client may not use the grant type', { response_type: 'code', client_id: 'machine', redirect_uri: REDIRECT }, 'unauthorized_client'],
      ['the client may not use the response type', { response_type: 'code', client_id: 'tokenOnly', redirect_uri: REDIRECT }, 'unauthorized_client'],
      ['the scope is not allowed for the client', { response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'admin' }, 'invalid_scope'],
      ['a public client sent no PKCE challenge (RFC 9700 §2.1.1)', { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT }, 'invalid_request'],
    ] as const)('redirects the error when %s', async (_, params, error) => {
      const { server, store } = await setup()
      const response = await authorize(server, params)
      const url = location(response)
      expect(url.origin + url.pathname).toBe(REDIRECT)
      expect(url.searchParams.get('error')).toBe(error)
      expect(url.searchParams.get('iss')).toBe(ISSUER)
      expect(url.searchParams.get('code')).toBeNull()
      expect(store.snapshot().codes).toHaveLength(0)
    })

    it.each([
      ['the client is unknown', { response_type: 'code', client_id: 'nobody', redirect_uri: REDIRECT }, 'invalid_client'],
      ['client_id is missing', { response_type: 'code', redirect_uri: REDIRECT }, 'invalid_request'],
      ['the redirect_uri is not registered (exact match)', { response_type: 'code', client_id: 'web', redirect_uri: REDIRECT + '/' }, 'invalid_request'],
      ['redirect_uri is omitted but several are registered', { response_type: 'code', client_id: 'web' }, 'invalid_request'],
    ] as const)('answers 400 without redirecting when %s', async (_, params, error) => {
      const { server } = await setup()
      const response = await authorize(server, params)
      expect(response.status).toBe(400)
      expect(response.headers['location']).toBeUndefined()
      expect(response.body).toMatchObject({ error })
    })

    it('sends the state back with the error', async () => {
      const { server } = await setup()
      const url = location(await authorize(server, { response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'admin', state: 'st' }))
      expect(url.searchParams.get('state')).toBe('st')
    })

    it('rejects a public client with unauthorized_client when the grant does not accept "none"', async () => {
      class ConfidentialOnlyGrant extends AuthorizationCodeGrant {
        static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post']
      }
      const { server } = await setup(ConfidentialOnlyGrant, [acceptChallenge])
      const url = location(await authorize(server, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: CHALLENGE }))
      expect(url.searchParams.get('error')).toBe('unauthorized_client')
    })
  })

  describe('PKCE for public clients (RFC 9700 §2.1.1)', () => {
    it('issues a code to a public client once an extension accepted a challenge', async () => {
      const { server, store } = await setup(AuthorizationCodeGrant, [acceptChallenge])
      const url = location(await authorize(server, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: CHALLENGE }))
      expect(url.searchParams.get('code')).not.toBeNull()
      expect(store.snapshot().codes[0]).toMatchObject({ clientId: 'spa', codeChallenge: CHALLENGE })
    })

    it('rejects a public client when no extension accepted the challenge it sent', async () => {
      const { server } = await setup()
      const url = location(await authorize(server, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT, code_challenge: CHALLENGE }))
      expect(url.searchParams.get('error')).toBe('invalid_request')
    })

    it('lets a subclass turn the requirement off with REQUIRE_PKCE_FOR_PUBLIC_CLIENTS = false', async () => {
      class LegacyGrant extends AuthorizationCodeGrant {
        static override REQUIRE_PKCE_FOR_PUBLIC_CLIENTS = false
      }
      const { server } = await setup(LegacyGrant)
      const url = location(await authorize(server, { response_type: 'code', client_id: 'spa', redirect_uri: REDIRECT }))
      const code = url.searchParams.get('code') as string
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'spa' }, {})
      expect(response.status).toBe(200)
    })

    it('does not require a challenge from confidential clients', async () => {
      const { server } = await setup()
      expect(await issueCode(server)).toEqual(expect.any(String))
    })
  })

  describe('access token response (RFC 6749 §4.1.4)', () => {
    it('answers 200 with a Bearer token, expires_in, scope and Cache-Control: no-store', async () => {
      const { server } = await setup()
      const code = await issueCode(server, { scope: 'read' })
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.status).toBe(200)
      expect(response.headers['cache-control']).toBe('no-store')
      expect(response.headers['pragma']).toBe('no-cache')
      expect(response.body).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, scope: 'read' })
      expect(response.body).not.toHaveProperty('refresh_token')
    })

    it('hands the extensions the redeemed code, with what afterAuthorizationApproved carried (e.g. OpenID Connect auth_time)', async () => {
      const seen: Array<Record<string, unknown> | undefined> = []
      const extension: GrantExtension = {
        afterAuthorizationApproved: ({ authorization, user }) => void (authorization.extra['approved_by'] = user.id),
        beforeIssueTokens: ({ code }) => void seen.push(code?.extra),
        beforeTokenResponse: ({ code, body }) => void (body['approved_by'] = code?.extra?.['approved_by']),
      }
      const { server } = await setup(AuthorizationCodeGrant, [extension])
      const code = await issueCode(server, { scope: 'read' })
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.status).toBe(200)
      expect(seen).toEqual([{ approved_by: ALICE.id }])
      expect(response.body).toMatchObject({ approved_by: ALICE.id })
    })

    it('stores the access token by hash, in the code family, for the user', async () => {
      const { server, store } = await setup()
      const code = await issueCode(server)
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      const stored = await store.findToken(hashToken(response.body?.['access_token'] as string))
      expect(stored).toMatchObject({
        type: 'access_token',
        clientId: 'web',
        userId: ALICE.id,
        scope: 'read write',
        familyId: store.snapshot().codes[0]?.familyId,
        expiresAt: new Date(T0 + 3600_000),
        revokedAt: null,
      })
    })

    it('authenticates with client_secret_post', async () => {
      const { server } = await setup()
      const code = location(await authorize(server, { response_type: 'code', client_id: 'post' })).searchParams.get('code') as string
      const response = await token(server, { grant_type: 'authorization_code', code, client_id: 'post', client_secret: 'post-secret' }, {})
      expect(response.status).toBe(200)
    })

    it('authenticates a public client with "none" (client_id only)', async () => {
      const { server } = await setup(AuthorizationCodeGrant, [acceptChallenge])
      const url = location(await authorize(server, { response_type: 'code', client_id: 'spa', code_challenge: CHALLENGE }))
      const response = await token(server, { grant_type: 'authorization_code', code: url.searchParams.get('code') as string, client_id: 'spa' }, {})
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ token_type: 'Bearer' })
    })

    it('accepts no redirect_uri at the token endpoint when the authorization request had none', async () => {
      const { server } = await setup()
      const code = location(await authorize(server, { response_type: 'code', client_id: 'single' })).searchParams.get('code') as string
      const response = await token(server, { grant_type: 'authorization_code', code }, basic('single', 'single-secret'))
      expect(response.status).toBe(200)
    })

    it('accepts the registered redirect_uri at the token endpoint when the authorization request had none', async () => {
      const { server } = await setup()
      const code = location(await authorize(server, { response_type: 'code', client_id: 'single' })).searchParams.get('code') as string
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, basic('single', 'single-secret'))
      expect(response.status).toBe(200)
    })

    it('issues a refresh token when the client may use refresh_token and a grant for it is registered', async () => {
      const { server, store } = await setup()
      const url = location(await authorize(server, { response_type: 'code', client_id: 'refreshing' }))
      const response = await token(server, { grant_type: 'authorization_code', code: url.searchParams.get('code') as string }, basic('refreshing', 'refreshing-secret'))
      expect(response.status).toBe(200)
      const refresh = response.body?.['refresh_token'] as string
      expect(refresh).toEqual(expect.any(String))
      expect(await store.findToken(hashToken(refresh))).toMatchObject({ type: 'refresh_token', familyId: store.snapshot().codes[0]?.familyId })
    })

    it('issues no refresh token when no refresh_token grant is registered', async () => {
      const { server } = await setup(AuthorizationCodeGrant, [], { refreshGrant: false })
      const url = location(await authorize(server, { response_type: 'code', client_id: 'refreshing' }))
      const response = await token(server, { grant_type: 'authorization_code', code: url.searchParams.get('code') as string }, basic('refreshing', 'refreshing-secret'))
      expect(response.status).toBe(200)
      expect(response.body).not.toHaveProperty('refresh_token')
    })

    it('marks the code consumed in the store', async () => {
      const { server, store } = await setup()
      const code = await issueCode(server)
      await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(store.snapshot().codes[0]?.consumedAt).toEqual(new Date(T0))
    })
  })

  describe('access token request errors (RFC 6749 §4.1.3, §5.2)', () => {
    type Case = [string, (code: string) => { body: Record<string, string> | string; headers?: Record<string, string> }, number, string]
    const cases: Case[] = [
      ['the client is unknown', (code) => ({ body: { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, headers: basic('nobody', 'x') }), 401, 'invalid_client'],
      ['the secret is wrong (Basic)', (code) => ({ body: { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, headers: basic('web', 'wrong') }), 401, 'invalid_client'],
      [
        'the secret is wrong (post)',
        (code) => ({ body: { grant_type: 'authorization_code', code, client_id: 'post', client_secret: 'wrong' }, headers: {} }),
        401,
        'invalid_client',
      ],
      ['the client does not authenticate', (code) => ({ body: { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, headers: {} }), 401, 'invalid_client'],
      ['a confidential client claims to be public', (code) => ({ body: { grant_type: 'authorization_code', code, client_id: 'web' }, headers: {} }), 401, 'invalid_client'],
      ['the client may not use the grant type', (code) => ({ body: { grant_type: 'authorization_code', code }, headers: basic('machine', 'machine-secret') }), 400, 'unauthorized_client'],
      ['code is missing', () => ({ body: { grant_type: 'authorization_code', redirect_uri: REDIRECT } }), 400, 'invalid_request'],
      ['code is repeated', (code) => ({ body: `grant_type=authorization_code&code=${code}&code=${code}` }), 400, 'invalid_request'],
      ['redirect_uri is repeated', (code) => ({ body: `grant_type=authorization_code&code=${code}&redirect_uri=${encodeURIComponent(REDIRECT)}&redirect_uri=x` }), 400, 'invalid_request'],
      ['grant_type is repeated', (code) => ({ body: `grant_type=authorization_code&grant_type=authorization_code&code=${code}` }), 400, 'invalid_request'],
      ['the code is unknown', () => ({ body: { grant_type: 'authorization_code', code: 'not-a-code', redirect_uri: REDIRECT } }), 400, 'invalid_grant'],
      ['the code was issued to another client', (code) => ({ body: { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, headers: basic('single', 'single-secret') }), 400, 'invalid_grant'],
      ['redirect_uri is missing but was sent at authorization', (code) => ({ body: { grant_type: 'authorization_code', code } }), 400, 'invalid_grant'],
      ['redirect_uri differs from the one sent at authorization', (code) => ({ body: { grant_type: 'authorization_code', code, redirect_uri: OTHER_REDIRECT } }), 400, 'invalid_grant'],
    ]

    it.each(cases)('fails because %s', async (_, build, status, error) => {
      const { server } = await setup()
      const code = await issueCode(server)
      const { body, headers } = build(code)
      const response = await token(server, body, headers)
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(response.headers['cache-control']).toBe('no-store')
      if (status === 401) expect(response.headers['www-authenticate']).toMatch(/^Basic /)
    })

    it('fails with invalid_grant when redirect_uri was omitted at authorization and an unregistered one is sent', async () => {
      const { server } = await setup()
      const code = location(await authorize(server, { response_type: 'code', client_id: 'single' })).searchParams.get('code') as string
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: OTHER_REDIRECT }, basic('single', 'single-secret'))
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })

    it('fails with invalid_client when the auth method is not allowed for the grant (reference: remove "none")', async () => {
      class ConfidentialOnlyGrant extends AuthorizationCodeGrant {
        static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post']
      }
      const { server } = await setup(ConfidentialOnlyGrant)
      const response = await token(server, { grant_type: 'authorization_code', code: 'whatever', client_id: 'spa' }, {})
      expect(response.status).toBe(401)
      expect(response.body).toMatchObject({ error: 'invalid_client' })
      expect(server.metadata()['token_endpoint_auth_methods_supported']).toEqual(['client_secret_basic', 'client_secret_post'])
    })

    it('does not burn the code when the request is malformed before redemption', async () => {
      const { server } = await setup()
      const code = await issueCode(server)
      await token(server, `grant_type=authorization_code&code=${code}&redirect_uri=a&redirect_uri=b`)
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.status).toBe(200)
    })

    it('burns the code when a later check fails: the client must start over', async () => {
      const { server } = await setup()
      const code = await issueCode(server)
      await token(server, { grant_type: 'authorization_code', code, redirect_uri: OTHER_REDIRECT })
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })
  })

  describe('when the code expired (RFC 6749 §4.1.2, code lifetime)', () => {
    it('is redeemable just before the lifetime ends', async () => {
      const { server, advance } = await setup()
      const code = await issueCode(server)
      advance(59)
      expect((await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })).status).toBe(200)
    })

    it.each([60, 61, 3600])('rejects with invalid_grant %i seconds after issue', async (seconds) => {
      const { server, advance } = await setup()
      const code = await issueCode(server)
      advance(seconds)
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })
  })

  describe('when the code was already used (RFC 6749 §4.1.2)', () => {
    it('rejects with invalid_grant and revokes the tokens issued from the code', async () => {
      const { server, store } = await setup()
      const url = location(await authorize(server, { response_type: 'code', client_id: 'refreshing' }))
      const code = url.searchParams.get('code') as string
      const first = await token(server, { grant_type: 'authorization_code', code }, basic('refreshing', 'refreshing-secret'))
      expect(first.status).toBe(200)
      const access = first.body?.['access_token'] as string
      const refresh = first.body?.['refresh_token'] as string
      expect((await store.findToken(hashToken(access)))?.revokedAt).toBeNull()

      const replay = await token(server, { grant_type: 'authorization_code', code }, basic('refreshing', 'refreshing-secret'))
      expect(replay.status).toBe(400)
      expect(replay.body).toMatchObject({ error: 'invalid_grant' })
      expect((await store.findToken(hashToken(access)))?.revokedAt).toEqual(new Date(T0))
      expect((await store.findToken(hashToken(refresh)))?.revokedAt).toEqual(new Date(T0))
    })

    it('reports the replay to onSecurityEvent with ids only, once per replay', async () => {
      const { server, store, events } = await setup()
      const code = await issueCode(server)
      const first = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(events).toEqual([])
      await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      const familyId = (await store.findToken(hashToken(first.body?.['access_token'] as string)))?.familyId
      expect(events).toEqual([{ type: 'authorization_code_replay', clientId: 'web', userId: ALICE.id, familyId }])
      expect(JSON.stringify(events)).not.toContain(code)
    })

    it('revokes the tokens even when another client replays the code', async () => {
      const { server, store } = await setup()
      const code = await issueCode(server)
      const first = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      const replay = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, basic('single', 'single-secret'))
      expect(replay.body).toMatchObject({ error: 'invalid_grant' })
      expect((await store.findToken(hashToken(first.body?.['access_token'] as string)))?.revokedAt).not.toBeNull()
    })

    it('leaves the tokens of other codes alone', async () => {
      const { server, store } = await setup()
      const [a, b] = [await issueCode(server), await issueCode(server)]
      await token(server, { grant_type: 'authorization_code', code: a, redirect_uri: REDIRECT })
      const other = await token(server, { grant_type: 'authorization_code', code: b, redirect_uri: REDIRECT })
      await token(server, { grant_type: 'authorization_code', code: a, redirect_uri: REDIRECT })
      expect((await store.findToken(hashToken(other.body?.['access_token'] as string)))?.revokedAt).toBeNull()
    })
  })

  describe('when one code is redeemed concurrently', () => {
    it('answers exactly one of 20 concurrent requests with 200', async () => {
      const { server } = await setup()
      const code = await issueCode(server)
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })),
      )
      expect(responses.filter((r) => r.status === 200)).toHaveLength(1)
      const failures = responses.filter((r) => r.status !== 200)
      expect(failures).toHaveLength(19)
      for (const failure of failures) expect(failure.body).toMatchObject({ error: 'invalid_grant' })
    })

    it('revokes the winner’s tokens too, whichever order the replays and the redemption finish in (RFC 6749 §4.1.2)', async () => {
      for (let round = 0; round < 5; round++) {
        const { server, store } = await setup()
        const code = await issueCode(server)
        const responses = await Promise.all(
          Array.from({ length: 20 }, () => token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })),
        )
        const winner = responses.find((r) => r.status === 200)
        expect((await store.findToken(hashToken(winner?.body?.['access_token'] as string)))?.revokedAt).not.toBeNull()
      }
    })

    it('keeps the tokens of a redemption that no replay raced', async () => {
      const { server, store } = await setup()
      const code = await issueCode(server)
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect((await store.findToken(hashToken(response.body?.['access_token'] as string)))?.revokedAt).toBeNull()
    })
  })

  describe('reference example: a subclass keeping codes in its own storage', () => {
    interface AppCode {
      codeHash: string
      clientId: string
      redirectUri: string | null
      scope: string
      userId: string
      familyId: string
      createdAt: Date
      expiresAt: Date
    }

    function createApp() {
      const codes = new Map<string, AppCode>()
      const users = new Map<string, GrantUser>([[ALICE.id, { id: ALICE.id, username: 'alice' }]])
      const calls: string[] = []
      class AppAuthorizationCodeGrant extends AuthorizationCodeGrant {
        override async createAuthorizationCode(client: Client, user: GrantUser, authorization: AuthorizationRequest) {
          calls.push('createAuthorizationCode')
          const code = crypto.randomUUID() + crypto.randomUUID()
          const createdAt = this.now()
          codes.set(hashToken(code), {
            codeHash: hashToken(code),
            clientId: client.clientId,
            redirectUri: authorization.redirectUriProvided ? authorization.redirectUri : null,
            scope: authorization.scopes.join(' '),
            userId: user.id,
            familyId: this.server.newId(),
            createdAt,
            expiresAt: new Date(createdAt.getTime() + 300_000),
          })
          return code
        }

        override async parseAuthorizationCode(code: string, client: Client): Promise<AuthorizationCodeRecord | null> {
          calls.push('parseAuthorizationCode')
          const item = codes.get(hashToken(code))
          if (item === undefined || item.clientId !== client.clientId || item.expiresAt <= this.now()) return null
          return { ...item, codeChallenge: null, codeChallengeMethod: null, consumedAt: null }
        }

        override async deleteAuthorizationCode(authorizationCode: AuthorizationCodeRecord) {
          calls.push('deleteAuthorizationCode')
          codes.delete(authorizationCode.codeHash)
        }

        override async authenticateUser(authorizationCode: AuthorizationCodeRecord) {
          calls.push('authenticateUser')
          return users.get(authorizationCode.userId) ?? null
        }
      }
      return { AppAuthorizationCodeGrant, codes, users, calls }
    }

    it('runs the whole flow through the overridden hooks', async () => {
      const app = createApp()
      const { server, store } = await setup(app.AppAuthorizationCodeGrant)
      const code = await issueCode(server, { scope: 'write' })
      expect(app.codes.size).toBe(1)
      expect(store.snapshot().codes).toHaveLength(0)
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ token_type: 'Bearer', scope: 'write' })
      expect(app.calls).toEqual(['createAuthorizationCode', 'parseAuthorizationCode', 'authenticateUser', 'deleteAuthorizationCode'])
      expect(app.codes.size).toBe(0)
      expect(await store.findToken(hashToken(response.body?.['access_token'] as string))).toMatchObject({ userId: ALICE.id })
    })

    it('rejects a second use, since deleteAuthorizationCode removed the code', async () => {
      const app = createApp()
      const { server } = await setup(app.AppAuthorizationCodeGrant)
      const code = await issueCode(server)
      await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      const replay = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(replay.body).toMatchObject({ error: 'invalid_grant' })
    })

    it('rejects with invalid_grant when authenticateUser finds no user', async () => {
      const app = createApp()
      const { server } = await setup(app.AppAuthorizationCodeGrant)
      const code = await issueCode(server)
      app.users.clear()
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
      expect(app.calls).not.toContain('deleteAuthorizationCode')
    })

    it('still rejects another client\'s code when an override forgets to check the client', async () => {
      const app = createApp()
      class CarelessGrant extends app.AppAuthorizationCodeGrant {
        override async parseAuthorizationCode(code: string): Promise<AuthorizationCodeRecord | null> {
          const item = app.codes.get(hashToken(code))
          return item === undefined ? null : { ...item, codeChallenge: null, codeChallengeMethod: null, consumedAt: null }
        }
      }
      const { server } = await setup(CarelessGrant)
      const code = await issueCode(server)
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT }, basic('single', 'single-secret'))
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })

    it('still rejects an expired code when an override forgets to check expiry', async () => {
      const app = createApp()
      class CarelessGrant extends app.AppAuthorizationCodeGrant {
        override async parseAuthorizationCode(code: string): Promise<AuthorizationCodeRecord | null> {
          const item = app.codes.get(hashToken(code))
          return item === undefined ? null : { ...item, codeChallenge: null, codeChallengeMethod: null, consumedAt: null }
        }
      }
      const { server, advance } = await setup(CarelessGrant)
      const code = await issueCode(server)
      advance(300)
      const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })
  })

  describe('default authenticateUser', () => {
    it('adds the username the server resolves', async () => {
      const store = await openStore()
      await store.saveUser({ id: ALICE.id, username: 'alice', passwordHash: 'x' })
      const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => T0 })
      const grant = new AuthorizationCodeGrant(server, createOAuthRequest(), [])
      const record = { userId: ALICE.id } as AuthorizationCodeRecord
      expect(await grant.authenticateUser(record)).toEqual({ id: ALICE.id, username: 'alice' })
      expect(await grant.authenticateUser({ userId: 'unknown' } as AuthorizationCodeRecord)).toEqual({ id: 'unknown' })
    })
  })
})

describe('AuthorizationCodeGrant on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('writes the code, its consumption and the issued token to the SQLite file', async () => {
    const { server, store } = await setupOn(openTempSqliteStore)
    const code = await issueCode(server)
    expect(readSqliteRows(store, 'grantkit_authorization_codes')).toEqual([expect.objectContaining({ code_hash: hashToken(code), client_id: 'web', consumed_at: null })])
    const response = await token(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
    expect(response.status).toBe(200)
    const [codeRow] = readSqliteRows(store, 'grantkit_authorization_codes')
    expect(codeRow).toMatchObject({ consumed_at: T0 })
    expect(readSqliteRows(store, 'grantkit_tokens')).toEqual([
      expect.objectContaining({ token_hash: hashToken(response.body?.['access_token'] as string), family_id: codeRow?.['family_id'], user_id: ALICE.id }),
    ])
  })
})
