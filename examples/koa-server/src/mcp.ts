import type { IncomingMessage, ServerResponse } from 'node:http'
import { protectedResourceMetadata, type ProtectedResourceMetadata } from '@grantkit/core'
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { jsonAnswer, type Answer } from './demo-http.js'

/** Where the Model Context Protocol endpoint is served, under the issuer's path. */
export const MCP_PATH = '/mcp'

/**
 * The scopes a token for `/mcp` may be asked with (RFC 9728 §2
 * `scopes_supported`). MCP clients ask for these when the resource's 401
 * names none; `/mcp` itself requires no particular scope.
 */
export const MCP_SCOPES: readonly string[] = ['read', 'write']

/** The largest JSON-RPC request body `/mcp` reads, as the OAuth endpoints' 64 KiB. */
export const MCP_BODY_LIMIT = 64 * 1024

/** What the framework's `requireToken` found: the caller the `whoami` tool describes. */
export interface McpCaller {
  readonly clientId: string
  /** The resource owner, or `null` for a client-only token (client credentials). */
  readonly userId: string | null
  readonly scopes: readonly string[]
}

/** `/mcp` without its framework. */
export interface McpEndpoint {
  /** The request path of the endpoint: {@link MCP_PATH} under the issuer's path. */
  readonly path: string
  /** The resource identifier, `<issuer>/mcp` (RFC 8707 §2, RFC 9728 §2 `resource`): the audience its tokens must carry. */
  readonly resource: string
  /** Its protected resource metadata: for `requireToken({ metadata })` and `serveResourceMetadata(metadata)`. */
  readonly metadata: ProtectedResourceMetadata
  /** Answers a POST whose token `requireToken` accepted, on Node's request and response (Koa, Express, Fastify). */
  node(req: IncomingMessage, res: ServerResponse, caller: McpCaller): Promise<void>
  /** Answers a POST whose token `requireToken` accepted, as a Web `Response` (the Fetch API app). */
  fetch(request: Request, caller: McpCaller): Promise<Response>
  /** OPTIONS (before any token check), and any method but POST once the token was accepted. */
  other(method: string): Answer
}

/** Options of {@link mcpEndpoint}. */
export interface McpEndpointOptions {
  readonly issuer: string
}

/** The methods `/mcp` answers; only POST carries MCP messages (stateless streamable HTTP). */
const ALLOW = 'POST, OPTIONS'

/**
 * One MCP server for one request (the SDK's stateless mode: no session,
 * nothing kept between requests), with one tool, `whoami`, which answers
 * the caller's subject and scope.
 */
/**
 * The MCP SDK and zod, loaded on the first `/mcp` request: together they
 * cost the process about 30 MB, which a demo that never serves MCP should
 * not pay (its idle RSS stays small).
 */
let sdk: Promise<typeof import('./mcp-sdk.js')> | undefined
const loadSdk = () => (sdk ??= import('./mcp-sdk.js'))

async function mcpServer(caller: McpCaller): Promise<McpServer> {
  const { McpServer, z } = await loadSdk()
  const server = new McpServer({ name: 'grantkit-demo', version: '0.0.0' })
  server.registerTool(
    'whoami',
    {
      title: 'Who am I',
      description: "The access token's subject (the user id, or the client id for a client-only token), its client and its scope.",
      outputSchema: { sub: z.string(), client_id: z.string(), scope: z.string() },
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    () => {
      // RFC 9068 §2.2: the subject of a client-only token is the client.
      const identity = { sub: caller.userId ?? caller.clientId, client_id: caller.clientId, scope: caller.scopes.join(' ') }
      return { content: [{ type: 'text', text: JSON.stringify(identity) }], structuredContent: identity }
    },
  )
  return server
}

/** The transports' options: stateless, JSON answers (no SSE stream), the demo's body limit. */
const TRANSPORT_OPTIONS = { sessionIdGenerator: undefined, enableJsonResponse: true, maxRequestBodySize: MCP_BODY_LIMIT } as const

/**
 * The demo's Model Context Protocol endpoint (docs/demo-server.md,
 * "The `/mcp` endpoint"): streamable HTTP in the SDK's stateless mode, its
 * resource identifier `<issuer>/mcp` and its RFC 9728 metadata, served at
 * `/.well-known/oauth-protected-resource` followed by the resource's path
 * (RFC 9728 §3.1).
 */
export function mcpEndpoint({ issuer }: McpEndpointOptions): McpEndpoint {
  const resource = issuer + MCP_PATH
  const metadata = protectedResourceMetadata({
    resource,
    authorizationServers: [issuer],
    scopesSupported: MCP_SCOPES,
    resourceName: 'grantkit demo MCP server',
    // RFC 9728 §2 asks for https; the demo also runs on a plain http issuer (local use, tests).
    allowHttp: new URL(issuer).protocol === 'http:',
  })
  return {
    path: new URL(resource).pathname,
    resource,
    metadata,
    async node(req, res, caller) {
      const server = await mcpServer(caller)
      const transport = new (await loadSdk()).StreamableHTTPServerTransport(TRANSPORT_OPTIONS)
      res.once('close', () => void transport.close().then(() => server.close()))
      await server.connect(transport)
      await transport.handleRequest(req, res)
    },
    async fetch(request, caller) {
      const server = await mcpServer(caller)
      const transport = new (await loadSdk()).WebStandardStreamableHTTPServerTransport(TRANSPORT_OPTIONS)
      await server.connect(transport)
      try {
        // JSON answers: the response is complete once handleRequest resolves.
        return await transport.handleRequest(request)
      } finally {
        void transport.close().then(() => server.close())
      }
    },
    other(method) {
      if (method === 'OPTIONS') return { status: 204, headers: [['allow', ALLOW]], body: null }
      // JSON-RPC's error object, as the SDK answers its own refusals (MCP streamable HTTP: no GET stream in stateless mode).
      return jsonAnswer(405, { jsonrpc: '2.0', error: { code: -32000, message: 'this method is not allowed here; send MCP messages with POST' }, id: null }, [['allow', ALLOW]])
    },
  }
}
