import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { bearerErrorResponse, createResourceGuard, defaultErrorLogger, toOutcome, type AccessTokenInfo, type AuthorizationServer, type ResourceGuardOptions } from '@grantkit/core'
import { safeLog } from './internal/log.js'
import { writeOutcome } from './internal/send.js'

/** What {@link requireToken} puts on `res.locals.oauth`. */
export interface TokenState {
  readonly clientId: string
  /** The resource owner, or `null` for a client-only token (client credentials). */
  readonly userId: string | null
  readonly scopes: readonly string[]
  /** The stored token record (hashes only). */
  readonly token: AccessTokenInfo['token']
}

/** The `res.locals` of a request {@link requireToken} accepted. */
export interface TokenLocals {
  readonly oauth: TokenState
}

/**
 * The middleware {@link requireToken} returns: Express's `RequestHandler`
 * with its default parameter, body and query types, and `res.locals.oauth`
 * typed for the handlers after it on the same route.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Express's own defaults for the response and request bodies
export type RequireTokenHandler = RequestHandler<Request['params'], any, any, Request['query'], TokenLocals & Record<string, any>>

/** Options of {@link requireToken}: core's resource-guard options, with an Express `onError`. */
export interface RequireTokenOptions extends Omit<ResourceGuardOptions, 'onError'> {
  /**
   * Called with unexpected errors (a failing store), which are answered
   * 500 `server_error` (503 with `Retry-After` when the store is down or
   * outlives `timeout`) without details. Default: one `console.error` line
   * with the error's name and code, never the request.
   */
  onError?: (error: unknown, req: Request) => void
}

/**
 * Express middleware for protected resources: accepts a request only with a
 * valid bearer token (RFC 6750 §2.1) holding `scope`, and sets
 * `res.locals.oauth` ({@link TokenState}) before calling `next()`;
 * otherwise it writes the RFC 6750 §3 answer that core's
 * `createResourceGuard` decides (the bare 401 challenge without a token,
 * 401 `invalid_token`, 403 `insufficient_scope`, 503 `server_error` with
 * `Retry-After` when the store is down, 500 `server_error` when it fails
 * otherwise) and does not call `next()`.
 *
 * @example
 * ```ts
 * app.get('/api/me', requireToken(server, { scope: 'profile', user: true }), (req, res) => {
 *   res.json({ sub: res.locals.oauth.userId })
 * })
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function requireToken(server: AuthorizationServer, options: RequireTokenOptions = {}): RequireTokenHandler {
  if (typeof options !== 'object' || options === null) throw new TypeError('requireToken: options must be an object')
  const { onError = defaultErrorLogger('requireToken'), ...guardOptions } = options
  if (typeof onError !== 'function') throw new TypeError('requireToken: "onError" must be a function')
  const guard = createResourceGuard(server, guardOptions)
  return (req: Request, res: Response<unknown, TokenLocals & Record<string, unknown>>, next: NextFunction) => {
    const report = (error: unknown) => safeLog(onError, error, req)
    guard({ method: req.method, url: req.originalUrl, headers: req.headers }, { onError: report }).then(
      (result) => {
        if (result.ok) {
          const { clientId, userId, scopes, token } = result.token
          ;(res.locals as { oauth: TokenState }).oauth = { clientId, userId, scopes, token }
          next()
          return
        }
        return writeOutcome(req, res, result.outcome, undefined, report)
      },
    ).catch((error: unknown) => {
      // Not reached unless Express itself throws: answer core's 500 server_error if nothing was written.
      report(error)
      if (res.headersSent) {
        if (!res.writableEnded) res.end()
        return
      }
      return writeOutcome(req, res, toOutcome(bearerErrorResponse(error), req.method), undefined, () => {})
    })
  }
}
