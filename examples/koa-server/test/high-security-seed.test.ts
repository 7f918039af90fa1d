import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomUUID, webcrypto } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAIN, storeCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { USER } from './support/fixtures.js'
import { FORM } from './support/oauth-http.js'
import { spawn } from 'node:child_process'

// docs/demo-server.md "Seed file" (private_key_jwt with jwks_uri, client_secret_jwt) and
// "OAUTH_ALLOW_INSECURE_FETCH": oauth4webapi for the happy paths, raw requests for the refusals.

const insecure = { [oauth.allowInsecureRequests]: true } as const
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const HMAC_CLIENT = { client_id: 'hmac-service', client_secret: 'a-client-secret-of-more-than-32-bytes-for-HS256' }
const URI_CLIENT = 'jwks-uri-service'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const seconds = () => Math.floor(Date.now() / 1000)

/** An HS256 client assertion (RFC 7523 §3) keyed by `secret`. */
async function hmacAssertion(secret: string, clientId: string, aud: string, claims: Record<string, unknown> = {}): Promise<string> {
  const key = await webcrypto.subtle.importKey('raw', Buffer.from(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: clientId, sub: clientId, aud, jti: randomUUID(), iat: seconds(), exp: seconds() + 60, ...claims })}`
  return `${input}.${Buffer.from(await webcrypto.subtle.sign('HMAC', key, Buffer.from(input))).toString('base64url')}`
}

function tokenRequest(endpoint: string, assertion: string): Promise<Response> {
  return fetch(endpoint, { method: 'POST', headers: FORM, body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }) })
}

/** Runs the demo with `env` until it exits; answers its exit code and output. */
function runUntilExit(env: Record<string, string>, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], { cwd, env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', OAUTH_STORE: 'memory:', ...env } })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    child.once('exit', (code) => resolve({ code, output }))
  })
}

describe.each(storeCases().filter((c) => c.name === 'memory' || c.name === 'sqlite'))('JWT client authentication from the seed, on the $name store', ({ setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  let jwksServer: Server
  let keys: webcrypto.CryptoKeyPair
  let cleanup: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const jwk = await webcrypto.subtle.exportKey('jwk', keys.publicKey)
    // The client's JWK Set, served on loopback http: allowed by OAUTH_ALLOW_INSECURE_FETCH=1.
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, alg: 'ES256', use: 'sig' }] }))
    })
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
    const jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`
    const seedFile = await writeSeed(tmp.dir, {
      clients: [
        { ...HMAC_CLIENT, grant_types: ['client_credentials'], scope: 'read', token_endpoint_auth_method: 'client_secret_jwt' },
        { client_id: URI_CLIENT, grant_types: ['client_credentials'], scope: 'read', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri },
      ],
      users: [USER],
    })
    const store = await setup(tmp.dir)
    cleanup = async () => {
      await store.cleanup()
      await tmp.remove()
    }
    demo = await startDemoServer({ OAUTH_STORE: store.spec, OAUTH_SEED: seedFile, OAUTH_LOG: 'off', OAUTH_ALLOW_INSECURE_FETCH: '1' }, tmp.dir)
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  })

  afterAll(async () => {
    const code = demo === undefined ? undefined : await demo.stop()
    await new Promise((resolve) => jwksServer?.close(resolve))
    await cleanup?.()
    if (demo !== undefined) expect(code).toBe(0)
  })

  it('authenticates a client_secret_jwt client with oauth4webapi (RFC 7523 §2.2)', async () => {
    const client: oauth.Client = { client_id: HMAC_CLIENT.client_id, token_endpoint_auth_method: 'client_secret_jwt' }
    const auth = oauth.ClientSecretJwt(HMAC_CLIENT.client_secret)
    const tokens = await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'read' }, insecure))
    const introspection = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, oauth.ClientSecretJwt(HMAC_CLIENT.client_secret), tokens.access_token, insecure))
    expect(introspection).toMatchObject({ active: true, client_id: HMAC_CLIENT.client_id })
  })

  it.each([
    ['another secret', () => hmacAssertion('another-secret-of-more-than-32-bytes-long!', HMAC_CLIENT.client_id, demo.issuer)],
    ['a replayed jti', async () => {
      const assertion = await hmacAssertion(HMAC_CLIENT.client_secret, HMAC_CLIENT.client_id, demo.issuer)
      expect((await tokenRequest(as.token_endpoint as string, assertion)).status).toBe(200)
      return assertion
    }],
    ['an expired assertion', () => hmacAssertion(HMAC_CLIENT.client_secret, HMAC_CLIENT.client_id, demo.issuer, { iat: seconds() - 600, exp: seconds() - 300 })],
  ])('refuses a client_secret_jwt assertion with %s: 401 invalid_client (RFC 7523 §3)', async (_name, make) => {
    const res = await tokenRequest(as.token_endpoint as string, await make())
    expect(res.status).toBe(401)
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client')
  })

  it('authenticates a private_key_jwt client whose keys are at a jwks_uri, with oauth4webapi (RFC 7591 §2)', async () => {
    const client: oauth.Client = { client_id: URI_CLIENT, token_endpoint_auth_method: 'private_key_jwt' }
    const tokens = await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, oauth.PrivateKeyJwt(keys.privateKey), { scope: 'read' }, insecure))
    expect(tokens.access_token).toBeTruthy()
  })
})

