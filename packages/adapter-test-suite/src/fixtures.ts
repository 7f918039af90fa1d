import {
  AuthorizationServer,
  BaseGrant,
  IntrospectionEndpoint,
  RevocationEndpoint,
  createClient,
  hashToken,
  memoryStore,
  type GrantUser,
  type MemoryStore,
  type OAuthResponse,
  type Throttle,
  type TokenRecord,
  type TokenStrategy,
} from '@grantkit/core'

// The fixtures the contract suite runs on, shared with the adapters' own
// tests. This file imports nothing but core: no vitest, no framework.

/**
 * A minimal client-credentials grant, so adapter tests need nothing but
 * core: the client authenticates with `client_secret_basic` or
 * `client_secret_post` and gets an access token for the scopes it asked for
 * (or its registered ones), without a refresh token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export class TestClientCredentialsGrant extends BaseGrant {
  static override GRANT_TYPE = 'client_credentials'
  static override TOKEN_ENDPOINT = true
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post']
  #scopes: string[] = []

  override async validateTokenRequest(): Promise<void> {
    const client = await this.authenticateTokenEndpointClient()
    this.#scopes = this.resolveScopes(this.param('scope'), client)
  }

  override async createTokenResponse(): Promise<OAuthResponse> {
    const body = await this.issueTokens({ client: this.client!, user: null, scopes: this.#scopes, refreshToken: false })
    return this.tokenResponse(body)
  }
}

/**
 * A minimal code grant for the authorization endpoint: it answers
 * `response_type=code` with a redirect whose code names the user
 * (`code-for-<user id>`). It has no token endpoint side.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export class TestCodeGrant extends BaseGrant {
  static override GRANT_TYPE = 'authorization_code'
  static override RESPONSE_TYPES: readonly string[] = ['code']
  static override AUTHORIZATION_ENDPOINT = true

  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    return this.authorizationRedirect(user, { code: `code-for-${user.id}` })
  }
}

/**
 * The issuer of {@link testServer} unless told otherwise.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export const ISSUER = 'http://127.0.0.1'

/**
 * The one redirect URI registered for the test client.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2
 */
export const REDIRECT_URI = 'https://client.example/cb'

/**
 * The test client's `client_id` (a confidential client).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.2
 */
export const CLIENT_ID = 'app'

/**
 * The test client's secret.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export const CLIENT_SECRET = 'app-secret'

/**
 * The bearer tokens {@link testServer} stores with `tokens: true`, by what
 * they are: all of the test client, for user `user-1` and scopes
 * `profile read` unless said otherwise.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export const TOKENS = {
  /** A valid access token of user `user-1`. */
  user: 'user-token',
  /** A valid access token with no user (as client credentials issue). */
  client: 'client-token',
  /** A valid access token with scope `read` only. */
  readOnly: 'read-only',
  /** An access token that has expired. */
  expired: 'expired',
  /** An access token that has been revoked. */
  revoked: 'revoked',
  /** A refresh token: not a bearer token for a resource. */
  refresh: 'refresh',
  /** A valid access token of user `user-1` whose audience (`aud`) is {@link RESOURCE} (RFC 8707). */
  audience: 'audience-token',
} as const

/** The resource identifier (RFC 8707, RFC 9728 §2) of `TOKENS.audience`. */
export const RESOURCE = 'https://rs.example.com/resource'

function tokenRecord(token: string, now: number, overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    tokenHash: hashToken(token),
    type: 'access_token',
    clientId: CLIENT_ID,
    userId: 'user-1',
    scope: 'profile read',
    familyId: 'family-' + token,
    issuedAt: new Date(now - 1000),
    expiresAt: new Date(now + 3_600_000),
    revokedAt: null,
    rotatedAt: null,
    ...overrides,
  }
}

