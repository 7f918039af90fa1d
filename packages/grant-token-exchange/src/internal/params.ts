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
 * Bounds of the `resource` and `audience` lists of a token exchange request,
 * checked before any value is parsed (RFC 6819 §4.4.1.11: limit what a
 * request can make the server do): at most `maxValues` non-empty values of
 * each parameter, each at most `maxValueLength` characters. Core's
 * `SCOPE_LIMITS` bound the `scope` parameter alike.
 */
export const TARGET_LIMITS = Object.freeze({ maxValues: 10, maxValueLength: 2048 })

/**
 * The `resource` parameters (RFC 8693 §2.1: "MAY be used multiple times"),
 * each an absolute URI without a fragment; duplicates dropped, order kept,
 * empty values ignored (RFC 6749 §3.1). More than
 * {@link TARGET_LIMITS}`.maxValues` is `invalid_target` (RFC 8693 §2.2.2:
 * the server will not issue one token for that many targets), checked before
 * anything is parsed. A malformed or too long one is `invalid_request`:
 * RFC 8693 §2.2.2 says "If the request itself is not valid [...] The value
 * of the error parameter MUST be the invalid_request error code" (RFC 8707
 * §2 would use `invalid_target`, which RFC 8693 keeps for targets the server
 * will not issue a token for). Linear in the number of values.
 */
export function readResources(params: URLSearchParams): string[] {
  const values = boundedValues(params, 'resource')
  for (const value of values) {
    if (!ABSOLUTE_URI.test(value) || !URL.canParse(value)) {
      throw new OAuthError('invalid_request', 'each resource must be an absolute URI without a fragment (RFC 8693 section 2.1)')
    }
  }
  return [...new Set(values)]
}

/**
 * The `audience` parameters (RFC 8693 §2.1: logical names of target
 * services, "MAY be used multiple times"); duplicates dropped, order kept,
 * empty values ignored (RFC 6749 §3.1); bounded like {@link readResources}.
 */
export function readAudiences(params: URLSearchParams): string[] {
  return [...new Set(boundedValues(params, 'audience'))]
}

/** The non-empty values of a list parameter, refused before any parsing when there are too many or one is too long. */
function boundedValues(params: URLSearchParams, name: 'resource' | 'audience'): string[] {
  const values = params.getAll(name).filter((value) => value !== '')
  if (values.length > TARGET_LIMITS.maxValues) {
    throw new OAuthError('invalid_target', `a request may carry at most ${TARGET_LIMITS.maxValues} ${name} parameters`)
  }
  if (values.some((value) => value.length > TARGET_LIMITS.maxValueLength)) {
    throw new OAuthError('invalid_request', `a ${name} value must be at most ${TARGET_LIMITS.maxValueLength} characters`)
  }
  return values
}
