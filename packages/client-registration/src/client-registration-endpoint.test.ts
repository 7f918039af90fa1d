// Dynamic client registration (RFC 7591) and management (RFC 7592) over real
// HTTP (Koa on a loopback port), on the memory and SQLite stores; the
// registered clients are then used with an unmodified client library,
// oauth4webapi (its dynamicClientRegistrationRequest, client credentials and
// authorization code + PKCE flows).
import { createServer } from 'node:http'
import { oauthRouter } from '@grantkit/adapter-koa'
import { AuthorizationServer, OAuthError, createOAuthRequest, hashToken, memoryStore, type GrantUser } from '@grantkit/core'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import Koa from 'koa'
import * as oauth from 'oauth4webapi'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TEST_STORES, readSqliteRows, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { ClientRegistrationEndpoint, type ClientRegistrationOptions } from './client-registration-endpoint.js'
import { invalidSoftwareStatement, unapprovedSoftwareStatement } from './registration-errors.js'
import { purgeExpiredRegistrations, withRegistrationExpiry } from './registration-expiry.js'

const T0 = Date.UTC(2026, 0, 1)
const ALICE: GrantUser = { id: 'user-alice' }
const REDIRECT = 'https://client.example.com/cb'
const insecure = { [oauth.allowInsecureRequests]: true } as const
const JSON_HEADERS = { 'content-type': 'application/json' }

type Body = Record<string, unknown>

/** The refresh grant for public clients too (native apps refresh without a secret). */
class PublicRefreshTokenGrant extends RefreshTokenGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'none']
}

/** A confidential client_credentials client's metadata. */
const SERVICE: Body = { client_name: 'Billing service', grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_basic', scope: 'read' }
/** A confidential web client's metadata. */
const WEB: Body = { client_name: 'Web app', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'read write', client_uri: 'https://client.example.com' }

/**
 * The store with a macrotask between each client read or write and its
 * answer, as a networked database has: concurrent requests interleave
 * inside the endpoint, so the tests see what a missing lock would let through.
 */
function withLatency(store: TestStore): TestStore {
  const later = () => new Promise<void>((resolve) => setImmediate(resolve))
  return {
    ...store,
    findClient: async (clientId) => (await later(), store.findClient(clientId)),
    saveClient: async (client) => (await later(), store.saveClient(client)),
    deleteClient: async (clientId) => (await later(), store.deleteClient(clientId)),
  }
}

async function start(openStore: OpenTestStore, options: Partial<ClientRegistrationOptions> = {}, latency = false) {
  let now = T0
  const http = createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => (http.closeAllConnections(), http.close(() => resolve()))))
  const issuer = new URL(`http://127.0.0.1:${(http.address() as { port: number }).port}`)
  const opened: TestStore = await openStore()
  const store = latency ? withLatency(opened) : opened
  const server = new AuthorizationServer({ issuer: issuer.origin, store: withRegistrationExpiry(store, () => now), clock: () => now, scopesSupported: ['read', 'write'], onError: () => {} })
  server
    .registerGrant(AuthorizationCodeGrant, [new CodeChallenge()])
    .registerGrant(ClientCredentialsGrant)
    .registerGrant(PublicRefreshTokenGrant)
    .registerEndpoint(ClientRegistrationEndpoint.configure({ authorizeRegistration: () => true, ...options }))
  const app = new Koa()
  app.use(oauthRouter(server, { authorize: () => ({ user: ALICE }) }).routes())
  http.on('request', app.callback())
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  const endpoint = as.registration_endpoint as string

  const register = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(endpoint, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const registered = async (body: Body): Promise<Body> => {
    const response = await register(body)
    expect(response.status).toBe(201)
    return (await response.json()) as Body
  }
  const manage = (method: string, registration: Body, options: { token?: string | null; body?: unknown; uri?: string } = {}) => {
    const token = options.token === undefined ? (registration['registration_access_token'] as string) : options.token
    return fetch(options.uri ?? (registration['registration_client_uri'] as string), {
      method,
      headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(options.body === undefined ? {} : JSON_HEADERS) },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    })
  }
  /** The metadata a client sends back on update (RFC 7592 §2.2): the registration minus what the server sets. */
  const updateOf = (registration: Body, changes: Body = {}): Body => {
    const { registration_access_token: _t, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, client_secret: _s, ...rest } = registration
    return { ...rest, ...changes }
  }
  const clientCredentials = async (registration: Body, secret = registration['client_secret'] as string) => {
    const client: oauth.Client = { client_id: registration['client_id'] as string }
    return oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), { scope: 'read' }, insecure)
  }
  /**
   * A management request handed to the server in-process, so that many start
   * in the same tick and interleave at the store (over HTTP they arrive spread out).
   */
  const direct = async (method: string, registration: Body, body?: Body): Promise<{ status: number; body?: Body }> => {
    const uri = new URL(registration['registration_client_uri'] as string)
    const request = createOAuthRequest({ method, url: uri.pathname + uri.search, headers: { authorization: `Bearer ${registration['registration_access_token'] as string}` } })
    return server.createEndpointResponse('registration', Object.assign(request, { json: body }))
  }
  const advance = (seconds: number) => void (now += seconds * 1000)
  return { issuer, as, server, store, endpoint, register, registered, manage, direct, updateOf, clientCredentials, advance }
}

