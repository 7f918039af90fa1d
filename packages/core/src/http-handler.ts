import type { AuthorizationHandle } from './authorization-endpoint.js'
import { configError } from './config-error.js'
import { errorPage } from './error-page.js'
import { OAuthError, isOAuthError, type OAuthErrorCode } from './errors.js'
import type { GrantUser } from './grant.js'
import { DEFAULT_BODY_LIMIT, readBody, type BodyFormat, type BodySource } from './http-body.js'
import { assertCorsOptions, corsHeaders, type CorsOptions } from './internal/cors.js'
import { DEFAULT_REQUEST_TIMEOUT, RequestTimeoutError, assertTimeout, deadline } from './internal/deadline.js'
import { defaultErrorLogger, safeLog } from './log.js'
import { brandRequest, getHeader, parseFormEncoded, type OAuthRequest, type RequestHeaders } from './request.js'
import { responseKind, type OAuthResponse } from './response.js'
import type { AuthorizationServer } from './server.js'
import { RETRY_AFTER_SECONDS, isTransientError, unexpectedError } from './transient.js'

export type { CorsOptions } from './internal/cors.js'

/** A request as an adapter hands it to the {@link HttpHandler}: plain values, no framework object. */
export interface HttpRequest {
  /** The HTTP method, any case. */
  readonly method: string
  /** The request path, without the query. */
  readonly path: string
  /** The raw query string, without `?` (empty when none). */
  readonly query: string
  /** The path and query as received (for `OAuthRequest.url`). */
  readonly url: string
  /** Lower-case header names. */
  readonly headers: RequestHeaders
  /** How to get the body (see {@link BodySource}). */
  readonly body: BodySource
  /**
   * The client's IP address as the framework sees it (behind proxies the
   * app trusts: Koa `ctx.ip` with `app.proxy`, Express `req.ip` with
   * `trust proxy`, Fastify `request.ip` with `trustProxy`, Node
   * `req.socket.remoteAddress`). Handed to the server as the request's
   * `remoteAddress`, so that failed credential attempts are also throttled
   * per address (the server's `throttle` option). Never read from a
   * header here: a forged `X-Forwarded-For` must not choose the key.
   */
  readonly remoteAddress?: string | undefined
}

/**
 * What the handler answers; the adapter writes it and does nothing else:
 *
 * - `json`, `html`: `status`, `headers` and the serialised `body`;
 * - `redirect`: `status` (302 after a GET, 303 after a POST) and the
 *   `location` header;
 * - `empty`: `status` and `headers`, no body;
 * - `error_page`: an authorization error shown to the user, never
 *   redirected; write `html` (the default page) or render `error` and
 *   `description` with the app's own renderer;
 * - `handled`: the app's `authorize` hook answered the request itself.
 */
export type HttpOutcome =
  | { readonly kind: 'json' | 'html'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string }
  | { readonly kind: 'redirect' | 'empty'; readonly status: number; readonly headers: Readonly<Record<string, string>> }
  | {
      readonly kind: 'error_page'
      readonly status: number
      readonly headers: Readonly<Record<string, string>>
      readonly error: OAuthErrorCode
      readonly description: string
      readonly html: string
    }
  | { readonly kind: 'handled' }

/** What the app's login and consent step is given at the authorization endpoint. */
export interface AuthorizeInteraction {
  /**
   * The validated authorization request (RFC 6749 §4.1.1 / §4.2.1): client,
   * granted scopes, redirect URI, state. Show the client's name and the
   * scopes on the consent page.
   */
  readonly request: AuthorizationHandle
  /** The `application/x-www-form-urlencoded` body of a POST (the login and consent form the app rendered); empty for GET. */
  readonly form: URLSearchParams
  /**
   * Where the app's login/consent form must post to: the endpoint path with
   * the authorization parameters (only those, never a password the user
   * typed) as its query, so that the POST carries the same request.
   */
  readonly actionUrl: string
  /**
   * Headers every page of the authorization endpoint carries (no-store,
   * anti-framing: RFC 6749 §10.13): adapters set them before calling the
   * app's hook, so a page the hook renders has them too.
   */
  readonly headers: Readonly<Record<string, string>>
}

/**
 * The app's answer at the authorization endpoint:
 * - `{ user }`: the resource owner approved; the client gets its code or token;
 * - `{ deny: true }`: the resource owner refused; the client gets `access_denied`;
 * - `undefined`: the app answered the request itself (rendered the login or consent page).
 */
export type AuthorizeDecision = { readonly user: GrantUser } | { readonly deny: true } | undefined

