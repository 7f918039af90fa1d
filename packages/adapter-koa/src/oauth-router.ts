import type { Context, Next } from 'koa'
import { Router } from '@koa/router'
import {
  createHttpHandler,
  nodeBodySource,
  type AuthorizeDecision,
  type AuthorizeInteraction,
  type AuthorizationServer,
  type BodySource,
  type HttpHandlerOptions,
} from '@grantkit/core'
import { logUnexpected } from './internal/log.js'
import { writeOutcome } from './internal/send.js'

export type { CorsOptions } from '@grantkit/core'

/** What the {@link OAuthRouterOptions.authorize} hook is given besides the Koa context. */
export type AuthorizeContext = AuthorizeInteraction

/** The answer of the {@link OAuthRouterOptions.authorize} hook (see `AuthorizeDecision` in `@grantkit/core`). */
export type AuthorizeResult = AuthorizeDecision

/** The app's login and consent step at the authorization endpoint. */
export type AuthorizeHook = (ctx: Context, authorization: AuthorizeContext) => AuthorizeResult | Promise<AuthorizeResult>

/** Renders an authorization error that must not be redirected (RFC 6749 §4.1.2.1). */
export type RenderErrorHook = (ctx: Context, error: { readonly status: number; readonly error: string; readonly description: string }) => void | Promise<void>

/** Options of {@link oauthRouter}: the core HTTP handler's (`bodyLimit`, `cors`, `metadata`, `requestTimeout`), plus the Koa hooks. */
export interface OAuthRouterOptions extends Omit<HttpHandlerOptions, 'onError'> {
  /**
   * Finds the logged-in user and renders login/consent. Called with a
   * validated authorization request only; invalid requests never reach it.
   */
  authorize: AuthorizeHook
  /** Renders a non-redirectable authorization error; default: a plain, escaped HTML page. */
  renderError?: RenderErrorHook
  /** Called with unexpected errors (answered `server_error` without details). Default: one `console.error` line (name and code, never a message or stack). */
  onError?: (error: unknown, ctx: Context) => void
}

/** The body of a Koa request: the stream, or what a body parser mounted before the router made of it. */
function bodyOf(ctx: Context): BodySource {
  return nodeBodySource(ctx.req, { parsed: (ctx.request as { body?: unknown }).body })
}

/**
 * A `@koa/router` Router serving the OAuth 2.0 endpoints of `server` — the
 * authorization endpoint (handing validated requests to the `authorize`
 * hook), the token endpoint, every registered endpoint with a route
 * (revocation, introspection, …), RFC 8414 metadata and the JWK Set — as
 * `createHttpHandler` from `@grantkit/core` decides. This adapter only
 * converts a Koa context to a request and writes the answer.
 *
 * @example
 * ```ts
 * app.use(oauthRouter(server, {
 *   authorize: async (ctx, { request }) => {
 *     const user = await currentUser(ctx)
 *     return user ? { user } : void renderLogin(ctx, request)
 *   },
 * }).routes())
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
  const { authorize, renderError, onError = logUnexpected('the Koa adapter'), ...handlerOptions } = options
  const handler = createHttpHandler(server, handlerOptions)
  const router = new Router()
  for (const path of handler.paths) {
    router.all(path, async (ctx: Context, _next: Next) => {
      const report = (error: unknown) => onError(error, ctx)
      const outcome = await handler.handle(
        // ctx.ip: the socket's address, or the forwarded one when the app sets `app.proxy` (trusted proxies only).
        { method: ctx.method, path: ctx.path, query: ctx.querystring, url: ctx.originalUrl, headers: ctx.headers, body: bodyOf(ctx), remoteAddress: ctx.ip },
        {
          authorize: (interaction) => {
            for (const name in interaction.headers) ctx.set(name, interaction.headers[name] as string)
            return authorize(ctx, interaction)
          },
          onError: report,
        },
      )
      await writeOutcome(ctx, outcome, renderError, report)
    })
  }
  return router
}
