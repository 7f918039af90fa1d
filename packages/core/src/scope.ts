import { OAuthError } from './errors.js'

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/**
 * Bounds of a `scope` parameter, checked before any other work (RFC 6819
 * §4.4.1.11: limit what an unauthenticated request can make the server do):
 * at most this many tokens, each at most this long.
 */
export const SCOPE_LIMITS = Object.freeze({ maxTokens: 200, maxTokenLength: 512 })

/**
 * Splits a `scope` parameter into its tokens (RFC 6749 §3.3: "a list of
 * space-delimited, case-sensitive strings"). Invalid characters, more than
 * {@link SCOPE_LIMITS}`.maxTokens` tokens or a token longer than
 * `maxTokenLength` are `invalid_scope`; duplicates are dropped, order kept.
 * Linear in the length of the parameter.
 */
export function parseScope(scope: string | undefined | null): string[] {
  if (scope === undefined || scope === null || scope === '') return []
  // A cheap bound first: the longest scope the limits allow, so a huge parameter costs no split.
  if (scope.length > SCOPE_LIMITS.maxTokens * (SCOPE_LIMITS.maxTokenLength + 1)) throw tooMany()
  const seen = new Set<string>()
  for (const token of scope.split(' ')) {
    if (token === '') continue
    if (token.length > SCOPE_LIMITS.maxTokenLength) throw new OAuthError('invalid_scope', 'a scope value is too long')
    if (!SCOPE_TOKEN.test(token)) throw new OAuthError('invalid_scope', 'scope contains invalid characters')
    seen.add(token)
    if (seen.size > SCOPE_LIMITS.maxTokens) throw tooMany()
  }
  return [...seen]
}

function tooMany(): OAuthError {
  return new OAuthError('invalid_scope', `a request may carry at most ${SCOPE_LIMITS.maxTokens} scope values`)
}

/** Joins scope tokens with single spaces. */
export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ')
}

/**
 * Resolves the scope of a request against what is allowed (RFC 6749 §3.3):
 * an omitted scope means the allowed default, a requested scope must be a
 * subset of the allowed one, otherwise `invalid_scope` with `message` (which
 * never echoes the requested value: it is the client's text, and may be an
 * attacker's).
 */
export function resolveScope(requested: string | undefined, allowed: readonly string[], message = 'a requested scope is not allowed for this client'): string[] {
  const scopes = parseScope(requested)
  if (scopes.length === 0) return [...allowed]
  const allowedSet = new Set(allowed)
  for (const s of scopes) if (!allowedSet.has(s)) throw new OAuthError('invalid_scope', message)
  return scopes
}
