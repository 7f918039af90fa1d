import { OAuthError, type OAuthRequest } from '@grantkit/core'

/**
 * Refuses a request whose body parameters (names or values) contain a NUL
 * character, with `invalid_request`, before any store sees them
 * (PostgreSQL refuses NUL in text, which would become a `server_error`).
 * Core's form parser refuses them already; this covers a request built from
 * parsed parameters.
 */
export function refuseNul(request: OAuthRequest): void {
  for (const [name, value] of request.body) {
    if (name.includes('\u0000') || value.includes('\u0000')) {
      throw new OAuthError('invalid_request', 'the request parameters must not contain a NUL character')
    }
  }
}
