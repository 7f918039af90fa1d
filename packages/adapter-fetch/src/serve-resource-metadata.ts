import { protectedResourceMetadataOutcome, type ProtectedResourceMetadata } from '@grantkit/core'
import { toResponse } from './internal/respond.js'

/**
 * Serves a protected resource's metadata (RFC 9728 §3) from a Web
 * `Request`: `GET`/`HEAD` at `metadata.path` answer the JSON document (CORS
 * open, as the document is public), `OPTIONS` the preflight, other methods
 * 405; a request for any other path answers `null` (not this handler's).
 * Pair it with `requireToken(server, { metadata })`, whose 401 challenges
 * point clients here (RFC 9728 §5.1).
 *
 * @example
 * ```ts
 * const metadata = protectedResourceMetadata({ resource: 'https://api.example.com/mcp', authorizationServers: [issuer] })
 * const resourceMetadata = serveResourceMetadata(metadata)
 * export default { fetch: (request: Request) => resourceMetadata(request) ?? oauth(request) }
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export function serveResourceMetadata(metadata: ProtectedResourceMetadata): (request: Request) => Response | null {
  if (typeof metadata !== 'object' || metadata === null || typeof metadata.url !== 'string') throw new TypeError('serveResourceMetadata: expected the result of protectedResourceMetadata()')
  return (request) => {
    const outcome = protectedResourceMetadataOutcome(metadata, { method: request.method, url: new URL(request.url).pathname })
    if (outcome === null || outcome.kind === 'handled') return null
    const response = toResponse(outcome)
    return request.method === 'HEAD' ? new Response(null, { status: response.status, headers: response.headers }) : response
  }
}