/** Options of {@link createHttpHandler}, shared by every adapter under the same names. */
export interface HttpHandlerOptions {
  /** Maximum request body size in bytes; larger bodies get 413 `invalid_request`. Default 64 KiB. */
  bodyLimit?: number
  /** CORS for browser-based clients on the token, revocation, introspection, metadata and JWKS endpoints. Off by default. */
  cors?: CorsOptions
  /** Serve RFC 8414 metadata. Default `true`. */
  metadata?: boolean
  /**
   * Milliseconds a request may take — reading its body, the server, the
   * store and the `authorize` hook — before it is answered, so that a slow
   * client or a hanging store cannot hold it open: 503 `server_error` with
   * `Retry-After` when the server's work (the store, a hook) outlived it (the
   * authorization endpoint: the 503 `temporarily_unavailable` page), 500
   * `server_error` when the client's body stopped arriving. Default 10 000;
   * `false` for none.
   */
  requestTimeout?: number | false
  /**
   * Called with unexpected errors, answered without details: 503 with
   * `Retry-After` when `isTransientError` says the failure is a passing
   * outage (a database restarting or unreachable), else 500 `server_error`.
   * Default: one line with the error's name and code, identical lines at
   * most once a second.
   */
  onError?: (error: unknown) => void
}

/** The framework-neutral HTTP layer every adapter converts to and from. */
export interface HttpHandler {
  /** The paths served (under the issuer's path), for adapters that register routes. */
  readonly paths: readonly string[]
  /** Whether `path` is one of {@link paths}. */
  serves(path: string): boolean
  /**
   * Answers a request to one of {@link paths}. Never rejects: every failure
   * is an outcome.
   */
  handle(request: HttpRequest, hooks?: HttpRequestHooks): Promise<HttpOutcome>
}

/** The per-request hooks an adapter passes to {@link HttpHandler.handle}. */
export interface HttpRequestHooks {
  /** The app's login and consent step (required when the authorization endpoint is served). */
  readonly authorize?: ((interaction: AuthorizeInteraction) => AuthorizeDecision | Promise<AuthorizeDecision>) | undefined
  /** Receives this request's unexpected errors instead of the handler's `onError` (e.g. with the framework's context bound). */
  readonly onError?: ((error: unknown) => void) | undefined
}

/** Headers of every page the authorization endpoint answers. */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  // RFC 6749 §10.13 (clickjacking): the consent page must not be framed.
  'x-frame-options': 'DENY',
  // No `form-action`: browsers apply it to the redirect that follows the form post.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
}

/**
 * The authorization request parameters of RFC 6749 §4.1.1 and of the
 * extensions grantkit knows (RFC 7636 §4.3, OpenID Connect Core §3.1.2.1,
 * RFC 8707 §2, RFC 9126 §4, RFC 9449 §10, RFC 9396 §2): what `actionUrl`
 * carries. Grants add theirs with `AUTHORIZATION_PARAMETERS`.
 */
const AUTHORIZATION_PARAMETERS = [
  'response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'response_mode',
  'code_challenge', 'code_challenge_method',
  'nonce', 'display', 'prompt', 'max_age', 'ui_locales', 'id_token_hint', 'login_hint', 'acr_values', 'claims', 'claims_locales',
  'resource', 'request', 'request_uri', 'dpop_jkt', 'authorization_details',
]

const METADATA_PATH = '/.well-known/oauth-authorization-server'

type Route =
  | { readonly type: 'authorization' }
  | {
      readonly type: 'form'
      /** The endpoint's name in telemetry: `token`, or the registered endpoint's name. */
      readonly name: string
      readonly methods: readonly string[]
      readonly body: BodyFormat
      readonly cors: boolean
      answer(request: OAuthRequest): Promise<OAuthResponse>
    }
  | { readonly type: 'document'; readonly contentType: string; document(): unknown }

function json(status: number, headers: Record<string, string>, body: unknown): HttpOutcome {
  return { kind: 'json', status, headers: { 'content-type': 'application/json;charset=UTF-8', ...headers }, body: JSON.stringify(body) }
}

function oauthErrorJson(error: OAuthError, headers: Record<string, string> = {}): HttpOutcome {
  return json(error.status, { 'cache-control': 'no-store', pragma: 'no-cache', ...error.headers, ...headers }, error.toJSON())
}

/**
 * The JSON answer to an unexpected error: 503 `server_error` with
 * `Retry-After` for a passing outage (RFC 6749 §5.2 has no other code for
 * it at the token endpoint), else 500 `server_error`; never its details.
 */
