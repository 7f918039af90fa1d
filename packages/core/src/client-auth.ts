import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Client } from './client.js'
import { OAuthError, invalidClient } from './errors.js'
import { getHeader, getParam, refuseNul, type OAuthRequest } from './request.js'
import { dummySecretHash, verifySecret } from './secrets.js'
import type { ClientStore, ReplayStore } from './store.js'

/** What a {@link ClientAuthMethod} gets besides the request. */
export interface ClientAuthContext {
  readonly store: ClientStore
  /**
   * The server's replay store, for methods that must accept a value once,
   * such as a client assertion's `jti` (RFC 7523 §3, item 7).
   */
  readonly replay: ReplayStore
  /** The server's clock. */
  now(): Date
  /** The token endpoint URL (the audience of client assertions). */
  readonly tokenEndpoint: string
  readonly issuer: string
}

/**
 * A client authentication method (RFC 6749 §2.3), as a small object: whether
 * a request attempts it, and how to authenticate it.
 */
export interface ClientAuthMethod {
  /** Whether the request uses this method (e.g. carries a Basic header). */
  matches(request: OAuthRequest): boolean
  /**
   * Authenticates the client. Returns the client, or throws an
   * `invalid_client` {@link OAuthError} (use {@link invalidClient}).
   */
  authenticate(request: OAuthRequest, context: ClientAuthContext): Promise<Client>
  /**
   * RFC 8414 §2 metadata the method adds when it is offered, e.g.
   * `token_endpoint_auth_signing_alg_values_supported`.
   */
  metadata?(): Record<string, unknown>
  /**
   * The client id the request claims, read before authenticating, so that
   * failures are throttled per client (the server's `throttle` option).
   * Default: the Basic user name, else the body's `client_id`. A method
   * that carries it elsewhere (a client assertion's `sub`, RFC 7523 §3)
   * returns it here; `undefined` throttles by remote address only.
   */
  clientId?(request: OAuthRequest): string | undefined
}

/**
 * The client id a request claims before it is authenticated: the Basic
 * user name (RFC 6749 §2.3.1), else the body's `client_id`. `undefined`
 * when there is none or it is malformed (authentication then fails anyway).
 */
export function claimedClientId(request: OAuthRequest): string | undefined {
  try {
    const basic = basicCredentialsOf(request)
    return basic?.clientId ?? getParam(request.body, 'client_id')
  } catch {
    return undefined
  }
}

/**
 * Decodes a Basic `Authorization` header into client id and secret. Both are
 * `application/x-www-form-urlencoded` before Base64 (RFC 6749 §2.3.1), so
 * they are form-decoded here. Returns `null` when the header is not Basic.
 */
export function parseBasicCredentials(header: string | undefined): { clientId: string; clientSecret: string } | null {
  if (header === undefined || header.length < 6 || header.slice(0, 6).toLowerCase() !== 'basic ') return null
  const encoded = header.slice(6).trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw invalidClient('malformed Basic credentials')
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) throw invalidClient('malformed Basic credentials')
  let clientId: string
  let clientSecret: string
  try {
    clientId = formDecode(decoded.slice(0, colon))
    clientSecret = formDecode(decoded.slice(colon + 1))
  } catch {
    throw invalidClient('malformed Basic credentials')
  }
  // A NUL never reaches a store (PostgreSQL refuses it in text).
  refuseNul(clientId)
  refuseNul(clientSecret)
  return { clientId, clientSecret }
}

/** Basic credentials as {@link parseBasicCredentials} decodes them. */
type BasicCredentials = { readonly clientId: string; readonly clientSecret: string }

/**
 * Each request's decoded Basic header: matching the methods, throttling and
 * authenticating read it up to four times per token request, and decoding it
 * (Base64, two percent-decodings) showed in the token endpoint's profile.
 * Keyed by the request's headers object, and by the header's value, so a
 * changed header is decoded again; a malformed one is never kept.
 */
const decodedBasic = new WeakMap<object, { readonly header: string; readonly credentials: BasicCredentials | null }>()

/** The request's Basic credentials (`null` when not Basic), decoded once per request. Throws like {@link parseBasicCredentials}. */
function basicCredentialsOf(request: OAuthRequest): BasicCredentials | null {
  const header = getHeader(request.headers, 'authorization')
  if (header === undefined) return null
  const memo = decodedBasic.get(request.headers)
  if (memo !== undefined && memo.header === header) return memo.credentials
  const parsed = parseBasicCredentials(header)
  const credentials = parsed === null ? null : Object.freeze(parsed)
  decodedBasic.set(request.headers, { header, credentials })
  return credentials
}

/** Form-decodes one Basic credential (`+` is a space, RFC 6749 §2.3.1); throws on malformed percent-encoding. */
function formDecode(raw: string): string {
  const spaced = raw.indexOf('+') === -1 ? raw : raw.replace(/\+/g, ' ')
  return spaced.indexOf('%') === -1 ? spaced : decodeURIComponent(spaced)
}

/** Whether the request carries Basic credentials with an empty secret (`id:`), which RFC 6749 §2.3.1 lets a public client send. */
function basicWithEmptySecret(request: OAuthRequest): { clientId: string } | null {
  const header = getHeader(request.headers, 'authorization')
  if (header === undefined || header.length < 6 || header.slice(0, 6).toLowerCase() !== 'basic ') return null
  let credentials: BasicCredentials | null
  try {
    credentials = basicCredentialsOf(request)
  } catch {
    return null
  }
  return credentials !== null && credentials.clientSecret === '' ? { clientId: credentials.clientId } : null
}