const errorOf = async (response: Response): Promise<unknown> => ({ status: response.status, ...((await response.json()) as Body) })

describe('ClientRegistrationEndpoint configuration', () => {
  const open = (): boolean => true
  const server = () => new AuthorizationServer({ issuer: 'https://auth.example.com', store: memoryStore() })

  it.each([
    ['no options', undefined],
    ['no authorizeRegistration', {}],
    ['a rateLimit that is not a function', { authorizeRegistration: open, rateLimit: 5 }],
    ['a path with a query', { authorizeRegistration: open, path: '/register?x' }],
    ['a registrationLifetime of 0', { authorizeRegistration: open, registrationLifetime: 0 }],
    ['a defaultScope outside the allowed scopes', { authorizeRegistration: open, allowedScopes: ['read'], defaultScope: 'admin' }],
    ['the reserved extra metadata name', { authorizeRegistration: open, extraMetadata: ['dynamic_registration'] }],
    ['a non-boolean allowLocalhost', { authorizeRegistration: open, allowLocalhost: 'yes' }],
  ])('throws a TypeError for %s', (_, options) => {
    expect(() => server().registerEndpoint(ClientRegistrationEndpoint.configure(options as ClientRegistrationOptions))).toThrow(TypeError)
  })

  it('refuses ClientRegistrationEndpoint registered without configure', () => {
    expect(() => server().registerEndpoint(ClientRegistrationEndpoint)).toThrow(TypeError)
  })

  it('refuses a store that cannot save and delete clients', () => {
    const readOnly = new AuthorizationServer({ issuer: 'https://auth.example.com', store: { findClient: async () => null } })
    expect(() => readOnly.registerEndpoint(ClientRegistrationEndpoint.configure({ authorizeRegistration: () => true }))).toThrow(TypeError)
  })

  it('answers a request without a JSON body invalid_client_metadata when called without HTTP', async () => {
    const s = server().registerEndpoint(ClientRegistrationEndpoint.configure({ authorizeRegistration: () => true }))
    const response = await s.createEndpointResponse('registration', createOAuthRequest({ method: 'POST', url: '/register' }))
    expect(response).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } })
  })
})

