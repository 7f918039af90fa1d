import { OAuthError } from '@grantkit/core'

/**
 * Refuses a body with a NUL character in any parameter name or value, before
 * anything reaches a store: PostgreSQL refuses NUL in `text` (a 500 instead
 * of a 4xx) and C-string drivers truncate at it, so `a\0b` could be looked up
 * as `a`. The parameter is not named: its name is the client's input too.
 */
export function refuseNul(params: URLSearchParams): void {
  for (const [name, value] of params) {
    if (name.includes('\u0000') || value.includes('\u0000')) {
      throw new OAuthError('invalid_request', 'the request parameters must not contain a NUL character')
    }
  }
}

// RFC 3986 §4.3 absolute-URI = scheme ":" hier-part [ "?" query ], in ASCII
// without spaces or controls; no "#" (RFC 8693 §2.1: the resource "MUST NOT
// include a fragment component").
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[\x21\x22\x24-\x7E]+$/

/**
 * The `resource` parameters (RFC 8693 §2.1: "MAY be used multiple times"),
 * each an absolute URI without a fragment; duplicates dropped, order kept,
 * empty values ignored (RFC 6749 §3.1). A malformed one is `invalid_request`:
 * RFC 8693 §2.2.2 says "If the request itself is not valid [...] The value
 * of the error parameter MUST be the invalid_request error code" (RFC 8707
 * §2 would use `invalid_target`, which RFC 8693 keeps for targets the server
 * will not issue a token for).
 */
export function readResources(params: URLSearchParams): string[] {
  const out: string[] = []
  for (const value of params.getAll('resource')) {
    if (value === '') continue
    if (!ABSOLUTE_URI.test(value) || !parsesAsUrl(value)) {
      throw new OAuthError('invalid_request', 'each "resource" must be an absolute URI without a fragment (RFC 8693 §2.1)')
    }
    if (!out.includes(value)) out.push(value)
  }
  return out
}

/**
 * The `audience` parameters (RFC 8693 §2.1: logical names of target
 * services, "MAY be used multiple times"); duplicates dropped, order kept,
 * empty values ignored (RFC 6749 §3.1).
 */
export function readAudiences(params: URLSearchParams): string[] {
  const out: string[] = []
  for (const value of params.getAll('audience')) {
    if (value !== '' && !out.includes(value)) out.push(value)
  }
  return out
}

function parsesAsUrl(value: string): boolean {
  try {
    new URL(value)
    return true
  } catch {
    return false
  }
}
