import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../src/open-store.js'
import { freePort, serverCases, startDemoServer, tempDir, writeSeed, type DemoServer, type ServerCase } from './support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, USER, seed } from './support/fixtures.js'
import { authorize } from './support/login-form.js'
import { post } from './support/oauth-http.js'

/** What an MCP POST must accept (MCP streamable HTTP transport). */
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
/** An API the seeded confidential client may also ask tokens for (its `resources` metadata). */
const OTHER_API = 'https://api.example.com/orders'
const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }

/**
 * The test's MCP client side of OAuth, for the SDK's unmodified client: it
 * keeps what the SDK hands it in memory and, where a desktop agent would
 * open a browser, logs in as USER and approves on the demo's consent page
 * over HTTP, keeping the code of the redirect for `transport.finishAuth`.
 */
class TestAgent implements OAuthClientProvider {
  #client: OAuthClientInformationMixed | undefined
  #tokens: OAuthTokens | undefined
  #verifier: string | undefined
  #state = randomBytes(16).toString('base64url')
  /** The authorization request the SDK built. */
  authorizationUrl: URL | undefined
  /** The code of the approved redirect. */
  code: string | undefined

  constructor(readonly clientMetadataUrl?: string) {}

  get redirectUrl(): string {
    return CALLBACK
  }

  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'MCP test agent', redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }
  }

  state(): string {
    return this.#state
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.#client
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.#client = information
  }

  tokens(): OAuthTokens | undefined {
    return this.#tokens
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens
  }

  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier
  }

  codeVerifier(): string {
    if (this.#verifier === undefined) throw new Error('no code verifier saved')
    return this.#verifier
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.authorizationUrl = authorizationUrl
    const res = await authorize(authorizationUrl, { username: USER.username, password: USER.password, decision: 'approve' })
    if (res.status !== 303 && res.status !== 302) throw new Error(`the consent form answered ${res.status}: ${await res.text()}`)
    const location = new URL(res.headers.get('location') as string)
    // What a client checks on its redirect URI: its own state, and the issuer (RFC 9207 §2.4).
    if (location.searchParams.get('state') !== this.#state) throw new Error('the redirect carries another state')
    this.code = location.searchParams.get('code') ?? undefined
  }
}

/** Connects the SDK client to `url` from nothing: the first attempt is refused (401), the agent authorizes, the second connects. */
async function connectFromNothing(url: URL, agent: TestAgent): Promise<Client> {
  const first = new Client({ name: 'grantkit-test-agent', version: '1.0.0' })
  await expect(first.connect(new StreamableHTTPClientTransport(url, { authProvider: agent }))).rejects.toBeInstanceOf(UnauthorizedError)
  expect(agent.code).toBeDefined()
  const transport = new StreamableHTTPClientTransport(url, { authProvider: agent })
  await transport.finishAuth(agent.code as string)
  const client = new Client({ name: 'grantkit-test-agent', version: '1.0.0' })
  await client.connect(transport)
  return client
}

/** A self-signed certificate for 127.0.0.1 (openssl, as the safe-fetch tests make theirs), valid one day. */
function selfSignedCertificate(dir: string): { key: string; cert: string; certFile: string } {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  )
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile }
}

/**
 * The agent's Client ID Metadata Document, served over https on 127.0.0.1:
 * the SDK takes only an https `clientMetadataUrl`, so the test serves one
 * with a self-signed certificate that the demo trusts through
 * NODE_EXTRA_CA_CERTS (and OAUTH_ALLOW_INSECURE_FETCH=1 lets it fetch from a
 * loopback address).
 */