describe.each(TEST_STORES)('client registration over HTTP on the %s', (_storeName, openStore) => {
  describe('registration (RFC 7591 §3)', () => {
    it('advertises registration_endpoint in the metadata (RFC 8414 §2)', async () => {
      const { as, issuer } = await start(openStore)
      expect(as.registration_endpoint).toBe(`${issuer.origin}/register`)
    })

    it('registers a confidential client with oauth4webapi, which then gets a client credentials token', async () => {
      const { as, clientCredentials } = await start(openStore)
      const registration = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, SERVICE as Partial<oauth.Client>, insecure))
      expect(registration).toMatchObject({ client_name: 'Billing service', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', client_secret_expires_at: 0 })
      const client: oauth.Client = { client_id: registration.client_id }
      const tokens = await oauth.processClientCredentialsResponse(as, client, await clientCredentials(registration as Body))
      expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read' })
    })

    it('registers a public native client (loopback redirect, RFC 8252 §7.3) that runs the authorization code + PKCE flow with oauth4webapi', async () => {
      const { as } = await start(openStore)
      const redirectUri = 'http://127.0.0.1:7777/callback'
      const metadata = { redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], scope: 'read' }
      const registration = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, metadata, insecure))
      expect(registration).not.toHaveProperty('client_secret')
      expect(registration).not.toHaveProperty('client_secret_expires_at')
      const client: oauth.Client = { client_id: registration.client_id, token_endpoint_auth_method: 'none' }
      const verifier = oauth.generateRandomCodeVerifier()
      const url = new URL(as.authorization_endpoint as string)
      url.search = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: redirectUri, scope: 'read', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString()
      const redirect = await fetch(url, { redirect: 'manual' })
      expect(redirect.status).toBe(302)
      const params = oauth.validateAuthResponse(as, client, new URL(redirect.headers.get('location') as string), oauth.expectNoState)
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, insecure))
      expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read' })
      expect(typeof tokens.refresh_token).toBe('string')
    })

    it('answers 201 with the RFC 7591 §3.2.1 fields and no-store', async () => {
      const { register, issuer } = await start(openStore)
      const response = await register(WEB)
      expect(response.status).toBe(201)
      expect(response.headers.get('cache-control')).toBe('no-store')
      const body = (await response.json()) as Body
      expect(body).toEqual({
        client_id: expect.any(String),
        client_secret: expect.any(String),
        client_id_issued_at: T0 / 1000,
        client_secret_expires_at: 0,
        client_name: 'Web app',
        client_uri: 'https://client.example.com',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'read write',
        registration_access_token: expect.any(String),
        registration_client_uri: `${issuer.origin}/register?client_id=${encodeURIComponent(body['client_id'] as string)}`,
      })
    })

    it('never stores the client secret or the registration access token in plaintext', async () => {
      const { registered, store } = await start(openStore)
      const registration = await registered(WEB)
      const stored = JSON.stringify(store.file === undefined ? store.snapshot().clients : readSqliteRows(store, 'grantkit_clients'))
      expect(stored).toContain(registration['client_id'] as string)
      expect(stored).not.toContain(registration['client_secret'] as string)
      expect(stored).not.toContain(registration['registration_access_token'] as string)
      expect(store.snapshot().clients[0]?.clientSecretHash).toMatch(/^sha256\$/)
    })

    it('drops metadata it does not understand (RFC 7591 §2), keeps extraMetadata and localized names (§2.2)', async () => {
      const { registered, store } = await start(openStore, { extraMetadata: ['resources'] })
      const registration = await registered({ ...SERVICE, 'client_name#fr': 'Service de facturation', 'client_name#not a tag': 'x', frobnicate: true, resources: ['https://api.example.com'], software_statement: 'eyJ.ignored.jwt', client_id: 'chosen-id' })
      expect(registration).toMatchObject({ 'client_name#fr': 'Service de facturation', resources: ['https://api.example.com'] })
      for (const dropped of ['frobnicate', 'client_name#not a tag', 'software_statement']) expect(registration).not.toHaveProperty([dropped])
      expect(registration['client_id']).not.toBe('chosen-id')
      expect(store.snapshot().clients[0]?.metadata).not.toHaveProperty('frobnicate')
    })

    it('defaults to authorization_code, code and client_secret_basic (RFC 7591 §2)', async () => {
      const { registered } = await start(openStore)
      expect(await registered({ redirect_uris: [REDIRECT] })).toMatchObject({ grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' })
    })

    it.each([
      ['http on a non-loopback host (RFC 9700 §4.1.1)', 'http://client.example.com/cb'],
      ['javascript:', 'javascript:alert(1)'],
      ['data:', 'data:text/html,hi'],
      ['a fragment (RFC 6749 §3.1.2)', 'https://client.example.com/cb#x'],
      ['userinfo', 'https://user@client.example.com/cb'],
      ['localhost (RFC 8252 §8.3)', 'http://localhost:8080/cb'],
      ['a relative URI', '/cb'],
      ['a private-use scheme that is not a reverse domain name (RFC 8252 §7.1)', 'myapp:/cb'],
    ])('refuses a redirect URI with %s: invalid_redirect_uri (RFC 7591 §3.2.2)', async (_, uri) => {
      const { register, store } = await start(openStore)
      expect(await errorOf(await register({ ...WEB, redirect_uris: [REDIRECT, uri] }))).toMatchObject({ status: 400, error: 'invalid_redirect_uri' })
      expect(await store.listClients()).toEqual([])
    })

    it('accepts a reverse-domain private-use scheme (RFC 8252 §7.1), [::1], and localhost when allowed', async () => {
      const { registered } = await start(openStore, { allowLocalhost: true })
      const uris = ['com.example.app:/oauth2redirect', 'http://[::1]:8080/cb', 'http://localhost:8080/cb']
      expect((await registered({ redirect_uris: uris, token_endpoint_auth_method: 'none' }))['redirect_uris']).toEqual(uris)
    })

    it('refuses a redirect-based client without redirect_uris: invalid_redirect_uri (RFC 7591 §2)', async () => {
      const { register } = await start(openStore)
      expect(await errorOf(await register({ grant_types: ['authorization_code'] }))).toMatchObject({ status: 400, error: 'invalid_redirect_uri' })
    })

    it.each([
      ['a grant type the server does not serve', { ...SERVICE, grant_types: ['password'] }],
      ['the implicit grant type, not served', { ...WEB, grant_types: ['implicit'], response_types: ['token'] }],
      ['response type "code" without authorization_code (RFC 7591 §2.1)', { ...SERVICE, response_types: ['code'], redirect_uris: [REDIRECT] }],
      ['authorization_code without response type "code" (RFC 7591 §2.1)', { ...WEB, response_types: [] }],
      ['an unknown token endpoint auth method', { ...SERVICE, token_endpoint_auth_method: 'private_key_jwt' }],
      ['client_credentials with "none" (RFC 6749 §4.4)', { ...SERVICE, token_endpoint_auth_method: 'none' }],
      ['a scope the server does not allow', { ...SERVICE, scope: 'admin' }],
      ['a scope with invalid characters', { ...SERVICE, scope: 'read "x"' }],
      ['grant_types that is not an array', { ...SERVICE, grant_types: 'client_credentials' }],
      ['a client_name of 201 characters', { ...SERVICE, client_name: 'x'.repeat(201) }],
      ['a client_name with a control character', { ...SERVICE, client_name: 'a\u0007b' }],
      ['a NUL in extra metadata', { ...SERVICE, tos_uri: 'https://x.example.com/\u0000' }],
      ['eleven redirect URIs', { ...WEB, redirect_uris: Array.from({ length: 11 }, (_, i) => `${REDIRECT}${i}`) }],
      ['an http logo_uri', { ...SERVICE, logo_uri: 'http://client.example.com/logo.png' }],
      ['contacts that is not an array', { ...SERVICE, contacts: 'ops@example.com' }],
      ['both jwks and jwks_uri (RFC 7591 §2)', { ...SERVICE, jwks: { keys: [{ kty: 'EC' }] }, jwks_uri: 'https://client.example.com/jwks' }],
      ['a jwks without keys', { ...SERVICE, jwks: { key: [] } }],
      ['a JSON array instead of an object', []],
      ['a JSON string instead of an object', 'just a string'],
    ])('refuses %s: invalid_client_metadata (RFC 7591 §3.2.2)', async (_, body) => {
      const { register, store } = await start(openStore)
      expect(await errorOf(await register(JSON.stringify(body)))).toMatchObject({ status: 400, error: 'invalid_client_metadata' })
      expect(await store.listClients()).toEqual([])
    })

    it.each([
      ['a form body', { 'content-type': 'application/x-www-form-urlencoded' }, 'client_name=x', 400],
      ['malformed JSON', JSON_HEADERS, '{"client_name":', 400],
      ['a body over the limit', JSON_HEADERS, JSON.stringify({ client_name: 'x', padding: 'p'.repeat(70_000) }), 413],
    ])('refuses %s with invalid_request', async (_, headers, body, status) => {
      const { endpoint, store } = await start(openStore)
      const response = await fetch(endpoint, { method: 'POST', headers, body })
      expect(await errorOf(response)).toMatchObject({ status, error: 'invalid_request' })
      expect(await store.listClients()).toEqual([])
    })
  })

  describe('initial access token (RFC 7591 §3)', () => {
    const options = { authorizeRegistration: ({ initialAccessToken }: { initialAccessToken: string | undefined }) => initialAccessToken === 'iat-123' }

    it('registers with the right token, sent by oauth4webapi', async () => {
      const { as } = await start(openStore, options)
      const response = await oauth.dynamicClientRegistrationRequest(as, SERVICE as Partial<oauth.Client>, { ...insecure, initialAccessToken: 'iat-123' })
      expect(response.status).toBe(201)
    })

    it('answers 401 with a bare Bearer challenge without a token (RFC 6750 §3.1)', async () => {
      const { register, store } = await start(openStore, options)
      const response = await register(SERVICE)
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="client-registration"')
      expect(await errorOf(response)).toMatchObject({ status: 401, error: 'invalid_token' })
      expect(await store.listClients()).toEqual([])
    })

    it('answers 401 invalid_token with a wrong token', async () => {
      const { register } = await start(openStore, options)
      const response = await register(SERVICE, { authorization: 'Bearer wrong' })
      expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"')
      expect(await errorOf(response)).toMatchObject({ status: 401, error: 'invalid_token' })
    })
  })

  describe('rate limit (RFC 7591 §5)', () => {
    it('lets 20 registrations a minute through by default, then answers 429 until the window passes', async () => {
      const { register, advance } = await start(openStore)
      for (let i = 0; i < 20; i++) expect((await register(SERVICE)).status).toBe(201)
      const limited = await register(SERVICE)
      expect(limited.headers.get('retry-after')).toBe('60')
      expect(await errorOf(limited)).toMatchObject({ status: 429, error: 'temporarily_unavailable' })
      advance(60)
      expect((await register(SERVICE)).status).toBe(201)
    })

    it('asks the rateLimit hook after authorizeRegistration', async () => {
      const seen: string[] = []
      const { register } = await start(openStore, { authorizeRegistration: () => (seen.push('authorize'), true), rateLimit: () => (seen.push('limit'), false) })
      expect((await register(SERVICE)).status).toBe(429)
      expect(seen).toEqual(['authorize', 'limit'])
    })
  })

  describe('software statements (RFC 7591 §2.3, §3.1.1)', () => {
    it('lets the verified statement win over the request and returns it unmodified', async () => {
      const { registered } = await start(openStore, { verifySoftwareStatement: (jwt) => (jwt === 'good.jwt' ? { client_name: 'From the statement', software_id: 'billing' } : {}) })
      expect(await registered({ ...SERVICE, software_statement: 'good.jwt' })).toMatchObject({ client_name: 'From the statement', software_id: 'billing', software_statement: 'good.jwt' })
    })

    it.each([
      ['invalid_software_statement', () => { throw invalidSoftwareStatement() }],
      ['unapproved_software_statement', () => { throw unapprovedSoftwareStatement() }],
    ])('answers 400 %s when the hook refuses it', async (code, verifySoftwareStatement) => {
      const { register } = await start(openStore, { verifySoftwareStatement })
      expect(await errorOf(await register({ ...SERVICE, software_statement: 'x.y.z' }))).toMatchObject({ status: 400, error: code })
    })

    it('answers invalid_software_statement for a statement that is not a string', async () => {
      const { register } = await start(openStore, { verifySoftwareStatement: () => ({}) })
      expect(await errorOf(await register({ ...SERVICE, software_statement: 42 }))).toMatchObject({ status: 400, error: 'invalid_software_statement' })
    })
  })

  describe('validateMetadata hook', () => {
    it('may refuse the validated metadata', async () => {
      const { register } = await start(openStore, {
        extraMetadata: ['resources'],
        validateMetadata: (metadata) => {
          if (metadata['resources'] !== undefined) throw new OAuthError('invalid_client_metadata', 'resources are not accepted')
        },
      })
      expect(await errorOf(await register({ ...SERVICE, resources: ['https://api.example.com'] }))).toMatchObject({ status: 400, error: 'invalid_client_metadata' })
      expect((await register(SERVICE)).status).toBe(201)
    })
  })

  describe('management (RFC 7592)', () => {
    it('reads the registration with its registration access token: 200 (§2.1)', async () => {
      const { registered, manage } = await start(openStore)
      const registration = await registered(WEB)
      const response = await manage('GET', registration)
      expect(response.status).toBe(200)
      const { client_secret: _secret, ...rest } = registration
      expect(await response.json()).toEqual(rest)
    })

    it('replaces the registration on update (§2.2): omitted fields are removed, the secret is kept', async () => {
      const { registered, manage, updateOf, store, clientCredentials, as } = await start(openStore)
      const registration = await registered({ ...SERVICE, client_uri: 'https://service.example.com' })
      const { client_uri: _dropped, ...withoutUri } = updateOf(registration, { client_name: 'Renamed' })
      const response = await manage('PUT', registration, { body: withoutUri })
      expect(response.status).toBe(200)
      const updated = (await response.json()) as Body
      expect(updated).toMatchObject({ client_id: registration['client_id'], client_name: 'Renamed', registration_access_token: registration['registration_access_token'] })
      expect(updated).not.toHaveProperty('client_uri')
      expect(updated).not.toHaveProperty('client_secret')
      expect(store.snapshot().clients[0]).toMatchObject({ clientName: 'Renamed' })
      expect(store.snapshot().clients[0]?.metadata).not.toHaveProperty('client_uri')
      const client: oauth.Client = { client_id: registration['client_id'] as string }
      expect(await oauth.processClientCredentialsResponse(as, client, await clientCredentials(registration))).toHaveProperty('access_token')
    })

    it('deletes the registration: 204, then the token and the client are unknown (§2.3)', async () => {
      const { registered, manage, clientCredentials, store } = await start(openStore)
      const registration = await registered(SERVICE)
      const issued = await clientCredentials(registration)
      expect(issued.status).toBe(200)
      const { access_token: accessToken } = (await issued.json()) as { access_token: string }
      expect(await store.findToken(hashToken(accessToken))).not.toBeNull()
      expect((await manage('DELETE', registration)).status).toBe(204)
      expect(await store.listClients()).toEqual([])
      // §2.3: the tokens issued to the deleted client are invalidated with it.
      expect(await store.findToken(hashToken(accessToken))).toBeNull()
      expect(await errorOf(await manage('GET', registration))).toMatchObject({ status: 401, error: 'invalid_token' })
      expect((await clientCredentials(registration)).status).toBe(401)
    })

    it('rotates the client secret on update when rotateSecretOnUpdate is set', async () => {
      const { registered, manage, updateOf, clientCredentials } = await start(openStore, { rotateSecretOnUpdate: true })
      const registration = await registered(SERVICE)
      const updated = (await (await manage('PUT', registration, { body: updateOf(registration) })).json()) as Body
      expect(updated['client_secret']).toEqual(expect.any(String))
      expect(updated['client_secret']).not.toBe(registration['client_secret'])
      expect((await clientCredentials(registration)).status).toBe(401)
      expect((await clientCredentials(registration, updated['client_secret'] as string)).status).toBe(200)
    })

    it('gives a public client turned confidential its first secret', async () => {
      const { registered, manage, updateOf } = await start(openStore)
      const registration = await registered({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' })
      const updated = (await (await manage('PUT', registration, { body: updateOf(registration, { token_endpoint_auth_method: 'client_secret_basic' }) })).json()) as Body
      expect(updated).toMatchObject({ client_secret: expect.any(String), client_secret_expires_at: 0 })
    })

    it('rotates the registration access token on update when asked, invalidating the old one (§2.2)', async () => {
      const { registered, manage, updateOf } = await start(openStore, { rotateRegistrationAccessToken: true })
      const registration = await registered(SERVICE)
      const updated = (await (await manage('PUT', registration, { body: updateOf(registration) })).json()) as Body
      expect(updated['registration_access_token']).not.toBe(registration['registration_access_token'])
      expect((await manage('GET', registration)).status).toBe(401)
      expect((await manage('GET', updated)).status).toBe(200)
    })

    it.each([
      ['no token', { token: null }, 'Bearer realm="client-registration"'],
      ['a wrong token', { token: 'wrong-token' }, 'error="invalid_token"'],
      ['a malformed token', { token: 'bad token!' }, 'error="invalid_token"'],
    ])('answers 401 invalid_token for %s (RFC 6750 §3.1)', async (_, options, challenge) => {
      const { registered, manage } = await start(openStore)
      const registration = await registered(SERVICE)
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const response = await manage(method, registration, options)
        expect(response.headers.get('www-authenticate')).toContain(challenge)
        expect(await errorOf(response)).toMatchObject({ status: 401, error: 'invalid_token' })
      }
      expect((await manage('GET', registration)).status).toBe(200)
    })

    it('answers 401, not 404, for an unknown client and for another client\'s token (§2.1)', async () => {
      const { registered, manage, endpoint } = await start(openStore)
      const first = await registered(SERVICE)
      const second = await registered(SERVICE)
      expect(await errorOf(await manage('GET', first, { uri: `${endpoint}?client_id=unknown` }))).toMatchObject({ status: 401, error: 'invalid_token' })
      expect(await errorOf(await manage('GET', first, { token: second['registration_access_token'] as string }))).toMatchObject({ status: 401, error: 'invalid_token' })
    })

    it('answers 400 invalid_request without client_id', async () => {
      const { registered, manage, endpoint } = await start(openStore)
      const registration = await registered(SERVICE)
      expect(await errorOf(await manage('GET', registration, { uri: endpoint }))).toMatchObject({ status: 400, error: 'invalid_request' })
    })

    it.each([
      ['another client_id (§2.2)', { client_id: 'someone-else' }, 'invalid_client_metadata'],
      ['no client_id (§2.2)', { client_id: undefined }, 'invalid_client_metadata'],
      ['registration_access_token (§2.2)', { registration_access_token: 'x' }, 'invalid_client_metadata'],
      ['client_id_issued_at (§2.2)', { client_id_issued_at: 1 }, 'invalid_client_metadata'],
      ['a client_secret that is not the current one (§2.2)', { client_secret: 'not-the-secret' }, 'invalid_client_metadata'],
      ['an invalid redirect URI', { grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://evil.example.com/cb'] }, 'invalid_redirect_uri'],
      ['an unsupported grant type', { grant_types: ['password'] }, 'invalid_client_metadata'],
    ])('refuses an update with %s and leaves the registration unchanged', async (_, changes, code) => {
      const { registered, manage, updateOf, store } = await start(openStore)
      const registration = await registered(SERVICE)
      const before = store.snapshot().clients
      expect(await errorOf(await manage('PUT', registration, { body: updateOf(registration, changes) }))).toMatchObject({ status: 400, error: code })
      expect(store.snapshot().clients).toEqual(before)
    })

    it('accepts an update that repeats the current client_secret', async () => {
      const { registered, manage, updateOf } = await start(openStore)
      const registration = await registered(SERVICE)
      expect((await manage('PUT', registration, { body: updateOf(registration, { client_secret: registration['client_secret'] }) })).status).toBe(200)
    })
  })

  describe('expiry', () => {
    it('sets client_secret_expires_at and treats an expired registration as unknown, everywhere', async () => {
      const { registered, manage, clientCredentials, advance, store } = await start(openStore, { registrationLifetime: 3600 })
      const registration = await registered(SERVICE)
      expect(registration['client_secret_expires_at']).toBe(T0 / 1000 + 3600)
      expect((await clientCredentials(registration)).status).toBe(200)
      advance(3600)
      expect((await clientCredentials(registration)).status).toBe(401)
      expect(await errorOf(await manage('GET', registration))).toMatchObject({ status: 401, error: 'invalid_token' })
      const other = await registered(SERVICE)
      expect(await purgeExpiredRegistrations(store, new Date(T0 + 3600_000))).toBe(1)
      expect((await store.listClients()).map((c) => c.clientId)).toEqual([other['client_id']])
    })
  })

  describe('concurrency', () => {
    it('runs 20 concurrent updates one at a time: every one succeeds and the stored record is one of them, whole', async () => {
      const { registered, manage, updateOf, store } = await start(openStore, {}, true)
      const registration = await registered(SERVICE)
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => manage('PUT', registration, { body: updateOf(registration, { client_name: `name-${i}`, client_uri: `https://service.example.com/${i}` }) })),
      )
      expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200))
      const [stored] = store.snapshot().clients
      const i = /^name-(\d+)$/.exec(stored?.clientName ?? '')?.[1]
      expect(i).toBeDefined()
      expect(stored?.metadata?.['client_uri']).toBe(`https://service.example.com/${i}`)
      expect(store.snapshot().clients).toHaveLength(1)
    })

    it('honours a rotating registration access token exactly once under 20 concurrent updates', async () => {
      const { registered, manage, direct, updateOf } = await start(openStore, { rotateRegistrationAccessToken: true }, true)
      const registration = await registered(SERVICE)
      const responses = await Promise.all(Array.from({ length: 20 }, () => direct('PUT', registration, updateOf(registration))))
      const statuses = responses.map((r) => r.status).sort()
      expect(statuses).toEqual([200, ...Array(19).fill(401)])
      const winner = responses.find((r) => r.status === 200)?.body as Body
      expect((await manage('GET', winner)).status).toBe(200)
    })

    it('lets a delete racing 19 updates leave no client behind', async () => {
      const { registered, direct, updateOf, store } = await start(openStore, {}, true)
      const registration = await registered(SERVICE)
      // Without one-at-a-time updates, a PUT that read the client before the DELETE would save it again.
      const responses = await Promise.all([
        ...Array.from({ length: 10 }, () => direct('PUT', registration, updateOf(registration))),
        direct('DELETE', registration),
        ...Array.from({ length: 9 }, () => direct('PUT', registration, updateOf(registration))),
      ])
      expect(responses[10]?.status).toBe(204)
      expect(responses.slice(11).map((r) => r.status)).toEqual(Array(9).fill(401))
      expect(await store.listClients()).toEqual([])
    })
  })
})
