import { constants, createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto'
import { OAuthError, isOAuthError, type OAuthErrorCode } from './errors.js'
import { getHeader, type OAuthRequest } from './request.js'
import { emptyResponse, errorResponse, type OAuthResponse } from './response.js'
import { hashToken } from './secrets.js'
import type { ReplayStore, TokenRecord, TokenStore } from './store.js'
import { unexpectedError } from './transient.js'

/** A valid bearer token and what it grants (RFC 6750). */
export interface AccessTokenInfo {
  readonly token: TokenRecord
  readonly clientId: string
  readonly userId: string | null
  readonly scopes: readonly string[]
}

/** What a protected resource requires of a token. */
export interface BearerRequirements {
  /** Scopes the token must hold (all of them), space-separated or a list. */
  readonly scope?: string | readonly string[] | undefined
  /** Require a token issued for a resource owner (not client credentials): otherwise 403 `insufficient_scope`. */
  readonly user?: boolean | undefined
  /** How DPoP proofs (RFC 9449 §7) are checked; defaults when absent. */
  readonly dpop?: DPoPProofRequirements | undefined
  /**
   * The resource identifiers this resource answers to (RFC 8707 §2, RFC 9728
   * §2 `resource`): the token's `aud` must name one of them, else 401
   * `invalid_token` (RFC 9068 §4, RFC 8707 §2: a token is only used at the
   * resources it was issued for). `null` in the list accepts a token
   * without any audience (issued without `resource`). Default: no audience
   * check.
   */
  readonly audience?: readonly (string | null)[] | undefined
  /**
   * The URL of this resource's protected resource metadata (RFC 9728 §3.1):
   * every 401 challenge carries it as `resource_metadata` (§5.1), so that a
   * client without a token can discover the authorization server.
   */
  readonly resourceMetadata?: string | undefined
}

/** How a protected resource checks DPoP proofs (RFC 9449 §4.3, §7). */
export interface DPoPProofRequirements {
  /** JWS algorithms accepted (RFC 9449 §4.3 item 5: asymmetric only). Default {@link DPOP_ALGORITHMS}. */
  readonly algorithms?: readonly string[] | undefined
  /** Seconds a proof's `iat` may lie in the past (RFC 9449 §4.3 item 11). Default 300; up to 60 s in the future is tolerated. */
  readonly maxAge?: number | undefined
  /**
   * The resource server's public origin, e.g. `https://api.example.com`, for
   * the `htu` check (RFC 9449 §4.3 item 9). Default: the request URL when it
   * is absolute, else the request's `Host` header with the proof's scheme;
   * set it behind a proxy or to pin the scheme.
   */
  readonly origin?: string | undefined
  /** Where proof `jti`s are remembered (RFC 9449 §11.1); without one, replays within `maxAge` are not detected. */
  readonly replay?: Pick<ReplayStore, 'markUsed'> | undefined
}

/** The JWS algorithms accepted for DPoP proofs by default: asymmetric, never `none` or HMAC (RFC 9449 §4.3 item 5). */
export const DPOP_ALGORITHMS: readonly string[] = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519']

/** Seconds a DPoP proof's `iat` may be ahead of the server's clock. */
const DPOP_FUTURE_SKEW = 60
/** The largest DPoP header read, in characters (an RSA 4096 proof is under 2 KiB). */
const DPOP_MAX_LENGTH = 8192

/** A protected-resource request as the bearer check reads it: the headers, and the method and URL a DPoP proof is checked against. */
export type BearerRequest = Pick<OAuthRequest, 'headers'> & { readonly method?: string | undefined; readonly url?: string | undefined }

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * Builds an RFC 6750 §3 `WWW-Authenticate: Bearer` challenge. Without an
 * `error` it is the bare challenge of a request that sent no token (§3.1:
 * "the resource server SHOULD NOT include an error code or other error
 * information"). Quoted values never hold `"` or `\`.
 */
export function bearerChallenge(realm: string, error?: { code: OAuthErrorCode; description?: string; scope?: string }, extra: Record<string, string> = {}): string {
  const params: string[] = [`realm="${quote(realm)}"`]
  for (const [name, value] of Object.entries(extra)) params.push(`${name}="${quote(value)}"`)
  if (error !== undefined) {
    params.push(`error="${error.code}"`)
    if (error.description !== undefined) params.push(`error_description="${quote(error.description)}"`)
    if (error.scope !== undefined) params.push(`scope="${quote(error.scope)}"`)
  }
  return `Bearer ${params.join(', ')}`
}

function quote(value: string): string {
  return value.replace(/["\\]/g, '')
}

/** Marks the error of a request that sent no credentials at all (RFC 6750 §3.1: a bare challenge, no body). */
const NO_CREDENTIALS = 'grantkit.no-credentials'

function missingToken(realm: string): OAuthError {
  const error = new OAuthError('invalid_request', 'a bearer token is required', { status: 401, headers: { 'www-authenticate': bearerChallenge(realm) } })
  Object.defineProperty(error, NO_CREDENTIALS, { value: true })
  return error
}

/**
 * Builds an RFC 9449 §7.1 `WWW-Authenticate: DPoP` challenge: the realm,
 * the accepted `algs`, and the error when there is one. Quoted values never
 * hold `"` or `\`.
 */
export function dpopChallenge(realm: string, algorithms: readonly string[], error?: { code: OAuthErrorCode; description?: string; scope?: string }): string {
  return bearerChallenge(realm, error, { algs: algorithms.join(' ') }).replace(/^Bearer /, 'DPoP ')
}

/** The scheme a token came with, which decides the challenge of its errors. */
type Scheme = { readonly name: 'Bearer' } | { readonly name: 'DPoP'; readonly algorithms: readonly string[] }

function challenge(realm: string, scheme: Scheme, error: { code: OAuthErrorCode; description?: string; scope?: string }): string {
  return scheme.name === 'DPoP' ? dpopChallenge(realm, scheme.algorithms, error) : bearerChallenge(realm, error)
}

function invalidToken(realm: string, description: string, scheme: Scheme = { name: 'Bearer' }): OAuthError {
  return new OAuthError('invalid_token', description, {
    status: 401,
    headers: { 'www-authenticate': challenge(realm, scheme, { code: 'invalid_token', description }) },
  })
}

function insufficientScope(realm: string, description: string, scope: string | undefined, scheme: Scheme): OAuthError {
  return new OAuthError('insufficient_scope', description, {
    status: 403,
    headers: { 'www-authenticate': challenge(realm, scheme, scope === undefined ? { code: 'insufficient_scope', description } : { code: 'insufficient_scope', scope }) },
  })
}

/** RFC 9449 §7.1: a proof that fails a check is 401 `invalid_dpop_proof` with the DPoP challenge. */
function invalidProof(realm: string, algorithms: readonly string[], description: string): OAuthError {
  return new OAuthError('invalid_dpop_proof', description, {
    status: 401,
    headers: { 'www-authenticate': dpopChallenge(realm, algorithms, { code: 'invalid_dpop_proof', description }) },
  })
}

/** The `cnf.jkt` an access token is bound to (RFC 9449 §6), if any. */
export function boundThumbprint(record: TokenRecord): string | undefined {
  const claims = record.extra?.['claims']
  if (typeof claims !== 'object' || claims === null) return undefined
  const cnf = (claims as Record<string, unknown>)['cnf']
  if (typeof cnf !== 'object' || cnf === null) return undefined
  const jkt = (cnf as Record<string, unknown>)['jkt']
  return typeof jkt === 'string' ? jkt : undefined
}

// ---- DPoP proofs (RFC 9449 §4), with node:crypto ------------------------------------

/** The key type and parameters each algorithm needs: no algorithm runs with another family's key. */
const ALGORITHM_KEYS: Record<string, { kty: string; crv?: string; hash: string | null; pss?: boolean }> = {
  ES256: { kty: 'EC', crv: 'P-256', hash: 'sha256' },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'sha384' },
  ES512: { kty: 'EC', crv: 'P-521', hash: 'sha512' },
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', hash: null },
  Ed25519: { kty: 'OKP', crv: 'Ed25519', hash: null },
}

/** Members of a JWK that only a private or symmetric key has (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/** The members of an RFC 7638 §3.2 thumbprint, by key type. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = { EC: ['crv', 'kty', 'x', 'y'], RSA: ['e', 'kty', 'n'], OKP: ['crv', 'kty', 'x'] }

/**
 * The RFC 7638 JWK SHA-256 thumbprint of a public key (RFC 9449 §6.1
 * `jkt`): its required members in lexicographic order, as JSON, hashed.
 */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string {
  const members = THUMBPRINT_MEMBERS[String(jwk['kty'])]
  if (members === undefined) throw new TypeError('jwkThumbprint: unsupported key type')
  const canonical: Record<string, unknown> = {}
  for (const name of members) {
    if (typeof jwk[name] !== 'string') throw new TypeError(`jwkThumbprint: the key has no "${name}"`)
    canonical[name] = jwk[name]
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url')
}

function decodeJson(part: string): unknown {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) return undefined
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
}

/** A DPoP proof that passed {@link verifyDPoPProof}. */
export interface VerifiedDPoPProof {
  /** The RFC 7638 thumbprint of the proof's key. */
  readonly jkt: string
  readonly jti: string
  /** `iat`, seconds since the epoch. */
  readonly iat: number
  /** The proof's claims, e.g. a server `nonce` (RFC 9449 §8). */
  readonly claims: Readonly<Record<string, unknown>>
}

/** What {@link verifyDPoPProof} checks a proof against. */
export interface DPoPProofCheck {
  /** The HTTP method of the request (RFC 9449 §4.3 item 8). */
  readonly method: string
  /** The request's absolute URL; query and fragment are ignored (§4.3 item 9). */
  readonly url: string
  /** The access token presented with it, whose hash `ath` must be (§4.3 item 12, §7). */
  readonly accessToken?: string | undefined
  /** Accepted algorithms. Default {@link DPOP_ALGORITHMS}. */
  readonly algorithms?: readonly string[] | undefined
  /** Seconds `iat` may lie in the past. Default 300. */
  readonly maxAge?: number | undefined
  /** Seconds since the epoch. */
  readonly now: number
}

/**
 * Checks a DPoP proof JWT by RFC 9449 §4.3, with node:crypto: one compact
 * JWS; `typ` `dpop+jwt`; an accepted asymmetric `alg` matching the key's
 * type; a public `jwk` (never a private or symmetric one); a valid
 * signature; `jti`; `htm` and `htu` (without query and fragment) of the
 * request; `iat` within `maxAge` (and at most 60 s ahead); `ath` when an
 * access token is presented. Throws a `TypeError` with the reason; replay
 * (`jti`) and nonces are the caller's.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export function verifyDPoPProof(proof: string, check: DPoPProofCheck): VerifiedDPoPProof {
  const algorithms = check.algorithms ?? DPOP_ALGORITHMS
  const parts = proof.split('.')
  // §4.3 items 1-2: one well-formed JWT.
  if (proof.length > DPOP_MAX_LENGTH || parts.length !== 3) throw new TypeError('the DPoP proof is not a JWT')
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string]
  const header = decodeJson(headerPart)
  const claims = decodeJson(payloadPart)
  if (typeof header !== 'object' || header === null || Array.isArray(header) || typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new TypeError('the DPoP proof is not a JWT')
  }
  const h = header as Record<string, unknown>
  const c = claims as Record<string, unknown>
  // §4.3 item 4: typ.
  if (h['typ'] !== 'dpop+jwt') throw new TypeError('the DPoP proof must have typ "dpop+jwt"')
  // §4.3 item 5: "alg [...] is an asymmetric digital signature algorithm [...] not none, [...] supported by the application".
  const alg = h['alg']
  const family = typeof alg === 'string' && algorithms.includes(alg) ? ALGORITHM_KEYS[alg] : undefined
  if (family === undefined) throw new TypeError('the DPoP proof is not signed with an accepted algorithm')
  // §4.3 item 7: "the jwk JOSE Header Parameter does not contain a private key".
  const jwk = h['jwk']
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new TypeError('the DPoP proof has no jwk')
  const key = jwk as Record<string, unknown>
  if (PRIVATE_MEMBERS.some((member) => member in key)) throw new TypeError('the DPoP proof\'s jwk must be a public key')
  if (key['kty'] !== family.kty || (family.crv !== undefined && key['crv'] !== family.crv)) throw new TypeError('the DPoP proof\'s jwk does not fit its alg')
  let publicKey: KeyObject
  try {
    publicKey = createPublicKey({ key: key as JsonWebKey, format: 'jwk' })
  } catch {
    throw new TypeError('the DPoP proof\'s jwk is not a valid public key')
  }
  if (family.kty === 'RSA' && (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new TypeError('the DPoP proof\'s RSA key is shorter than 2048 bits')
  // §4.3 item 6: the signature.
  const signature = /^[A-Za-z0-9_-]*$/.test(signaturePart) ? Buffer.from(signaturePart, 'base64url') : Buffer.alloc(0)
  const data = Buffer.from(`${headerPart}.${payloadPart}`)
  const options =
    family.kty === 'EC'
      ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const }
      : family.pss === true
        ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
        : publicKey
  let valid = false
  try {
    valid = signature.length > 0 && verify(family.hash, data, options, signature)
  } catch {
    valid = false
  }
  if (!valid) throw new TypeError('the DPoP proof\'s signature is invalid')
  // §4.2: jti, htm, htu and iat are required.
  const { jti, htm, htu, iat } = c
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw new TypeError('the DPoP proof has no valid jti')
  // §4.3 item 8: "the htm claim matches the HTTP method of the current request".
  if (htm !== check.method.toUpperCase()) throw new TypeError('the DPoP proof was made for another HTTP method')
  // §4.3 item 9: "the htu claim matches the HTTP URI value for the HTTP request [...], ignoring any query and fragment parts".
  if (typeof htu !== 'string' || !sameResource(htu, check.url)) throw new TypeError('the DPoP proof was made for another URL')
  // §4.3 item 11: "the creation time of the JWT, as determined by [...] iat, is within an acceptable window".
  const maxAge = check.maxAge ?? 300
  if (typeof iat !== 'number' || !Number.isFinite(iat) || iat > check.now + DPOP_FUTURE_SKEW || iat < check.now - maxAge) {
    throw new TypeError('the DPoP proof is expired or not yet valid (iat)')
  }
  // §4.3 item 12, §7: "the value of the ath claim equals the hash of that access token".
  if (check.accessToken !== undefined && c['ath'] !== createHash('sha256').update(check.accessToken).digest('base64url')) {
    throw new TypeError('the DPoP proof\'s ath does not match the access token')
  }
  return { jkt: jwkThumbprint(key), jti, iat, claims: c }
}

/** Whether two URLs name the same resource: scheme, host, port and path, after URL normalisation (RFC 9449 §4.3 item 9). */
function sameResource(htu: string, url: string): boolean {
  try {
    const a = new URL(htu)
    const b = new URL(url)
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname
  } catch {
    return false
  }
}

/** The replay-store key of a proof: its key and `jti`, hashed (RFC 9449 §11.1). */
function dpopReplayKey(proof: VerifiedDPoPProof): string {
  return `dpop:${createHash('sha256').update(`${proof.jkt}:${proof.jti}`).digest('base64url')}`
}

/** The single `DPoP` header of a request, or `undefined`; several are `undefined` too (RFC 9449 §4.3 item 1: "not more than one"). */
function dpopHeader(headers: Pick<OAuthRequest, 'headers'>['headers']): string | undefined | null {
  const value = headers['dpop']
  if (value === undefined) return undefined
  // Node joins repeated headers with ", "; a JWT holds neither.
  if (typeof value !== 'string') return value.length === 1 && !/[,\s]/.test(value[0] as string) ? (value[0] as string) : null
  return /[,\s]/.test(value) ? null : value
}

/** The absolute URL of a resource request for the `htu` check. */
function resourceUrl(request: BearerRequest, origin: string | undefined, proofHtu: unknown): string | undefined {
  const url = request.url
  if (url === undefined) return undefined
  try {
    if (origin !== undefined) return new URL(new URL(url, 'http://x').pathname, origin).toString()
    if (/^https?:\/\//i.test(url)) return url
    const host = getHeader(request.headers, 'host')
    if (host === undefined) return undefined
    const scheme = typeof proofHtu === 'string' && proofHtu.startsWith('http://') ? 'http' : 'https'
    return new URL(url, `${scheme}://${host}`).toString()
  } catch {
    return undefined
  }
}

/** The `htu` claim of a proof, read without verifying it (only to pick the scheme when the origin is not configured). */
function peekHtu(proof: string): unknown {
  const payload = decodeJson(proof.split('.')[1] ?? '')
  return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>)['htu'] : undefined
}

/** The scopes a requirement lists. */
export function requiredScopes(scope: string | readonly string[] | undefined): readonly string[] {
  if (scope === undefined) return []
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : scope
}

/**
 * Authenticates a protected-resource request by its access token: the
 * `Bearer` scheme (RFC 6750 §2.1) or the `DPoP` scheme with a proof for this
 * request (RFC 9449 §7; schemes are case-insensitive). Throws an
 * `OAuthError` carrying the challenge: 401 without an error code when no
 * token was sent (RFC 6750 §3.1), 401 `invalid_token` when it is unknown,
 * expired or revoked, 403 `insufficient_scope` when it lacks a required
 * scope (or a resource owner, with `user: true`); with DPoP, 401
 * `invalid_dpop_proof` for a proof that fails RFC 9449 §4.3 or was made
 * with another key than the token's (§7), and `invalid_token` for a token
 * without binding. A DPoP-bound token presented as `Bearer` is
 * `invalid_token` (§7.2). Errors of a DPoP request carry the
 * `WWW-Authenticate: DPoP` challenge with `algs` (§7.1).
 */
export async function authenticateBearer(
  store: Pick<TokenStore, 'findToken'>,
  realm: string,
  now: number,
  request: BearerRequest,
  requirements: BearerRequirements = {},
): Promise<AccessTokenInfo> {
  if (requirements.resourceMetadata === undefined) return checkBearer(store, realm, now, request, requirements)
  try {
    return await checkBearer(store, realm, now, request, requirements)
  } catch (error) {
    // RFC 9728 §5.1: the challenge of a 401 names the resource's metadata.
    if (isOAuthError(error) && error.status === 401 && error.headers['www-authenticate'] !== undefined) {
      error.headers['www-authenticate'] += `, resource_metadata="${quote(requirements.resourceMetadata)}"`
    }
    throw error
  }
}

/** Whether a token of these audiences is for a resource answering to `accepted` (`null`: a token without audience). */
function audienceAccepted(audiences: readonly string[], accepted: readonly (string | null)[]): boolean {
  return audiences.length === 0 ? accepted.includes(null) : audiences.some((aud) => accepted.includes(aud))
}

/** The audiences an `aud` claim names (RFC 7519 §4.1.3: a string or an array of strings). */
export function tokenAudiences(record: TokenRecord): readonly string[] {
  const claims = record.extra?.['claims']
  const aud = typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>)['aud'] : undefined
  if (typeof aud === 'string') return [aud]
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []
}

