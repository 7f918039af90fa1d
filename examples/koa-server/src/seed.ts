import { readFile } from 'node:fs/promises'
import { configError, createClient, generateToken, hashSecret, type FullStore } from '@grantkit/core'
import { DEVICE_CODE_GRANT_TYPE } from '@grantkit/grant-device-code'
import { TOKEN_EXCHANGE_GRANT_TYPE } from '@grantkit/grant-token-exchange'
import { SEALED_SECRET_METADATA } from '@grantkit/client-auth-jwt'
import { processSecrets } from './high-security.js'
import type { UserClaims } from './openid.js'

/** A client of `OAUTH_SEED`, in RFC 7591 wire names. */
export interface SeedClient {
  client_id: string
  client_secret?: string
  client_name?: string
  redirect_uris?: string[]
  /**
   * The grant types the client may use: `authorization_code`, `implicit`,
   * `password`, `client_credentials`, `refresh_token`,
   * `urn:ietf:params:oauth:grant-type:jwt-bearer`,
   * `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628) and
   * `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693, confidential
   * clients only).
   */
  grant_types?: string[]
  response_types?: string[]
  scope?: string
  token_endpoint_auth_method?: string
  /** More client metadata, e.g. `jwks` for the JWT bearer grant. */
  [extra: string]: unknown
}

/** A user of `OAUTH_SEED`. */
export interface SeedUser {
  username: string
  password: string
  /** OpenID Connect claims (Core §5.1), released with the `profile` and `email` scopes. */
  name?: string
  email?: string
  email_verified?: boolean
}

/** The `OAUTH_SEED` file (docs/demo-server.md). */
export interface Seed {
  clients?: SeedClient[]
  users?: SeedUser[]
}

const KNOWN_CLIENT_FIELDS = new Set([
  'client_id',
  'client_secret',
  'client_name',
  'redirect_uris',
  'grant_types',
  'response_types',
  'scope',
  'token_endpoint_auth_method',
])

/** A mistake in the seed file: core's configuration error, so that the start-up failure line prints its (our own) text. */
function fail(message: string): never {
  throw configError(`OAUTH_SEED: ${message}`)
}

/**
 * Where a `JSON.parse` error happened, never what it quotes: V8's message can
 * quote the text around the mistake, and a seed file holds passwords and
 * client secrets.
 */
function jsonErrorPosition(error: unknown): string {
  const at = /position \d+(?: \(line \d+ column \d+\))?/.exec(error instanceof Error ? error.message : '')
  return at === null ? '' : ` (at ${at[0]})`
}

function stringList(value: unknown, where: string): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) fail(`${where} must be an array of strings`)
  return value as string[]
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') fail(`${where} must be a string`)
  return value
}

