import type { OAuthError } from './errors.js'

/**
 * A framework-neutral HTTP response: a status, headers (lower-case names) and
 * either a JSON body or a redirect (`location` header, no body).
 */
export interface OAuthResponse {
  status: number
  headers: Record<string, string>
  /** A JSON-serialisable body; absent for redirects. */
  body?: Record<string, unknown>
}

/**
 * Builds a JSON response. Everything the token, revocation and introspection
 * endpoints answer carries `Cache-Control: no-store` (RFC 6749 §5.1, RFC 7662 §2.2).
 */
export function jsonResponse(status: number, body: Record<string, unknown>, headers?: Record<string, string>): OAuthResponse {
  return {
    status,
    headers: {
      'content-type': 'application/json;charset=UTF-8',
      'cache-control': 'no-store',
      pragma: 'no-cache',
      ...headers,
    },
    body,
  }
}

/** Builds the RFC 6749 §5.2 error response for an {@link OAuthError}. */
export function errorResponse(error: OAuthError): OAuthResponse {
  return jsonResponse(error.status, error.toJSON(), error.headers)
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
  return { status: 302, headers: { location: url.toString(), 'cache-control': 'no-store' } }
}