function unexpectedJson(error: unknown, headers: Record<string, string> = {}): HttpOutcome {
  return oauthErrorJson(unexpectedError(error), headers)
}

/**
 * The error page for an unexpected error at the authorization endpoint, before
 * anything can be redirected: 503 `temporarily_unavailable` with
 * `Retry-After` for a passing outage (the RFC 6749 §4.1.2.1 code), else 500
 * `server_error`.
 */
function unexpectedPage(error: unknown): HttpOutcome {
  return isTransientError(error)
    ? errorPageOutcome(503, 'temporarily_unavailable', 'the server is temporarily unavailable, retry later', { 'retry-after': String(RETRY_AFTER_SECONDS) })
    : errorPageOutcome(500, 'server_error', 'the server failed to process the request')
}

/** Converts a core response to an outcome; redirects get 303 after a POST (RFC 9700 §4.12). */
export function toOutcome(response: OAuthResponse, method: string, extraHeaders: Record<string, string> = {}): HttpOutcome {
  const headers = { ...extraHeaders, ...response.headers }
  switch (responseKind(response)) {
    case 'redirect':
      // RFC 9700 §4.12: after a POST, 303 so that the browser does not re-post the form to the client.
      return { kind: 'redirect', status: method === 'POST' ? 303 : 302, headers: { ...headers, 'cache-control': 'no-store' } }
    case 'error_page': {
      const error = String(response.body?.['error'] ?? 'server_error') as OAuthErrorCode
      const description = String(response.body?.['error_description'] ?? 'the server failed to process the request')
      return { kind: 'error_page', status: response.status, headers: { ...headers, 'content-type': 'text/html; charset=utf-8' }, error, description, html: errorPage(error, description) }
    }
    case 'empty':
      return { kind: 'empty', status: response.status, headers }
    default:
      return json(response.status, headers, response.body ?? {})
  }
}

function errorPageOutcome(status: number, error: OAuthErrorCode, description: string, headers: Record<string, string> = {}): HttpOutcome {
  return { kind: 'error_page', status, headers: { ...PAGE_HEADERS, ...headers, 'content-type': 'text/html; charset=utf-8' }, error, description, html: errorPage(error, description) }
}

/**
 * The HTTP layer of an authorization server, shared by every adapter: which
 * paths are served and with which methods, which parameters each endpoint
 * reads (query for GET, body for POST), body media types and limits, CORS,
 * timeouts, the authorization endpoint's interaction with the app's login
 * page, and how each answer is written (status, headers, body). An adapter
 * converts its framework's request to an {@link HttpRequest} and writes the
 * {@link HttpOutcome}; it holds no protocol rule.
 *
 * Paths come from `server.options.endpoints`, under the issuer's path, and
 * the metadata is at `/.well-known/oauth-authorization-server` plus the
 * issuer's path (RFC 8414 §3.1).
 */