async function checkBearer(
  store: Pick<TokenStore, 'findToken'>,
  realm: string,
  now: number,
  request: BearerRequest,
  requirements: BearerRequirements,
): Promise<AccessTokenInfo> {
  const header = getHeader(request.headers, 'authorization')
  const space = header === undefined ? -1 : header.indexOf(' ')
  const schemeName = header === undefined || space === -1 ? '' : header.slice(0, space).toLowerCase()
  if (header === undefined || (schemeName !== 'bearer' && schemeName !== 'dpop')) throw missingToken(realm)
  const dpop = requirements.dpop ?? {}
  const algorithms = dpop.algorithms ?? DPOP_ALGORITHMS
  const scheme: Scheme = schemeName === 'dpop' ? { name: 'DPoP', algorithms } : { name: 'Bearer' }
  const token = header.slice(space + 1).trim()
  if (!B64TOKEN.test(token)) throw invalidToken(realm, 'the access token is malformed', scheme)
  let proof: VerifiedDPoPProof | undefined
  if (scheme.name === 'DPoP') {
    const value = dpopHeader(request.headers)
    if (value === undefined) throw invalidProof(realm, algorithms, 'a DPoP proof is required with the DPoP scheme')
    if (value === null) throw invalidProof(realm, algorithms, 'exactly one DPoP proof is allowed')
    const url = resourceUrl(request, dpop.origin, peekHtu(value))
    if (url === undefined || request.method === undefined) throw invalidProof(realm, algorithms, 'the request URL is unknown: the DPoP proof cannot be checked')
    try {
      proof = verifyDPoPProof(value, { method: request.method, url, accessToken: token, algorithms, maxAge: dpop.maxAge, now: Math.floor(now / 1000) })
    } catch (error) {
      if (!(error instanceof TypeError)) throw error
      throw invalidProof(realm, algorithms, error.message)
    }
  }
  const record = await store.findToken(hashToken(token))
  if (record === null || record.type !== 'access_token') throw invalidToken(realm, 'the access token is invalid', scheme)
  if (record.revokedAt !== null) throw invalidToken(realm, 'the access token was revoked', scheme)
  if (record.expiresAt.getTime() <= now) throw invalidToken(realm, 'the access token expired', scheme)
  const bound = boundThumbprint(record)
  if (proof === undefined) {
    // RFC 9449 §7.2: a DPoP-bound access token is never accepted as a bearer token.
    if (bound !== undefined) throw invalidToken(realm, 'the access token is DPoP-bound: present it with the DPoP scheme and a proof', { name: 'DPoP', algorithms })
  } else {
    if (bound === undefined) throw invalidToken(realm, 'the access token is not DPoP-bound: present it with the Bearer scheme', scheme)
    // RFC 9449 §7: the proof's key must be the one the token is bound to (cnf.jkt, §6).
    if (bound !== proof.jkt) throw invalidProof(realm, algorithms, 'the DPoP proof was made with another key than the access token is bound to')
    // RFC 9449 §11.1: a proof is accepted once.
    if (dpop.replay !== undefined) {
      const until = new Date((proof.iat + (dpop.maxAge ?? 300) + 1) * 1000)
      if (!(await dpop.replay.markUsed(dpopReplayKey(proof), until, new Date(now)))) throw invalidProof(realm, algorithms, 'the DPoP proof was already used')
    }
  }
  // RFC 8707 §2, RFC 9068 §4: a token whose audience is not this resource is refused here.
  if (requirements.audience !== undefined && !audienceAccepted(tokenAudiences(record), requirements.audience)) {
    throw invalidToken(realm, 'the access token is not meant for this resource', scheme)
  }
  const scopes = record.scope === '' ? [] : record.scope.split(' ')
  const required = requiredScopes(requirements.scope)
  const missing = required.filter((s) => !scopes.includes(s))
  if (missing.length > 0) throw insufficientScope(realm, `the access token lacks the scope "${missing.join(' ')}"`, required.join(' '), scheme)
  if (requirements.user === true && record.userId === null) {
    throw insufficientScope(realm, 'the access token was not issued for a resource owner', undefined, scheme)
  }
  return { token: record, clientId: record.clientId, userId: record.userId, scopes }
}

/**
 * The response for a failed protected-resource request: the bare 401 with
 * its challenge for a request without a token (RFC 6750 §3.1), otherwise the
 * error's status, challenge and JSON body; an unexpected error is a 500
 * `server_error` without details, or a 503 `server_error` with `Retry-After`
 * when it is a passing outage (`isTransientError`). One helper for every
 * adapter.
 */
export function bearerErrorResponse(error: unknown): OAuthResponse {
  if (!isOAuthError(error)) return errorResponse(unexpectedError(error))
  if ((error as unknown as Record<string, unknown>)[NO_CREDENTIALS] === true) return emptyResponse(401, error.headers)
  return errorResponse(error)
}
