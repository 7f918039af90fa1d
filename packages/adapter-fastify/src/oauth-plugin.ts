import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import {
  configError,
  createHttpHandler,
  type AuthorizeDecision,
  type AuthorizeInteraction,
  type AuthorizationServer,
  type HttpHandlerOptions,
} from '@grantkit/core'
import { bodyOf, passBodiesToCore } from './internal/body.js'
import { logUnexpected } from './internal/log.js'
import { writeOutcome, type ErrorToRender } from './internal/send.js'

export type { CorsOptions } from '@grantkit/core'

/** What the {@link OAuthPluginOptions.authorize} hook is given besides the request and reply. */
export type AuthorizeContext = AuthorizeInteraction

/** The answer of the {@link OAuthPluginOptions.authorize} hook (see `AuthorizeDecision` in `@grantkit/core`). */
export type AuthorizeResult = AuthorizeDecision

/**
 * The app's login and consent step at the authorization endpoint. Answer
 * `{ user }`, `{ deny: true }`, or send a page with `reply` and answer
 * `undefined` (or return `reply` itself, e.g. `return reply.view(...)`).
 */
export type AuthorizeHook = (
  request: FastifyRequest,
  reply: FastifyReply,
  authorization: AuthorizeContext,
) => AuthorizeResult | FastifyReply | Promise<AuthorizeResult | FastifyReply>

/**
 * Renders an authorization error that must not be redirected (RFC 6749
 * §4.1.2.1): send the page with `reply`, whose status and page headers are
 * already set.
 */
export type RenderErrorHook = (request: FastifyRequest, reply: FastifyReply, error: ErrorToRender) => void | FastifyReply | Promise<void | FastifyReply>

/**
 * Options of {@link oauthPlugin}: the server, the core HTTP handler's
 * (`bodyLimit`, `cors`, `metadata`, `requestTimeout`), and the Fastify hooks.
 */
export interface OAuthPluginOptions extends Omit<HttpHandlerOptions, 'onError'> {
  /** The authorization server whose endpoints the plugin serves. */
  server: AuthorizationServer
  /**
   * Finds the logged-in user and renders login/consent. Called with a
   * validated authorization request only; invalid requests never reach it.
   */
  authorize: AuthorizeHook
  /** Renders a non-redirectable authorization error; default: a plain, escaped HTML page. */
  renderError?: RenderErrorHook | undefined
  /** Called with unexpected errors (answered `server_error` without details). Default: one `console.error` line (name and code, never a message or stack). */
  onError?: ((error: unknown, request: FastifyRequest) => void) | undefined
}

/** Every method is routed to core, which answers 405 with `Allow` itself. */
const METHODS = ['GET', 'HEAD', 'POST', 'OPTIONS', 'PUT', 'DELETE', 'PATCH']

const NAME = '@grantkit/adapter-fastify'

function queryOf(url: string): string {
  const mark = url.indexOf('?')
  return mark === -1 ? '' : url.slice(mark + 1)
}

async function plugin(fastify: FastifyInstance, options: OAuthPluginOptions): Promise<void> {
  if (typeof options !== 'object' || options === null) throw configError('oauthPlugin: options are required')
  const { server, authorize, renderError, onError = logUnexpected('the Fastify adapter') } = options
  if (typeof server !== 'object' || server === null || typeof server.createTokenResponse !== 'function') {
    throw configError('oauthPlugin: "server" must be an AuthorizationServer')
  }
  if (typeof authorize !== 'function') throw configError('oauthPlugin: "authorize" must be a function')
  if (renderError !== undefined && typeof renderError !== 'function') throw configError('oauthPlugin: "renderError" must be a function')
  if (typeof onError !== 'function') throw configError('oauthPlugin: "onError" must be a function')
  if (fastify.prefix !== '') {
    // The metadata names every endpoint under the issuer's path (RFC 8414 §3.1); a prefix would move them.
    throw configError(`oauthPlugin: register it without a prefix ("${fastify.prefix}"); the endpoints live under the issuer's path, so put the prefix in the issuer`)
  }
  const handlerOptions: HttpHandlerOptions = {}
  if (options.bodyLimit !== undefined) handlerOptions.bodyLimit = options.bodyLimit
  if (options.cors !== undefined) handlerOptions.cors = options.cors
  if (options.metadata !== undefined) handlerOptions.metadata = options.metadata
  if (options.requestTimeout !== undefined) handlerOptions.requestTimeout = options.requestTimeout
  const handler = createHttpHandler(server, handlerOptions)

  const serve = async (request: FastifyRequest, reply: FastifyReply, path: string): Promise<FastifyReply> => {
    const report = (error: unknown) => {
      try {
        onError(error, request)
      } catch {
        // A failing logger must never change the answer.
      }
    }
    const outcome = await handler.handle(
      // request.ip: the socket's address, or the forwarded one under Fastify's `trustProxy`.
      { method: request.method, path, query: queryOf(request.url), url: request.url, headers: request.headers, body: bodyOf(request), remoteAddress: request.ip },
      {
        authorize: (interaction) => {
          reply.headers(interaction.headers)
          // A returned `reply` is a thenable: core awaits it until it is sent, which reads as `undefined` (answered).
          return authorize(request, reply, interaction) as AuthorizeDecision | Promise<AuthorizeDecision>
        },
        onError: report,
      },
    )
    return writeOutcome(request, reply, outcome, renderError, report)
  }

  // Encapsulated (no fastify-plugin): these parsers and this error handler apply to the OAuth routes only.
  passBodiesToCore(fastify)
  fastify.setErrorHandler((error, request, reply) => {
    // Fastify refuses a Content-Type header it cannot parse (415) before any
    // parser runs; core decides what a malformed media type gets (400).
    const path = request.routeOptions.url
    if ((error as { code?: unknown }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' && path !== undefined && handler.serves(path)) return serve(request, reply, path)
    // Anything else (an app's hook) is the app's: its error handler answers it.
    throw error
  })
  for (const path of handler.paths) {
    fastify.route({ method: METHODS, url: path, handler: (request, reply) => serve(request, reply, path) })
  }
}

/**
 * A Fastify plugin serving the OAuth 2.0 endpoints of `options.server` — the
 * authorization endpoint (handing validated requests to the `authorize`
 * hook), the token endpoint, every registered endpoint with a route
 * (revocation, introspection, …), RFC 8414 metadata and the JWK Set — as
 * `createHttpHandler` from `@grantkit/core` decides. The plugin only
 * converts a Fastify request to core's and writes the answer.
 *
 * It is encapsulated: its content-type parsing (every body handed to core
 * unread, which accepts `application/x-www-form-urlencoded` only) and its
 * error handler apply to its own routes, never to the app's. Register it
 * without a `prefix`: the paths come from the issuer.
 *
 * @example
 * ```ts
 * await app.register(oauthPlugin, {
 *   server,
 *   authorize: async (request, reply, { request: authorization }) => {
 *     const user = await currentUser(request)
 *     if (user) return { user }
 *     reply.type('text/html').send(loginPage(authorization))
 *     return undefined
 *   },
 * })
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export const oauthPlugin: FastifyPluginAsync<OAuthPluginOptions> = Object.assign(plugin, {
  // What fastify-plugin would set, without its `skip-override`: Fastify checks the version and names the plugin.
  [Symbol.for('plugin-meta')]: { name: NAME, fastify: '5.x' },
  [Symbol.for('fastify.display-name')]: NAME,
})
