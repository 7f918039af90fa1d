import type { HttpOutcome } from '@grantkit/core'

/**
 * Core's outcome as a `Response` (`handled` has none: the caller answers
 * the app's own response).
 */
export function toResponse(outcome: Exclude<HttpOutcome, { kind: 'handled' }>): Response {
  const init = { status: outcome.status, headers: outcome.headers }
  switch (outcome.kind) {
    case 'json':
    case 'html':
      return new Response(outcome.body, init)
    case 'error_page':
      return new Response(outcome.html, init)
    default:
      return new Response(null, init)
  }
}

/**
 * The app's `response` with `headers` (core's page headers) added first:
 * a header the app set wins. A new `Response`, since the app's may have
 * immutable headers (`Response.redirect()`, a `fetch()` result).
 */
export function withHeaders(response: Response, headers: Readonly<Record<string, string>>): Response {
  const merged = new Headers(headers)
  const cookies = typeof response.headers.getSetCookie === 'function' ? response.headers.getSetCookie() : []
  response.headers.forEach((value, name) => {
    if (name === 'set-cookie' && cookies.length > 0) return
    merged.set(name, value)
  })
  for (const cookie of cookies) merged.append('set-cookie', cookie)
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers: merged })
}
