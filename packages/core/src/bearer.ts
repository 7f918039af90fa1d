import { OAuthError, isOAuthError, type OAuthErrorCode } from './errors.js'
import { getHeader, type OAuthRequest } from './request.js'
import { emptyResponse, errorResponse, type OAuthResponse } from './response.js'
import { hashToken } from './secrets.js'
import type { TokenRecord, TokenStore } from './store.js'

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
}

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

function invalidToken(realm: string, description: string): OAuthError {
  return new OAuthError('invalid_token', description, {
    status: 401,
    headers: { 'www-authenticate': bearerChallenge(realm, { code: 'invalid_token', description }) },
  })
}

function insufficientScope(realm: string, description: string, scope: string | undefined): OAuthError {
  return new OAuthError('insufficient_scope', description, {
    status: 403,
    headers: { 'www-authenticate': bearerChallenge(realm, scope === undefined ? { code: 'insufficient_scope', description } : { code: 'insufficient_scope', scope }) },
  })
}

/** The scopes a requirement lists. */
export function requiredScopes(scope: string | readonly string[] | undefined): readonly string[] {
  if (scope === undefined) return []
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : scope
}

/**
 * Authenticates a protected-resource request by its bearer token (RFC 6750
 * §2.1 `Authorization` header; scheme case-insensitive). Throws an
 * `OAuthError` carrying the RFC 6750 §3 challenge: 401 without an error code
 * when no token was sent, 401 `invalid_token` when it is unknown, expired or
 * revoked, 403 `insufficient_scope` when it lacks a required scope (or a
 * resource owner, with `user: true`).
 */
export async function authenticateBearer(
  store: Pick<TokenStore, 'findToken'>,
  realm: string,
  now: number,
  request: Pick<OAuthRequest, 'headers'>,
  requirements: BearerRequirements = {},
): Promise<AccessTokenInfo> {
  const header = getHeader(request.headers, 'authorization')
  const space = header === undefined ? -1 : header.indexOf(' ')
  if (header === undefined || space === -1 || header.slice(0, space).toLowerCase() !== 'bearer') throw missingToken(realm)
  const token = header.slice(space + 1).trim()
  if (!B64TOKEN.test(token)) throw invalidToken(realm, 'the access token is malformed')
  const record = await store.findToken(hashToken(token))
  if (record === null || record.type !== 'access_token') throw invalidToken(realm, 'the access token is invalid')
  if (record.revokedAt !== null) throw invalidToken(realm, 'the access token was revoked')
  if (record.expiresAt.getTime() <= now) throw invalidToken(realm, 'the access token expired')
  const scopes = record.scope === '' ? [] : record.scope.split(' ')
  const required = requiredScopes(requirements.scope)
  const missing = required.filter((s) => !scopes.includes(s))
  if (missing.length > 0) throw insufficientScope(realm, `the access token lacks the scope "${missing.join(' ')}"`, required.join(' '))
  if (requirements.user === true && record.userId === null) {
    throw insufficientScope(realm, 'the access token was not issued for a resource owner', undefined)
  }
  return { token: record, clientId: record.clientId, userId: record.userId, scopes }
}

/**
 * The response for a failed protected-resource request: the bare 401 with
 * its challenge for a request without a token (RFC 6750 §3.1), otherwise the
 * error's status, challenge and JSON body; an unexpected error is a 500
 * `server_error` without details. One helper for every adapter.
 */
export function bearerErrorResponse(error: unknown): OAuthResponse {
  if (!isOAuthError(error)) return errorResponse(new OAuthError('server_error', 'the server failed to process the request'))
  if ((error as unknown as Record<string, unknown>)[NO_CREDENTIALS] === true) return emptyResponse(401, error.headers)
  return errorResponse(error)
}
