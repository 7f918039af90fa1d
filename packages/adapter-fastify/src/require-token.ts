import type { FastifyReply, FastifyRequest } from 'fastify'
import { createResourceGuard, type AccessTokenInfo, type AuthorizationServer, type ResourceGuardOptions } from '@grantkit/core'
import { logUnexpected } from './internal/log.js'
import { writeOutcome } from './internal/send.js'

/** What {@link requireToken} puts on `request.oauth`. */
export interface TokenState {
  readonly clientId: string
  /** The resource owner, or `null` for a client-only token (client credentials). */
  readonly userId: string | null
  readonly scopes: readonly string[]
  /** The stored token record (hashes only). */
  readonly token: AccessTokenInfo['token']
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The bearer token's grant, set by `requireToken` from `@grantkit/adapter-fastify` before the route's handler runs. */
    oauth?: TokenState
  }
}

/** Options of {@link requireToken}: core's resource-guard options, with a Fastify `onError`. */
export interface RequireTokenOptions extends Omit<ResourceGuardOptions, 'onError'> {
  /**
   * Called with unexpected errors (a failing store), which are answered
   * 500 `server_error` (503 with `Retry-After` when the store is down or
   * outlives `timeout`) without details. Default: one `console.error` line
   * with the error's name and code, never the request.
   */
  onError?: ((error: unknown, request: FastifyRequest) => void) | undefined
}

/** The `preHandler` hook {@link requireToken} returns. */
export type RequireTokenHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

/**
 * A Fastify `preHandler` hook for protected resources: accepts a request
 * only with a valid bearer token (RFC 6750 §2.1) holding `scope`, and sets
 * `request.oauth`; otherwise it answers what core's `createResourceGuard`
 * decides (RFC 6750 §3: the bare 401 challenge without a token, 401
 * `invalid_token`, 403 `insufficient_scope`) and the handler never runs.
 *
 * @example
 * ```ts
 * app.get('/api/me', { preHandler: requireToken(server, { scope: 'profile', user: true }) }, async (request) => {
 *   return { sub: request.oauth!.userId }
 * })
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function requireToken(server: AuthorizationServer, options: RequireTokenOptions = {}): RequireTokenHook {
  if (typeof options !== 'object' || options === null) throw new TypeError('requireToken: options must be an object')
  const { onError = logUnexpected('requireToken'), ...guardOptions } = options
  if (typeof onError !== 'function') throw new TypeError('requireToken: "onError" must be a function')
  const guard = createResourceGuard(server, guardOptions)
  return async function requireBearerToken(request, reply) {
    const result = await guard({ method: request.method, url: request.url, headers: request.headers }, { onError: (error) => onError(error, request) })
    if (!result.ok) return writeOutcome(request, reply, result.outcome, undefined, () => {})
    const { clientId, userId, scopes, token } = result.token
    request.oauth = { clientId, userId, scopes, token }
    return undefined
  }
}
