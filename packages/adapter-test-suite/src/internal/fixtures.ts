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
  type TokenRecord,
  type TokenStrategy,
} from '@grantkit/core'

/** A minimal client-credentials grant, so the suite needs nothing but core. */
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

/** A minimal code grant for the authorization endpoint: the code names the user. */
export class TestCodeGrant extends BaseGrant {
  static override GRANT_TYPE = 'authorization_code'
  static override RESPONSE_TYPES: readonly string[] = ['code']
  static override AUTHORIZATION_ENDPOINT = true

  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    return this.authorizationRedirect(user, { code: `code-for-${user.id}` })
  }
}

export const ISSUER = 'http://127.0.0.1'
export const REDIRECT_URI = 'https://client.example/cb'
export const CLIENT_ID = 'app'
export const CLIENT_SECRET = 'app-secret'

/** Bearer tokens stored for the protected resource, by what they are. */
export const TOKENS = {
  user: 'user-token',
  client: 'client-token',
  readOnly: 'read-only',
  expired: 'expired',
  revoked: 'revoked',
  refresh: 'refresh',
} as const

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

/** What the suite's server is built from. */
export interface ServerFixtureOptions {
  issuer?: string | undefined
  tokenStrategy?: TokenStrategy | undefined
  /** Register RFC 7009 revocation and RFC 7662 introspection (default true). */
  endpoints?: boolean | undefined
  /** The server's own `onError` (store failures inside an endpoint are reported there). */
  onError: (error: unknown) => void
}

/**
 * A server over a memory store with a confidential client `app` (secret
 * `app-secret`, one redirect URI, scopes `profile read`), the test grants,
 * and the {@link TOKENS} stored.
 */
export async function serverFixture(options: ServerFixtureOptions): Promise<{ server: AuthorizationServer; store: MemoryStore }> {
  const store = memoryStore()
  const server = new AuthorizationServer({
    issuer: options.issuer ?? ISSUER,
    store,
    scopesSupported: ['profile', 'read'],
    onError: options.onError,
    ...(options.tokenStrategy === undefined ? {} : { tokenStrategy: options.tokenStrategy }),
  })
  server.registerGrant(TestClientCredentialsGrant).registerGrant(TestCodeGrant)
  if (options.endpoints !== false) server.registerEndpoint(RevocationEndpoint).registerEndpoint(IntrospectionEndpoint)
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
  const now = Date.now()
  await store.saveTokens([
    tokenRecord(TOKENS.user, now),
    tokenRecord(TOKENS.client, now, { userId: null }),
    tokenRecord(TOKENS.readOnly, now, { scope: 'read' }),
    tokenRecord(TOKENS.expired, now, { expiresAt: new Date(now - 1) }),
    tokenRecord(TOKENS.revoked, now, { revokedAt: new Date(now - 1) }),
    tokenRecord(TOKENS.refresh, now, { type: 'refresh_token' }),
  ])
  return { server, store }
}

/** The RFC 7617 Basic credentials of RFC 6749 §2.3.1 (form-encoded id and secret). */
export function basic(id: string = CLIENT_ID, secret: string = CLIENT_SECRET): string {
  const text = `${encodeURIComponent(id)}:${encodeURIComponent(secret)}`
  return 'Basic ' + btoa(text)
}

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' } as const

/** The headers of an authenticated token-endpoint request. */
export const CLIENT_FORM = { ...FORM, authorization: basic() } as const

/** An authorization request query for the test client (state with a space, to check it round-trips). */
export function authorizeQuery(extra: Record<string, string> = {}): string {
  return new URLSearchParams({ response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state: 's t', scope: 'profile', ...extra }).toString()
}
