import type { TokenResponseBody } from '@grantkit/core'
import type { OpenIDApproval } from '../openid-request.js'

/** The token response members that go in an authorization response's fragment (RFC 6749 §4.2.2): never a refresh token. */
export function tokenParams(body: TokenResponseBody): Record<string, string> {
  const params: Record<string, string> = {}
  for (const [name, value] of Object.entries(body)) {
    if (name === 'refresh_token' || value === undefined || value === null || value === '') continue
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') params[name] = String(value)
  }
  return params
}

/**
 * The claim under which a grant's requested UserInfo claims (Core §5.5
 * `claims.userinfo`) travel with its tokens, so the UserInfo endpoint and
 * refreshed tokens keep them. Set only when the client asked for any.
 */
export const USERINFO_CLAIMS = 'userinfo_claims'

/**
 * The claim under which a grant's requested ID token claims (Core §5.5
 * `claims.id_token`) travel with its tokens, so that the fresh ID token of
 * each refresh (Core §12.2) carries them as the first one did. Set only when
 * the client asked for any.
 */
export const ID_TOKEN_CLAIMS = 'id_token_claims'

/**
 * The token claims an approval carries: `auth_time`, `acr`, `amr` (RFC 9068
 * §2.2.1 names them too; the refresh grant carries them over, Core §12.2)
 * and the names of the claims requested for UserInfo and the ID token (§5.5).
 */
export function approvalClaims(approval: OpenIDApproval | null | undefined): Record<string, unknown> | undefined {
  if (approval === null || approval === undefined) return undefined
  const claims: Record<string, unknown> = {}
  if (approval.auth_time !== undefined) claims['auth_time'] = approval.auth_time
  if (approval.acr !== undefined) claims['acr'] = approval.acr
  if (approval.amr !== undefined) claims['amr'] = [...approval.amr]
  const userinfo = requestedNames(approval.claims?.userinfo)
  if (userinfo.length > 0) claims[USERINFO_CLAIMS] = userinfo
  const idToken = requestedNames(approval.claims?.id_token)
  if (idToken.length > 0) claims[ID_TOKEN_CLAIMS] = idToken
  return Object.keys(claims).length === 0 ? undefined : claims
}

/** The claim names of a `claims` request member. */
export function requestedNames(member: Readonly<Record<string, unknown>> | undefined): string[] {
  return member === undefined ? [] : Object.keys(member)
}

/** The claim names a token's claims list under `name` ({@link USERINFO_CLAIMS}, {@link ID_TOKEN_CLAIMS}); strings only. */
export function carriedNames(claims: Readonly<Record<string, unknown>> | undefined, name: string): string[] {
  const value = claims?.[name]
  return Array.isArray(value) ? value.filter((n): n is string => typeof n === 'string') : []
}
