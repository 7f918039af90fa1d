import type { Middleware } from 'koa'
import { createResourceGuard, type AccessTokenInfo, type ResourceGuardOptions } from '@grantkit/core'
import { logUnexpected } from './internal/log.js'
import { writeOutcome } from './internal/send.js'

/** What {@link requireToken} puts on `ctx.state.oauth`. */
export interface TokenState {
  readonly clientId: string
  /** The resource owner, or `null` for a client-only token (client credentials). */
  readonly userId: string | null
  readonly scopes: readonly string[]
  /** The stored token record (hashes only). */
  readonly token: AccessTokenInfo['token']
}

/** Options of {@link requireToken}: core's resource-guard options, with a Koa `onError`. */
export interface RequireTokenOptions extends Omit<ResourceGuardOptions, 'onError'> {
  /**
   * Called with unexpected errors (a failing store), which are answered
   * 500 `server_error` (503 with `Retry-After` when the store is down or
   * outlives `timeout`) without details. Default: one `console.error` line
   * with the error's name and code, never the request.
   */
  onError?: (error: unknown, ctx: Parameters<Middleware>[0]) => void
}

/**
 * Koa middleware for protected resources: accepts a request only with a
 * valid bearer token (RFC 6750 §2.1) holding `scope`, and sets
 * `ctx.state.oauth`; otherwise it writes the RFC 6750 §3 answer that core's
 * `createResourceGuard` decides (the bare 401 challenge without a token,
 * 401 `invalid_token`, 403 `insufficient_scope`).
 *
 * @example
 * ```ts
 * router.get('/api/me', requireToken(server, { scope: 'profile', user: true }), (ctx) => {
 *   ctx.body = { sub: ctx.state.oauth.userId }
 * })
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function requireToken(server: Parameters<typeof createResourceGuard>[0], options: RequireTokenOptions = {}): Middleware {
  if (typeof options !== 'object' || options === null) throw new TypeError('requireToken: options must be an object')
  const { onError = logUnexpected('requireToken'), ...guardOptions } = options
  if (typeof onError !== 'function') throw new TypeError('requireToken: "onError" must be a function')
  const guard = createResourceGuard(server, guardOptions)
  return async (ctx, next) => {
    const result = await guard({ method: ctx.method, url: ctx.originalUrl, headers: ctx.headers }, { onError: (error) => onError(error, ctx) })
    if (!result.ok) {
      await writeOutcome(ctx, result.outcome, undefined, () => {})
      return
    }
    const { clientId, userId, scopes, token } = result.token
    const state: TokenState = { clientId, userId, scopes, token }
    ctx.state['oauth'] = state
    await next()
  }
}
