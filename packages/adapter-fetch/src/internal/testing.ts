import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  memoryStore,
  type GrantUser,
  type MemoryStore,
  type OAuthResponse,
} from '@grantkit/core'

// Test support only (Node): never imported by the package's entry point.

/** `IncomingMessage` → `Request`, as a Node host of a Fetch handler does; cancelling the body drains it so the response can still be written. */
export function toRequest(req: IncomingMessage): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v)
    else if (value !== undefined) headers.set(name, value)
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  let open = true
  const body = hasBody
    ? new ReadableStream<Uint8Array>({
        start(controller) {
          req.on('data', (chunk: Uint8Array) => {
            if (!open) return
            controller.enqueue(new Uint8Array(chunk))
            if ((controller.desiredSize ?? 1) <= 0) req.pause()
          })
          req.on('end', () => {
            if (open) controller.close()
            open = false
          })
          req.on('error', (error) => {
            if (open) controller.error(error)
            open = false
          })
        },
        pull() {
          req.resume()
        },
        cancel() {
          open = false
          req.resume()
        },
      })
    : null
  return new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, { method, headers, body, duplex: 'half' } as RequestInit)
}

/** Writes a `Response` to a Node `ServerResponse`. */
export async function writeResponse(response: Response, res: ServerResponse, method: string): Promise<void> {
  res.statusCode = response.status
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value)
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) res.setHeader('set-cookie', cookies)
  const body = method === 'HEAD' || response.body === null ? undefined : new Uint8Array(await response.arrayBuffer())
  res.end(body)
}

/** Serves a Fetch handler with `node:http` on an ephemeral port of 127.0.0.1. */
export async function serveFetch(handler: (request: Request) => Promise<Response>): Promise<{ url: string; close(): Promise<void> }> {
  const http = createServer((req, res) => {
    handler(toRequest(req))
      .then((response) => writeResponse(response, res, req.method ?? 'GET'))
      .catch(() => {
        res.statusCode = 500
        res.end()
      })
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, '127.0.0.1', resolve)
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

/** A minimal client-credentials grant, so the package's tests need nothing but core. */
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

/** A server over a memory store with a confidential client `app` (secret `app-secret`, Basic authentication). */
export async function testServer(issuer = 'http://localhost'): Promise<{ server: AuthorizationServer; store: MemoryStore }> {
  const store = memoryStore()
  const server = new AuthorizationServer({ issuer, store, scopesSupported: ['profile', 'read'], onError: () => {} })
  server.registerGrant(TestClientCredentialsGrant).registerGrant(TestCodeGrant)
  const { client } = await createClient({
    clientId: 'app',
    clientSecret: 'app-secret',
    secretHash: 'sha256',
    clientName: 'Test App',
    redirectUris: [REDIRECT_URI],
    grantTypes: ['authorization_code', 'client_credentials'],
    responseTypes: ['code'],
    scope: 'profile read',
  })
  await store.saveClient(client)
  return { server, store }
}

export const BASIC = 'Basic ' + btoa('app:app-secret')