/**
 * Verifies a client secret. Every failure ends with one scrypt
 * verification, whatever was found: an unknown client and a public client
 * (no hash) verify against the dummy scrypt hash, a wrong secret of a
 * client hashed with sha256 too, after its own cheap check; a wrong secret
 * of an scrypt client runs its own. So an unknown id costs what a known one
 * does and timing does not tell which ids exist (RFC 6819 §5.1.4.2.2). The
 * server's throttle bounds how many failures, hence scrypt runs, a caller
 * can cause; at most two scrypt run at once (secrets.ts). A right secret of
 * an scrypt client is remembered for a few minutes (an HMAC of it, below),
 * so an honest client's requests do not each pay scrypt.
 */
async function verifyConfidentialClient(context: ClientAuthContext, clientId: string, secret: string): Promise<Client> {
  const client = await context.store.findClient(clientId)
  const stored = client?.clientSecretHash ?? null
  const slow = stored !== null && stored.startsWith('scrypt$')
  if (slow && recentlyVerified(stored, secret, context.now().getTime())) return client!
  if (stored !== null && (await verifySecret(secret, stored))) {
    if (slow) rememberVerified(stored, secret, context.now().getTime())
    return client!
  }
  if (!slow) await verifySecret(secret, await dummySecretHash())
  throw invalidClient('client authentication failed')
}

/*
 * Secrets verified recently against a slow (scrypt) hash, so that an honest
 * client sending the same chosen secret on every request pays scrypt once
 * every few minutes, not per request: stored hash → HMAC-SHA256 of the
 * secret under a key of this process. Only successes are kept, so a wrong
 * secret always costs its scrypt; the entry is keyed by the stored hash, so
 * a changed or deleted secret is never matched; the map is bounded and each
 * entry expires. The secret itself is never kept.
 */
const VERIFIED_TTL_MS = 5 * 60 * 1000
const VERIFIED_MAX = 10_000
const verifiedKey = randomBytes(32)
const verified = new Map<string, { readonly mac: Buffer; readonly until: number }>()

function macOf(secret: string): Buffer {
  return createHmac('sha256', verifiedKey).update(secret, 'utf8').digest()
}

function recentlyVerified(stored: string, secret: string, now: number): boolean {
  const entry = verified.get(stored)
  if (entry === undefined) return false
  if (entry.until <= now) {
    verified.delete(stored)
    return false
  }
  return timingSafeEqual(entry.mac, macOf(secret))
}

function rememberVerified(stored: string, secret: string, now: number): void {
  verified.delete(stored)
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string)
  verified.set(stored, { mac: macOf(secret), until: now + VERIFIED_TTL_MS })
}

/**
 * `client_secret_basic`: HTTP Basic with the form-encoded client id and
 * secret (RFC 6749 §2.3.1).
 */
export function clientSecretBasic(): ClientAuthMethod {
  return {
    matches(request) {
      const header = getHeader(request.headers, 'authorization')
      return header !== undefined && header.length >= 6 && header.slice(0, 6).toLowerCase() === 'basic ' && basicWithEmptySecret(request) === null
    },
    async authenticate(request, context) {
      const credentials = basicCredentialsOf(request)
      if (credentials === null) throw invalidClient('client authentication failed')
      const bodyId = getParam(request.body, 'client_id')
      if (bodyId !== undefined && bodyId !== credentials.clientId) {
        throw new OAuthError('invalid_request', 'client_id in the body does not match the authenticated client')
      }
      return verifyConfidentialClient(context, credentials.clientId, credentials.clientSecret)
    },
  }
}

/**
 * `client_secret_post`: `client_id` and `client_secret` in the form body
 * (RFC 6749 §2.3.1; "NOT RECOMMENDED" but allowed).
 */
export function clientSecretPost(): ClientAuthMethod {
  return {
    matches(request) {
      // An empty `client_secret=` is a public client's (RFC 6749 §3.1: as if omitted): `none`.
      return getParam(request.body, 'client_secret') !== undefined
    },
    async authenticate(request, context) {
      const clientId = getParam(request.body, 'client_id')
      const secret = getParam(request.body, 'client_secret')
      if (clientId === undefined || secret === undefined) throw invalidClient('client authentication failed')
      return verifyConfidentialClient(context, clientId, secret)
    },
  }
}

/**
 * `none`: a public client identified by `client_id` alone (RFC 6749 §2.1,
 * §3.2.1). Only clients registered with `none` pass.
 */
export function noneAuth(): ClientAuthMethod {
  return {
    matches(request) {
      // RFC 6749 §2.3.1 lets a client omit an empty secret; simple-oauth2 and
      // requests-oauthlib send it anyway, as `client_secret=` or Basic `id:`.
      const emptyBasic = basicWithEmptySecret(request)
      if (request.headers['authorization'] !== undefined && emptyBasic === null) return false
      return (
        (emptyBasic !== null || request.body.has('client_id')) &&
        getParam(request.body, 'client_secret') === undefined &&
        !request.body.has('client_assertion')
      )
    },
    async authenticate(request, context) {
      const emptyBasic = basicWithEmptySecret(request)
      const bodyId = getParam(request.body, 'client_id')
      if (emptyBasic !== null && bodyId !== undefined && bodyId !== emptyBasic.clientId) {
        throw new OAuthError('invalid_request', 'client_id in the body does not match the Authorization header')
      }
      const clientId = emptyBasic?.clientId ?? bodyId
      if (clientId === undefined || clientId === '') throw invalidClient('client authentication failed')
      const client = await context.store.findClient(clientId)
      if (client === null || client.tokenEndpointAuthMethod !== 'none') throw invalidClient('client authentication failed')
      return client
    },
  }
}
