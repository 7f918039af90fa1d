import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../src/open-store.js'
import { startDemoServer, storeCases, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CALLBACK, seed } from './support/fixtures.js'
import { obtainCode, post } from './support/oauth-http.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const
const JSON_HEADERS = { 'content-type': 'application/json' }
/** RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/

// Registered clients live in the store: every store (PostgreSQL and MongoDB when configured).
describe.each(storeCases())('dynamic client registration (RFC 7591, RFC 7592) on the demo with the $name store (docs/demo-server.md "Dynamic client registration")', ({ name, setup }) => {
  let demo: DemoServer
  let spec: string
  let as: oauth.AuthorizationServer
  let endpoint: string
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const store = await setup(tmp.dir)
    cleanups.push(store.cleanup)
    spec = store.spec
    demo = await startDemoServer({ OAUTH_STORE: spec, OAUTH_SEED: await writeSeed(tmp.dir, seed()) }, tmp.dir)
    cleanups.push(() => demo.stop())
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
    endpoint = as.registration_endpoint as string
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  /** The clients in the store, read through a connection of the test's own (`null` for the memory store, which only the demo sees). */
  async function storedClientIds(): Promise<string[] | null> {
    if (name === 'memory') return null
    const opened = await openStore(spec)
    try {
      return (await opened.store.listClients()).map((client) => client.clientId).sort()
    } finally {
      await opened.close()
    }
  }

  const register = (metadata: unknown, headers: Record<string, string> = JSON_HEADERS) => fetch(endpoint, { method: 'POST', headers, body: typeof metadata === 'string' ? metadata : JSON.stringify(metadata) })

  it('advertises registration_endpoint at <issuer>/register (RFC 8414 §2)', () => {
    expect(endpoint).toBe(`${demo.issuer}/register`)
  })

  it('registers a confidential client with oauth4webapi 3.8.8, whose secret works once and is stored hashed; the registration access token manages it (RFC 7591 §3.2.1, RFC 7592 §2)', async () => {
    const response = await oauth.dynamicClientRegistrationRequest(as, { client_name: 'Billing', grant_types: ['client_credentials'], response_types: [], scope: 'read', token_endpoint_auth_method: 'client_secret_basic' }, insecure)
    expect(response.status).toBe(201)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const registered = (await oauth.processDynamicClientRegistrationResponse(response)) as oauth.Client & { client_secret: string; registration_access_token: string; registration_client_uri: string }
    expect(registered).toMatchObject({ client_name: 'Billing', grant_types: ['client_credentials'], scope: 'read', client_secret_expires_at: 0, registration_client_uri: `${endpoint}?client_id=${registered.client_id}` })
    const { client_secret: secret, registration_access_token: managementToken, registration_client_uri: clientUri } = registered
    // The secret authenticates the client at the token endpoint.
    const token = await post(demo.issuer, '/token', { grant_type: 'client_credentials', scope: 'read' }, { basic: [registered.client_id, secret] })
    expect(token.status).toBe(200)
    // Stored: the client, with neither the secret nor the registration access token in clear.
    if (name !== 'memory') {
      const opened = await openStore(spec)
      try {
        const stored = await opened.store.findClient(registered.client_id)
        expect(stored).not.toBeNull()
        expect(JSON.stringify(stored)).not.toContain(secret)
        expect(JSON.stringify(stored)).not.toContain(managementToken)
      } finally {
        await opened.close()
      }
    }
    const manage = (method: string, body?: unknown, bearer = managementToken) =>
      fetch(clientUri, { method, headers: { ...JSON_HEADERS, authorization: `Bearer ${bearer}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    // RFC 7592 §2.1: read, without the secret.
    const read = await manage('GET')
    expect(read.status).toBe(200)
    const current = (await read.json()) as Record<string, unknown>
    expect(current).toMatchObject({ client_id: registered.client_id, client_name: 'Billing', registration_access_token: managementToken })
    expect(current['client_secret']).toBeUndefined()
    // A wrong registration access token is 401 invalid_token, never 404 (RFC 7592 §2.1).
    const wrong = await manage('GET', undefined, 'wrong-token')
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"')
    // RFC 7592 §2.2: a full replacement.
    const { registration_access_token: _t, registration_client_uri: _u, client_secret_expires_at: _e, client_id_issued_at: _i, ...metadata } = current
    const updated = await manage('PUT', { ...metadata, client_name: 'Billing v2' })
    expect(updated.status).toBe(200)
    expect(await updated.json()).toMatchObject({ client_id: registered.client_id, client_name: 'Billing v2' })
    // RFC 7592 §2.3: deleted, it is unknown everywhere.
    expect((await manage('DELETE')).status).toBe(204)
    expect((await manage('GET')).status).toBe(401)
    const after = await post(demo.issuer, '/token', { grant_type: 'client_credentials', scope: 'read' }, { basic: [registered.client_id, secret] })
    expect(after.status).toBe(401)
    expect(await after.json()).toMatchObject({ error: 'invalid_client' })
    if (name !== 'memory') expect(await storedClientIds()).not.toContain(registered.client_id)
  })

  it('registers a public native client with a loopback redirect URI, which runs the code flow with PKCE (RFC 8252 §7.3, RFC 7636)', async () => {
    const res = await register({ client_name: 'CLI', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none', scope: 'profile read' })
    expect(res.status).toBe(201)
    const body = (await res.json()) as Record<string, unknown>
    // The defaults of RFC 7591 §2: the code grant and its response type; no secret for a public client.
    expect(body).toMatchObject({ grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none', redirect_uris: [CALLBACK] })
    expect(body['client_secret']).toBeUndefined()
    const { code, verifier } = await obtainCode(demo.issuer, body['client_id'] as string)
    const token = await post(demo.issuer, '/token', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, { clientId: body['client_id'] as string })
    expect(token.status).toBe(200)
    expect(await storedClientIds()).toEqual(name === 'memory' ? null : expect.arrayContaining([body['client_id']]))
  })

  it('drops metadata it does not understand, such as resources: a registered client cannot widen the resource policy (RFC 7591 §2, RFC 8707 §2)', async () => {
    const res = await register({ grant_types: ['client_credentials'], response_types: [], scope: 'read', resources: ['https://api.example.com/orders'], x_unknown: 1 })
    expect(res.status).toBe(201)
    const body = (await res.json()) as Record<string, unknown>
    expect(body['resources']).toBeUndefined()
    expect(body['x_unknown']).toBeUndefined()
    const token = await post(demo.issuer, '/token', { grant_type: 'client_credentials', resource: 'https://api.example.com/orders' }, { basic: [body['client_id'] as string, body['client_secret'] as string] })
    expect(token.status).toBe(400)
    expect(await token.json()).toMatchObject({ error: 'invalid_target' })
  })

  it('refuses bad metadata with 400 invalid_redirect_uri or invalid_client_metadata, and stores nothing (RFC 7591 §3.2.2)', async () => {
    const before = await storedClientIds()
    const refusals: [unknown, string][] = [
      [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['data:text/html,<script>alert(1)</script>'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['/relative/callback'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['http://example.com/callback'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://app.example/cb#fragment'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: [] }, 'invalid_redirect_uri'],
      [{ grant_types: ['urn:example:unknown'], response_types: [] }, 'invalid_client_metadata'],
      // Served by the demo, but not registrable (registration.ts): password, implicit, JWT bearer, token exchange.
      [{ grant_types: ['password'], response_types: [] }, 'invalid_client_metadata'],
      [{ redirect_uris: [CALLBACK], grant_types: ['implicit'], response_types: ['token'] }, 'invalid_client_metadata'],
      [{ grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'], response_types: [] }, 'invalid_client_metadata'],
      [{ grant_types: ['urn:ietf:params:oauth:grant-type:token-exchange'], response_types: [] }, 'invalid_client_metadata'],
      // RFC 7591 §2.1: response types consistent with the grant types.
      [{ redirect_uris: [CALLBACK], grant_types: ['client_credentials'], response_types: ['code'] }, 'invalid_client_metadata'],
      [{ redirect_uris: [CALLBACK], grant_types: ['authorization_code'], response_types: ['token'] }, 'invalid_client_metadata'],
      // A public client has no credentials for client_credentials (RFC 6749 §4.4).
      [{ grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'none' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_jwt' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], response_types: [], scope: 'admin' }, 'invalid_client_metadata'],
      [{ redirect_uris: 'https://app.example/cb' }, 'invalid_client_metadata'],
      [[], 'invalid_client_metadata'],
    ]
    for (const [metadata, error] of refusals) {
      const res = await register(metadata)
      expect.soft(res.status, JSON.stringify(metadata)).toBe(400)
      const body = (await res.json()) as { error: string; error_description: string }
      expect.soft(body.error, JSON.stringify(metadata)).toBe(error)
      expect.soft(body.error_description).toMatch(DESCRIPTION)
    }
    // A body that is not JSON.
    const text = await register('not json')
    expect(text.status).toBe(400)
    expect(((await text.json()) as { error: string }).error).toMatch(/^invalid_(request|client_metadata)$/)
    expect(await storedClientIds()).toEqual(before)
  })
})
