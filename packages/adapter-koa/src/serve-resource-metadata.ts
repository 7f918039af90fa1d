import type { Middleware } from 'koa'
import { protectedResourceMetadataOutcome, type ProtectedResourceMetadata } from '@grantkit/core'
import { writeOutcome } from './internal/send.js'

/**
 * Koa middleware serving a protected resource's metadata (RFC 9728 §3):
 * `GET`/`HEAD` at `metadata.path` answer the JSON document (CORS open, as
 * the document is public), `OPTIONS` the preflight, other methods 405; any
 * other path goes on to `next`. Pair it with `requireToken(server, { metadata })`,
 * whose 401 challenges point clients here (RFC 9728 §5.1).
 *
 * @example
 * ```ts
 * const metadata = protectedResourceMetadata({ resource: 'https://api.example.com/mcp', authorizationServers: [issuer] })
 * app.use(serveResourceMetadata(metadata))
 * router.post('/mcp', requireToken(server, { metadata }), handleMcp)
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export function serveResourceMetadata(metadata: ProtectedResourceMetadata): Middleware {
  if (typeof metadata !== 'object' || metadata === null || typeof metadata.url !== 'string') throw new TypeError('serveResourceMetadata: expected the result of protectedResourceMetadata()')
  return async (ctx, next) => {
    const outcome = protectedResourceMetadataOutcome(metadata, { method: ctx.method, url: ctx.originalUrl })
    if (outcome === null) return next()
    await writeOutcome(ctx, outcome, undefined, () => {})
  }
}
