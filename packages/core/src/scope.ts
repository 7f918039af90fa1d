import { OAuthError } from './errors.js'

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/**
 * Splits a `scope` parameter into its tokens (RFC 6749 §3.3: "a list of
 * space-delimited, case-sensitive strings"). Invalid characters are
 * `invalid_scope`; duplicates are dropped, order kept.
 */
export function parseScope(scope: string | undefined | null): string[] {
  if (scope === undefined || scope === null || scope === '') return []
  const out: string[] = []
  for (const token of scope.split(' ')) {
    if (token === '') continue
    if (!SCOPE_TOKEN.test(token)) throw new OAuthError('invalid_scope', 'scope contains invalid characters')
    if (!out.includes(token)) out.push(token)
  }
  return out
}

/** Joins scope tokens with single spaces. */
export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ')
}

/**
 * Resolves the scope of a request against what is allowed (RFC 6749 §3.3):
 * an omitted scope means the allowed default, a requested scope must be a
 * subset of the allowed one, otherwise `invalid_scope`.
 */
export function resolveScope(requested: string | undefined, allowed: readonly string[]): string[] {
  const scopes = parseScope(requested)
  if (scopes.length === 0) return [...allowed]
  for (const s of scopes) {
    if (!allowed.includes(s)) throw new OAuthError('invalid_scope', `scope "${s}" is not allowed for this client`)
  }
  return scopes
}
