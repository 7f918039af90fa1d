// Test-only helpers (never exported from the package): a real node:http
// server publishing Client ID Metadata Documents, and a real authorization
// server (Koa, @grantkit/adapter-koa) over a memory store wrapped by
// withClientMetadataDocuments. Both listen on 127.0.0.1 and close when the
// current test finishes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { oauthRouter } from '@grantkit/adapter-koa'
import { AuthorizationServer, memoryStore, type AuthorizationHandle, type MemoryStore } from '@grantkit/core'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import Koa from 'koa'
import * as oauth from 'oauth4webapi'
import { onTestFinished } from 'vitest'
import {
  CLIENT_ID_METADATA_DOCUMENT_SUPPORTED,
  withClientMetadataDocuments,
  type ClientMetadataDocumentOptions,
  type ClientMetadataDocumentRejection,
} from '../client-metadata-documents.js'

export const insecure = { [oauth.allowInsecureRequests]: true } as const

/** A native app's loopback redirect URI (RFC 8252 section 7.3). */
export const REDIRECT_URI = 'http://127.0.0.1:7777/callback'

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** Listens on a loopback port; every socket is destroyed and the server closed when the test finishes. */
async function listen(server: Server): Promise<string> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A server publishing documents: `routes` maps a path to its handler; `requests` lists the paths asked for. */
export interface DocumentServer {
  readonly origin: string
  readonly port: number
  readonly requests: string[]
  /** Sets (or replaces) the handler of a path. */
  route(path: string, handler: Handler): void
  /** Serves a JSON document at `path` with extra headers; returns its URL. */
  serve(path: string, document: unknown, headers?: Record<string, string>): string
}

export async function startDocumentServer(): Promise<DocumentServer> {
  const routes = new Map<string, Handler>()
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(req.url ?? '')
    const handler = routes.get(req.url ?? '')
    if (handler === undefined) res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
    else handler(req, res)
  })
  const origin = await listen(server)
  return {
    origin,
    port: Number(new URL(origin).port),
    requests,
    route: (path, handler) => void routes.set(path, handler),
    serve(path, document, headers = {}) {
      routes.set(path, (_req, res) => res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(document)))
      return origin + path
    },
  }
}

/** A valid document for the client id `url`: a public native app. */
export function documentFor(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_id: url, client_name: 'Example Native App', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', ...extra }
}

/** A started authorization server, its memory store, and what its hooks saw. */
export interface TestAuthServer {
  readonly issuer: URL
  readonly as: oauth.AuthorizationServer
  readonly server: AuthorizationServer
  readonly store: MemoryStore
  readonly rejections: ClientMetadataDocumentRejection[]
  /** The authorization requests the `authorize` hook was given. */
  readonly authorized: AuthorizationHandle[]
  /** A GET of the authorization endpoint with these parameters (a PKCE challenge added), without following redirects. */
  authorize(params: Record<string, string>): Promise<Response>
  /** A token request of a public client, sent by hand (for client ids oauth4webapi would never get a code for). */
  token(clientId: string): Promise<Response>
}

/** The wrapper's options for a loopback document server. */
export const LOOPBACK: ClientMetadataDocumentOptions = { allowHttp: true, allowAddresses: ['loopback'] }

export async function startAuthServer(options: ClientMetadataDocumentOptions = LOOPBACK): Promise<TestAuthServer> {
  const http = createServer()
  const issuer = new URL(await listen(http))
  const store = memoryStore()
  const rejections: ClientMetadataDocumentRejection[] = []
  const authorized: AuthorizationHandle[] = []
  const server = new AuthorizationServer({
    issuer: issuer.origin,
    store: withClientMetadataDocuments(store, { ...options, onRejected: (rejection) => void rejections.push(rejection) }),
    metadata: CLIENT_ID_METADATA_DOCUMENT_SUPPORTED,
    scopesSupported: ['read', 'write'],
    onError: () => {},
  })
  server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge()])
  const app = new Koa()
  app.use(
    oauthRouter(server, {
      authorize: (_ctx, { request }) => {
        authorized.push(request)
        return { user: { id: 'user-alice' } }
      },
    }).routes(),
  )
  http.on('request', app.callback())
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  const challenge = await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier())
  return {
    issuer,
    as,
    server,
    store,
    rejections,
    authorized,
    authorize(params) {
      const url = new URL(as.authorization_endpoint as string)
      url.search = new URLSearchParams({ response_type: 'code', redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256', ...params }).toString()
      return fetch(url, { redirect: 'manual' })
    },
    token(clientId) {
      const body = new URLSearchParams({ grant_type: 'authorization_code', code: 'not-a-code', redirect_uri: REDIRECT_URI, code_verifier: oauth.generateRandomCodeVerifier(), client_id: clientId })
      return fetch(as.token_endpoint as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
    },
  }
}
