import { createResourceGuard, defaultErrorLogger, type AccessTokenInfo, type ResourceGuardOptions } from '@grantkit/core'
import { headersOf, target } from './internal/request.js'
import { toResponse } from './internal/respond.js'

export type { AccessTokenInfo } from '@grantkit/core'

/** Options of {@link requireToken}: core's resource-guard options, with an `onError` given the request. */
export interface RequireTokenOptions extends Omit<ResourceGuardOptions, 'onError'> {
  /**
   * Called with unexpected errors (a failing store), which are answered
   * 500 `server_error` (503 with `Retry-After` when the store is down or
   * outlives `timeout`) without details. Default: one `console.error` line
   * with the error's name and code, never the request.
   */
  onError?: (error: unknown, request: Request) => void
}

/** The verdict of a {@link TokenGuard}: the token (client, user, scopes), or the RFC 6750 answer to return instead. */
export type TokenCheck = { readonly ok: true; readonly token: AccessTokenInfo } | { readonly ok: false; readonly response: Response }

/** Checks a protected-resource request's bearer token; never rejects. */
export type TokenGuard = (request: Request) => Promise<TokenCheck>

/**
 * The bearer-token check of a protected resource on Web standards: the
 * returned guard accepts a request only with a valid bearer token (RFC 6750
 * §2.1) holding `scope` (and a resource owner, with `user: true`), and
 * otherwise gives the `Response` core's `createResourceGuard` decides —
 * the bare 401 challenge without a token, 401 `invalid_token`, 403
 * `insufficient_scope`, 503 `server_error` with `Retry-After` when the
 * store is down or outlives `timeout`, or 500 `server_error` when it fails
 * otherwise.
 *
 * @example
 * ```ts
 * const guard = requireToken(server, { scope: 'profile', user: true })
 * export async function GET(request: Request) {
 *   const auth = await guard(request)
 *   if (!auth.ok) return auth.response
 *   return Response.json({ sub: auth.token.userId })
 * }
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function requireToken(server: Parameters<typeof createResourceGuard>[0], options: RequireTokenOptions = {}): TokenGuard {
  if (typeof options !== 'object' || options === null) throw new TypeError('requireToken: options must be an object')
  const { onError = defaultErrorLogger('requireToken'), ...guardOptions } = options
  if (typeof onError !== 'function') throw new TypeError('requireToken: "onError" must be a function')
  const guard = createResourceGuard(server, guardOptions)
  return async (request) => {
    const result = await guard({ method: request.method, url: target(request).url, headers: headersOf(request) }, { onError: (error) => onError(error, request) })
    if (result.ok) return { ok: true, token: result.token }
    // The guard's outcomes are never `handled`.
    return { ok: false, response: toResponse(result.outcome as Exclude<typeof result.outcome, { kind: 'handled' }>) }
  }
}
