// Test-only helpers (never exported from the package): keys, a JWK Set
// server on loopback, and a server with the JWT methods over a real store.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { randomUUID } from 'node:crypto'
import {
  AuthorizationServer,
  IntrospectionEndpoint,
  RevocationEndpoint,
  createClient,
  createOAuthRequest,
  memoryThrottle,
  type ClientInput,
  type OAuthResponse,
} from '@grantkit/core'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { createJsonCache, type JsonCacheOptions } from '@grantkit/safe-fetch'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { onTestFinished } from 'vitest'
import type { OpenTestStore, TestStore } from '../../../../test-support/stores.js'
import { clientSecretJwt, type ClientSecretJwtOptions } from '../client-secret-jwt.js'
import { privateKeyJwt, type PrivateKeyJwtOptions } from '../private-key-jwt.js'
import { sealedClientSecrets } from '../sealed-secrets.js'

export const ISSUER = 'https://auth.example.com'
export const TOKEN_ENDPOINT = `${ISSUER}/token`
export const T0 = Date.UTC(2025, 0, 1)
export const NOW = T0 / 1000
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** A client secret long enough for HS256 and HS384 (48 bytes), not HS512. */
export const SHARED_SECRET = 'a-client-secret-of-forty-eight-bytes-0123456789!'
export const SEALING_KEY = 'ab'.repeat(32)

const JWT_METHODS = ['private_key_jwt', 'client_secret_jwt']

/** The client credentials grant accepting the JWT methods (RFC 6749 §4.4). */
export class JwtClientCredentialsGrant extends ClientCredentialsGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = JWT_METHODS
}
/** Revocation (RFC 7009 §2.1) accepting the JWT methods. */
export class JwtRevocationEndpoint extends RevocationEndpoint {
  static override CLIENT_AUTH_METHODS: readonly string[] = JWT_METHODS
}
/** Introspection (RFC 7662 §2.1) accepting the JWT methods. */
export class JwtIntrospectionEndpoint extends IntrospectionEndpoint {
  static override CLIENT_AUTH_METHODS: readonly string[] = JWT_METHODS
}

export interface KeyPair {
  readonly privateKey: CryptoKey
  readonly publicJwk: JWK
}