/** Options of {@link testServer}. */
export interface TestServerOptions {
  /** The server's issuer; default {@link ISSUER}. */
  issuer?: string | undefined
  /** The server's token strategy; default core's. */
  tokenStrategy?: TokenStrategy | undefined
  /** Register RFC 7009 revocation and RFC 7662 introspection (default false). */
  endpoints?: boolean | undefined
  /** Store the {@link TOKENS} (default false). */
  tokens?: boolean | undefined
  /** The server's own `onError` (store failures inside an endpoint are reported there); default: ignore them. */
  onError?: ((error: unknown) => void) | undefined
  /** The server's `throttle` of failed credentials; default core's. */
  throttle?: Throttle | false | undefined
}

/** What {@link testServer} resolves: the server and the store under it. */
export interface TestServer {
  server: AuthorizationServer
  store: MemoryStore
}

/**
 * A server over a fresh memory store with scopes `profile read`, the
 * {@link TestClientCredentialsGrant} and {@link TestCodeGrant}, and a
 * confidential client {@link CLIENT_ID} (secret {@link CLIENT_SECRET}, name
 * `Test <App>`, the one {@link REDIRECT_URI}, scopes `profile read`). With
 * `endpoints`, revocation and introspection too; with `tokens`, the
 * {@link TOKENS} stored.
 *
 * @example
 * ```ts
 * const { server, store } = await testServer({ tokens: true })
 * // serve `server` with the adapter; `Bearer ${TOKENS.user}` is valid
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 */
export async function testServer(options: TestServerOptions = {}): Promise<TestServer> {
  const store = memoryStore()
  const server = new AuthorizationServer({
    issuer: options.issuer ?? ISSUER,
    store,
    scopesSupported: ['profile', 'read'],
    onError: options.onError ?? (() => {}),
    ...(options.tokenStrategy === undefined ? {} : { tokenStrategy: options.tokenStrategy }),
    ...(options.throttle === undefined ? {} : { throttle: options.throttle }),
  })
  server.registerGrant(TestClientCredentialsGrant).registerGrant(TestCodeGrant)
  if (options.endpoints === true) server.registerEndpoint(RevocationEndpoint).registerEndpoint(IntrospectionEndpoint)
  const { client } = await createClient({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    secretHash: 'sha256',
    clientName: 'Test <App>',
    redirectUris: [REDIRECT_URI],
    grantTypes: ['authorization_code', 'client_credentials'],
    responseTypes: ['code'],
    scope: 'profile read',
  })
  await store.saveClient(client)
  if (options.tokens === true) {
    const now = Date.now()
    await store.saveTokens([
      tokenRecord(TOKENS.user, now),
      tokenRecord(TOKENS.client, now, { userId: null }),
      tokenRecord(TOKENS.readOnly, now, { scope: 'read' }),
      tokenRecord(TOKENS.expired, now, { expiresAt: new Date(now - 1) }),
      tokenRecord(TOKENS.revoked, now, { revokedAt: new Date(now - 1) }),
      tokenRecord(TOKENS.refresh, now, { type: 'refresh_token' }),
      tokenRecord(TOKENS.audience, now, { extra: { claims: { aud: RESOURCE } } }),
    ])
  }
  return { server, store }
}

/**
 * An `Authorization` header value with the RFC 7617 Basic credentials of
 * RFC 6749 §2.3.1 (id and secret form-encoded first); by default the test
 * client's.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 * @see https://www.rfc-editor.org/rfc/rfc7617#section-2
 */
export function basicAuth(id: string = CLIENT_ID, secret: string = CLIENT_SECRET): string {
  const text = `${encodeURIComponent(id)}:${encodeURIComponent(secret)}`
  return 'Basic ' + btoa(text)
}

/**
 * The `Content-Type` header of a form-encoded request body.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#appendix-B
 */
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' } as const

/**
 * The headers of a token-endpoint request the test client authenticates with
 * Basic: {@link FORM} and {@link basicAuth}`()`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2
 */
export const CLIENT_FORM = { ...FORM, authorization: basicAuth() } as const

/**
 * An authorization request query of the test client (`response_type=code`,
 * {@link REDIRECT_URI}, scope `profile`, a state with a space, to check it
 * round-trips), with `extra` parameters added or replaced.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 */
export function authorizeQuery(extra: Record<string, string> = {}): string {
  return new URLSearchParams({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state: 's t', scope: 'profile', ...extra }).toString()
}
