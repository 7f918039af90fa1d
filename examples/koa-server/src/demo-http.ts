import type { IncomingMessage, ServerResponse } from 'node:http'
import { parse as legacyParse } from 'node:url'
import { createHttpHandler, describeError, suppressRepeatedLines, type AuthorizationServer } from '@grantkit/core'
import { PAGE_CONTENT_TYPE, type ConsentPage } from './consent-page.js'

/**
 * The HTTP pieces the demo answers itself, outside the adapters, shared by
 * the four frameworks so that each writes the same bytes: a status, header
 * fields in order and a body. The demo was a Koa app first, so these are
 * Koa's answers (docs/demo-server.md).
 */
export interface Answer {
  readonly status: number
  /** In the order written; a name may repeat (`set-cookie`). */
  readonly headers: readonly (readonly [string, string])[]
  /** `null` for no body. */
  readonly body: string | null
}

/**
 * One log line for an unexpected error: its name and, when it has one, its
 * code (e.g. a PostgreSQL SQLSTATE). Never the message or the stack: driver
 * messages can carry SQL, key values or file paths.
 */
export function errorLine(error: unknown): string {
  // Core's rule for every package: the error's name and code (and its causes'), never a driver's message.
  return `[error] ${describeError(error)}`
}

/**
 * The demo's log of unexpected errors: {@link errorLine}s, with a line
 * repeated within a second counted instead of printed (an outage fails every
 * request the same way: a few lines, not one per request).
 */
export function errorLogger(write: (line: string) => void): (error: unknown) => void {
  const print = suppressRepeatedLines(write)
  return (error) => print(errorLine(error))
}

/** The media type Koa gives an object body. */
const JSON_TYPE = 'application/json; charset=utf-8'

/** A JSON answer, serialised as Koa serialises an object body. */
export function jsonAnswer(status: number, body: unknown, headers: readonly (readonly [string, string])[] = []): Answer {
  return { status, headers: [...headers, ['content-type', JSON_TYPE]], body: JSON.stringify(body) }
}

/**
 * The header fields of every page the authorization endpoint answers, as
 * core writes them (its adapters add them to the consent page): no caching,
 * no framing (RFC 6749 §10.13), no referrer, no sniffing. The device
 * verification page, which the demo serves itself, gets the same.
 */
export const PAGE_HEADERS: readonly (readonly [string, string])[] = [
  ['cache-control', 'no-store'],
  ['pragma', 'no-cache'],
  ['x-frame-options', 'DENY'],
  ['content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"],
  ['referrer-policy', 'no-referrer'],
  ['x-content-type-options', 'nosniff'],
]

/** A consent-step page as an {@link Answer}, with `headers` first. */
export function pageAnswer(page: ConsentPage, headers: readonly (readonly [string, string])[] = []): Answer {
  return { status: page.status, headers: [...headers, ...(page.headers ?? []), ['content-type', PAGE_CONTENT_TYPE], ...page.setCookie.map((cookie) => ['set-cookie', cookie] as const)], body: page.html }
}

/**
 * `work`, or a `RequestTimeoutError` once `timeout` milliseconds passed
 * (`false`: no limit): a hanging store must not hold a request forever.
 */
export function within<T>(timeout: number | false, work: Promise<T>): Promise<T> {
  if (timeout === false) return work
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('the request took too long'), { name: 'RequestTimeoutError' })), timeout)
    timer.unref()
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

/** What a path no route serves gets: Koa's default 404 (its status text; to HEAD, nothing but the status). */
export function notFound(method: string | undefined): Answer {
  if (method === 'HEAD') return { status: 404, headers: [], body: null }
  return { status: 404, headers: [['content-type', 'text/plain; charset=utf-8']], body: 'Not Found' }
}

/**
 * What core's HTTP handler answers for a path it does not serve. The Koa
 * adapter's routes match as `@koa/router` does (any case, one optional
 * trailing slash: `/TOKEN`, `/token/`) and hand such a path to core, which
 * answers this; the other adapters match paths exactly, so the demo answers
 * it for them.
 */
export const NOT_SERVED: Answer = {
  status: 404,
  headers: [
    ['content-type', 'application/json;charset=UTF-8'],
    ['cache-control', 'no-store'],
  ],
  body: JSON.stringify({ error: 'invalid_request', error_description: 'no such endpoint' }),
}

/** Core's 500 `server_error` (RFC 6749 §5.2), for a failure in the demo's own route. */
export const SERVER_ERROR: Answer = {
  status: 500,
  headers: [
    ['content-type', 'application/json;charset=UTF-8'],
    ['cache-control', 'no-store'],
    ['pragma', 'no-cache'],
  ],
  body: JSON.stringify({ error: 'server_error', error_description: 'the server failed to process the request' }),
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400, here with an
 * RFC 6749 §5.2 body rather than Node's bare one (main.ts turns Node's own
 * check off), and the connection is closed.
 */
export function missingHost(req: IncomingMessage): Answer | undefined {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1 || req.headers.host !== undefined) return undefined
  return jsonAnswer(400, { error: 'invalid_request', error_description: 'the Host header is required' }, [
    ['connection', 'close'],
    ['cache-control', 'no-store'],
  ])
}

