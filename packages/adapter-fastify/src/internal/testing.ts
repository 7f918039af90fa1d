import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance } from 'fastify'
import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  hashToken,
  memoryStore,
  type GrantUser,
  type MemoryStore,
  type OAuthResponse,
  type TokenRecord,
  type TokenStrategy,
} from '@grantkit/core'

/** A minimal client-credentials grant, so adapter tests need nothing but core. */
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

export const REDIRECT_URI = 'https://client.example/cb'

function tokenRecord(token: string, now: number, overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    tokenHash: hashToken(token),
    type: 'access_token',
    clientId: 'app',
    userId: 'user-1',
    scope: 'profile read',
    familyId: 'f-' + token,
    issuedAt: new Date(now - 1000),
    expiresAt: new Date(now + 3_600_000),
    revokedAt: null,
    rotatedAt: null,
    ...overrides,
  }
}

/**
 * A server over a memory store with a confidential client `app` (secret
 * `app-secret`) and bearer tokens `user-token`, `client-token` (no user),
 * `read-only` (scope `read`), `expired` and `revoked`.
 */
export async function testServer(options: { issuer?: string; tokenStrategy?: TokenStrategy } = {}): Promise<{ server: AuthorizationServer; store: MemoryStore }> {
  const store = memoryStore()
  const server = new AuthorizationServer({
    issuer: options.issuer ?? 'http://127.0.0.1',
    store,
    scopesSupported: ['profile', 'read'],
    onError: () => {},
    ...(options.tokenStrategy === undefined ? {} : { tokenStrategy: options.tokenStrategy }),
  })
  server.registerGrant(TestClientCredentialsGrant).registerGrant(TestCodeGrant)
  const { client } = await createClient({
    clientId: 'app',
    clientSecret: 'app-secret',
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
    tokenRecord('user-token', now),
    tokenRecord('client-token', now, { userId: null }),
    tokenRecord('read-only', now, { scope: 'read' }),
    tokenRecord('expired', now, { expiresAt: new Date(now - 1) }),
    tokenRecord('revoked', now, { revokedAt: new Date(now - 1) }),
  ])
  return { server, store }
}

/** Starts a Fastify app on an ephemeral port of 127.0.0.1; `close` also ends idle keep-alive connections. */
export async function listen(app: FastifyInstance): Promise<{ url: string; close: () => Promise<void> }> {
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    url,
    close: async () => {
      app.server.closeAllConnections()
      await app.close()
    },
  }
}

export const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' } as const

export const CLIENT_FORM = { ...FORM, authorization: basic('app', 'app-secret') } as const

/** An authorization request query for the test client (state with a space, to check it round-trips). */
export function authorizeQuery(extra: Record<string, string> = {}): string {
  return new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT_URI, state: 's t', scope: 'profile', ...extra }).toString()
}

/** A response read by {@link rawRequest}. */
export interface RawResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/**
 * Sends exactly these headers and body parts, on a connection of its own
 * (fetch cannot send a chunked body without `Transfer-Encoding` control, a
 * lying Content-Length or bytes that are not UTF-8). With `stall`, the
 * request is never finished: the server must answer anyway.
 */
export function rawRequest(
  url: string,
  init: { readonly method: string; readonly headers: Record<string, string>; readonly parts?: readonly (string | Uint8Array)[]; readonly stall?: boolean },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method, headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
        req.destroy()
      })
    })
    req.on('error', reject)
    for (const part of init.parts ?? []) req.write(part)
    if (init.stall === true) req.flushHeaders()
    else req.end()
  })
}
