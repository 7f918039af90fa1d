import {
  createHttpHandler,
  defaultErrorLogger,
  type AuthorizationServer,
  type AuthorizeInteraction,
  type GrantUser,
  type HttpHandlerOptions,
} from '@grantkit/core'
import { toHttpRequest } from './internal/request.js'
import { toResponse, withHeaders } from './internal/respond.js'

export type { AuthorizeInteraction, CorsOptions } from '@grantkit/core'

/**
 * The answer of the {@link OAuthHandlerOptions.authorize} hook:
 * - `{ user }`: the resource owner approved; the client gets its code or token;
 * - `{ deny: true }`: the resource owner refused; the client gets `access_denied`;
 * - a `Response`: the app's own page (login, consent), answered as is with
 *   the authorization endpoint's page headers added (the app's own headers win).
 */
export type AuthorizeResult = { readonly user: GrantUser } | { readonly deny: true } | Response

/** The app's login and consent step at the authorization endpoint. */
export type AuthorizeHook = (request: Request, interaction: AuthorizeInteraction) => AuthorizeResult | Promise<AuthorizeResult>

/** Renders an authorization error that must not be redirected (RFC 6749 §4.1.2.1); the page headers are added to its `Response`. */
export type RenderErrorHook = (
  request: Request,
  error: { readonly status: number; readonly error: string; readonly description: string },
) => Response | Promise<Response>

/** Options of {@link oauthHandler}: the core HTTP handler's (`bodyLimit`, `cors`, `metadata`, `requestTimeout`), plus the hooks. */
export interface OAuthHandlerOptions extends Omit<HttpHandlerOptions, 'onError'> {
  /**
   * Finds the logged-in user (from the request's cookies, say) and answers
   * a decision, or renders login/consent as a `Response`. Called with a
   * validated authorization request only; invalid requests never reach it.
   */
  authorize: AuthorizeHook
  /** Renders a non-redirectable authorization error; default: a plain, escaped HTML page. */
  renderError?: RenderErrorHook
  /** Called with unexpected errors (answered `server_error` without details). Default: one `console.error` line (name and code, never a message or stack). */
  onError?: (error: unknown, request: Request) => void
}

/** A Fetch handler for the OAuth endpoints: `(request) => Promise<Response>`, plus what an app routes by. */
/** What the runtime knows of a request besides the `Request` itself. */
export interface OAuthRequestContext {
  /** The client's IP address, as the runtime (or a trusted proxy) gives it. Never read from a header the client controls. */
  readonly remoteAddress?: string | undefined
}

export interface OAuthHandler {
  /**
   * Answers a request to one of {@link paths}; any other path gets a 404
   * JSON `invalid_request` (check {@link serves} first to route elsewhere).
   * Never rejects. `context.remoteAddress` is the client's address as the
   * runtime knows it (a Fetch `Request` carries none: e.g. Bun's
   * `server.requestIP(request)?.address`, Deno's `info.remoteAddr.hostname`),
   * which lets the server throttle failed credentials per address too.
   */
  (request: Request, context?: OAuthRequestContext): Promise<Response>
  /** The paths served (under the issuer's path): authorization, token, revocation, introspection, metadata, JWK Set, as registered. */
  readonly paths: readonly string[]
  /** Whether `pathname` (a URL's path, no query) is one of {@link paths}. */
  serves(pathname: string): boolean
}

/**
 * A Web-standard (`Request` → `Response`) handler serving the OAuth 2.0
 * endpoints of `server` — the authorization endpoint (handing validated
 * requests to the `authorize` hook), the token endpoint, every registered
 * endpoint with a route (revocation, introspection, …), RFC 8414 metadata
 * and the JWK Set — as `createHttpHandler` from `@grantkit/core` decides.
 * Runs wherever `Request` and `Response` do: Hono, Next.js route handlers,
 * Bun, Deno, Cloudflare Workers. Mount it before anything that reads the
 * request body.
 *
 * @example
 * ```ts
 * const oauth = oauthHandler(server, {
 *   authorize: async (request, { request: authorization, actionUrl }) => {
 *     const user = await currentUser(request)
 *     return user ? { user } : new Response(loginPage(authorization, actionUrl), { headers: { 'content-type': 'text/html' } })
 *   },
 * })
 * Deno.serve((request) => oauth(request))
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export function oauthHandler(server: AuthorizationServer, options: OAuthHandlerOptions): OAuthHandler {
  if (typeof options !== 'object' || options === null) throw new TypeError('oauthHandler: options are required')
  if (typeof options.authorize !== 'function') throw new TypeError('oauthHandler: "authorize" must be a function')
  if (options.renderError !== undefined && typeof options.renderError !== 'function') throw new TypeError('oauthHandler: "renderError" must be a function')
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('oauthHandler: "onError" must be a function')
  const { authorize, renderError, onError = defaultErrorLogger('the fetch adapter'), ...handlerOptions } = options
  const core = createHttpHandler(server, handlerOptions)

  const handler = async (request: Request, context?: OAuthRequestContext): Promise<Response> => {
    const report = (error: unknown) => {
      try {
        onError(error, request)
      } catch {
        // A failing logger must not change the answer.
      }
    }
    let page: Response | undefined
    const remoteAddress = typeof context?.remoteAddress === 'string' && context.remoteAddress !== '' ? context.remoteAddress : undefined
    const outcome = await core.handle(toHttpRequest(request, remoteAddress), {
      authorize: async (interaction) => {
        const answer = await authorize(request, interaction)
        if (answer instanceof Response) {
          page = withHeaders(answer, interaction.headers)
          return undefined
        }
        // `undefined` means "answered" to core; here the app answers with a Response.
        if (answer === undefined) throw new TypeError('authorize hook: must return { user }, { deny: true } or a Response')
        return answer
      },
      onError: report,
    })
    if (outcome.kind === 'handled') return page as Response
    if (outcome.kind === 'error_page' && renderError !== undefined) {
      try {
        const rendered = await renderError(request, { status: outcome.status, error: outcome.error, description: outcome.description })
        if (!(rendered instanceof Response)) throw new TypeError('renderError: must return a Response')
        return withHeaders(rendered, outcome.headers)
      } catch (error) {
        report(error)
        // Fall through to the default page.
      }
    }
    return toResponse(outcome)
  }
  return Object.assign(handler, { paths: core.paths, serves: (pathname: string) => core.serves(pathname) })
}
