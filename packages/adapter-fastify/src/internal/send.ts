import type { FastifyReply, FastifyRequest } from 'fastify'
import type { HttpOutcome } from '@grantkit/core'

/** What an app's error renderer is given (see `RenderErrorHook`). */
export interface ErrorToRender {
  readonly status: number
  readonly error: string
  readonly description: string
}

/** The app's error-page renderer, as {@link writeOutcome} calls it. */
export type ErrorRenderer = (request: FastifyRequest, reply: FastifyReply, error: ErrorToRender) => unknown

/**
 * Writes a core {@link HttpOutcome} with `reply.code().headers().send()`.
 * An error page goes through the app's `renderError` when it has one (the
 * status and page headers already set), and falls back to core's page when
 * the renderer throws. A reply already sent (an `authorize` hook that
 * answered before a timeout) is left alone.
 */
export async function writeOutcome(
  request: FastifyRequest,
  reply: FastifyReply,
  outcome: HttpOutcome,
  renderError: ErrorRenderer | undefined,
  report: (error: unknown) => void,
): Promise<FastifyReply> {
  if (outcome.kind === 'handled' || reply.sent) return reply
  reply.code(outcome.status).headers(outcome.headers)
  if (outcome.kind === 'error_page' && renderError !== undefined) {
    try {
      // Awaiting a returned `reply` (a thenable) waits until it was sent.
      await renderError(request, reply, { status: outcome.status, error: outcome.error, description: outcome.description })
      return reply
    } catch (error) {
      report(error)
      if (reply.sent) return reply
      // The renderer may have changed them before it failed.
      reply.code(outcome.status).headers(outcome.headers)
    }
  }
  const body = outcome.kind === 'error_page' ? outcome.html : outcome.kind === 'json' || outcome.kind === 'html' ? outcome.body : undefined
  if (body === undefined) return reply.send()
  // A Buffer, so that Fastify sends the content type as core set it (it
  // appends `charset=utf-8` to a JSON type sent as a string, e.g. `application/jwk-set+json`).
  return reply.send(Buffer.from(body, 'utf8'))
}
