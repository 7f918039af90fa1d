import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  createOAuthRequest,
  hashToken,
  OAuthError,
  type GrantExtension,
  type OAuthResponse,
} from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type OpenTestStore } from '../../../test-support/stores.js'
import { ClientCredentialsGrant } from './client-credentials-grant.js'

const ISSUER = 'https://auth.example.com'

function basic(id: string, secret: string): string {
  return 'Basic ' + btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)
}

/** Registered only so that `server.hasGrantType('refresh_token')` is true; it never serves a request here. */
class RegisteredRefreshTokenGrant extends BaseGrant {
  static override GRANT_TYPE = 'refresh_token'
  static override TOKEN_ENDPOINT = true
  // registerGrant refuses a token-endpoint grant that overrides neither token method.
  override async validateTokenRequest(): Promise<void> {
    throw new Error('this stand-in serves no request in these tests')
  }
}

class PostClientCredentialsGrant extends ClientCredentialsGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']
}

class NoneClientCredentialsGrant extends ClientCredentialsGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'none']
}

async function setupOn(openStore: OpenTestStore, grant: typeof ClientCredentialsGrant = ClientCredentialsGrant, extensions: GrantExtension[] = []) {
  const store = await openStore()
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => Date.UTC(2025, 0, 1) })
  server.registerGrant(grant, extensions)
  server.registerGrant(RegisteredRefreshTokenGrant)
  const service = await createClient({
    clientId: 'service',
    clientSecret: 'service-secret',
    secretHash: 'sha256',
    grantTypes: ['client_credentials', 'refresh_token'],
    scope: 'read write',
  })
  const postClient = await createClient({
    clientId: 'post-client',
    clientSecret: 'post-secret',
    secretHash: 'sha256',
    grantTypes: ['client_credentials'],
    scope: 'read',
    tokenEndpointAuthMethod: 'client_secret_post',
  })
  const codeOnly = await createClient({ clientId: 'code-only', clientSecret: 'code-secret', secretHash: 'sha256', grantTypes: ['authorization_code'], scope: 'read' })
  const publicClient = await createClient({ clientId: 'spa', grantTypes: ['client_credentials'], scope: 'read', tokenEndpointAuthMethod: 'none' })
  for (const { client } of [service, postClient, codeOnly, publicClient]) await store.saveClient(client)
  const token = (body: string, headers: Record<string, string> = { authorization: basic('service', 'service-secret') }): Promise<OAuthResponse> =>
    server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))
  return { store, server, token }
}

