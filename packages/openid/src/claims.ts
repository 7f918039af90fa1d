import { OAuthError } from '@grantkit/core'

/**
 * The claims each scope value requests (OpenID Connect Core §5.4).
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ScopeClaims
 */
export const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile',
    'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
})

/** One requested claim of the `claims` parameter (Core §5.5.1): `null`, or `essential`, `value`, `values`. */
export interface ClaimRequest {
  readonly essential?: boolean
  readonly value?: unknown
  readonly values?: readonly unknown[]
}

/** The parsed `claims` request parameter (Core §5.5): the individual claims asked for, per place. */
export interface ClaimsRequest {
  readonly userinfo: Readonly<Record<string, ClaimRequest | null>>
  readonly id_token: Readonly<Record<string, ClaimRequest | null>>
}

const MAX_CLAIMS = 100

function member(value: unknown, where: string): Record<string, ClaimRequest | null> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new OAuthError('invalid_request', `the claims parameter's ${where} member must be an object (OpenID Connect Core section 5.5)`)
  const out: Record<string, ClaimRequest | null> = {}
  const entries = Object.entries(value)
  if (entries.length > MAX_CLAIMS) throw new OAuthError('invalid_request', 'the claims parameter requests too many claims')
  for (const [name, request] of entries) {
    if (name === '' || name.length > 256) throw new OAuthError('invalid_request', 'the claims parameter has an invalid claim name')
    if (request === null) {
      out[name] = null
      continue
    }
    if (typeof request !== 'object' || Array.isArray(request)) throw new OAuthError('invalid_request', 'each requested claim must be null or an object (OpenID Connect Core section 5.5.1)')
    const { essential, value: one, values } = request as Record<string, unknown>
    if (essential !== undefined && typeof essential !== 'boolean') throw new OAuthError('invalid_request', 'the claims parameter: essential must be a boolean (OpenID Connect Core section 5.5.1)')
    if (values !== undefined && !Array.isArray(values)) throw new OAuthError('invalid_request', 'the claims parameter: values must be an array (OpenID Connect Core section 5.5.1)')
    out[name] = {
      ...(essential === undefined ? {} : { essential }),
      ...(one === undefined ? {} : { value: one }),
      ...(values === undefined ? {} : { values: values as unknown[] }),
    }
  }
  return out
}

/**
 * Parses the `claims` request parameter (Core §5.5): a JSON object with
 * optional `userinfo` and `id_token` members; anything else malformed is
 * `invalid_request`. Unknown top-level members are ignored (§5.5).
 */
export function parseClaimsRequest(raw: string | undefined): ClaimsRequest | undefined {
  if (raw === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new OAuthError('invalid_request', 'the claims parameter is not valid JSON (OpenID Connect Core section 5.5)')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new OAuthError('invalid_request', 'the claims parameter must be a JSON object (OpenID Connect Core section 5.5)')
  const { userinfo, id_token } = parsed as Record<string, unknown>
  return { userinfo: member(userinfo, 'userinfo'), id_token: member(id_token, 'id_token') }
}

/** The claim names the granted scopes request (Core §5.4). */
export function scopeClaimNames(scopes: readonly string[]): string[] {
  return scopes.flatMap((scope) => SCOPE_CLAIMS[scope] ?? [])
}

/** Claims the ID token and UserInfo never take from the app's `findClaims` (they are the server's). */
const PROTOCOL_CLAIMS = new Set(['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'at_hash', 'c_hash', 'sid'])

/** The app's claims restricted to `names`, protocol claims excluded; `undefined` values dropped. */
export function pickClaims(claims: Readonly<Record<string, unknown>> | null, names: Iterable<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (claims === null) return out
  for (const name of names) {
    if (PROTOCOL_CLAIMS.has(name) || !Object.prototype.hasOwnProperty.call(claims, name)) continue
    const value = claims[name]
    if (value !== undefined) out[name] = value
  }
  return out
}
