import type { Middleware } from 'koa'
import { OAuthError, type AuthorizationServer, type TokenRecord } from '@grantkit/core'
import { logUnexpected } from './internal/log.js'
import { DEFAULT_REQUEST_TIMEOUT, assertTimeout, deadline } from './internal/timeout.js'

/** What {@link requireToken} puts on `ctx.state.oauth`. */
export interface TokenState {
  readonly clientId: string
  /** The resource owner, or `null` for a client-only token (client credentials). */
  readonly userId: string | null
  readonly scopes: readonly string[]
  /** The stored token record (hashes only). */
  readonly token: TokenRecord
}

/** Options of {@link requireToken}. */
export interface RequireTokenOptions {
  /** Scopes the token must hold (all of them), space-separated or a list. */
  scope?: string | readonly string[]
  /**
   * Require a token issued for a resource owner: a client-only token gets
   * 403 `insufficient_scope` (RFC 6750 §3.1). Default `false`.
   */
  user?: boolean
  /**
   * Milliseconds the token lookup may take before the request is answered
   * 500 `server_error` (a hanging store must not hold requests open).
   * Default 10 000; `false` for none. The route after it is not timed.
   */
  timeout?: number | false
  /**
   * Called with unexpected errors (a failing store), which are answered
   * 500 `server_error` without details. Default: one `console.error` line
   * with the error's name and message, never the request.
   */
  onError?: (error: unknown, ctx: Parameters<Middleware>[0]) => void
}

/**
 * Koa middleware for protected resources: accepts a request only with a
 * valid bearer token in the `Authorization` header (RFC 6750 §2.1; scheme
 * case-insensitive) holding `scope`, and sets `ctx.state.oauth`.
 *
 * Otherwise it answers as RFC 6750 §3 asks, with a `WWW-Authenticate: Bearer`
 * challenge: 401 with no error code when no token was sent, 401
 * `invalid_token` when the token is unknown, expired or revoked, 403
 * `insufficient_scope` when a scope (or, with `user: true`, a user) is missing.
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
export function requireToken(server: AuthorizationServer, options: RequireTokenOptions = {}): Middleware {
  if (typeof server !== 'object' || server === null || typeof server.authenticateBearerToken !== 'function') {
    throw new TypeError('requireToken: expected an AuthorizationServer')
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('requireToken: options must be an object')
  const scope = options.scope
  if (scope !== undefined && typeof scope !== 'string' && !(Array.isArray(scope) && scope.every((s) => typeof s === 'string'))) {
    throw new TypeError('requireToken: "scope" must be a string or an array of strings')
  }
  assertTimeout(options.timeout, 'requireToken: "timeout"')
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('requireToken: "onError" must be a function')
  const onError = options.onError ?? logUnexpected('requireToken')
  const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT
  const required = scope === undefined ? [] : typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [...scope]
  const realm = `realm="${server.issuer}"`
  return async (ctx, next) => {
    let state: TokenState
    try {
      const info = await deadline(timeout)(
        server.authenticateBearerToken(
          { method: ctx.method, url: ctx.originalUrl, headers: ctx.headers, query: new URLSearchParams(), body: new URLSearchParams() },
          { scope: required },
        ),
      )
      if (options.user === true && info.userId === null) {
        throw new OAuthError('insufficient_scope', 'the access token was not issued for a resource owner', {
          status: 403,
          headers: { 'www-authenticate': `Bearer ${realm}, error="insufficient_scope", error_description="the access token was not issued for a resource owner"` },
        })
      }
      state = { clientId: info.clientId, userId: info.userId, scopes: info.scopes, token: info.token }
    } catch (error) {
      const oauthError =
        error instanceof OAuthError ? error : new OAuthError('server_error', 'the server failed to process the request', { cause: error })
      if (!(error instanceof OAuthError)) {
        try {
          onError(error, ctx)
        } catch {
          // A failing logger must not turn into a crash.
        }
      }
      for (const [name, value] of Object.entries(oauthError.headers)) ctx.set(name, value)
      ctx.set('cache-control', 'no-store')
      ctx.status = oauthError.status
      // RFC 6750 §3.1: a request without credentials gets no error code.
      const noCredentials = oauthError.status === 401 && oauthError.code === 'invalid_request'
      if (noCredentials) {
        ctx.body = null
        ctx.status = 401
      } else {
        ctx.set('content-type', 'application/json;charset=UTF-8')
        ctx.body = JSON.stringify(oauthError.toJSON())
      }
      return
    }
    ctx.state['oauth'] = state
    await next()
  }
}
