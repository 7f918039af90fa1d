import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  createOAuthRequest,
  hashToken,
  type ClientInput,
  type GrantClass,
  type GrantExtension,
  type GrantUser,
  type OAuthResponse,
} from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { ImplicitGrant } from './implicit-grant.js'

const ISSUER = 'https://auth.example.com'
const REDIRECT = 'https://spa.example.com/cb'
const T0 = Date.UTC(2026, 0, 1)
const ALICE: GrantUser = { id: 'user-alice' }

/** A minimal refresh_token grant, to show that the implicit grant never issues one anyway. */
class TestRefreshTokenGrant extends BaseGrant {
  static override GRANT_TYPE: string | null = 'refresh_token'
  static override TOKEN_ENDPOINT = true
  // registerGrant refuses a token-endpoint grant that overrides neither token method.
  override async validateTokenRequest(): Promise<void> {
    throw new Error('this stand-in serves no request in these tests')
  }
}

const CLIENTS: Record<string, ClientInput> = {
  spa: {
    clientId: 'spa',
    redirectUris: [REDIRECT],
    scope: 'read write',
    tokenEndpointAuthMethod: 'none',
    grantTypes: ['implicit', 'refresh_token'],
    responseTypes: ['token'],
  },
  web: {
    clientId: 'web',
    clientSecret: 'web-secret',
    redirectUris: [REDIRECT],
    scope: 'read',
    grantTypes: ['implicit'],
    responseTypes: ['token'],
  },
  codeOnly: { clientId: 'codeOnly', redirectUris: [REDIRECT], scope: 'read', tokenEndpointAuthMethod: 'none', grantTypes: ['implicit'], responseTypes: ['code'] },
  noImplicit: {
    clientId: 'noImplicit',
    redirectUris: [REDIRECT],
    scope: 'read',
    tokenEndpointAuthMethod: 'none',
    grantTypes: ['authorization_code'],
    responseTypes: ['token'],
  },
}

async function setupOn(
  openStore: OpenTestStore,
  grantClass: GrantClass = ImplicitGrant,
  extensions: GrantExtension[] = [],
): Promise<{ server: AuthorizationServer; store: TestStore }> {
  const store = await openStore()
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => T0, onError: () => {} })
  server.registerGrant(grantClass, extensions)
  server.registerGrant(TestRefreshTokenGrant)
  for (const input of Object.values(CLIENTS)) {
    const { client } = await createClient({ ...input, secretHash: 'sha256' })
    await store.saveClient(client)
  }
  return { server, store }
}

function authorize(server: AuthorizationServer, params: Record<string, string> | string, user: GrantUser | null = ALICE): Promise<OAuthResponse> {
  const query = typeof params === 'string' ? params : new URLSearchParams(params).toString()
  return server.createAuthorizationResponse(createOAuthRequest({ method: 'GET', url: `/authorize?${query}` }), user)
}

/** The redirect's fragment parameters; fails the test when the response is no redirect. */
function fragment(response: OAuthResponse): Record<string, string> {
  expect(response.status).toBe(302)
  const url = new URL(response.headers['location'] as string)
  expect(url.origin + url.pathname).toBe(REDIRECT)
  expect(url.search).toBe('')
  return Object.fromEntries(new URLSearchParams(url.hash.slice(1)))
}

