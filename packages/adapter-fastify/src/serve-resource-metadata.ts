import type { FastifyPluginAsync } from 'fastify'
import { protectedResourceMetadataOutcome, type ProtectedResourceMetadata } from '@grantkit/core'
import { writeOutcome } from './internal/send.js'

/**
 * A Fastify plugin serving a protected resource's metadata (RFC 9728 §3):
 * `GET`/`HEAD` at `metadata.path` answer the JSON document (CORS open, as
 * the document is public), `OPTIONS` the preflight, other methods 405. Pair
 * it with `requireToken(server, { metadata })`, whose 401 challenges point
 * clients here (RFC 9728 §5.1).
 *
 * @example
 * ```ts
 * const metadata = protectedResourceMetadata({ resource: 'https://api.example.com/mcp', authorizationServers: [issuer] })
 * await app.register(serveResourceMetadata(metadata))
 * app.post('/mcp', { preHandler: requireToken(server, { metadata }) }, handleMcp)
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export function serveResourceMetadata(metadata: ProtectedResourceMetadata): FastifyPluginAsync {
  if (typeof metadata !== 'object' || metadata === null || typeof metadata.url !== 'string') throw new TypeError('serveResourceMetadata: expected the result of protectedResourceMetadata()')
  const path = new URL(metadata.url).pathname
  return async (app) => {
    // Encapsulated: a body of any type reaches the handler (and its 405) instead of a 415.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
    app.route({
      method: ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url: path,
      exposeHeadRoute: false,
      handler: async (request, reply) => {
        const outcome = protectedResourceMetadataOutcome(metadata, { method: request.method, url: path })
        // The route matches this path only, so there is always an outcome.
        if (outcome !== null) await writeOutcome(request, reply, outcome, undefined, () => {})
        return reply
      },
    })
  }
}
