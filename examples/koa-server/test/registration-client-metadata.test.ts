import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../src/open-store.js'
import { startDemoServer, storeCases, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CALLBACK, seed } from './support/fixtures.js'
import { pkce, post } from './support/oauth-http.js'

/**
 * The documents the test serves on 127.0.0.1 over http (the demo runs with
 * OAUTH_ALLOW_INSECURE_FETCH=1, which allows http on loopback), each under
 * its own path; the client id of each is its URL.
 */
async function serveDocuments(): Promise<{ origin: string; fetches: Map<string, number>; close: () => Promise<void> }> {
  const fetches = new Map<string, number>()
  let origin = ''
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/'
    fetches.set(path, (fetches.get(path) ?? 0) + 1)
    const document = (extra: Record<string, unknown> = {}) =>
      JSON.stringify({ client_id: origin + path, client_name: 'Agent', redirect_uris: [CALLBACK], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none', ...extra })
    const json = (body: string) => res.writeHead(200, { 'content-type': 'application/json' }).end(body)
    switch (path) {
      case '/good.json':
        return json(document())
      case '/mismatch.json':
        // Section 4: the document's client_id must be the URL it was fetched from.
        return json(document({ client_id: `${origin}/good.json` }))
      case '/large.json':
        // Section 8.7: more than the 5 KiB the demo reads.
        return json(document({ client_uri: `https://agent.example/${'a'.repeat(6 * 1024)}` }))
      case '/slow.json':
        // Headers, then nothing: the demo's 3 s bound must end the fetch.
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.write('{')
      case '/redirect.json':
        // Section 5: a redirect is never followed (here to a valid document of another URL).
        return res.writeHead(302, { location: `${origin}/good.json` }).end()
      case '/secret.json':
        // Section 4.1: no shared secret in a public document.
        return json(document({ token_endpoint_auth_method: 'client_secret_basic', client_secret: 'leaked' }))
      case '/bad-redirect.json':
        return json(document({ redirect_uris: ['javascript:alert(1)'] }))
      case '/not-json.json':
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>')
      default:
        return res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    fetches,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

// The documents are never stored: SQLite shows it (the memory store is visible to the demo only).
describe.each(storeCases().filter((c) => c.name === 'sqlite'))('Client ID Metadata Documents on the demo with the $name store (docs/demo-server.md "Client ID Metadata Documents")', ({ setup }) => {
  let demo: DemoServer
  let spec: string
  let documents: Awaited<ReturnType<typeof serveDocuments>>
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const store = await setup(tmp.dir)
    cleanups.push(store.cleanup)
    spec = store.spec
    documents = await serveDocuments()
    cleanups.push(documents.close)
    demo = await startDemoServer({ OAUTH_STORE: spec, OAUTH_SEED: await writeSeed(tmp.dir, seed()), OAUTH_ALLOW_INSECURE_FETCH: '1' }, tmp.dir)
    cleanups.push(() => demo.stop())
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  async function storedClientIds(): Promise<string[]> {
    const opened = await openStore(spec)
    try {
      return (await opened.store.listClients()).map((client) => client.clientId).sort()
    } finally {
      await opened.close()
    }
  }

  /** The authorization request of the client `clientId`, answered within 15 s (the demo bounds the fetch to 3 s). */
  function authorization(clientId: string): Promise<Response> {
    const url = new URL(`${demo.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: CALLBACK, scope: 'read', state: 'st', code_challenge: pkce().challenge, code_challenge_method: 'S256' }).toString()
    return fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(15_000) })
  }

  it('advertises client_id_metadata_document_supported (draft-ietf-oauth-client-id-metadata-document section 6)', async () => {
    const metadata = (await (await fetch(`${demo.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
    expect(metadata['client_id_metadata_document_supported']).toBe(true)
  })

  it('resolves a valid document: the login page is shown, its redirect URI enforced like a registered one, and the document is cached', async () => {
    const clientId = `${documents.origin}/good.json`
    const res = await authorization(clientId)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    await res.text()
    // Another redirect URI than the document's: the error page, never a redirect (RFC 6749 §4.1.2.1).
    const url = new URL(`${demo.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:9/elsewhere', code_challenge: pkce().challenge, code_challenge_method: 'S256' }).toString()
    const elsewhere = await fetch(url, { redirect: 'manual' })
    expect(elsewhere.status).toBe(400)
    expect(elsewhere.headers.get('location')).toBeNull()
    // Fetched once for both requests (no Cache-Control: the 300 s default applies).
    expect(documents.fetches.get('/good.json')).toBe(1)
  })

  it.each([
    ['whose client_id differs from its URL', '/mismatch.json'],
    ['larger than 5 KiB', '/large.json'],
    ['that does not arrive within 3 s', '/slow.json'],
    ['that redirects elsewhere', '/redirect.json'],
    ['holding a client secret', '/secret.json'],
    ['with a javascript: redirect URI', '/bad-redirect.json'],
    ['that is not JSON', '/not-json.json'],
    ['that does not exist (404)', '/missing.json'],
  ])('refuses a document %s: the authorization endpoint shows its error page (4xx, no redirect), the token endpoint answers 401 invalid_client, nothing is stored', async (_name, path) => {
    const before = await storedClientIds()
    const clientId = documents.origin + path
    const res = await authorization(clientId)
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(res.status).toBeLessThan(500)
    expect(res.headers.get('location')).toBeNull()
    expect(await res.text()).toMatch(/<html/i)
    const token = await post(demo.issuer, '/token', { grant_type: 'authorization_code', code: 'x', redirect_uri: CALLBACK, code_verifier: 'v'.repeat(43) }, { clientId })
    expect(token.status).toBe(401)
    expect(await token.json()).toMatchObject({ error: 'invalid_client' })
    expect(documents.fetches.get(path)).toBeGreaterThanOrEqual(1)
    expect(await storedClientIds()).toEqual(before)
  })

  it('never fetches an https-looking client id that breaks the URL rules (a query, dot segments, a fragment): invalid_client at once', async () => {
    const fetched = documents.fetches.get('/good.json') ?? 0
    for (const clientId of [`${documents.origin}/good.json?x=1`, `${documents.origin}/a/../good.json`, `${documents.origin}/good.json#f`]) {
      const token = await post(demo.issuer, '/token', { grant_type: 'authorization_code', code: 'x', redirect_uri: CALLBACK, code_verifier: 'v'.repeat(43) }, { clientId })
      expect(token.status).toBe(401)
    }
    expect(documents.fetches.get('/good.json?x=1')).toBeUndefined()
    expect(documents.fetches.get('/a/../good.json')).toBeUndefined()
    expect(documents.fetches.get('/good.json') ?? 0).toBe(fetched)
  })
})
