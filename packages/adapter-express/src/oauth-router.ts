import express, { type NextFunction, type Request, type Response, type Router } from 'express'
import {
  createHttpHandler,
  defaultErrorLogger,
  type AuthorizeDecision,
  type AuthorizeInteraction,
  type AuthorizationServer,
  type HttpHandlerOptions,
  type HttpOutcome,
  type HttpRequest,
} from '@grantkit/core'
import { safeLog } from './internal/log.js'
import { toHttpRequest } from './internal/request.js'
import { writeOutcome, writeServerErrorPage } from './internal/send.js'

export type { CorsOptions } from '@grantkit/core'

/** What the {@link OAuthRouterOptions.authorize} hook is given besides `req` and `res`. */
export type AuthorizeContext = AuthorizeInteraction

/** The answer of the {@link OAuthRouterOptions.authorize} hook (see `AuthorizeDecision` in `@grantkit/core`). */
export type AuthorizeResult = AuthorizeDecision

/**
 * The app's login and consent step at the authorization endpoint. The page
 * headers (no-store, anti-framing) are already set on `res` when it runs.
 */
export type AuthorizeHook = (req: Request, res: Response, authorization: AuthorizeContext) => AuthorizeResult | Promise<AuthorizeResult>

/**
 * Renders an authorization error that must not be redirected (RFC 6749
 * §4.1.2.1). `res` already carries the status and the page headers; answer
 * with `res.send`, `res.render`, …
 */
export type RenderErrorHook = (req: Request, res: Response, error: { readonly status: number; readonly error: string; readonly description: string }) => void | Promise<void>

/** Options of {@link oauthRouter}: the core HTTP handler's (`bodyLimit`, `cors`, `metadata`, `requestTimeout`), plus the Express hooks. */
export interface OAuthRouterOptions extends Omit<HttpHandlerOptions, 'onError'> {
  /**
   * Finds the logged-in user and renders login/consent. Called with a
   * validated authorization request only; invalid requests never reach it.
   * Answer `{ user }`, `{ deny: true }`, or `undefined` once you answered
   * the request yourself (`res.send`, `res.render`, `res.redirect`).
   */
  authorize: AuthorizeHook
  /** Renders a non-redirectable authorization error; default: a plain, escaped HTML page. */
  renderError?: RenderErrorHook
  /** Called with unexpected errors (answered `server_error` without details). Default: one `console.error` line (name and code, never a message or stack). */
  onError?: (error: unknown, req: Request) => void
}

/**
 * An Express `Router` serving the OAuth 2.0 endpoints of `server` — the
 * authorization endpoint (handing validated requests to the `authorize`
 * hook), the token endpoint, every registered endpoint with a route
 * (revocation, introspection, …), RFC 8414 metadata and the JWK Set — as
 * `createHttpHandler` from `@grantkit/core` decides, for every method (the
 * handler answers 405 itself). This adapter only converts an Express request
 * to core's and writes the answer.
 *
 * Mount it at the app root, `app.use(oauthRouter(server, options))`: the
 * paths are absolute (the issuer's path, and `/.well-known/…` for the
 * metadata) and are matched against `req.originalUrl`, so under a mount
 * path the router still only answers the absolute paths. Requests to other
 * paths go on to the next middleware. Mount it before any body parser for
 * strict form parsing and `bodyLimit`; a form parsed by
 * `express.urlencoded()` mounted earlier is accepted as it was parsed.
 *
 * @example
 * ```ts
 * app.use(oauthRouter(server, {
 *   authorize: async (req, res, { request }) => {
 *     const user = await currentUser(req)
 *     return user ? { user } : void res.send(loginPage(request))
 *   },
 * }))
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export function oauthRouter(server: AuthorizationServer, options: OAuthRouterOptions): Router {
  if (typeof options !== 'object' || options === null) throw new TypeError('oauthRouter: options are required')
  if (typeof options.authorize !== 'function') throw new TypeError('oauthRouter: "authorize" must be a function')
  if (options.renderError !== undefined && typeof options.renderError !== 'function') throw new TypeError('oauthRouter: "renderError" must be a function')
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('oauthRouter: "onError" must be a function')
  const { authorize, renderError, onError = defaultErrorLogger('the Express adapter'), ...handlerOptions } = options
  const handler = createHttpHandler(server, handlerOptions)
  // The requests being answered here, with the error page a renderer is drawing (its fallback).
  const ours = new WeakMap<Request, HttpOutcome | undefined>()

  const answer = async (request: HttpRequest, req: Request, res: Response, report: (error: unknown) => void): Promise<void> => {
    const outcome = await handler.handle(request, {
      authorize: (interaction) => {
        for (const name in interaction.headers) res.setHeader(name, interaction.headers[name] as string)
        return authorize(req, res, interaction)
      },
      onError: report,
    })
    if (outcome.kind === 'error_page') ours.set(req, outcome)
    await writeOutcome(req, res, outcome, renderError, report)
  }

  const router = express.Router()
  router.use((req: Request, res: Response, next: NextFunction) => {
    const request = toHttpRequest(req, handler.serves)
    if (request === undefined) return next()
    ours.set(req, undefined)
    const report = (error: unknown) => safeLog(onError, error, req)
    // Never hand Express a rejected promise: Express 4 would lose it, Express 5 would render its own error page.
    answer(request, req, res, report).catch((error: unknown) => {
      report(error)
      writeServerErrorPage(res)
    })
  })
  // An app's hook may fail after it returned, through Express's `next(error)`
  // (`res.render` does, when the view is missing or its template throws):
  // answer the default error page being rendered, or the 500 page, never
  // Express's own (a stack trace in development).
  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!ours.has(req)) return next(error)
    safeLog(onError, error, req)
    const fallback = ours.get(req)
    if (fallback === undefined || res.headersSent) return writeServerErrorPage(res)
    void writeOutcome(req, res, fallback, undefined, () => {})
  })
  return router
}