describe.each(TEST_STORES)('ImplicitGrant on the %s', (_storeName, openStore) => {
  const setup = (grantClass?: GrantClass, extensions?: GrantExtension[]) => setupOn(openStore, grantClass, extensions)

  it('has Authlib’s defaults as static configuration', () => {
    expect(ImplicitGrant.GRANT_TYPE).toBe('implicit')
    expect(ImplicitGrant.RESPONSE_TYPES).toEqual(['token'])
    expect(ImplicitGrant.AUTHORIZATION_ENDPOINT).toBe(true)
    expect(ImplicitGrant.TOKEN_ENDPOINT).toBe(false)
    expect(ImplicitGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['none'])
  })

  it('appears in the RFC 8414 metadata with the fragment response mode', async () => {
    const store = await openStore()
    const server = new AuthorizationServer({ issuer: ISSUER, store }).registerGrant(ImplicitGrant)
    expect(server.metadata()).toMatchObject({
      grant_types_supported: ['implicit'],
      response_types_supported: ['token'],
      response_modes_supported: ['fragment'],
      authorization_endpoint: `${ISSUER}/authorize`,
    })
    expect(server.metadata()).not.toHaveProperty('token_endpoint')
  })

  describe('access token response (RFC 6749 §4.2.2)', () => {
    it('redirects with the token, token_type, expires_in, scope, state and iss in the fragment', async () => {
      const { server } = await setup()
      const response = await authorize(server, { response_type: 'token', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read', state: 'xyz' })
      expect(fragment(response)).toEqual({
        access_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        token_type: 'Bearer',
        expires_in: '3600',
        scope: 'read',
        state: 'xyz',
        iss: ISSUER,
      })
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('never issues a refresh token, even to a client allowed refresh_token', async () => {
      const { server, store } = await setup()
      const params = fragment(await authorize(server, { response_type: 'token', client_id: 'spa' }))
      expect(params).not.toHaveProperty('refresh_token')
      expect(store.snapshot().tokens.map((t) => t.type)).toEqual(['access_token'])
    })

    it('stores the access token by hash, for the user, with the granted scope', async () => {
      const { server, store } = await setup()
      const { access_token } = fragment(await authorize(server, { response_type: 'token', client_id: 'spa' }))
      expect(await store.findToken(hashToken(access_token as string))).toMatchObject({
        type: 'access_token',
        clientId: 'spa',
        userId: ALICE.id,
        scope: 'read write',
        expiresAt: new Date(T0 + 3600_000),
        revokedAt: null,
      })
      expect(JSON.stringify(store.snapshot())).not.toContain(access_token)
    })

    it('issues a token that authenticates protected-resource requests (RFC 6750)', async () => {
      const { server } = await setup()
      const { access_token } = fragment(await authorize(server, { response_type: 'token', client_id: 'spa', scope: 'write' }))
      const info = await server.authenticateBearerToken(createOAuthRequest({ headers: { authorization: `Bearer ${access_token}` } }), { scope: 'write' })
      expect(info).toMatchObject({ clientId: 'spa', userId: ALICE.id, scopes: ['write'] })
    })

    it('omits state when the request had none', async () => {
      const { server } = await setup()
      expect(fragment(await authorize(server, { response_type: 'token', client_id: 'spa' }))).not.toHaveProperty('state')
    })

    it('adds what a beforeTokenResponse hook adds to the body', async () => {
      const extension: GrantExtension = {
        beforeTokenResponse({ body }) {
          body['session_state'] = 'abc'
        },
      }
      const { server } = await setup(ImplicitGrant, [extension])
      expect(fragment(await authorize(server, { response_type: 'token', client_id: 'spa' }))).toMatchObject({ session_state: 'abc' })
    })
  })

  describe('authorization request errors (RFC 6749 §4.2.2.1)', () => {
    it.each([
      ['a confidential client uses it (public clients only)', { response_type: 'token', client_id: 'web', redirect_uri: REDIRECT }, 'unauthorized_client'],
      ['the client may not use the implicit grant type', { response_type: 'token', client_id: 'noImplicit' }, 'unauthorized_client'],
      ['the client may not use the token response type', { response_type: 'token', client_id: 'codeOnly' }, 'unauthorized_client'],
      ['the scope is not allowed for the client', { response_type: 'token', client_id: 'spa', scope: 'admin' }, 'invalid_scope'],
      ['state is repeated', 'response_type=token&client_id=spa&state=a&state=b', 'invalid_request'],
      ['scope is repeated', 'response_type=token&client_id=spa&scope=read&scope=write', 'invalid_request'],
      ['the user denied the request', { response_type: 'token', client_id: 'spa', state: 's' }, 'access_denied'],
    ] as const)('redirects the error in the fragment when %s', async (name, params, error) => {
      const { server, store } = await setup()
      const response = await authorize(server, params, name === 'the user denied the request' ? null : ALICE)
      const result = fragment(response)
      expect(result).toMatchObject({ error, iss: ISSUER })
      expect(result).not.toHaveProperty('access_token')
      expect(store.snapshot().tokens).toHaveLength(0)
    })

    it.each([
      ['a response type no grant serves', { response_type: 'code', client_id: 'spa' }, 'unsupported_response_type'],
      ['response_type is repeated, so the response mode is unknown', 'response_type=token&response_type=token&client_id=spa', 'invalid_request'],
    ] as const)('redirects the error in the query for %s', async (_, params, error) => {
      const { server } = await setup()
      const url = new URL((await authorize(server, params)).headers['location'] as string)
      expect(url.searchParams.get('error')).toBe(error)
      expect(url.hash).toBe('')
    })

    it.each([
      ['the client is unknown', { response_type: 'token', client_id: 'nobody' }, 'invalid_client'],
      ['client_id is missing', { response_type: 'token' }, 'invalid_request'],
      ['the redirect_uri is not registered (exact match)', { response_type: 'token', client_id: 'spa', redirect_uri: `${REDIRECT}?x=1` }, 'invalid_request'],
    ] as const)('answers 400 without redirecting when %s', async (_, params, error) => {
      const { server, store } = await setup()
      const response = await authorize(server, params)
      expect(response.status).toBe(400)
      expect(response.headers['location']).toBeUndefined()
      expect(response.body).toMatchObject({ error })
      expect(store.snapshot().tokens).toHaveLength(0)
    })

    it('serves confidential clients only when a subclass lists their method in TOKEN_ENDPOINT_AUTH_METHODS', async () => {
      class LenientImplicitGrant extends ImplicitGrant {
        static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['none', 'client_secret_basic']
      }
      const { server } = await setup(LenientImplicitGrant)
      expect(fragment(await authorize(server, { response_type: 'token', client_id: 'web' }))).toMatchObject({ token_type: 'Bearer' })
    })

    it('runs no extension hook for a confidential client', async () => {
      const seen: string[] = []
      const extension: GrantExtension = {
        afterValidateAuthorizationRequest({ authorization }) {
          seen.push(authorization.client.clientId)
        },
      }
      const { server } = await setup(ImplicitGrant, [extension])
      await authorize(server, { response_type: 'token', client_id: 'web' })
      await authorize(server, { response_type: 'token', client_id: 'spa' })
      expect(seen).toEqual(['spa'])
    })
  })

  describe('at the token endpoint (RFC 6749 §4.2: no token request)', () => {
    it('answers unsupported_grant_type to grant_type=implicit', async () => {
      const { server } = await setup()
      const response = await server.createTokenResponse(
        createOAuthRequest({ method: 'POST', url: '/token', body: 'grant_type=implicit&client_id=spa' }),
      )
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'unsupported_grant_type' })
    })
  })
})

describe('ImplicitGrant on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('writes the issued access token to the SQLite file', async () => {
    const { server, store } = await setupOn(openTempSqliteStore)
    const { access_token } = fragment(await authorize(server, { response_type: 'token', client_id: 'spa', redirect_uri: REDIRECT, scope: 'read' }))
    expect(readSqliteRows(store, 'grantkit_tokens')).toEqual([
      expect.objectContaining({ token_hash: hashToken(access_token as string), type: 'access_token', client_id: 'spa', user_id: ALICE.id }),
    ])
  })
})
