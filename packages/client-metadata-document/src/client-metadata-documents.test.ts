// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document)
// over real HTTP: documents served by a node:http server on 127.0.0.1, an
// authorization server on Koa (@grantkit/adapter-koa), and oauth4webapi,
// unmodified, as the client, using the document's URL as its client_id.
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { createClient, memoryStore } from '@grantkit/core'
import * as oauth from 'oauth4webapi'
import { describe, expect, it } from 'vitest'
import {
  CLIENT_ID_METADATA_DOCUMENT_SUPPORTED,
  isMetadataDocumentClient,
  withClientMetadataDocuments,
  type ClientMetadataDocumentOptions,
  type ClientMetadataDocumentRejectionReason,
} from './client-metadata-documents.js'
import { LOOPBACK, REDIRECT_URI, documentFor, insecure, startAuthServer, startDocumentServer, type DocumentServer, type TestAuthServer } from './internal/testing.js'

/** The error page of the authorization endpoint: a 400 HTML page, never a redirect (RFC 6749 section 4.1.2.1). */
async function expectErrorPage(response: Response): Promise<string> {
  expect(response.status).toBe(400)
  expect(response.headers.get('location')).toBeNull()
  expect(response.headers.get('content-type')).toMatch(/^text\/html/)
  return response.text()
}

/**
 * The client id is unknown everywhere: the error page at the authorization
 * endpoint, 401 invalid_client at the token endpoint (RFC 6749 section 5.2),
 * nothing stored, and onRejected told why, once per lookup.
 */
async function expectRefused(auth: TestAuthServer, clientId: string, reason: ClientMetadataDocumentRejectionReason): Promise<void> {
  await expectErrorPage(await auth.authorize({ client_id: clientId }))
  const token = await auth.token(clientId)
  expect(token.status).toBe(401)
  expect(await token.json()).toMatchObject({ error: 'invalid_client' })
  expect(auth.authorized).toEqual([])
  expect(await auth.store.listClients()).toEqual([])
  expect(auth.rejections.map((r) => r.reason)).toEqual([reason, reason])
  // The id as the request carried it, cut to 2048 characters (it is untrusted input).
  expect(auth.rejections[0]?.clientId).toBe(clientId.slice(0, 2048))
  expect(typeof auth.rejections[0]?.detail).toBe('string')
}

describe('authorization server metadata (draft section 6)', () => {
  it('CLIENT_ID_METADATA_DOCUMENT_SUPPORTED is the client_id_metadata_document_supported parameter', () => {
    expect(CLIENT_ID_METADATA_DOCUMENT_SUPPORTED).toEqual({ client_id_metadata_document_supported: true })
    expect(Object.isFrozen(CLIENT_ID_METADATA_DOCUMENT_SUPPORTED)).toBe(true)
  })

  it('is served in the RFC 8414 metadata when given to the server, as oauth4webapi discovers it', async () => {
    const auth = await startAuthServer()
    expect(auth.as['client_id_metadata_document_supported']).toBe(true)
  })
})