export function createHttpHandler(server: AuthorizationServer, options: HttpHandlerOptions = {}): HttpHandler {
  if (typeof server !== 'object' || server === null || typeof server.createTokenResponse !== 'function') {
    throw configError('createHttpHandler: expected an AuthorizationServer')
  }
  if (typeof options !== 'object' || options === null) throw configError('createHttpHandler: options must be an object')
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  if (!Number.isSafeInteger(limit) || limit <= 0) throw configError('createHttpHandler: "bodyLimit" must be a positive integer')
  assertCorsOptions(options.cors, 'createHttpHandler')
  assertTimeout(options.requestTimeout, 'createHttpHandler: "requestTimeout"')
  if (options.onError !== undefined && typeof options.onError !== 'function') throw configError('createHttpHandler: "onError" must be a function')
  const cors = options.cors
  const timeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT
  const onError = options.onError ?? defaultErrorLogger('the HTTP handler')
  const base = new URL(server.issuer).pathname.replace(/\/$/, '')
  const paths = server.options.endpoints

  const routes = new Map<string, Route>()
  if (server.hasAuthorizationEndpoint()) routes.set(base + paths.authorization, { type: 'authorization' })
  routes.set(base + paths.token, { type: 'form', name: 'token', methods: ['POST'], body: 'form', cors: true, answer: (r) => server.createTokenResponse(r) })
  for (const [name, route] of server.routedEndpoints()) {
    routes.set(base + route.path, {
      type: 'form',
      name,
      methods: route.methods ?? ['POST'],
      body: route.body ?? 'form',
      cors: route.cors ?? true,
      answer: (r) => server.createEndpointResponse(name, r),
    })
  }
  if (options.metadata !== false) routes.set(METADATA_PATH + base, { type: 'document', contentType: 'application/json;charset=UTF-8', document: () => server.metadata() })
  // RFC 8414 §2 `jwks_uri`: the public keys of a token strategy that signs (RFC 9068 JWT access tokens).
  if (server.jwks() !== null) routes.set(base + paths.jwks, { type: 'document', contentType: 'application/jwk-set+json', document: () => server.jwks() })

  // Errors the server answers are counted by the server; these are the handler's own (methods, bodies, timeouts).
  const counted = (endpoint: string, outcome: HttpOutcome): HttpOutcome => {
    if (server.telemetry.counting && (outcome.kind === 'json' || outcome.kind === 'error_page')) {
      const error = outcome.kind === 'error_page' ? outcome.error : errorCodeOf(outcome.body)
      if (error !== undefined) server.telemetry.count('grantkit.errors', 1, { endpoint, error, status: outcome.status })
    }
    return outcome
  }

  // Per route, not per request: the Allow header and the methods CORS names.
  const allowOf = new Map<readonly string[], { readonly allow: string; readonly listed: string }>()
  const formEndpoint = async (route: Extract<Route, { type: 'form' }>, request: HttpRequest, method: string, report: (error: unknown) => void): Promise<HttpOutcome> => {
    let methods = allowOf.get(route.methods)
    if (methods === undefined) allowOf.set(route.methods, (methods = { allow: [...route.methods, 'OPTIONS'].join(', '), listed: route.methods.join(', ') }))
    const { allow, listed } = methods
    const origin = getHeader(request.headers, 'origin')
    const corsFor = (preflight: boolean) =>
      route.cors && cors !== undefined ? corsHeaders(cors, origin, listed, preflight, getHeader(request.headers, 'access-control-request-method')) : {}
    if (method === 'OPTIONS') return { kind: 'empty', status: 204, headers: { allow, ...corsFor(true) } }
    const headers = corsFor(false)
    // RFC 6749 §3.2: "The client MUST use the HTTP "POST" method when making access token requests."
    if (!route.methods.includes(method)) {
      return counted(route.name, oauthErrorJson(new OAuthError('invalid_request', 'this HTTP method is not allowed here', { status: 405, headers: { allow } }), headers))
    }
    const within = deadline(timeout)
    try {
      const query = parseFormEncoded(request.query)
      const body = method === 'GET' || method === 'HEAD' ? { form: new URLSearchParams() } : await within(readBody(request.body, request.headers, route.body, limit), 'body')
      const oauthRequest = brandRequest<OAuthRequest & { json?: unknown; remoteAddress?: string }>({ method, url: request.url, headers: request.headers, query, body: body.form })
      if (body.json !== undefined) oauthRequest.json = body.json
      if (typeof request.remoteAddress === 'string') oauthRequest.remoteAddress = request.remoteAddress
      return toOutcome(await within(route.answer(oauthRequest)), method, headers)
    } catch (error) {
      if (isOAuthError(error) && error.status < 500) return counted(route.name, oauthErrorJson(error, headers))
      report(error)
      return counted(route.name, unexpectedJson(error, headers))
    }
  }

  const documentEndpoint = (route: Extract<Route, { type: 'document' }>, request: HttpRequest, method: string): HttpOutcome => {
    const allow = 'GET, HEAD, OPTIONS'
    const origin = getHeader(request.headers, 'origin')
    if (method === 'OPTIONS') return { kind: 'empty', status: 204, headers: { allow, ...corsHeaders(cors, origin, 'GET', true, getHeader(request.headers, 'access-control-request-method')) } }
    const headers = corsHeaders(cors, origin, 'GET', false, undefined)
    if (method !== 'GET' && method !== 'HEAD') {
      return oauthErrorJson(new OAuthError('invalid_request', 'this HTTP method is not allowed here', { status: 405, headers: { allow } }), headers)
    }
    return { kind: 'json', status: 200, headers: { ...headers, 'cache-control': 'public, max-age=300', 'content-type': route.contentType }, body: JSON.stringify(route.document()) }
  }

  const authorizationEndpoint = async (
    request: HttpRequest,
    method: string,
    authorize: HttpRequestHooks['authorize'],
    report: (error: unknown) => void,
  ): Promise<HttpOutcome> => {
    const allow = 'GET, HEAD, POST, OPTIONS'
    if (method === 'OPTIONS') return { kind: 'empty', status: 204, headers: { ...PAGE_HEADERS, allow } }
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return counted('authorization', errorPageOutcome(405, 'invalid_request', 'this HTTP method is not allowed here', { allow }))
    if (authorize === undefined) throw configError('HttpHandler: the authorization endpoint needs an "authorize" hook')
    const within = deadline(timeout)
    let handle: AuthorizationHandle | undefined
    try {
      let oauthRequest: OAuthRequest
      try {
        const query = parseFormEncoded(request.query)
        const form = method === 'POST' ? (await within(readBody(request.body, request.headers, 'form', limit), 'body')).form : new URLSearchParams()
        // HEAD is answered as GET (RFC 9110 §9.3.2).
        oauthRequest = brandRequest<OAuthRequest & { remoteAddress?: string }>({
          method: method === 'HEAD' ? 'GET' : method,
          url: request.url,
          headers: request.headers,
          query,
          body: form,
          ...(typeof request.remoteAddress === 'string' ? { remoteAddress: request.remoteAddress } : {}),
        })
      } catch (error) {
        if (!isOAuthError(error)) throw error
        return counted('authorization', errorPageOutcome(error.status, error.code, error.description))
      }
      try {
        handle = await within(server.validateAuthorizationRequest(oauthRequest))
      } catch (error) {
        if (error instanceof RequestTimeoutError) throw error
        return toOutcome(server.authorizationErrorResponse(error), method, PAGE_HEADERS)
      }
      const decision = await within(authorize({ request: handle, form: oauthRequest.body, actionUrl: actionUrl(request.path, handle), headers: PAGE_HEADERS }))
      if (decision === undefined) return { kind: 'handled' }
      let user: GrantUser | null
      if ('deny' in decision && decision.deny === true) user = null
      else if ('user' in decision && isUser(decision.user)) user = decision.user
      else throw new TypeError('authorize hook: must return { user }, { deny: true } or undefined')
      return toOutcome(await within(server.createAuthorizationResponse(handle, user)), method, PAGE_HEADERS)
    } catch (error) {
      // A protocol error the app's hook raised after validation goes back to the client (RFC 6749
      // §4.1.2.1), `temporarily_unavailable` included; only an unexpected failure is the 500 page.
      if (isOAuthError(error) && error.code !== 'server_error') {
        if (handle !== undefined && error.redirect === undefined) error.redirect = handle.redirect
        return toOutcome(server.authorizationErrorResponse(error), method, PAGE_HEADERS)
      }
      report(error)
      return counted('authorization', unexpectedPage(error))
    }
  }

  return {
    paths: Object.freeze([...routes.keys()]),
    serves: (path) => routes.has(path),
    async handle(request, hooks = {}) {
      const method = request.method.toUpperCase()
      const route = routes.get(request.path)
      const log = hooks.onError ?? onError
      const report = (error: unknown) => safeLog(log, error)
      if (route === undefined) return json(404, { 'cache-control': 'no-store' }, { error: 'invalid_request', error_description: 'no such endpoint' })
      try {
        if (route.type === 'authorization') return await authorizationEndpoint(request, method, hooks.authorize, report)
        if (route.type === 'form') return await formEndpoint(route, request, method, report)
        return documentEndpoint(route, request, method)
      } catch (error) {
        report(error)
        return route.type === 'authorization' ? counted('authorization', unexpectedPage(error)) : route.type === 'form' ? counted(route.name, unexpectedJson(error)) : unexpectedJson(error)
      }
    },
  }
}

/** The `error` of a serialised JSON error body, if it is one. */
function errorCodeOf(body: string): string | undefined {
  if (!body.startsWith('{"error":')) return undefined
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error
    return typeof error === 'string' ? error : undefined
  } catch {
    return undefined
  }
}

function isUser(value: unknown): value is GrantUser {
  return typeof value === 'object' && value !== null && typeof (value as GrantUser).id === 'string' && (value as GrantUser).id !== ''
}

/** The endpoint path with the request's authorization parameters, and only those, as the query. */
function actionUrl(path: string, handle: AuthorizationHandle): string {
  // A pushed request (RFC 9126 §4) posts back as it came, client_id and
  // request_uri only: its parameters stay out of the browser.
  const pushed = handle.params.get('request_uri')
  if (pushed !== null) return `${path}?${new URLSearchParams({ client_id: handle.client.clientId, request_uri: pushed }).toString()}`
  const allowed = new Set([...AUTHORIZATION_PARAMETERS, ...handle.grant.grantClass.AUTHORIZATION_PARAMETERS])
  const out = new URLSearchParams()
  for (const [name, value] of handle.params) if (allowed.has(name)) out.append(name, value)
  return `${path}?${out.toString()}`
}
