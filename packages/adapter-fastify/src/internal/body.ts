import type { FastifyInstance, FastifyRequest } from 'fastify'
import { nodeBodySource, type BodySource, type NodeReadableRequest } from '@grantkit/core'

/**
 * The request stream each request's body parser was handed: `request.raw`,
 * or the stream an app's `preParsing` hook put in its place (a decompressor).
 */
const payloads = new WeakMap<FastifyRequest, NodeReadableRequest>()

/**
 * Replaces the content-type parsers of the plugin's encapsulation context
 * (only there: the app's other routes keep theirs) with one that accepts
 * every media type and reads nothing, so that core sees every body and
 * decides: the media type (form only), the limit (413 while a chunked body
 * streams), the encoding, and the time the body may take (`requestTimeout`).
 */
export function passBodiesToCore(instance: FastifyInstance): void {
  instance.removeAllContentTypeParsers()
  instance.addContentTypeParser('*', (request, payload, done) => {
    payloads.set(request, payload)
    done(null)
  })
}

/** The body of a request to an OAuth route, as core reads it. */
export function bodyOf(request: FastifyRequest): BodySource {
  // No parser ran for a request without a body (Fastify skips it), nor for GET/HEAD.
  return nodeBodySource(payloads.get(request) ?? request.raw)
}