describe('a client id that is a metadata document URL', () => {
  it('runs the authorization code + PKCE flow with oauth4webapi and gets a token, storing nothing', async () => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/oauth/client.json', documentFor(`${docs.origin}/oauth/client.json`, { scope: 'read', client_uri: 'https://app.example.com' }))
    const auth = await startAuthServer({ ...LOOPBACK, allowedScopes: ['read', 'write'] })
    const client: oauth.Client = { client_id: clientId, token_endpoint_auth_method: 'none' }
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const url = new URL(auth.as.authorization_endpoint as string)
    url.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT_URI, scope: 'read', state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString()
    const redirect = await fetch(url, { redirect: 'manual' })
    expect(redirect.status).toBe(302)
    const params = oauth.validateAuthResponse(auth.as, client, new URL(redirect.headers.get('location') as string), state)
    const response = await oauth.authorizationCodeGrantRequest(auth.as, client, oauth.None(), params, REDIRECT_URI, verifier, insecure)
    const tokens = await oauth.processAuthorizationCodeResponse(auth.as, client, response)
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read', access_token: expect.any(String) })

    // The consent step saw the document's client, marked as such (show its host: draft section 8.5).
    const seen = auth.authorized[0]?.client
    expect(seen).toMatchObject({ clientId, clientName: 'Example Native App', redirectUris: [REDIRECT_URI], tokenEndpointAuthMethod: 'none', scope: 'read' })
    expect(seen && isMetadataDocumentClient(seen)).toBe(true)
    expect(seen?.metadata?.['client_uri']).toBe('https://app.example.com')
    expect(new URL(clientId).host).toBe(`127.0.0.1:${docs.port}`)
    // Draft section 5.2: fetched once, then cached; nothing written to the store.
    expect(docs.requests).toEqual(['/oauth/client.json'])
    expect(await auth.store.listClients()).toEqual([])
    expect(auth.store.snapshot().clients).toEqual([])
    expect(auth.rejections).toEqual([])
  })

  it('answers other client ids from the wrapped store, whose other methods stay its own', async () => {
    const docs = await startDocumentServer()
    const store = memoryStore()
    const { client } = await createClient({ clientId: 'registered-app', redirectUris: [REDIRECT_URI], tokenEndpointAuthMethod: 'none' })
    await store.saveClient(client)
    const wrapped = withClientMetadataDocuments(store, LOOPBACK)
    expect(await wrapped.findClient('registered-app')).toMatchObject({ clientId: 'registered-app' })
    expect(await wrapped.findClient('unknown-app')).toBeNull()
    // http: ids are not Client Identifier URLs unless allowHttp: they are the store's.
    expect(await withClientMetadataDocuments(store).findClient(`${docs.origin}/client.json`)).toBeNull()
    expect(docs.requests).toEqual([])
    expect((await wrapped.listClients()).map((c) => c.clientId)).toEqual(['registered-app'])
    expect(wrapped.snapshot().clients).toHaveLength(1)
  })

  it('maps the document to a core Client: defaults, scope narrowed to allowedScopes, unknown grants dropped (RFC 7591 section 2)', async () => {
    const docs = await startDocumentServer()
    const full = docs.serve('/full', {
      ...documentFor(`${docs.origin}/full`),
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      scope: 'read admin',
      logo_uri: 'https://app.example.com/logo.png',
      tos_uri: 'https://app.example.com/tos',
      policy_uri: 'https://app.example.com/privacy',
      software_id: 'ignored',
      dynamic_registration: { expiresAt: 0 },
    })
    const bare = docs.serve('/bare', { client_id: `${docs.origin}/bare`, redirect_uris: [REDIRECT_URI] })
    const store = withClientMetadataDocuments(memoryStore(), { ...LOOPBACK, allowedScopes: ['read', 'write'] })
    const client = await store.findClient(full)
    expect(client).toEqual({
      clientId: full,
      clientSecretHash: null,
      clientName: 'Example Native App',
      redirectUris: [REDIRECT_URI],
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
      scope: 'read',
      tokenEndpointAuthMethod: 'none',
      metadata: { client_id_metadata_document: true, logo_uri: 'https://app.example.com/logo.png', tos_uri: 'https://app.example.com/tos', policy_uri: 'https://app.example.com/privacy' },
    })
    expect(Object.isFrozen(client)).toBe(true)
    // No scope: every allowed scope; no method: none (a public client); no grant types: authorization_code.
    expect(await store.findClient(bare)).toMatchObject({ clientName: undefined, scope: 'read write', tokenEndpointAuthMethod: 'none', grantTypes: ['authorization_code'], responseTypes: ['code'] })
  })

  it('maps private_key_jwt with jwks or jwks_uri to the metadata client-auth-jwt reads (draft section 8.2)', async () => {
    const docs = await startDocumentServer()
    const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', use: 'sig' }
    const inline = docs.serve('/inline', documentFor(`${docs.origin}/inline`, { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }))
    const remote = docs.serve('/remote', documentFor(`${docs.origin}/remote`, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://app.example.com/jwks.json' }))
    const store = withClientMetadataDocuments(memoryStore(), LOOPBACK)
    expect(await store.findClient(inline)).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', clientSecretHash: null, metadata: { jwks: { keys: [jwk] } } })
    expect(await store.findClient(remote)).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', metadata: { jwks_uri: 'https://app.example.com/jwks.json' } })
  })

  it('refuses a redirect_uri the document does not list with the error page, never a redirect (RFC 6749 section 4.1.2.1)', async () => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/client.json`))
    const auth = await startAuthServer()
    const page = await expectErrorPage(await auth.authorize({ client_id: clientId, redirect_uri: 'https://attacker.example/cb' }))
    expect(page).not.toContain('attacker.example')
    expect(auth.authorized).toEqual([])
    expect(auth.rejections).toEqual([])
    expect(await auth.store.listClients()).toEqual([])
  })
})

describe('refused documents: the client is unknown (4xx), nothing is stored, onRejected says why', () => {
  it('client_id_mismatch: the document names another client_id (draft section 4)', async () => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/other.json`))
    await expectRefused(await startAuthServer(), clientId, 'client_id_mismatch')
  })

  it('client_id_mismatch: a document without client_id', async () => {
    const docs = await startDocumentServer()
    const { client_id: _omitted, ...document } = documentFor(`${docs.origin}/client.json`)
    const clientId = docs.serve('/client.json', document)
    await expectRefused(await startAuthServer(), clientId, 'client_id_mismatch')
  })

  it('too_large: a document over the 5 KiB default (draft section 8.7)', async () => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/client.json`, { padding: 'x'.repeat(6 * 1024) }))
    await expectRefused(await startAuthServer(), clientId, 'too_large')
  })

  it('too_large: a document streamed without Content-Length is cut at the limit', async () => {
    const docs = await startDocumentServer()
    docs.route('/client.json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(JSON.stringify(documentFor(`${docs.origin}/client.json`)).slice(0, -1))
      res.end(`,"padding":"${'x'.repeat(8 * 1024)}"}`)
    })
    await expectRefused(await startAuthServer(), `${docs.origin}/client.json`, 'too_large')
  })

  it('timeout: a server that never answers, with a 300 ms timeout', async () => {
    const docs = await startDocumentServer()
    // Never answers: the socket is destroyed when the test finishes.
    docs.route('/client.json', () => {})
    await expectRefused(await startAuthServer({ ...LOOPBACK, timeout: 300 }), `${docs.origin}/client.json`, 'timeout')
  })

  it('redirect: a redirect to another host is not followed (draft section 5)', async () => {
    const docs = await startDocumentServer()
    const elsewhere = await startDocumentServer()
    elsewhere.serve('/client.json', documentFor(`${docs.origin}/client.json`))
    docs.route('/client.json', (_req, res) => res.writeHead(302, { location: `http://localhost:${elsewhere.port}/client.json` }).end())
    await expectRefused(await startAuthServer(), `${docs.origin}/client.json`, 'redirect')
    expect(elsewhere.requests).toEqual([])
  })

  it('redirect: not even on the same host (draft section 5: MUST NOT automatically follow HTTP redirects)', async () => {
    const docs = await startDocumentServer()
    docs.serve('/moved.json', documentFor(`${docs.origin}/client.json`))
    docs.route('/client.json', (_req, res) => res.writeHead(301, { location: '/moved.json' }).end())
    await expectRefused(await startAuthServer(), `${docs.origin}/client.json`, 'redirect')
    expect(docs.requests).not.toContain('/moved.json')
  })

  it.each([
    ['an https URL to 127.0.0.1 (loopback) without allowAddresses', (docs: DocumentServer) => `https://127.0.0.1:${docs.port}/client.json`],
    ['an https URL to 10.0.0.1 (private)', () => 'https://10.0.0.1/client.json'],
    ['an https URL to 169.254.169.254 (link-local, cloud metadata)', () => 'https://169.254.169.254/latest/meta-data'],
    ['an https URL to [::1]', (docs: DocumentServer) => `https://[::1]:${docs.port}/client.json`],
  ])('forbidden_address: %s (draft section 8.6), nothing fetched', async (_name, urlOf) => {
    const docs = await startDocumentServer()
    await expectRefused(await startAuthServer({}), urlOf(docs), 'forbidden_address')
    expect(docs.requests).toEqual([])
  })

  it('forbidden_address: a host name that resolves to a private address (draft section 8.6)', async () => {
    const auth = await startAuthServer({ lookup: async () => [{ address: '10.20.30.40', family: 4 }] })
    await expectRefused(auth, 'https://client.example.com/oauth/client.json', 'forbidden_address')
  })

  it('not_json: an HTML page (draft section 4: a JSON media type)', async () => {
    const docs = await startDocumentServer()
    docs.route('/client.json', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'))
    await expectRefused(await startAuthServer(), `${docs.origin}/client.json`, 'not_json')
  })

  it('not_json: application/json that is not JSON', async () => {
    const docs = await startDocumentServer()
    docs.route('/client.json', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"client_id": '))
    await expectRefused(await startAuthServer(), `${docs.origin}/client.json`, 'not_json')
  })

  it('fetch_failed: a 404 (draft section 5: only 200 OK)', async () => {
    const docs = await startDocumentServer()
    await expectRefused(await startAuthServer(), `${docs.origin}/missing.json`, 'fetch_failed')
  })

  it('fetch_failed: nothing listening (the connection is refused)', async () => {
    const auth = await startAuthServer()
    // A port the system just handed out and that was closed again at once.
    const port = await new Promise<number>((resolve) => {
      const probe = createNetServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo
        probe.close(() => resolve(port))
      })
    })
    await expectRefused(auth, `http://127.0.0.1:${port}/client.json`, 'fetch_failed')
  })

  it.each([
    ['javascript:', 'javascript:alert(1)'],
    ['data:', 'data:text/html,hello'],
    ['http on a non-loopback host', 'http://app.example.com/cb'],
    ['a fragment', 'https://app.example.com/cb#x'],
    ['a relative URI', '/cb'],
  ])('invalid_redirect_uri: a redirect URI with %s (RFC 6749 section 3.1.2, RFC 9700 section 4.1.1)', async (_name, uri) => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/client.json`, { redirect_uris: [REDIRECT_URI, uri] }))
    await expectRefused(await startAuthServer(), clientId, 'invalid_redirect_uri')
  })

  it.each([
    ['missing', undefined],
    ['empty', []],
    ['not an array', REDIRECT_URI],
  ])('invalid_redirect_uri: redirect_uris %s (draft section 4.2)', async (_name, value) => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/client.json`, { redirect_uris: value }))
    await expectRefused(await startAuthServer(), clientId, 'invalid_redirect_uri')
  })

  it.each([
    ['a client_secret', { client_secret: 'hunter2' }],
    ['a client_secret_expires_at', { client_secret_expires_at: 0 }],
    ['client_secret_basic', { token_endpoint_auth_method: 'client_secret_basic' }],
    ['client_secret_post', { token_endpoint_auth_method: 'client_secret_post' }],
    ['client_secret_jwt', { token_endpoint_auth_method: 'client_secret_jwt' }],
    ['a private key in jwks', { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'private' }] } }],
    ['a symmetric key in jwks', { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }],
  ])('forbidden_credentials: %s (draft section 4.1: no shared secret, no private key)', async (_name, extra) => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/client.json`, extra))
    await expectRefused(await startAuthServer(), clientId, 'forbidden_credentials')
  })

  it.each([
    ['a JSON array', null],
    ['an unsupported authentication method', { token_endpoint_auth_method: 'tls_client_auth' }],
    ['private_key_jwt without keys', { token_endpoint_auth_method: 'private_key_jwt' }],
    ['private_key_jwt with both jwks and jwks_uri', { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'EC' }] }, jwks_uri: 'https://app.example.com/jwks' }],
    ['no authorization_code grant type', { grant_types: ['client_credentials'] }],
    ['response_types without code', { response_types: ['token'] }],
    ['a client_name that is not a string', { client_name: 42 }],
    ['a javascript: logo_uri', { logo_uri: 'javascript:alert(1)' }],
    ['a scope that is not a string', { scope: ['read'] }],
  ])('invalid_metadata: %s', async (_name, extra) => {
    const docs = await startDocumentServer()
    const clientId = `${docs.origin}/client.json`
    docs.serve('/client.json', extra === null ? [documentFor(clientId)] : documentFor(clientId, extra))
    await expectRefused(await startAuthServer(), clientId, 'invalid_metadata')
  })
})

describe('client id URL rules (draft section 3): refused before any fetch', () => {
  it.each([
    ['a fragment', '/client.json#frag'],
    ['an empty fragment', '/client.json#'],
    ['a double-dot segment', '/a/../client.json'],
    ['a single-dot segment', '/./client.json'],
    ['an encoded dot segment', '/a/%2e%2e/client.json'],
    ['no path', ''],
    ['a query (SHOULD NOT: refused)', '/client.json?v=1'],
  ])('invalid_client_id: %s', async (_name, suffix) => {
    const docs = await startDocumentServer()
    docs.serve('/client.json', documentFor(`${docs.origin}${suffix}`))
    await expectRefused(await startAuthServer(), `${docs.origin}${suffix}`, 'invalid_client_id')
    expect(docs.requests).toEqual([])
  })

  it.each([
    ['userinfo', (docs: DocumentServer) => `http://user@127.0.0.1:${docs.port}/client.json`],
    ['empty userinfo', (docs: DocumentServer) => `http://@127.0.0.1:${docs.port}/client.json`],
    ['http on a host that is not loopback, even with allowHttp', () => 'http://client.example.com/client.json'],
    ['an upper-case scheme (not in normalised form)', (docs: DocumentServer) => `HTTP://127.0.0.1:${docs.port}/client.json`],
    ['an explicit default port (not the same identifier, RFC 3986 section 6.2.1)', () => 'https://client.example.com:443/client.json'],
    ['an upper-case host', () => 'https://Client.Example.com/client.json'],
    ['more than 2048 characters', () => `https://client.example.com/${'a'.repeat(2048)}`],
  ])('invalid_client_id: %s', async (_name, urlOf) => {
    const docs = await startDocumentServer()
    await expectRefused(await startAuthServer({ ...LOOPBACK, lookup: async () => [{ address: '127.0.0.1', family: 4 }] }), urlOf(docs), 'invalid_client_id')
    expect(docs.requests).toEqual([])
  })

  it('accepts a port and the root path (the draft allows both)', async () => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/', documentFor(`${docs.origin}/`))
    const store = withClientMetadataDocuments(memoryStore(), LOOPBACK)
    expect(await store.findClient(clientId)).toMatchObject({ clientId: `http://127.0.0.1:${docs.port}/` })
  })
})

