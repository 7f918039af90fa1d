import {
  AuthorizationServer,
  BaseGrant,
  OAuthError,
  createClient,
  createOAuthRequest,
  hashSecret,
  hashToken,
  verifySecret,
  memoryThrottle,
  type GrantExtension,
  type GrantUser,
  type OAuthResponse,
  type Throttle,
} from '@grantkit/core'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHttpHandler, nodeBodySource } from '@grantkit/core'
import * as oauth from 'oauth4webapi'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
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
  throttle?: Throttle | false
  clock?: { t: number }
}

async function setupOn(openStore: OpenTestStore, { grant = PasswordGrant, refreshGrant = true, extensions = [], store: given, throttle, clock = { t: Date.UTC(2025, 0, 1) } }: SetupOptions = {}) {
  const store = given ?? (await openStore())
  const errors: unknown[] = []
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => clock.t, onError: (e) => errors.push(e), ...(throttle === undefined ? {} : { throttle }) })
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
  const token = (body: string, headers: Record<string, string> = { authorization: basic('app', 'app-secret') }, remoteAddress?: string): Promise<OAuthResponse> => {
    const request = createOAuthRequest({ method: 'POST', url: '/token', headers, body })
    return server.createTokenResponse(remoteAddress === undefined ? request : Object.assign(request, { remoteAddress }))
  }
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

describe.each(TEST_STORES)('failed logins are throttled per username and address (RFC 6819 §4.4.3.6, §5.1.4.2.3) on the %s', (_storeName, openStore) => {
  const limited = () => memoryThrottle({ limit: 3, ipLimit: 5, window: 600 })
  const wrong = (username = 'alice') => `grant_type=password&username=${username}&password=wrong`

  it('answers 429 invalid_grant with Retry-After after `limit` wrong passwords, even to the right one, until the window passes', async () => {
    const clock = { t: Date.UTC(2025, 0, 1) }
    const { token, store } = await setupOn(openStore, { throttle: limited(), clock })
    for (let i = 0; i < 3; i++) expect((await token(wrong())).body).toMatchObject({ error: 'invalid_grant' })
    const refused = await token(LOGIN)
    expect(refused.status).toBe(429)
    expect(refused.body).toMatchObject({ error: 'invalid_grant' })
    expect(refused.headers).toMatchObject({ 'retry-after': '600', 'cache-control': 'no-store' })
    expect(store.snapshot().tokens).toEqual([])
    clock.t += 600_000
    expect((await token(LOGIN)).status).toBe(200)
  })

  it('counts an unknown username exactly like a known one (no account enumeration)', async () => {
    const { token } = await setupOn(openStore, { throttle: limited() })
    for (let i = 0; i < 4; i++) {
      const [known, unknown] = await Promise.all([token(wrong('alice')), token(wrong('mallory'))])
      expect({ status: unknown.status, headers: unknown.headers, body: unknown.body }).toEqual({ status: known.status, headers: known.headers, body: known.body })
    }
  })

  it('folds the case of the username, so "Alice" does not get a fresh count', async () => {
    const { token } = await setupOn(openStore, { throttle: limited() })
    for (const name of ['alice', 'Alice', 'ALICE']) expect((await token(wrong(name))).status).toBe(400)
    expect((await token(wrong('aLiCe'))).status).toBe(429)
  })

  it('never counts successes, however many run at once (an app signing many sessions in), and they do not erase failures', async () => {
    const { token } = await setupOn(openStore, { throttle: limited() })
    for (let i = 0; i < 2; i++) expect((await token(wrong())).status).toBe(400)
    const logins = await Promise.all(Array.from({ length: 20 }, () => token(LOGIN)))
    expect(logins.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200))
    expect((await token(wrong())).status).toBe(400)
    expect((await token(wrong())).status).toBe(429)
  })

  it('counts every failure of a burst of 20 concurrent guesses, so the next attempt gets 429', async () => {
    const { token } = await setupOn(openStore, { throttle: limited() })
    const responses = await Promise.all(Array.from({ length: 20 }, () => token(wrong())))
    expect(responses.every((r) => r.status === 400 || r.status === 429)).toBe(true)
    expect((await token(LOGIN)).status).toBe(429)
  })

  it('bounds guesses across usernames from one remote address', async () => {
    const { token } = await setupOn(openStore, { throttle: limited() })
    for (let i = 0; i < 5; i++) expect((await token(wrong(`user${i}`), undefined, '192.0.2.1')).status).toBe(400)
    expect((await token(LOGIN, undefined, '192.0.2.1')).status).toBe(429)
    expect((await token(LOGIN, undefined, '198.51.100.2')).status).toBe(200)
  })

  it('does not throttle with throttle: false', async () => {
    const { token } = await setupOn(openStore, { throttle: false })
    for (let i = 0; i < 12; i++) expect((await token(wrong())).status).toBe(400)
    expect((await token(LOGIN)).status).toBe(200)
  })
})

describe('the password grant over HTTP with oauth4webapi (RFC 6749 §4.3): the throttled answer', () => {
  it('an unmodified client gets tokens, then invalid_grant, then 429 with Retry-After', async () => {
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => http.close(() => resolve())))
    const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
    const store = await openTempSqliteStore()
    const server = new AuthorizationServer({ issuer, store, clock: () => Date.UTC(2025, 0, 1), throttle: memoryThrottle({ limit: 2 }) })
    server.registerGrant(PasswordGrant)
    await store.saveClient((await createClient({ clientId: 'app', clientSecret: 'app-secret', secretHash: 'sha256', grantTypes: ['password'] })).client)
    const handler = createHttpHandler(server)
    http.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', issuer)
      void handler
        .handle({ method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), url: req.url ?? '/', headers: req.headers, body: nodeBodySource(req), remoteAddress: req.socket.remoteAddress })
        .then((outcome) => {
          if (outcome.kind === 'handled') return
          res.writeHead(outcome.status, outcome.headers)
          res.end(outcome.kind === 'json' || outcome.kind === 'html' ? outcome.body : undefined)
        })
    })
    const insecure = { [oauth.allowInsecureRequests]: true } as const
    const as = await oauth.processDiscoveryResponse(new URL(issuer), await oauth.discoveryRequest(new URL(issuer), { ...insecure, algorithm: 'oauth2' }))
    const client: oauth.Client = { client_id: 'app' }
    const login = async (password: string) => {
      const response = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic('app-secret'), 'password', { username: 'alice', password }, insecure)
      try {
        const tokens = await oauth.processGenericTokenEndpointResponse(as, client, response)
        return { status: 200, tokenType: tokens.token_type }
      } catch (error) {
        if (!(error instanceof oauth.ResponseBodyError)) throw error
        return { status: error.status, error: error.error, retryAfter: error.response.headers.get('retry-after') }
      }
    }
    expect(await login('correct horse')).toEqual({ status: 200, tokenType: 'bearer' })
    expect(await login('wrong')).toEqual({ status: 400, error: 'invalid_grant', retryAfter: null })
    expect(await login('wrong')).toEqual({ status: 400, error: 'invalid_grant', retryAfter: null })
    expect(await login('correct horse')).toEqual({ status: 429, error: 'invalid_grant', retryAfter: '600' })
  })
})
