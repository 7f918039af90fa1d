import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Express } from 'express'
import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  memoryStore,
  type GrantUser,
  type MemoryStore,
  type OAuthResponse,
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

/** A server over a memory store with a confidential client `app` (secret `app-secret`). */
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
  return { server, store }
}

/** Starts an Express app on an ephemeral port of 127.0.0.1 (`app.listen(0, '127.0.0.1')`). */
export async function listen(app: Express): Promise<{ url: string; close: () => Promise<void> }> {
  const http: Server = await new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(server)))
  })
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        http.closeAllConnections()
        http.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}

export const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' } as const

/** The authorization request of the test client, as a query string. */
export function authorizeQuery(extra: Record<string, string> = {}): string {
  return new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT_URI, state: 's t', scope: 'profile', ...extra }).toString()
}
