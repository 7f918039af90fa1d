import {
  AuthorizationServer,
  BaseGrant,
  OAuthError,
  createClient,
  createOAuthRequest,
  hashSecret,
  hashToken,
  verifySecret,
  type GrantExtension,
  type GrantUser,
  type OAuthResponse,
} from '@grantkit/core'
import { beforeAll, describe, expect, it } from 'vitest'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { authenticateStoreUser } from './authenticate-store-user.js'
import { ResourceOwnerPasswordCredentialsGrant } from './resource-owner-password-credentials-grant.js'

const ISSUER = 'https://auth.example.com'

function basic(id: string, secret: string): string {
  return 'Basic ' + btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)
}

// The reference chapter's example: the application keeps its own users.
interface AppUser {
  id: string
  username: string
  passwordHash: string
}
const users = new Map<string, AppUser>()

class PasswordGrant extends ResourceOwnerPasswordCredentialsGrant {
  async authenticateUser(username: string, password: string): Promise<GrantUser | null> {
    const user = users.get(username)
    // verifySecret spends the same work when the hash is missing.
    if ((await verifySecret(password, user?.passwordHash)) && user !== undefined) return { id: user.id, username: user.username }
    return null
  }
}

class PostPasswordGrant extends PasswordGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']
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

beforeAll(async () => {
  // sha256 keeps the suite fast; a real application hashes passwords with scrypt (the default).
  users.set('alice', { id: 'u-alice', username: 'alice', passwordHash: await hashSecret('correct horse', 'sha256') })
})

interface SetupOptions {
  grant?: typeof PasswordGrant
  refreshGrant?: boolean
  extensions?: GrantExtension[]
  store?: TestStore
}

async function setupOn(openStore: OpenTestStore, { grant = PasswordGrant, refreshGrant = true, extensions = [], store: given }: SetupOptions = {}) {
  const store = given ?? (await openStore())
  const errors: unknown[] = []
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => Date.UTC(2025, 0, 1), onError: (e) => errors.push(e) })
  server.registerGrant(grant, extensions)
  if (refreshGrant) server.registerGrant(RegisteredRefreshTokenGrant)
  const clients = await Promise.all([
    createClient({ clientId: 'app', clientSecret: 'app-secret', secretHash: 'sha256', grantTypes: ['password', 'refresh_token'], scope: 'profile email' }),
    createClient({ clientId: 'no-refresh', clientSecret: 'nr-secret', secretHash: 'sha256', grantTypes: ['password'], scope: 'profile' }),
    createClient({ clientId: 'code-only', clientSecret: 'code-secret', secretHash: 'sha256', grantTypes: ['authorization_code'], scope: 'profile' }),
    createClient({
      clientId: 'post-app',
      clientSecret: 'post-secret',
      secretHash: 'sha256',
      grantTypes: ['password'],
      scope: 'profile',
      tokenEndpointAuthMethod: 'client_secret_post',
    }),
    createClient({ clientId: 'spa', grantTypes: ['password'], scope: 'profile', tokenEndpointAuthMethod: 'none' }),
  ])
  for (const { client } of clients) await store.saveClient(client)
  const token = (body: string, headers: Record<string, string> = { authorization: basic('app', 'app-secret') }): Promise<OAuthResponse> =>
    server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))
  return { store, server, token, errors }
}

const LOGIN = 'grant_type=password&username=alice&password=correct+horse'

