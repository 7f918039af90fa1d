import type { OAuthError } from './errors.js'

/**
 * A framework-neutral HTTP response, as grants and endpoints answer it: a
 * status, headers (lower-case names), and a `kind` saying how an adapter
 * writes it:
 *
 * - `json`: `body` serialised as JSON;
 * - `redirect`: the `location` header, no body (302 after a GET, 303 after a
 *   POST: the HTTP layer sets the status, RFC 9700 §4.12);
 * - `error_page`: an authorization error that must be shown to the user,
 *   never redirected (RFC 6749 §4.1.2.1), with `body.error` and
 *   `body.error_description`;
 * - `empty`: no body (a revocation answer, a preflight, a bare 401).
 *
 * A response without `kind` (from a user's own endpoint) is read as `json`
 * when it has a body, `redirect` with a `location` header, else `empty`.
 */
export interface OAuthResponse {
  kind?: 'json' | 'redirect' | 'error_page' | 'empty'
  status: number
  headers: Record<string, string>
  /** A JSON-serialisable body; absent for redirects and empty responses. */
  body?: Record<string, unknown>
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const

/**
 * Builds a JSON response. Everything the token, revocation and introspection
 * endpoints answer carries `Cache-Control: no-store` (RFC 6749 §5.1, RFC 7662 §2.2).
 */
export function jsonResponse(status: number, body: Record<string, unknown>, headers?: Record<string, string>): OAuthResponse {
  return {
    kind: 'json',
    status,
    headers: { 'content-type': 'application/json;charset=UTF-8', ...NO_STORE, ...headers },
    body,
  }
}

/** A response without a body (`no-store`). */
export function emptyResponse(status: number, headers?: Record<string, string>): OAuthResponse {
  return { kind: 'empty', status, headers: { ...NO_STORE, ...headers } }
}

/** Builds the RFC 6749 §5.2 error response for an {@link OAuthError}. */
export function errorResponse(error: OAuthError): OAuthResponse {
  return jsonResponse(error.status, error.toJSON(), error.headers)
}

/**
 * An authorization error shown to the user instead of redirected (RFC 6749
 * §4.1.2.1: the server "MUST NOT automatically redirect the user-agent to the
 * invalid redirection URI").
 */
export function errorPageResponse(error: OAuthError): OAuthResponse {
  return { kind: 'error_page', status: error.status, headers: { ...NO_STORE, ...error.headers }, body: error.toJSON() }
}

/**
 * Builds a redirect to `uri` with `params` added to its query (code flow) or
 * put in its fragment (implicit flow). Existing query parameters of a
 * registered redirect URI are kept (RFC 6749 §3.1.2).
 */
export function redirectResponse(uri: string, params: Record<string, string | undefined>, mode: 'query' | 'fragment'): OAuthResponse {
  const url = new URL(uri)
  if (mode === 'query') {
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v)
  } else {
    const fragment = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) if (v !== undefined) fragment.append(k, v)
    url.hash = fragment.toString()
  }
  return { kind: 'redirect', status: 302, headers: { location: url.toString(), 'cache-control': 'no-store' } }
}

/** The `kind` of a response, for one that does not say (a user's own endpoint). */
export function responseKind(response: OAuthResponse): NonNullable<OAuthResponse['kind']> {
  if (response.kind !== undefined) return response.kind
  if (response.body !== undefined) return 'json'
  return response.headers['location'] !== undefined ? 'redirect' : 'empty'
}