describe('seed checks and OAUTH_ALLOW_INSECURE_FETCH', () => {
  it.each([
    ['private_key_jwt without keys', { client_id: 'k', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' }, 'needs exactly one of jwks and jwks_uri'],
    ['client_secret_jwt with a short secret', { client_id: 'h', client_secret: 'short', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_jwt' }, '32 bytes or more'],
  ])('stops the start for %s', async (_name, client, message) => {
    const tmp = await tempDir()
    try {
      const { code, output } = await runUntilExit({ OAUTH_SEED: await writeSeed(tmp.dir, { clients: [client] }) }, tmp.dir)
      expect(code).toBe(1)
      expect(output).toContain(message)
    } finally {
      await tmp.remove()
    }
  })

  it('keeps no client_secret_jwt secret in clear in the SQLite file, yet authenticates with it', async () => {
    const tmp = await tempDir()
    const seed = { clients: [{ ...HMAC_CLIENT, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_jwt' }] }
    const file = join(tmp.dir, 'grantkit.sqlite')
    const demo = await startDemoServer({ OAUTH_STORE: `sqlite:${file}`, OAUTH_LOG: 'off', OAUTH_SEED: await writeSeed(tmp.dir, seed) }, tmp.dir)
    try {
      expect((await tokenRequest(`${demo.issuer}/token`, await hmacAssertion(HMAC_CLIENT.client_secret, HMAC_CLIENT.client_id, demo.issuer))).status).toBe(200)
    } finally {
      await demo.stop()
    }
    try {
      const bytes = await readFile(file)
      expect(bytes.length).toBeGreaterThan(0)
      expect(bytes.includes(Buffer.from(HMAC_CLIENT.client_secret))).toBe(false)
    } finally {
      await tmp.remove()
    }
  })

  it('stops the start for an OAUTH_ALLOW_INSECURE_FETCH other than 1 or 0', async () => {
    const tmp = await tempDir()
    try {
      const { code, output } = await runUntilExit({ OAUTH_ALLOW_INSECURE_FETCH: 'yes' }, tmp.dir)
      expect(code).toBe(1)
      expect(output).toContain('OAUTH_ALLOW_INSECURE_FETCH must be "1" or "0", not "yes"')
    } finally {
      await tmp.remove()
    }
  })

  it('without OAUTH_ALLOW_INSECURE_FETCH, refuses a jwks_uri on loopback http: 401 invalid_client, never a fetch', async () => {
    const tmp = await tempDir()
    let fetched = false
    const jwksServer = createServer((_req, res) => {
      fetched = true
      res.end('{"keys":[]}')
    })
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve))
    const jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`
    const seed = { clients: [{ client_id: URI_CLIENT, grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri }] }
    const demo = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_LOG: 'off', OAUTH_SEED: await writeSeed(tmp.dir, seed) }, tmp.dir)
    try {
      const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
      const input = `${b64({ alg: 'ES256' })}.${b64({ iss: URI_CLIENT, sub: URI_CLIENT, aud: demo.issuer, jti: randomUUID(), exp: seconds() + 60 })}`
      const signature = Buffer.from(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, Buffer.from(input))).toString('base64url')
      const res = await tokenRequest(`${demo.issuer}/token`, `${input}.${signature}`)
      expect(res.status).toBe(401)
      expect(((await res.json()) as { error: string }).error).toBe('invalid_client')
      expect(fetched).toBe(false)
    } finally {
      await demo.stop()
      await new Promise((resolve) => jwksServer.close(resolve))
      await tmp.remove()
    }
  })
})
