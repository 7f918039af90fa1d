import type { IncomingMessage } from 'node:http'
import { DEFAULT_BODY_LIMIT, nodeBodySource, parseFormEncoded, readBody } from '@grantkit/core'

export { DEFAULT_BODY_LIMIT }

/**
 * Reads an `application/x-www-form-urlencoded` body with a size limit, as
 * the endpoints do (core's `readBody`): no body is an empty form; another
 * media type is 400 `invalid_request`; over `limit` bytes is 413; malformed
 * percent-encoding or UTF-8 is 400. For an app's own form routes (a login page).
 */
export async function readForm(req: IncomingMessage, limit: number = DEFAULT_BODY_LIMIT): Promise<URLSearchParams> {
  return (await readBody(nodeBodySource(req), req.headers, 'form', limit)).form
}

/** Parses a query string strictly (malformed percent-encoding is `invalid_request`). */
export function readQuery(querystring: string): URLSearchParams {
  return parseFormEncoded(querystring)
}