describe.each(TEST_STORES)('ResourceOwnerPasswordCredentialsGrant (RFC 6749 §4.3) on the %s', (_storeName, openStore) => {
  const setup = (options?: SetupOptions) => setupOn(openStore, options)

  it('declares the password grant type at the token endpoint, client_secret_basic only', () => {
    expect(ResourceOwnerPasswordCredentialsGrant.GRANT_TYPE).toBe('password')
    expect(ResourceOwnerPasswordCredentialsGrant.TOKEN_ENDPOINT).toBe(true)
    expect(ResourceOwnerPasswordCredentialsGrant.AUTHORIZATION_ENDPOINT).toBe(false)
    expect(ResourceOwnerPasswordCredentialsGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['client_secret_basic'])
  })

  describe('is abstract: authenticateUser must be supplied', () => {
    it('is a compile error to register it as is, and a TypeError at registration for JavaScript callers', async () => {
      const store = await openStore()
      const server = new AuthorizationServer({ issuer: ISSUER, store })
      // @ts-expect-error -- abstract class: "Cannot assign an abstract constructor type to a non-abstract constructor type"
      expect(() => server.registerGrant(ResourceOwnerPasswordCredentialsGrant)).toThrow(
        expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG', message: expect.stringMatching(/must implement authenticateUser/) }),
      )
      expect(server.hasGrantType('password')).toBe(false)
    })

    it('is a compile error to subclass it without authenticateUser', () => {
      // @ts-expect-error -- Non-abstract class does not implement inherited abstract member 'authenticateUser'
      class Incomplete extends ResourceOwnerPasswordCredentialsGrant {}
      expect(Incomplete.GRANT_TYPE).toBe('password')
    })
  })

  describe('when the credentials are right (RFC 6749 §4.3.3)', () => {
    it('issues a Bearer access token and a refresh token, not cached', async () => {
      const { token } = await setup()
      const response = await token(LOGIN)
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' })
      expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'profile email' })
      expect(typeof response.body?.['access_token']).toBe('string')
      expect(typeof response.body?.['refresh_token']).toBe('string')
    })

    it('binds both tokens to the user, the client and one family', async () => {
      const { token, store } = await setup()
      const response = await token(LOGIN + '&scope=email')
      const access = await store.findToken(hashToken(response.body?.['access_token'] as string))
      const refresh = await store.findToken(hashToken(response.body?.['refresh_token'] as string))
      expect(access).toMatchObject({ type: 'access_token', clientId: 'app', userId: 'u-alice', scope: 'email' })
      expect(refresh).toMatchObject({ type: 'refresh_token', clientId: 'app', userId: 'u-alice', scope: 'email', familyId: access?.familyId })
    })

    it('issues no refresh token to a client not allowed refresh_token (RFC 6749 §1.5)', async () => {
      const { token } = await setup()
      const response = await token(LOGIN, { authorization: basic('no-refresh', 'nr-secret') })
      expect(response.status).toBe(200)
      expect(response.body).not.toHaveProperty('refresh_token')
    })

    it('issues no refresh token when no refresh_token grant is registered', async () => {
      const { token } = await setup({ refreshGrant: false })
      const response = await token(LOGIN)
      expect(response.status).toBe(200)
      expect(response.body).not.toHaveProperty('refresh_token')
    })

    it('runs the extension hooks with the client', async () => {
      const seen: string[] = []
      const { token } = await setup({ extensions: [{ afterValidateTokenRequest: ({ client }) => void seen.push(client.clientId) }] })
      expect((await token(LOGIN)).status).toBe(200)
      expect(seen).toEqual(['app'])
    })
  })

  describe('when the request is invalid (RFC 6749 §5.2)', () => {
    it.each([
      ['the client is unknown', LOGIN, { authorization: basic('nobody', 'x') }, 401, 'invalid_client'],
      ['the client secret is wrong', LOGIN, { authorization: basic('app', 'wrong') }, 401, 'invalid_client'],
      ['the client does not authenticate', LOGIN, {}, 401, 'invalid_client'],
      ['the client uses client_secret_post, not allowed by default', LOGIN + '&client_id=post-app&client_secret=post-secret', {}, 401, 'invalid_client'],
      ['a public client uses none, not allowed by default', LOGIN + '&client_id=spa', {}, 401, 'invalid_client'],
      ['the client is not allowed the password grant', LOGIN, { authorization: basic('code-only', 'code-secret') }, 400, 'unauthorized_client'],
      ['username is missing', 'grant_type=password&password=correct+horse', undefined, 400, 'invalid_request'],
      ['password is missing', 'grant_type=password&username=alice', undefined, 400, 'invalid_request'],
      ['password is empty (RFC 6749 §3.1: treated as omitted)', 'grant_type=password&username=alice&password=', undefined, 400, 'invalid_request'],
      ['username is repeated', LOGIN + '&username=bob', undefined, 400, 'invalid_request'],
      ['password is repeated', LOGIN + '&password=other', undefined, 400, 'invalid_request'],
      ['the password is wrong', 'grant_type=password&username=alice&password=wrong', undefined, 400, 'invalid_grant'],
      ['the user is unknown', 'grant_type=password&username=mallory&password=correct+horse', undefined, 400, 'invalid_grant'],
      ['the scope is wider than the client may have', LOGIN + '&scope=profile%20admin', undefined, 400, 'invalid_scope'],
    ])('should fail because %s', async (_case, body, headers, status, error) => {
      const { token, store } = await setup()
      const response = await token(body, headers)
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(response.headers['cache-control']).toBe('no-store')
      expect(store.snapshot().tokens).toEqual([])
    })

    it('answers a wrong client secret over Basic with 401 and WWW-Authenticate', async () => {
      const { token } = await setup()
      const response = await token(LOGIN, { authorization: basic('app', 'wrong') })
      expect(response.status).toBe(401)
      expect(response.headers['www-authenticate']).toMatch(/^Basic /)
    })

    it('does not tell a wrong password from an unknown user', async () => {
      const { token } = await setup()
      const wrong = await token('grant_type=password&username=alice&password=wrong')
      const unknown = await token('grant_type=password&username=mallory&password=wrong')
      expect(wrong.body).toEqual(unknown.body)
    })

    it('lets an afterValidateTokenRequest hook reject the request', async () => {
      const deny: GrantExtension = {
        afterValidateTokenRequest: () => {
          throw new OAuthError('access_denied', 'account locked')
        },
      }
      const { token, store } = await setup({ extensions: [deny] })
      const response = await token(LOGIN)
      expect(response.body).toMatchObject({ error: 'access_denied' })
      expect(store.snapshot().tokens).toEqual([])
    })
  })

  describe('when a subclass adds client_secret_post (Authlib’s example)', () => {
    it('accepts the client secret in the body', async () => {
      const { token } = await setup({ grant: PostPasswordGrant })
      const response = await token(LOGIN + '&client_id=post-app&client_secret=post-secret', {})
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ token_type: 'Bearer', scope: 'profile' })
    })
  })

  describe('with authenticateStoreUser over the server store', () => {
    it('logs in a user saved in the store', async () => {
      const store = await openStore()
      class StorePasswordGrant extends ResourceOwnerPasswordCredentialsGrant {
        authenticateUser(username: string, password: string): Promise<GrantUser | null> {
          return authenticateStoreUser(store, username, password)
        }
      }
      const { token } = await setup({ grant: StorePasswordGrant, store })
      await store.saveUser({ id: 'u-bob', username: 'bob', passwordHash: await hashSecret('s3cret', 'sha256') })
      const ok = await token('grant_type=password&username=bob&password=s3cret')
      expect(ok.status).toBe(200)
      const record = await store.findToken(hashToken(ok.body?.['access_token'] as string))
      expect(record).toMatchObject({ userId: 'u-bob' })
      const wrong = await token('grant_type=password&username=bob&password=nope')
      expect(wrong.body).toMatchObject({ error: 'invalid_grant' })
    })
  })
})

describe('ResourceOwnerPasswordCredentialsGrant on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('writes the access and refresh tokens to the SQLite file, in one family', async () => {
    const { token, store } = await setupOn(openTempSqliteStore)
    const response = await token(LOGIN)
    expect(response.status).toBe(200)
    const rows = readSqliteRows(store, 'grantkit_tokens')
    expect(rows).toEqual([
      expect.objectContaining({ token_hash: hashToken(response.body?.['access_token'] as string), type: 'access_token', user_id: 'u-alice' }),
      expect.objectContaining({ token_hash: hashToken(response.body?.['refresh_token'] as string), type: 'refresh_token', user_id: 'u-alice' }),
    ])
    expect(rows[1]?.['family_id']).toBe(rows[0]?.['family_id'])
  })
})
