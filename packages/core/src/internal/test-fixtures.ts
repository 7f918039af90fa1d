// Shared set-up of core's own tests. Never exported from src/index.ts.
import { createClient, type ClientInput } from '../client.js'
import { BaseGrant, type GrantUser } from '../grant.js'
import { memoryStore, type MemoryStore } from '../memory-store.js'
import type { OAuthResponse } from '../response.js'
import { AuthorizationServer, type AuthorizationServerOptions } from '../server.js'

export const ISSUER = 'https://auth.example.com'

/** A server over a fresh memory store with a settable clock (`setup.t`). */
export interface Setup {
  server: AuthorizationServer
  store: MemoryStore
  /** Milliseconds since the epoch; the server's clock reads it. */
  t: number
  errors: unknown[]
}

export function setup(options: Partial<AuthorizationServerOptions> = {}): Setup {
  const store = memoryStore()
  const s: Setup = { store, t: Date.UTC(2030, 0, 1), errors: [], server: undefined as unknown as AuthorizationServer }
  s.server = new AuthorizationServer({
    issuer: ISSUER,
    store,
    clock: () => s.t,
    onError: (error) => s.errors.push(error),
    ...options,
  })
  return s
}

/** Creates and saves a client; secrets hashed with fast sha256 unless told otherwise. */
export async function saveClient(store: MemoryStore, input: ClientInput = {}): Promise<{ clientId: string; clientSecret: string }> {
  const { client, clientSecret } = await createClient({ secretHash: 'sha256', ...input })
  await store.saveClient(client)
  return { clientId: client.clientId, clientSecret: clientSecret ?? '' }
}

/** `Basic base64(urlencode(id):urlencode(secret))` as RFC 6749 §2.3.1 asks clients to build it. */
export function basic(clientId: string, clientSecret: string): string {
  const enc = (v: string) => new URLSearchParams({ v }).toString().slice(2)
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`, 'utf8').toString('base64')
}

/** A token grant issuing tokens for the authenticated client (client-credentials-like). */
export class TestTokenGrant extends BaseGrant {
  static override GRANT_TYPE = 'urn:test:token'
  static override TOKEN_ENDPOINT = true
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none']

  override async validateTokenRequest(): Promise<void> {
    await this.authenticateTokenEndpointClient()
  }

  override async createTokenResponse(): Promise<OAuthResponse> {
    const client = this.client!
    const scopes = this.resolveScopes(this.param('scope'), client)
    const user: GrantUser | null = this.param('user_id') === undefined ? null : { id: this.param('user_id')! }
    return this.tokenResponse(await this.issueTokens({ client, user, scopes, refreshToken: this.param('with_refresh') === 'true' }))
  }
}

/** An authorization-endpoint grant for `response_type=code` that redirects with a fixed code. */
export class TestCodeGrant extends BaseGrant {
  static override RESPONSE_TYPES: readonly string[] = ['code']
  static override AUTHORIZATION_ENDPOINT = true

  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    return this.authorizationRedirect(user, { code: `code-for-${user.id}` })
  }
}
