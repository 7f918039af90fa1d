import type { Context, Next } from 'koa'
import { Router } from '@koa/router'
import {
  OAuthError,
  errorResponse,
  type AuthorizationRequest,
  type AuthorizationServer,
  type GrantUser,
  type OAuthRequest,
  type OAuthResponse,
} from '@grantkit/core'
import { errorPage } from './escape-html.js'
import { applyCors, assertCorsOptions } from './internal/cors.js'
import { DEFAULT_BODY_LIMIT, readForm, readQuery } from './read-form.js'
import { logUnexpected } from './internal/log.js'
import { sendResponse } from './internal/send.js'
import { DEFAULT_REQUEST_TIMEOUT, RequestTimeoutError, assertTimeout, deadline } from './internal/timeout.js'

/** CORS for browser-based clients (token, revocation, introspection and metadata endpoints). */
export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`, exact match), or `'*'` for any. */
  origins: readonly string[] | '*'
  /** `Access-Control-Max-Age` of preflight answers in seconds. Default 600. */
  maxAge?: number
}

/** What the {@link OAuthRouterOptions.authorize} hook is given besides the Koa context. */
export interface AuthorizeContext {
  /**
   * The validated authorization request (RFC 6749 §4.1.1 / §4.2.1): client,
   * granted scopes, redirect URI, state. Show the client's name and the
   * scopes on the consent page.
   */
  readonly request: AuthorizationRequest
  /**
   * The `application/x-www-form-urlencoded` body of a POST (the login and
   * consent form the app rendered); empty for GET.
   */
  readonly form: URLSearchParams
  /**
   * Where the login/consent form must post to: the endpoint path with the
   * authorization request as its query, so that the POST carries the same
   * request.
   */
  readonly actionUrl: string
}

/**
 * The answer of the {@link OAuthRouterOptions.authorize} hook:
 * - `{ user }`: the resource owner approved; the client gets its code or token;
 * - `{ deny: true }`: the resource owner refused; the client gets `access_denied`;
 * - `undefined`: the hook answered itself (rendered the login or consent page).
 */
export type AuthorizeResult = { readonly user: GrantUser } | { readonly deny: true } | undefined

/** The app's login and consent step at the authorization endpoint. */
export type AuthorizeHook = (ctx: Context, authorization: AuthorizeContext) => AuthorizeResult | Promise<AuthorizeResult>

/** Renders an authorization error that must not be redirected (RFC 6749 §4.1.2.1). */
export type RenderErrorHook = (ctx: Context, error: { readonly status: number; readonly error: string; readonly description: string }) => void | Promise<void>

/** Options of {@link oauthRouter}. */
export interface OAuthRouterOptions {
  /**
   * Finds the logged-in user and renders login/consent. Called with a
   * validated authorization request only; invalid requests never reach it.
   */
  authorize: AuthorizeHook
  /** Maximum request body size in bytes; larger bodies get 413 `invalid_request`. Default 64 KiB. */
  bodyLimit?: number
  /** CORS for browser-based clients on the token, revocation, introspection and metadata endpoints. Off by default. */
  cors?: CorsOptions
  /** Renders a non-redirectable authorization error; default: a plain, escaped HTML page. */
  renderError?: RenderErrorHook
  /** Serve RFC 8414 metadata. Default `true`. */
  metadata?: boolean
  /** Called with unexpected errors (answered `server_error` without details). Default: one `console.error` line (name and message, never a stack). */
  onError?: (error: unknown, ctx: Context) => void
  /**
   * Milliseconds an endpoint may spend in the server, the store and the
   * `authorize` hook before it answers 500 `server_error` (the authorization
   * endpoint: the 500 error page), so that a hanging store cannot hold
   * requests open. Default 10 000; `false` for none. Reading the body is
   * bounded by the HTTP server's own `requestTimeout`, not by this.
   */
  requestTimeout?: number | false
}

const EMPTY = new URLSearchParams()
const METADATA_PATH = '/.well-known/oauth-authorization-server'

/** Security headers of every page the authorization endpoint answers. */
const PAGE_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  // RFC 6749 §10.13 (clickjacking): the consent page must not be framed.
  'x-frame-options': 'DENY',
  // No `form-action`: browsers apply it to the redirect that follows the form post.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
}

function assertOptions(options: OAuthRouterOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('oauthRouter: options are required')
  if (typeof options.authorize !== 'function') throw new TypeError('oauthRouter: "authorize" must be a function')
  const limit = options.bodyLimit
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit <= 0)) throw new TypeError('oauthRouter: "bodyLimit" must be a positive integer')
  if (options.renderError !== undefined && typeof options.renderError !== 'function') throw new TypeError('oauthRouter: "renderError" must be a function')
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('oauthRouter: "onError" must be a function')
  assertCorsOptions(options.cors)
  assertTimeout(options.requestTimeout, 'oauthRouter: "requestTimeout"')
}

function isUser(value: unknown): value is GrantUser {
  return typeof value === 'object' && value !== null && typeof (value as GrantUser).id === 'string' && (value as GrantUser).id !== ''
}

/**
 * A `@koa/router` Router serving the OAuth 2.0 endpoints of `server`:
 *
 * - the authorization endpoint, GET and POST (RFC 6749 §3.1), which hands a
 *   validated request to the `authorize` hook for login and consent;
 * - the token endpoint (RFC 6749 §3.2), POST only;
 * - the revocation (RFC 7009) and introspection (RFC 7662) endpoints when
 *   registered on the server;
 * - RFC 8414 metadata at `/.well-known/oauth-authorization-server` (with the
 *   issuer's path appended, RFC 8414 §3.1).
 *
 * Paths come from `server.options.endpoints`, under the issuer's path. Bodies
 * are read here (form-encoded only, size-limited, strictly decoded); every
 * failure is an RFC error body or a redirect, never an HTML stack trace.
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
  if (typeof server !== 'object' || server === null || typeof server.createTokenResponse !== 'function') {
    throw new TypeError('oauthRouter: expected an AuthorizationServer')
  }
  assertOptions(options)
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  const timeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT
  const cors = options.cors
  const onError = options.onError ?? logUnexpected('the Koa adapter')
  const renderError: RenderErrorHook =
    options.renderError ??
    ((ctx, error) => {
      ctx.status = error.status
      ctx.type = 'text/html; charset=utf-8'
      ctx.body = errorPage(error.error, error.description)
    })
  const base = new URL(server.issuer).pathname.replace(/\/$/, '')
  const paths = server.options.endpoints
  const router = new Router()

  const report = (error: unknown, ctx: Context) => {
    try {
      onError(error, ctx)
    } catch {
      // A failing logger must not turn into a crash.
    }
  }

  // ---- JSON endpoints ---------------------------------------------------------

  /** Wraps a JSON endpoint: an unexpected error is `server_error` without details. */
  const json = (handler: (ctx: Context) => Promise<void>) => async (ctx: Context, _next: Next) => {
    try {
      await handler(ctx)
    } catch (error) {
      if (error instanceof OAuthError) {
        sendResponse(ctx, errorResponse(error))
        return
      }
      report(error, ctx)
      sendResponse(ctx, errorResponse(new OAuthError('server_error', 'the server failed to process the request')))
    }
  }

  /** A form-POST endpoint (token, revocation, introspection). */
  const formPost = (answer: (request: OAuthRequest) => Promise<OAuthResponse>) =>
    json(async (ctx) => {
      // Every answer below is an OAuthResponse from jsonResponse/errorResponse, which
      // carry RFC 6749 §5.1's "Cache-Control: no-store"; only the preflight is not.
      if (applyCors(ctx, cors, 'POST')) return
      // RFC 6749 §3.2: "The client MUST use the HTTP "POST" method when making access token requests."
      if (ctx.method !== 'POST') {
        throw new OAuthError('invalid_request', `${ctx.method} is not allowed here; use POST`, { status: 405, headers: { allow: 'POST, OPTIONS' } })
      }
      const query = readQuery(ctx.querystring)
      const body = await readForm(ctx.req, limit)
      const within = deadline(timeout)
      sendResponse(ctx, await within(answer({ method: 'POST', url: ctx.originalUrl, headers: ctx.headers, query, body })))
    })

  router.all(base + paths.token, formPost((request) => server.createTokenResponse(request)))
  for (const [name, path] of [
    ['revocation', paths.revocation],
    ['introspection', paths.introspection],
  ] as const) {
    if (server.hasEndpoint(name)) router.all(base + path, formPost((request) => server.createEndpointResponse(name, request)))
  }

  if (options.metadata !== false) {
    router.all(
      METADATA_PATH + base,
      json(async (ctx) => {
        if (applyCors(ctx, cors, 'GET')) return
        if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
          throw new OAuthError('invalid_request', `${ctx.method} is not allowed here; use GET`, { status: 405, headers: { allow: 'GET, HEAD, OPTIONS' } })
        }
        ctx.set('cache-control', 'public, max-age=300')
        ctx.set('content-type', 'application/json;charset=UTF-8')
        ctx.status = 200
        ctx.body = JSON.stringify(server.metadata())
      }),
    )
  }

  // RFC 8414 §2 `jwks_uri`: the public keys of a token strategy that signs (RFC 9068 JWT access tokens).
  if (server.jwks() !== null) {
    router.all(
      base + paths.jwks,
      json(async (ctx) => {
        if (applyCors(ctx, cors, 'GET')) return
        if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
          throw new OAuthError('invalid_request', `${ctx.method} is not allowed here; use GET`, { status: 405, headers: { allow: 'GET, HEAD, OPTIONS' } })
        }
        ctx.set('cache-control', 'public, max-age=300')
        ctx.set('content-type', 'application/jwk-set+json')
        ctx.status = 200
        ctx.body = JSON.stringify(server.jwks())
      }),
    )
  }

  // ---- authorization endpoint ---------------------------------------------------------

  /** Answers the core's authorization response: a redirect, or an error page. */
  const sendAuthorization = async (ctx: Context, response: OAuthResponse) => {
    const location = response.headers['location']
    if (location !== undefined) {
      ctx.set('cache-control', 'no-store')
      ctx.set('location', location)
      // RFC 9700 §4.12: after a POST use 303 so the browser does not re-post the form to the client.
      // Body first: Koa turns a null body into 204 unless the status is set after it.
      ctx.body = null
      ctx.status = ctx.method === 'POST' ? 303 : 302
      return
    }
    const body = response.body ?? {}
    await renderError(ctx, {
      status: response.status,
      error: String(body['error'] ?? 'server_error'),
      description: String(body['error_description'] ?? 'the server failed to process the request'),
    })
  }

  const authorizationEndpoint = async (ctx: Context, _next: Next) => {
    for (const [name, value] of Object.entries(PAGE_HEADERS)) ctx.set(name, value)
    try {
      if (ctx.method === 'OPTIONS') {
        ctx.set('allow', 'GET, HEAD, POST, OPTIONS')
        ctx.status = 204
        ctx.body = null
        return
      }
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && ctx.method !== 'POST') {
        ctx.set('allow', 'GET, HEAD, POST, OPTIONS')
        await renderError(ctx, { status: 405, error: 'invalid_request', description: `${ctx.method} is not allowed here` })
        return
      }
      let query: URLSearchParams
      let form: URLSearchParams
      try {
        query = readQuery(ctx.querystring)
        form = ctx.method === 'POST' ? await readForm(ctx.req, limit) : EMPTY
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error
        await renderError(ctx, { status: error.status, error: error.code, description: error.description })
        return
      }
      // RFC 6749 §3.1: the endpoint supports GET and MAY support POST. A POST
      // whose query holds the request is the app's own login/consent form
      // posting back (see `actionUrl`); otherwise the request is the body.
      const fromQuery = ctx.method !== 'POST' || query.has('client_id') || query.has('response_type')
      const params = fromQuery ? query : form
      const request: OAuthRequest = fromQuery
        ? { method: 'GET', url: ctx.originalUrl, headers: ctx.headers, query, body: EMPTY }
        : { method: 'POST', url: ctx.originalUrl, headers: ctx.headers, query, body: form }
      const within = deadline(timeout)
      let authorization: AuthorizationRequest
      try {
        authorization = await within(server.validateAuthorizationRequest(request))
      } catch (error) {
        if (error instanceof RequestTimeoutError) throw error
        await sendAuthorization(ctx, server.authorizationErrorResponse(error))
        return
      }
      const actionUrl = `${ctx.path}?${params.toString()}`
      const result = await within(options.authorize(ctx, { request: authorization, form, actionUrl }))
      if (result === undefined) return
      let user: GrantUser | null
      if ('deny' in result && result.deny === true) user = null
      else if ('user' in result && isUser(result.user)) user = result.user
      else throw new TypeError('oauthRouter: "authorize" must return { user }, { deny: true } or undefined')
      await sendAuthorization(ctx, await within(server.createAuthorizationResponse(request, user)))
    } catch (error) {
      if (error instanceof OAuthError && error.status < 500) {
        await sendAuthorization(ctx, server.authorizationErrorResponse(error))
        return
      }
      report(error, ctx)
      try {
        await renderError(ctx, { status: 500, error: 'server_error', description: 'the server failed to process the request' })
      } catch (renderFailure) {
        report(renderFailure, ctx)
        ctx.status = 500
        ctx.type = 'text/html; charset=utf-8'
        ctx.body = errorPage('server_error', 'the server failed to process the request')
      }
    }
  }

  router.all(base + paths.authorization, authorizationEndpoint)
  return router
}