async function serveAgentDocument(certificate: { key: string; cert: string }): Promise<{ url: string; fetches: () => number; close: () => Promise<void> }> {
  let fetches = 0
  let url = ''
  const server: HttpsServer = createHttpsServer(certificate, (req, res) => {
    if (req.url !== '/agent.json') return void res.writeHead(404).end()
    fetches++
    const agent = new TestAgent()
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' })
    res.end(JSON.stringify({ ...agent.clientMetadata, client_id: url, client_uri: 'https://agent.example/' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/agent.json`
  return { url, fetches: () => fetches, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

// Set before the demo processes start: the https document server's certificate, trusted by each of them.
const tls = await tempDir()
const certificate = selfSignedCertificate(tls.dir)
writeFileSync(join(tls.dir, 'trust.pem'), certificate.cert)

describe.each(serverCases())('the /mcp endpoint on $adapter with the $store store (docs/demo-server.md "The /mcp endpoint")', ({ adapter, store: storeName, setup }: ServerCase) => {
  let demo: DemoServer
  let spec: string
  let mcpUrl: URL
  let metadataUrl: string
  let documents: Awaited<ReturnType<typeof serveAgentDocument>>
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const store = await setup(tmp.dir)
    cleanups.push(store.cleanup)
    spec = store.spec
    const seeded: { clients: Record<string, unknown>[]; users: unknown[] } = seed()
    seeded.clients[0] = { ...seeded.clients[0], resources: [OTHER_API] }
    const env = { OAUTH_ADAPTER: adapter, OAUTH_STORE: spec, OAUTH_SEED: await writeSeed(tmp.dir, seeded), OAUTH_ALLOW_INSECURE_FETCH: '1', NODE_EXTRA_CA_CERTS: join(tls.dir, 'trust.pem') }
    demo = await startDemoServer(env, tmp.dir)
    cleanups.push(() => demo.stop())
    documents = await serveAgentDocument(certificate)
    cleanups.push(documents.close)
    mcpUrl = new URL(`${demo.issuer}/mcp`)
    metadataUrl = `${new URL(demo.issuer).origin}/.well-known/oauth-protected-resource/mcp`
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  /** Alice's user id, as /api/me reports it to the seeded confidential client's password-grant token. */
  async function aliceId(): Promise<string> {
    const res = await post(demo.issuer, '/token', { grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile' }, { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] })
    const { access_token } = (await res.json()) as { access_token: string }
    const me = await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${access_token}` } })
    return ((await me.json()) as { sub: string }).sub
  }

  /** A client_credentials token of the seeded confidential client, with `resource` when given. */
  async function clientToken(resource?: string): Promise<string> {
    const params: Record<string, string> = { grant_type: 'client_credentials', scope: 'read' }
    if (resource !== undefined) params['resource'] = resource
    const res = await post(demo.issuer, '/token', params, { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] })
    expect(res.status).toBe(200)
    return ((await res.json()) as { access_token: string }).access_token
  }

  it('serves its protected resource metadata at /.well-known/oauth-protected-resource/mcp (RFC 9728 §3.1, §3.2)', async () => {
    const res = await fetch(metadataUrl)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await res.json()).toEqual({
      resource: mcpUrl.href,
      authorization_servers: [demo.issuer],
      scopes_supported: ['read', 'write'],
      bearer_methods_supported: ['header'],
      resource_name: 'grantkit demo MCP server',
    })
    // The authorization server says it resolves Client ID Metadata Documents and registers clients.
    const as = (await (await fetch(`${demo.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
    expect(as).toMatchObject({ client_id_metadata_document_supported: true, registration_endpoint: `${demo.issuer}/register`, code_challenge_methods_supported: ['S256'] })
  })

  it('lets the MCP SDK client connect from nothing with dynamic registration: 401 → resource metadata → AS metadata → RFC 7591 registration → code + PKCE + resource → whoami', async () => {
    const agent = new TestAgent()
    const client = await connectFromNothing(mcpUrl, agent)
    try {
      // RFC 7636 §4.3 S256 and RFC 8707 §2.1 resource in the authorization request the SDK built.
      const request = agent.authorizationUrl as URL
      expect(request.searchParams.get('code_challenge_method')).toBe('S256')
      expect(request.searchParams.get('resource')).toBe(mcpUrl.href)
      expect(request.searchParams.get('scope')).toBe('read write')
      const registered = agent.clientInformation() as { client_id: string }
      expect(registered.client_id).toMatch(/^[A-Za-z0-9_-]{16,}$/)
      const { tools } = await client.listTools()
      expect(tools.map((tool) => tool.name)).toEqual(['whoami'])
      const result = await client.callTool({ name: 'whoami', arguments: {} })
      expect(result.structuredContent).toEqual({ sub: await aliceId(), client_id: registered.client_id, scope: 'read write' })
      // The registration is in the store (RFC 7591 §3.2), read back by a second connection to it (the memory store has none).
      if (storeName !== 'memory') {
        const opened = await openStore(spec)
        try {
          expect(await opened.store.findClient(registered.client_id)).toMatchObject({ clientName: 'MCP test agent', redirectUris: [CALLBACK], tokenEndpointAuthMethod: 'none', clientSecretHash: null })
        } finally {
          await opened.close()
        }
      }
    } finally {
      await client.close()
    }
  })

  it('lets the MCP SDK client connect from nothing with a Client ID Metadata Document served over https by the test', async () => {
    const agent = new TestAgent(documents.url)
    const before = documents.fetches()
    const client = await connectFromNothing(mcpUrl, agent)
    try {
      expect(agent.clientInformation()?.client_id).toBe(documents.url)
      expect(agent.authorizationUrl?.searchParams.get('client_id')).toBe(documents.url)
      const result = await client.callTool({ name: 'whoami', arguments: {} })
      expect(result.structuredContent).toEqual({ sub: await aliceId(), client_id: documents.url, scope: 'read write' })
      // Fetched by the demo (then cached, with the document's max-age).
      expect(documents.fetches()).toBeGreaterThan(before)
      // Nothing is registered for it.
      if (storeName !== 'memory') {
        const opened = await openStore(spec)
        try {
          expect(await opened.store.findClient(documents.url)).toBeNull()
        } finally {
          await opened.close()
        }
      }
    } finally {
      await client.close()
    }
  })

  it('answers a request without a token 401 with resource_metadata and no error code (RFC 9728 §5.1, RFC 6750 §3.1)', async () => {
    const res = await fetch(mcpUrl, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify(INITIALIZE) })
    expect(res.status).toBe(401)
    const challenge = res.headers.get('www-authenticate') as string
    expect(challenge).toMatch(/^Bearer /)
    expect(challenge).toContain(`resource_metadata="${metadataUrl}"`)
    expect(challenge).not.toContain('error=')
    // The SDK's parser finds the same URL.
    const { extractWWWAuthenticateParams } = await import('@modelcontextprotocol/sdk/client/auth.js')
    expect(extractWWWAuthenticateParams(res).resourceMetadataUrl?.href).toBe(metadataUrl)
  })

  it('refuses a token without an audience, and one for another resource, with 401 invalid_token and resource_metadata (RFC 8707 §2, RFC 9728 §5.1)', async () => {
    for (const token of [await clientToken(), await clientToken(OTHER_API)]) {
      const res = await fetch(mcpUrl, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: JSON.stringify(INITIALIZE) })
      expect(res.status).toBe(401)
      const challenge = res.headers.get('www-authenticate') as string
      expect(challenge).toContain('error="invalid_token"')
      expect(challenge).toContain(`resource_metadata="${metadataUrl}"`)
    }
  })

  it('serves a token with audience <issuer>/mcp: initialize, then tools/call whoami, as JSON (MCP streamable HTTP, stateless)', async () => {
    const token = await clientToken(mcpUrl.href)
    const headers = { ...MCP_HEADERS, authorization: `Bearer ${token}` }
    const init = await fetch(mcpUrl, { method: 'POST', headers, body: JSON.stringify(INITIALIZE) })
    expect(init.status).toBe(200)
    expect(init.headers.get('mcp-session-id')).toBeNull()
    expect(await init.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'grantkit-demo' }, capabilities: { tools: {} } } })
    const call = await fetch(mcpUrl, {
      method: 'POST',
      headers: { ...headers, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
    })
    expect(call.status).toBe(200)
    // RFC 9068 §2.2: a client-only token's subject is the client.
    expect(((await call.json()) as { result: { structuredContent: unknown } }).result.structuredContent).toEqual({ sub: CONFIDENTIAL.client_id, client_id: CONFIDENTIAL.client_id, scope: 'read' })
    // RFC 8707 §2: a token for /mcp is not one for /api/me (which takes tokens without audience).
    const me = await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(me.status).toBe(401)
    expect(me.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('answers GET and DELETE 405 once the token is accepted, OPTIONS 204 without one, and a body above 64 KiB 413, never hanging', async () => {
    const token = await clientToken(mcpUrl.href)
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(mcpUrl, { method, headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('POST, OPTIONS')
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null })
    }
    const unauthenticated = await fetch(mcpUrl, { method: 'GET', headers: { accept: 'text/event-stream' } })
    expect(unauthenticated.status).toBe(401)
    const options = await fetch(mcpUrl, { method: 'OPTIONS' })
    expect(options.status).toBe(204)
    expect(options.headers.get('allow')).toBe('POST, OPTIONS')
    const large = { ...INITIALIZE, params: { ...INITIALIZE.params, clientInfo: { name: 'x'.repeat(70 * 1024), version: '1' } } }
    const res = await fetch(mcpUrl, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: JSON.stringify(large), signal: AbortSignal.timeout(10_000) })
    expect(res.status).toBe(413)
    const malformed = await fetch(mcpUrl, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: '{', signal: AbortSignal.timeout(10_000) })
    expect(malformed.status).toBe(400)
    expect(await malformed.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } })
  })

  it('accepts a DPoP-bound token with a proof for the request (RFC 9449 §7), and refuses it sent as Bearer (§7.2)', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(demo.issuer), await oauth.discoveryRequest(new URL(demo.issuer), { [oauth.allowInsecureRequests]: true, algorithm: 'oauth2' }))
    const client: oauth.Client = { client_id: CONFIDENTIAL.client_id }
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    const options = { DPoP, [oauth.allowInsecureRequests]: true } as const
    const auth = oauth.ClientSecretBasic(CONFIDENTIAL.client_secret)
    const grant = () => oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams({ scope: 'read', resource: mcpUrl.href }), options)
    let response = await grant()
    // RFC 9449 §8: the first request gets a nonce to use.
    if (response.status === 400) response = await grant()
    const { access_token, token_type } = await oauth.processClientCredentialsResponse(as, client, response)
    expect(token_type).toBe('dpop')
    const res = await oauth.protectedResourceRequest(access_token, 'POST', mcpUrl, new Headers(MCP_HEADERS), JSON.stringify(INITIALIZE), options)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ id: 1, result: { serverInfo: { name: 'grantkit-demo' } } })
    const asBearer = await fetch(mcpUrl, { method: 'POST', headers: { ...MCP_HEADERS, authorization: `Bearer ${access_token}` }, body: JSON.stringify(INITIALIZE) })
    expect(asBearer.status).toBe(401)
  })
})

describe('/mcp under an issuer with a path (RFC 9728 §3.1: the well-known segment goes before the path)', () => {
  let demo: DemoServer
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const port = await freePort()
    demo = await startDemoServer({ OAUTH_STORE: 'memory:', PORT: String(port), OAUTH_ISSUER: `http://127.0.0.1:${port}/tenant`, OAUTH_SEED: await writeSeed(tmp.dir, seed()) }, tmp.dir)
    cleanups.push(() => demo.stop())
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
    await tls.remove()
  })

  it('serves /tenant/mcp with its metadata at /.well-known/oauth-protected-resource/tenant/mcp, and the SDK client connects with DCR', async () => {
    const origin = new URL(demo.issuer).origin
    const metadata = await fetch(`${origin}/.well-known/oauth-protected-resource/tenant/mcp`)
    expect(metadata.status).toBe(200)
    expect(await metadata.json()).toMatchObject({ resource: `${demo.issuer}/mcp`, authorization_servers: [demo.issuer] })
    expect((await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404)
    const res = await fetch(`${demo.issuer}/mcp`, { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify(INITIALIZE) })
    expect(res.headers.get('www-authenticate')).toContain(`resource_metadata="${origin}/.well-known/oauth-protected-resource/tenant/mcp"`)
    const agent = new TestAgent()
    const client = await connectFromNothing(new URL(`${demo.issuer}/mcp`), agent)
    try {
      const result = await client.callTool({ name: 'whoami', arguments: {} })
      expect(result.structuredContent).toMatchObject({ client_id: agent.clientInformation()?.client_id, scope: 'read write' })
    } finally {
      await client.close()
    }
  })
})