describe.each(TEST_STORES)('ClientCredentialsGrant (RFC 6749 §4.4) on the %s', (_storeName, openStore) => {
  const setup = (grant?: typeof ClientCredentialsGrant, extensions?: GrantExtension[]) => setupOn(openStore, grant, extensions)

  it('declares the client_credentials grant type at the token endpoint only', () => {
    expect(ClientCredentialsGrant.GRANT_TYPE).toBe('client_credentials')
    expect(ClientCredentialsGrant.TOKEN_ENDPOINT).toBe(true)
    expect(ClientCredentialsGrant.AUTHORIZATION_ENDPOINT).toBe(false)
    expect(ClientCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['client_secret_basic'])
  })

  describe('when the request is valid (RFC 6749 §4.4.3, §5.1)', () => {
    it('issues a Bearer access token with the client scope and no-store caching', async () => {
      const { token } = await setup()
      const response = await token('grant_type=client_credentials')
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' })
      expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read write' })
      expect(typeof response.body?.['access_token']).toBe('string')
    })

    it('never includes a refresh token, even for a client allowed refresh_token (RFC 6749 §4.4.3)', async () => {
      const { token, store } = await setup()
      const response = await token('grant_type=client_credentials')
      expect(response.status).toBe(200)
      expect(response.body).not.toHaveProperty('refresh_token')
      expect(store.snapshot().tokens.map((t) => t.type)).toEqual(['access_token'])
    })

    it('stores only the hash of a client-only token (userId null)', async () => {
      const { token, store } = await setup()
      const response = await token('grant_type=client_credentials&scope=read')
      const accessToken = response.body?.['access_token'] as string
      const record = await store.findToken(hashToken(accessToken))
      expect(record).toMatchObject({ type: 'access_token', clientId: 'service', userId: null, scope: 'read', revokedAt: null })
      expect(store.snapshot().tokens.some((t) => t.tokenHash === accessToken)).toBe(false)
    })

    it('grants a narrower scope when asked (RFC 6749 §3.3)', async () => {
      const { token } = await setup()
      const response = await token('grant_type=client_credentials&scope=write')
      expect(response.body).toMatchObject({ scope: 'write' })
    })

    it('issues a token the resource server accepts', async () => {
      const { token, server } = await setup()
      const response = await token('grant_type=client_credentials&scope=read')
      const info = await server.authenticateBearerToken(
        createOAuthRequest({ url: '/api', headers: { authorization: `Bearer ${response.body?.['access_token'] as string}` } }),
        { scope: 'read' },
      )
      expect(info).toMatchObject({ clientId: 'service', userId: null, scopes: ['read'] })
    })

    it('uses the access-token lifetime configured for the grant type', async () => {
      const store = await openStore()
      const server = new AuthorizationServer({
        issuer: ISSUER,
        store,
        accessTokenLifetime: (grantType) => (grantType === 'client_credentials' ? 300 : 3600),
      })
      server.registerGrant(ClientCredentialsGrant)
      const { client, clientSecret } = await createClient({ clientId: 'svc', grantTypes: ['client_credentials'], scope: 'read' })
      await store.saveClient(client)
      const response = await server.createTokenResponse(
        createOAuthRequest({ method: 'POST', url: '/token', headers: { authorization: basic('svc', clientSecret as string) }, body: 'grant_type=client_credentials' }),
      )
      expect(response.body).toMatchObject({ expires_in: 300 })
    })
  })

  describe('when the request is invalid (RFC 6749 §5.2)', () => {
    it.each([
      ['the client is unknown', 'grant_type=client_credentials', { authorization: basic('nobody', 'x') }, 401, 'invalid_client'],
      ['the secret is wrong', 'grant_type=client_credentials', { authorization: basic('service', 'wrong') }, 401, 'invalid_client'],
      ['the client does not authenticate', 'grant_type=client_credentials', {}, 401, 'invalid_client'],
      ['the client uses client_secret_post, not allowed by default', 'grant_type=client_credentials&client_id=post-client&client_secret=post-secret', {}, 401, 'invalid_client'],
      ['a public client identifies itself with none, not allowed by default', 'grant_type=client_credentials&client_id=spa', {}, 401, 'invalid_client'],
      ['the client is not allowed the grant type', 'grant_type=client_credentials', { authorization: basic('code-only', 'code-secret') }, 400, 'unauthorized_client'],
      ['the scope is wider than the client may have', 'grant_type=client_credentials&scope=read%20admin', undefined, 400, 'invalid_scope'],
      ['the scope has invalid characters', 'grant_type=client_credentials&scope=read%22', undefined, 400, 'invalid_scope'],
      ['scope is repeated', 'grant_type=client_credentials&scope=read&scope=write', undefined, 400, 'invalid_request'],
      ['grant_type is repeated', 'grant_type=client_credentials&grant_type=client_credentials', undefined, 400, 'invalid_request'],
    ])('should fail because %s', async (_case, body, headers, status, error) => {
      const { token } = await setup()
      const response = await token(body, headers)
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('answers a failed Basic authentication with 401 and WWW-Authenticate (RFC 6749 §5.2)', async () => {
      const { token } = await setup()
      const response = await token('grant_type=client_credentials', { authorization: basic('service', 'wrong') })
      expect(response.status).toBe(401)
      expect(response.headers['www-authenticate']).toMatch(/^Basic /)
    })

    it('refuses a public client even when a subclass allows none (RFC 6749 §4.4: confidential clients only)', async () => {
      const { token } = await setup(NoneClientCredentialsGrant)
      const response = await token('grant_type=client_credentials&client_id=spa', {})
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'unauthorized_client' })
    })

    it('stores nothing when it refuses', async () => {
      const { token, store } = await setup()
      await token('grant_type=client_credentials&scope=admin')
      expect(store.snapshot().tokens).toEqual([])
    })
  })

  describe('when a subclass adds client_secret_post (Authlib’s example)', () => {
    it('accepts the secret in the body', async () => {
      const { token } = await setup(PostClientCredentialsGrant)
      const response = await token('grant_type=client_credentials&client_id=post-client&client_secret=post-secret', {})
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ token_type: 'Bearer', scope: 'read' })
    })

    it('still requires the client to use its registered method', async () => {
      const { token } = await setup(PostClientCredentialsGrant)
      const response = await token('grant_type=client_credentials&client_id=service&client_secret=service-secret', {})
      expect(response.status).toBe(401)
      expect(response.body).toMatchObject({ error: 'invalid_client' })
    })

    it('lists both methods in the server metadata (RFC 8414 §2)', async () => {
      const { server } = await setup(PostClientCredentialsGrant)
      expect(server.metadata()).toMatchObject({
        grant_types_supported: expect.arrayContaining(['client_credentials']),
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      })
    })
  })

  describe('with extensions', () => {
    it('runs afterValidateTokenRequest and beforeTokenResponse hooks', async () => {
      const seen: string[] = []
      const extension: GrantExtension = {
        afterValidateTokenRequest: ({ client }) => void seen.push(`validated ${client.clientId}`),
        beforeTokenResponse: ({ body }) => {
          body['audience'] = 'api'
        },
      }
      const { token } = await setup(ClientCredentialsGrant, [extension])
      const response = await token('grant_type=client_credentials')
      expect(seen).toEqual(['validated service'])
      expect(response.body).toMatchObject({ audience: 'api' })
    })

    it('lets an afterValidateTokenRequest hook reject the request before any token is issued', async () => {
      const extension: GrantExtension = {
        afterValidateTokenRequest: () => {
          throw new OAuthError('invalid_request', 'resource is required')
        },
      }
      const { token, store } = await setup(ClientCredentialsGrant, [extension])
      const response = await token('grant_type=client_credentials')
      expect(response.body).toMatchObject({ error: 'invalid_request', error_description: 'resource is required' })
      expect(store.snapshot().tokens).toEqual([])
    })
  })
})

describe('ClientCredentialsGrant on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('writes the issued token to the SQLite file', async () => {
    const { token, store } = await setupOn(openTempSqliteStore)
    const response = await token('grant_type=client_credentials&scope=read')
    expect(response.status).toBe(200)
    expect(readSqliteRows(store, 'grantkit_tokens')).toEqual([
      expect.objectContaining({ token_hash: hashToken(response.body?.['access_token'] as string), type: 'access_token', client_id: 'service', scope: 'read' }),
    ])
  })
})