/**
 * The path of a request target, without the query: the rules of the
 * `parseurl` package, which gives Koa its `ctx.path` and Express its
 * `req.path` (a plain `/…` target is cut at `?`; anything else, such as an
 * absolute-form target or one with a `#`, goes through Node's legacy URL
 * parser).
 */
export function requestPath(url: string): string {
  if (url.startsWith('/') && !/[\t\n\f\r #\u00a0\ufeff]/.test(url)) {
    const query = url.indexOf('?')
    return query === -1 ? url : url.slice(0, query)
  }
  // The legacy parser on purpose: it is what parseurl (and so Koa and Express) uses.
  return legacyParse(url).pathname ?? ''
}

/** The query of a request target, without `?`: what `parseurl` gives Koa's `ctx.querystring` (see {@link requestPath}). */
export function requestQuery(url: string): string {
  if (url.startsWith('/') && !/[\t\n\f\r #\u00a0\ufeff]/.test(url)) {
    const query = url.indexOf('?')
    return query === -1 ? '' : url.slice(query + 1)
  }
  return legacyParse(url).query ?? ''
}

/**
 * Calls `listener` with the status once the app ends the response, also
 * when the client has gone meanwhile: the request log notes what was
 * answered, as the Koa app's logging middleware does (Express, Fastify and
 * the Fetch bridge all finish a response with `res.end`).
 */
export function onAnswer(res: ServerResponse, listener: (status: number) => void): void {
  const end = res.end
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    res.end = end
    listener(res.statusCode)
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args)
  } as ServerResponse['end']
}

/** One line of the request log: method, path (never the query: it carries codes, tokens and state), status, duration. */
export function logLine(method: string, path: string, status: number, started: number): string {
  return `${method} ${path} ${status} ${Math.round(performance.now() - started)}ms`
}

/** Where a request goes, by its path. */
export type DemoRoute =
  /** One of the adapter's paths, exactly. */
  | 'oauth'
  /** One of them in another case or with a trailing slash: {@link NOT_SERVED}. */
  | 'unserved'
  /** `/api/me`, matched the same way. */
  | 'me'
  /** The device verification page (RFC 8628 §3.3), matched the same way. */
  | 'device'
  /** The Model Context Protocol endpoint (`/mcp` under the issuer's path), matched the same way. */
  | 'mcp'
  /** Anything else: {@link notFound}. */
  | 'none'

/** The protected resource. */
export const ME_PATH = '/api/me'

/** A route's pattern as `@koa/router` compiles it (path-to-regexp with `sensitive: false`, `trailing: true`). */
function koaRoutePattern(path: string): RegExp {
  return new RegExp(`^(?:${path.replace(/[.+*?^${}()[\]|/\\]/g, '\\$&')})(?:\\/$)?$`, 'i')
}

/**
 * The demo's routes, matched the way the Koa app's `@koa/router` routes
 * match: the adapters' OAuth paths (what core's handler serves: the
 * endpoints under the issuer's path, and the RFC 8414 metadata),
 * `/api/me`, the device verification page at `devicePath` and the MCP
 * endpoint at `mcpPath`.
 */
export function demoRoutes(server: AuthorizationServer, devicePath: string, mcpPath: string): (path: string) => DemoRoute {
  const paths = createHttpHandler(server, { onError: () => {} }).paths
  const exact = new Set(paths)
  const loose = paths.map(koaRoutePattern)
  const me = koaRoutePattern(ME_PATH)
  const device = koaRoutePattern(devicePath)
  const mcp = koaRoutePattern(mcpPath)
  return (path) => {
    if (exact.has(path)) return 'oauth'
    if (loose.some((pattern) => pattern.test(path))) return 'unserved'
    if (device.test(path)) return 'device'
    if (mcp.test(path)) return 'mcp'
    return me.test(path) ? 'me' : 'none'
  }
}

/** Whether a request came over TLS (what Koa's `ctx.secure` says without `app.proxy`). */
export function isEncrypted(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true
}

/** Statuses that have no body (RFC 9110 §15.3.5, §15.4.5) and so no Content-Length. */
export function isBodyless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200)
}

/**
 * The Content-Length Koa writes: the body's length; `0` for no body, except
 * in answer to HEAD (where Koa cannot know it) and for 204 and 304 (none).
 */
export function contentLength(method: string | undefined, status: number, body: Uint8Array | string | null): number | undefined {
  if (isBodyless(status)) return undefined
  if (body === null) return method === 'HEAD' ? undefined : 0
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
}

/**
 * Writes an {@link Answer} on a Node response, with the Content-Length of
 * {@link contentLength}. A HEAD request gets the headers only: Node leaves
 * the body out.
 */
export function writeAnswer(res: ServerResponse, answer: Answer): void {
  res.statusCode = answer.status
  const cookies: string[] = []
  for (const [name, value] of answer.headers) {
    if (name === 'set-cookie') cookies.push(value)
    else res.setHeader(name, value)
  }
  if (cookies.length > 0) res.setHeader('set-cookie', cookies)
  const length = contentLength(res.req.method, answer.status, answer.body)
  if (length !== undefined) res.setHeader('content-length', length)
  if (answer.body === null || isBodyless(answer.status)) res.end()
  else res.end(answer.body)
}
