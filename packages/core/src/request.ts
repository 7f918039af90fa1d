import { OAuthError } from './errors.js'
import { REQUEST_BRAND, hasBrand } from './internal/brand.js'

/** Request headers with lower-case names, as Node's `IncomingHttpHeaders`. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/**
 * A framework-neutral HTTP request. Adapters (Koa, …) convert to it; core
 * never sees a framework object.
 *
 * Query and form body are multi-maps (`URLSearchParams`) so that a repeated
 * parameter is detectable (RFC 6749 §3.1: "Request and response parameters
 * MUST NOT be included more than once").
 */
export interface OAuthRequest {
  /** Upper-case HTTP method. */
  readonly method: string
  /** The request path (and query), as received. */
  readonly url: string
  /** Lower-case header names. */
  readonly headers: RequestHeaders
  /** The query string parameters. */
  readonly query: URLSearchParams
  /** The `application/x-www-form-urlencoded` body parameters (empty when there is none). */
  readonly body: URLSearchParams
}

/** What {@link createOAuthRequest} accepts. */
export interface OAuthRequestInit {
  method?: string
  /** Path with optional query, or an absolute URL. */
  url?: string
  headers?: RequestHeaders
  /** A raw urlencoded body (parsed strictly), parsed parameters, or a record. */
  body?: string | URLSearchParams | Record<string, string>
  /** Query parameters; when absent they are read from `url`. */
  query?: string | URLSearchParams | Record<string, string>
}

const EMPTY_HEADERS: RequestHeaders = Object.freeze({})

/**
 * Builds an {@link OAuthRequest}. A string body or query is parsed with
 * {@link parseFormEncoded}, so malformed percent-encoding or UTF-8 is an
 * `invalid_request` {@link OAuthError}.
 */
export function createOAuthRequest(init: OAuthRequestInit = {}): OAuthRequest {
  const url = init.url ?? '/'
  let query: URLSearchParams
  if (init.query !== undefined) {
    query = toParams(init.query)
  } else {
    const q = url.indexOf('?')
    query = q === -1 ? new URLSearchParams() : parseFormEncoded(url.slice(q + 1))
  }
  return brandRequest({
    method: (init.method ?? 'GET').toUpperCase(),
    url,
    headers: init.headers ?? EMPTY_HEADERS,
    query,
    body: init.body === undefined ? new URLSearchParams() : toParams(init.body),
  })
}

/** Marks a request object as an {@link OAuthRequest} (adapters build their own). */
export function brandRequest<R extends OAuthRequest>(request: R): R {
  Object.defineProperty(request, REQUEST_BRAND, { value: true })
  return request
}

/** Whether a value is an {@link OAuthRequest} made by any copy of grantkit (by its brand), or has its shape. */
export function isOAuthRequest(value: unknown): value is OAuthRequest {
  if (hasBrand(value, REQUEST_BRAND)) return true
  const v = value as Partial<OAuthRequest> | null
  return typeof v === 'object' && v !== null && typeof v.method === 'string' && v.query instanceof URLSearchParams && v.body instanceof URLSearchParams
}

/**
 * The parameters of an authorization request (RFC 6749 §3.1: the endpoint
 * "MUST support the use of the HTTP "GET" method [...] and MAY support the
 * use of the "POST" method as well"): the query of a GET; the form body of a
 * POST, unless the POST's query holds the request — the app's own login and
 * consent form posting back to the URL it was given (`actionUrl`), whose body
 * is the user's answer, not protocol parameters.
 */
export function authorizationParams(request: OAuthRequest): URLSearchParams {
  if (request.method !== 'POST') return request.query
  return request.query.has('client_id') || request.query.has('response_type') || request.query.has('request_uri') ? request.query : request.body
}

function toParams(value: string | URLSearchParams | Record<string, string>): URLSearchParams {
  if (typeof value === 'string') return parseFormEncoded(value)
  if (value instanceof URLSearchParams) return value
  return new URLSearchParams(value)
}

/**
 * Parses `application/x-www-form-urlencoded` text strictly: `+` is a space,
 * percent-escapes must be well formed and decode to valid UTF-8, otherwise an
 * `invalid_request` error is thrown (never a silent replacement character).
 *
 * @see https://url.spec.whatwg.org/#application/x-www-form-urlencoded
 * @see https://www.rfc-editor.org/rfc/rfc6749#appendix-B
 */
export function parseFormEncoded(text: string): URLSearchParams {
  const params = new URLSearchParams()
  if (text.length === 0) return params
  let start = 0
  const length = text.length
  while (start <= length) {
    let end = text.indexOf('&', start)
    if (end === -1) end = length
    if (end > start) {
      const eq = text.indexOf('=', start)
      if (eq === -1 || eq > end) {
        params.append(decodeComponent(text.slice(start, end)), '')
      } else {
        params.append(decodeComponent(text.slice(start, eq)), decodeComponent(text.slice(eq + 1, end)))
      }
    }
    start = end + 1
  }
  return params
}

function decodeComponent(raw: string): string {
  const plus = raw.indexOf('+') === -1 ? raw : raw.replace(/\+/g, ' ')
  let decoded: string
  if (plus.indexOf('%') === -1) decoded = plus
  else {
    try {
      decoded = decodeURIComponent(plus)
    } catch {
      throw new OAuthError('invalid_request', 'malformed percent-encoding or UTF-8 in the request parameters')
    }
  }
  refuseNul(decoded)
  return decoded
}

/**
 * A NUL character has no place in an OAuth parameter or credential, and
 * databases refuse it (PostgreSQL's text type): refused as `invalid_request`
 * before anything reaches a store.
 */
export function refuseNul(value: string): void {
  if (value.indexOf('\u0000') !== -1) throw new OAuthError('invalid_request', 'the request parameters must not contain a NUL character')
}

/**
 * Reads a single-valued parameter. Empty values count as absent (RFC 6749
 * §3.1: "Parameters sent without a value MUST be treated as if they were
 * omitted from the request"); a repeated parameter is `invalid_request`.
 */
export function getParam(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name)
  if (values.length === 0) return undefined
  if (values.length > 1) {
    const present = values.filter((v) => v !== '')
    if (present.length === 0) return undefined
    throw new OAuthError('invalid_request', `parameter "${name}" must not be included more than once`)
  }
  const value = values[0]
  return value === '' ? undefined : value
}

/** Reads a required single-valued parameter; missing is `invalid_request`. */
export function requireParam(params: URLSearchParams, name: string): string {
  const value = getParam(params, name)
  if (value === undefined) throw new OAuthError('invalid_request', `missing required parameter "${name}"`)
  return value
}

/** Reads a header that must appear at most once. */
export function getHeader(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name]
  if (value === undefined) return undefined
  if (typeof value === 'string') return value
  if (value.length > 1) throw new OAuthError('invalid_request', `header "${name}" must not be repeated`)
  return value[0]
}