/** Checks the shape of a parsed seed file; `idTokenAlgorithms` are those a client's `id_token_signed_response_alg` may name (the key set's). */
export function parseSeed(value: unknown, idTokenAlgorithms: readonly string[] = ['RS256']): Seed {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('must be a JSON object')
  const { clients = [], users = [] } = value as Record<string, unknown>
  if (!Array.isArray(clients)) fail('"clients" must be an array')
  if (!Array.isArray(users)) fail('"users" must be an array')
  clients.forEach((client: unknown, i) => {
    const where = `clients[${i}]`
    if (typeof client !== 'object' || client === null) fail(`${where} must be an object`)
    const c = client as Record<string, unknown>
    if (typeof c['client_id'] !== 'string' || c['client_id'] === '') fail(`${where}.client_id must be a non-empty string`)
    for (const field of ['client_secret', 'client_name', 'scope', 'token_endpoint_auth_method']) optionalString(c[field], `${where}.${field}`)
    for (const field of ['redirect_uris', 'grant_types', 'response_types']) stringList(c[field], `${where}.${field}`)
    const method = (c['token_endpoint_auth_method'] as string | undefined) ?? (c['client_secret'] === undefined ? 'none' : 'client_secret_basic')
    const alg = optionalString(c['id_token_signed_response_alg'], `${where}.id_token_signed_response_alg`)
    // OpenID Connect Registration §2: the ID token's JWS algorithm; one the key set signs with.
    if (alg !== undefined && !idTokenAlgorithms.includes(alg)) fail(`${where}.id_token_signed_response_alg must be one of ${idTokenAlgorithms.join(', ')}`)
    // RP-Initiated Logout 1.0 §3.1: absolute URIs.
    for (const uri of stringList(c['post_logout_redirect_uris'], `${where}.post_logout_redirect_uris`) ?? []) {
      if (!URL.canParse(uri) || uri.includes('#')) fail(`${where}.post_logout_redirect_uris must hold absolute URIs without fragment`)
    }
    if (method === 'private_key_jwt') {
      // RFC 7523 §2.2: the client's public keys, inline or by URL, not both (RFC 7591 §2).
      if ((c['jwks'] === undefined) === (c['jwks_uri'] === undefined)) fail(`${where} uses "private_key_jwt" and needs exactly one of jwks and jwks_uri`)
      const uri = c['jwks_uri']
      if (uri !== undefined && (typeof uri !== 'string' || !/^https?:\/\//.test(uri) || !URL.canParse(uri))) fail(`${where}.jwks_uri must be an absolute http(s) URL`)
    } else if (method !== 'none' && typeof c['client_secret'] !== 'string') fail(`${where} uses "${method}" but has no client_secret`)
    // RFC 7518 §3.2: an HS256 key has 32 bytes or more.
    if (method === 'client_secret_jwt' && Buffer.byteLength(c['client_secret'] as string) < 32) fail(`${where} uses "client_secret_jwt": its client_secret needs 32 bytes or more (RFC 7518 §3.2)`)
    // The token exchange grant requires client authentication: a public client could never use it.
    if (method === 'none' && (c['grant_types'] as string[] | undefined)?.includes(TOKEN_EXCHANGE_GRANT_TYPE) === true) {
      fail(`${where} has the grant type "${TOKEN_EXCHANGE_GRANT_TYPE}", which needs a client_secret (a confidential client)`)
    }
  })
  users.forEach((user: unknown, i) => {
    const where = `users[${i}]`
    if (typeof user !== 'object' || user === null) fail(`${where} must be an object`)
    const u = user as Record<string, unknown>
    if (typeof u['username'] !== 'string' || u['username'] === '') fail(`${where}.username must be a non-empty string`)
    if (typeof u['password'] !== 'string') fail(`${where}.password must be a string`)
    for (const field of ['name', 'email']) optionalString(u[field], `${where}.${field}`)
    if (u['email_verified'] !== undefined && typeof u['email_verified'] !== 'boolean') fail(`${where}.email_verified must be a boolean`)
  })
  return { clients: clients as SeedClient[], users: users as SeedUser[] }
}

/** Reads and checks an `OAUTH_SEED` file (see {@link parseSeed}). */
export async function readSeed(file: string, idTokenAlgorithms?: readonly string[]): Promise<Seed> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    fail(`cannot read ${file}: ${(error as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    fail(`${file} is not valid JSON${jsonErrorPosition(error)}`)
  }
  return parseSeed(json, idTokenAlgorithms)
}

/**
 * Upserts the seed's clients and users. Client secrets and passwords are
 * hashed with scrypt before they are stored: they were chosen by a person,
 * and scrypt (~30 ms) keeps a test suite of dozens of requests fast enough.
 * A user keeps its id when its username already exists, also when several
 * processes seed one new database at once ({@link upsertUser}). Answers the
 * users' OpenID Connect claims by user id: the store's user record has no
 * place for them, so they live in memory, from the seed of each start.
 */
export async function applySeed(store: FullStore, seed: Seed): Promise<Map<string, UserClaims>> {
  const claims = new Map<string, UserClaims>()
  for (const seedClient of seed.clients ?? []) {
    const metadata: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(seedClient)) if (!KNOWN_CLIENT_FIELDS.has(key)) metadata[key] = value
    const method = seedClient.token_endpoint_auth_method ?? (seedClient.client_secret === undefined ? 'none' : 'client_secret_basic')
    const grantTypes = seedClient.grant_types ?? ['authorization_code']
    // RFC 7523 §2.2 client_secret_jwt: the HMAC key must be recoverable, so it is kept sealed (high-security.ts), never in clear.
    if (method === 'client_secret_jwt') metadata[SEALED_SECRET_METADATA] = processSecrets().seal(seedClient.client_id, seedClient.client_secret as string)
    const { client } = await createClient({
      clientId: seedClient.client_id,
      ...(seedClient.client_secret === undefined ? {} : { clientSecret: seedClient.client_secret }),
      ...(seedClient.client_name === undefined ? {} : { clientName: seedClient.client_name }),
      redirectUris: seedClient.redirect_uris ?? [],
      grantTypes,
      // RFC 7591 §2: response_types defaults to ["code"].
      responseTypes: seedClient.response_types ?? (grantTypes.includes('authorization_code') ? ['code'] : []),
      scope: seedClient.scope ?? '',
      tokenEndpointAuthMethod: method,
      secretHash: 'scrypt',
      ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
    })
    await store.saveClient(client)
  }
  for (const user of seed.users ?? []) {
    const id = await upsertUser(store, user.username, await hashSecret(user.password, 'scrypt'))
    claims.set(id, { name: user.name, email: user.email, email_verified: user.email_verified })
  }
  return claims
}

/**
 * Saves the user `username` with `passwordHash` under the id the username
 * already has (a new id for a new username), and answers that id. Processes
 * started at once on a new database may all find no such user and insert it
 * under ids of their own: every store refuses a second user with one
 * username (the `UserStore` contract), so the losers read the winner's user
 * and save again under its id, once. Every process ends with the one id.
 */
export async function upsertUser(store: FullStore, username: string, passwordHash: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const existing = await store.findUserByUsername(username)
    const id = existing?.id ?? crypto.randomUUID()
    try {
      await store.saveUser({ id, username, passwordHash })
      return id
    } catch (error) {
      // Only a new id can lose that race; anything else (or a second loss) is a real failure.
      if (existing !== null || attempt > 1) throw error
    }
  }
}

/** The redirect URIs of the demo clients. */
export const DEMO_REDIRECT_URIS = ['http://127.0.0.1:8080/callback', 'http://localhost:8080/callback']

/** What {@link seedDemo} created: the clear credentials, to print once. */
export interface DemoCredentials {
  confidentialClient: { clientId: string; clientSecret: string }
  publicClient: { clientId: string }
  user: { username: string; password: string }
}

/**
 * On a first start without a seed (no client in the store): creates a
 * confidential client, a public client and a user with random secrets, and
 * returns the credentials so they can be printed once. `null` when the store
 * already holds clients.
 */
export async function seedDemo(store: FullStore): Promise<DemoCredentials | null> {
  if ((await store.listClients()).length > 0) return null
  const { client: confidential, clientSecret } = await createClient({
    clientId: 'demo-confidential',
    clientName: 'Demo confidential client',
    redirectUris: DEMO_REDIRECT_URIS,
    grantTypes: ['authorization_code', 'refresh_token', 'password', 'client_credentials', DEVICE_CODE_GRANT_TYPE, TOKEN_EXCHANGE_GRANT_TYPE],
    responseTypes: ['code'],
    scope: 'openid profile email read write',
    tokenEndpointAuthMethod: 'client_secret_basic',
  })
  const { client: publicClient } = await createClient({
    clientId: 'demo-public',
    clientName: 'Demo public client',
    redirectUris: DEMO_REDIRECT_URIS,
    grantTypes: ['authorization_code', 'refresh_token', 'implicit', DEVICE_CODE_GRANT_TYPE],
    responseTypes: ['code', 'token'],
    scope: 'openid profile email read',
    tokenEndpointAuthMethod: 'none',
  })
  const password = generateToken(12)
  await store.saveClient(confidential)
  await store.saveClient(publicClient)
  await upsertUser(store, 'demo', await hashSecret(password, 'scrypt'))
  return {
    confidentialClient: { clientId: confidential.clientId, clientSecret: clientSecret as string },
    publicClient: { clientId: publicClient.clientId },
    user: { username: 'demo', password },
  }
}