async function keyPair(alg: string, kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

/** The test keys: the client's ES256, RS256, PS256 and EdDSA keys, a rotated key and a stranger's. */
export async function testKeys() {
  return {
    es: await keyPair('ES256', 'es-1'),
    rs: await keyPair('RS256', 'rs-1'),
    ps: await keyPair('PS256', 'ps-1'),
    ed: await keyPair('EdDSA', 'ed-1'),
    rotated: await keyPair('ES256', 'es-2'),
    stranger: await keyPair('ES256', 'es-1'),
  }
}
export type TestKeys = Awaited<ReturnType<typeof testKeys>>

/**
 * A JWK Set server on loopback: `jwks` is what it serves (change it to
 * rotate keys), `hits` how many requests it got, `handler` may replace the answer.
 */
export async function jwksServer(initial: { keys: JWK[] }) {
  const state = {
    jwks: initial,
    hits: 0,
    handler: undefined as ((req: IncomingMessage, res: ServerResponse) => void) | undefined,
  }
  const sockets = new Set<Socket>()
  const http = createServer((req, res) => {
    state.hits++
    if (state.handler !== undefined) return state.handler(req, res)
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=600' }).end(JSON.stringify(state.jwks))
  })
  http.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        http.close(() => resolve())
      }),
  )
  return Object.assign(state, { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/jwks` })
}

/** The fetch opt-ins a jwks_uri on a loopback http server needs. */
export const LOOPBACK_FETCH: JsonCacheOptions = { allowHttp: true, allowAddresses: ['loopback'] }

export interface SetupOptions {
  readonly privateKeyJwt?: PrivateKeyJwtOptions
  readonly clientSecretJwt?: Partial<ClientSecretJwtOptions> | false
  readonly cache?: JsonCacheOptions
  readonly throttle?: false | ReturnType<typeof memoryThrottle>
}

/**
 * A server (issuer {@link ISSUER}, fake clock) with both JWT methods, the
 * client credentials grant, revocation and introspection, over `openStore`,
 * and these clients: `svc` (inline JWK Set), `pinned` (ES256 only),
 * `remote` (jwks_uri on a loopback server), `hmac` (client_secret_jwt, sealed
 * secret), `basic` (client_secret_basic), `both` (jwks and jwks_uri).
 */
export async function setup(openStore: OpenTestStore, keys: TestKeys, options: SetupOptions = {}) {
  const store: TestStore = await openStore()
  const clock = { t: T0 }
  const errors: unknown[] = []
  // The throttle is off so that each test sees the method's own answers; one test turns it on.
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => clock.t, onError: (e) => errors.push(e), throttle: options.throttle ?? false })
  const remote = await jwksServer({ keys: [keys.es.publicJwk] })
  const jwksCache = createJsonCache({ ...LOOPBACK_FETCH, now: () => clock.t, ...options.cache })
  server.registerClientAuthMethod('private_key_jwt', privateKeyJwt({ jwksCache, ...options.privateKeyJwt }))
  const secrets = sealedClientSecrets(SEALING_KEY)
  if (options.clientSecretJwt !== false) {
    server.registerClientAuthMethod('client_secret_jwt', clientSecretJwt({ resolveSecret: secrets.resolveSecret, ...options.clientSecretJwt }))
  }
  server.registerGrant(JwtClientCredentialsGrant).registerEndpoint(JwtRevocationEndpoint).registerEndpoint(JwtIntrospectionEndpoint)
  const jwks = { keys: [keys.es.publicJwk, keys.rs.publicJwk, keys.ps.publicJwk, keys.ed.publicJwk] }
  const base: ClientInput = { grantTypes: ['client_credentials'], scope: 'read write', tokenEndpointAuthMethod: 'private_key_jwt', secretHash: 'sha256' }
  const inputs: ClientInput[] = [
    { ...base, clientId: 'svc', metadata: { jwks } },
    { ...base, clientId: 'pinned', metadata: { jwks, token_endpoint_auth_signing_alg: 'ES256' } },
    { ...base, clientId: 'remote', metadata: { jwks_uri: remote.url } },
    { ...base, clientId: 'both', metadata: { jwks, jwks_uri: remote.url } },
    { ...base, clientId: 'nokeys', metadata: {} },
    { ...base, clientId: 'basic', tokenEndpointAuthMethod: 'client_secret_basic', metadata: { jwks } },
    {
      ...base,
      clientId: 'hmac',
      clientSecret: SHARED_SECRET,
      tokenEndpointAuthMethod: 'client_secret_jwt',
      metadata: { sealed_client_secret: secrets.seal('hmac', SHARED_SECRET) },
    },
  ]
  for (const input of inputs) await store.saveClient((await createClient(input)).client)

  /** A POST to `url` (the token endpoint by default) with a form body. */
  const post = (body: Record<string, string>, url = '/token'): Promise<OAuthResponse> => {
    const request = createOAuthRequest({ method: 'POST', url, body: new URLSearchParams(body) })
    if (url === '/token') return server.createTokenResponse(request)
    return server.createEndpointResponse(url === '/revoke' ? 'revocation' : 'introspection', request)
  }
  /** A client credentials token request authenticated by `assertion`. */
  const token = (assertion: string, extra: Record<string, string> = {}) =>
    post({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, ...extra })
  const advance = (seconds: number) => void (clock.t += seconds * 1000)
  return { store, server, clock, errors, remote, jwksCache, secrets, post, token, advance }
}

/** Claims of a valid assertion of `client` at the fake clock's start; `undefined` drops a claim. */
export function claims(overrides: Record<string, unknown> = {}, client = 'svc'): JWTPayload {
  const all: Record<string, unknown> = { iss: client, sub: client, aud: ISSUER, iat: NOW, exp: NOW + 60, jti: randomUUID(), ...overrides }
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as JWTPayload
}

/** Signs `payload` with `key` (a private key or HMAC secret), header `{ alg, kid }` (kid omitted when undefined). */
export function sign(payload: JWTPayload, key: CryptoKey | Uint8Array, alg: string, kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).sign(key)
}