describe('caching (draft section 5.2)', () => {
  async function setup(options: ClientMetadataDocumentOptions = {}, headers: Record<string, string> = {}) {
    let now = Date.UTC(2026, 0, 1)
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/client.json`), headers)
    const rejections: string[] = []
    const store = withClientMetadataDocuments(memoryStore(), { ...LOOPBACK, ...options, now: () => now, onRejected: (r) => void rejections.push(r.reason) })
    const advance = (seconds: number) => void (now += seconds * 1000)
    return { docs, clientId, store, advance, rejections }
  }

  it('two lookups fetch once', async () => {
    const { docs, clientId, store } = await setup()
    expect(await store.findClient(clientId)).not.toBeNull()
    expect(await store.findClient(clientId)).not.toBeNull()
    expect(docs.requests).toHaveLength(1)
  })

  it('concurrent lookups share one fetch', async () => {
    const { docs, clientId, store } = await setup()
    const clients = await Promise.all([store.findClient(clientId), store.findClient(clientId), store.findClient(clientId)])
    expect(clients.every((c) => c?.clientId === clientId)).toBe(true)
    expect(docs.requests).toHaveLength(1)
  })

  it('honours Cache-Control max-age (RFC 9111 section 5.2.2.1)', async () => {
    const { docs, clientId, store, advance } = await setup({}, { 'cache-control': 'max-age=120' })
    await store.findClient(clientId)
    advance(119)
    await store.findClient(clientId)
    expect(docs.requests).toHaveLength(1)
    advance(2)
    await store.findClient(clientId)
    expect(docs.requests).toHaveLength(2)
  })

  it('keeps a document at least minTtl, whatever max-age says', async () => {
    const { docs, clientId, store, advance } = await setup({ minTtl: 60 }, { 'cache-control': 'no-store' })
    await store.findClient(clientId)
    advance(59)
    await store.findClient(clientId)
    expect(docs.requests).toHaveLength(1)
    advance(2)
    await store.findClient(clientId)
    expect(docs.requests).toHaveLength(2)
  })

  it('keeps a document at most maxTtl, whatever max-age says', async () => {
    const { docs, clientId, store, advance } = await setup({ maxTtl: 600 }, { 'cache-control': 'max-age=31536000' })
    await store.findClient(clientId)
    advance(599)
    await store.findClient(clientId)
    expect(docs.requests).toHaveLength(1)
    advance(2)
    await store.findClient(clientId)
    expect(docs.requests).toHaveLength(2)
  })

  it('does not cache an invalid document: the next lookup fetches again', async () => {
    const { docs, clientId, store, rejections } = await setup()
    docs.serve('/client.json', documentFor(`${docs.origin}/other.json`), { 'cache-control': 'max-age=3600' })
    expect(await store.findClient(clientId)).toBeNull()
    docs.serve('/client.json', documentFor(clientId))
    expect(await store.findClient(clientId)).toMatchObject({ clientId })
    expect(docs.requests).toHaveLength(2)
    expect(rejections).toEqual(['client_id_mismatch'])
  })

  it('does not cache an error response: the next lookup fetches again', async () => {
    const { docs, clientId, store, rejections } = await setup()
    docs.route('/client.json', (_req, res) => res.writeHead(503, { 'cache-control': 'max-age=3600' }).end())
    expect(await store.findClient(clientId)).toBeNull()
    docs.serve('/client.json', documentFor(clientId))
    expect(await store.findClient(clientId)).toMatchObject({ clientId })
    expect(docs.requests).toHaveLength(2)
    expect(rejections).toEqual(['fetch_failed'])
  })
})

describe('options', () => {
  it.each([
    ['onRejected that is not a function', { onRejected: 'log' }],
    ['allowedScopes that is not a list', { allowedScopes: 'read write' }],
    ['an allowedScopes value with a space', { allowedScopes: ['read write'] }],
    ['an allowedScopes value with a quote', { allowedScopes: ['re"ad'] }],
    ['a timeout of 0', { timeout: 0 }],
    ['a maxBytes that is not a number', { maxBytes: '5k' }],
    ['allowHttp that is not a boolean', { allowHttp: 'yes' }],
    ['an unknown address class', { allowAddresses: ['intranet'] }],
  ])('throws a TypeError for %s', (_name, options) => {
    expect(() => withClientMetadataDocuments(memoryStore(), options as unknown as ClientMetadataDocumentOptions)).toThrow(TypeError)
  })

  it('throws a TypeError for a store without findClient', () => {
    expect(() => withClientMetadataDocuments({} as never)).toThrow(TypeError)
  })

  it('ignores an onRejected that throws or rejects: the client is still unknown, never a 5xx', async () => {
    const docs = await startDocumentServer()
    const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/other.json`))
    const throwing = withClientMetadataDocuments(memoryStore(), { ...LOOPBACK, onRejected: () => { throw new Error('log failed') } })
    const rejecting = withClientMetadataDocuments(memoryStore(), { ...LOOPBACK, onRejected: async () => { throw new Error('log failed') } })
    expect(await throwing.findClient(clientId)).toBeNull()
    expect(await rejecting.findClient(clientId)).toBeNull()
  })
})

it('a refused document is reported with the fetch error for fetch failures', async () => {
  const docs = await startDocumentServer()
  const auth = await startAuthServer()
  await auth.authorize({ client_id: `${docs.origin}/missing.json` })
  expect(auth.rejections[0]).toMatchObject({ reason: 'fetch_failed', error: { name: 'SafeFetchError', code: 'http_status', status: 404 } })
})

// Keep the helpers honest: a valid document at the same place is accepted, so each refusal above is the rule it names.
it('the same server accepts a valid document (the refusals above are not an artefact of the setup)', async () => {
  const docs = await startDocumentServer()
  const clientId = docs.serve('/client.json', documentFor(`${docs.origin}/client.json`))
  const auth = await startAuthServer()
  const response = await auth.authorize({ client_id: clientId })
  expect(response.status).toBe(302)
  expect(new URL(response.headers.get('location') as string).searchParams.get('code')).toEqual(expect.any(String))
  expect(auth.rejections).toEqual([])
})
