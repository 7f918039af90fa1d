import type { RequestHandler } from 'express'
import { protectedResourceMetadataOutcome, type ProtectedResourceMetadata } from '@grantkit/core'
import { writeOutcome } from './internal/send.js'

/**
 * Express middleware serving a protected resource's metadata (RFC 9728 §3):
 * `GET`/`HEAD` at `metadata.path` answer the JSON document (CORS open, as
 * the document is public), `OPTIONS` the preflight, other methods 405; any
 * other path goes on to `next()`. Pair it with `requireToken(server, { metadata })`,
 * whose 401 challenges point clients here (RFC 9728 §5.1).
 *
 * @example
 * ```ts
 * const metadata = protectedResourceMetadata({ resource: 'https://api.example.com/mcp', authorizationServers: [issuer] })
 * app.use(serveResourceMetadata(metadata))
 * app.post('/mcp', requireToken(server, { metadata }), handleMcp)
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export function serveResourceMetadata(metadata: ProtectedResourceMetadata): RequestHandler {
  if (typeof metadata !== 'object' || metadata === null || typeof metadata.url !== 'string') throw new TypeError('serveResourceMetadata: expected the result of protectedResourceMetadata()')
  return (req, res, next) => {
    const outcome = protectedResourceMetadataOutcome(metadata, { method: req.method, url: req.originalUrl })
    if (outcome === null) {
      next()
      return
    }
    void writeOutcome(req, res, outcome, undefined, () => {})
  }
}
