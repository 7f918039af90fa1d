import { DPOP_ALGORITHMS, bearerErrorResponse, requiredScopes, type AccessTokenInfo, type DPoPProofRequirements } from './bearer.js'
import { configError } from './config-error.js'
import type { ProtectedResourceMetadata } from './protected-resource-metadata.js'
import { isOAuthError } from './errors.js'
import { toOutcome, type HttpOutcome } from './http-handler.js'
import { DEFAULT_REQUEST_TIMEOUT, assertTimeout, deadline } from './internal/deadline.js'
import { defaultErrorLogger, safeLog } from './log.js'
import type { RequestHeaders } from './request.js'
import type { AuthorizationServer } from './server.js'
import { storeHasCapability } from './store-capabilities.js'
import type { ReplayStore } from './store.js'

/** Options of {@link createResourceGuard}, shared by every adapter's `requireToken`. */
export interface ResourceGuardOptions {
  /** Scopes the token must hold (all of them), space-separated or a list. */
  scope?: string | readonly string[]
  /** Require a token issued for a resource owner: a client-only token gets 403 `insufficient_scope` (RFC 6750 §3.1). Default `false`. */
  user?: boolean
  /**
   * Milliseconds the token lookup may take before the request is answered
   * 503 `server_error` with `Retry-After` (a hanging store must not hold
   * requests open). Default 10 000; `false` for none.
   */
  timeout?: number | false
  /**
   * Called with unexpected errors (a failing store), answered without
   * details: 503 `server_error` with `Retry-After` for a passing outage
   * (`isTransientError`), else 500 `server_error`. Default: one line with
   * the error's name and code, identical lines at most once a second.
   */
  onError?: (error: unknown) => void
  /**
   * How `Authorization: DPoP` requests (RFC 9449 §7) are checked: accepted
   * `algorithms`, the proof's `maxAge` in seconds (default 300), and the
   * resource server's public `origin` for the `htu` check (default: the
   * request's URL or `Host`). Proof `jti`s are remembered in the server
   * store's replay capability when it has one.
   */
  dpop?: Omit<DPoPProofRequirements, 'replay'>
  /**
   * This resource's RFC 9728 metadata, from `protectedResourceMetadata()`:
   * every 401 challenge carries `resource_metadata="<metadata.url>"`
   * (RFC 9728 §5.1), and the token's audience must be the metadata's
   * `resource` unless `audience` says otherwise. Serve `metadata.document`
   * at `metadata.path` (each adapter has a helper for it).
   */
  metadata?: ProtectedResourceMetadata
  /**
   * The audiences accepted (RFC 8707 §2, RFC 9068 §4): the token's `aud` must
   * name one of them, else 401 `invalid_token`. Default: the `resource` of
   * `metadata` when given, else no audience check; `false` turns the check
   * off. `null` in the list also accepts a token issued without audience
   * (e.g. `[null, 'https://api.example.com']` for a resource that predates
   * resource indicators but must refuse tokens meant for others).
   */
  audience?: string | readonly (string | null)[] | false
}

/** The request of a protected resource, as the guard needs it. */
export interface ResourceRequest {
  readonly method: string
  readonly url: string
  readonly headers: RequestHeaders
}

/** The guard's verdict: the token's grant, or the outcome to answer instead. */
export type ResourceGuardResult = { readonly ok: true; readonly token: AccessTokenInfo } | { readonly ok: false; readonly outcome: HttpOutcome }

/**
 * The protected-resource check of every adapter's `requireToken`: a valid
 * bearer token (RFC 6750 §2.1), or a DPoP-bound token with a proof for this
 * request (RFC 9449 §7), with the required scopes (and user), or the
 * RFC 6750 §3 answer — the bare 401 challenge without a token (§3.1), 401
 * `invalid_token`, 403 `insufficient_scope`, RFC 9449 §7.1 `invalid_dpop_proof`
 * with a `DPoP` challenge, 503 `server_error` with `Retry-After` when the
 * store is unreachable or outlives `timeout` (a passing outage,
 * `isTransientError`), or 500 `server_error` when it fails otherwise.
 */
export function createResourceGuard(
  server: AuthorizationServer,
  options: ResourceGuardOptions = {},
): (request: ResourceRequest, hooks?: { readonly onError?: ((error: unknown) => void) | undefined }) => Promise<ResourceGuardResult> {
  if (typeof server !== 'object' || server === null || typeof server.authenticateBearerToken !== 'function') {
    throw configError('requireToken: expected an AuthorizationServer')
  }
  if (typeof options !== 'object' || options === null) throw configError('requireToken: options must be an object')
  const scope = options.scope
  if (scope !== undefined && typeof scope !== 'string' && !(Array.isArray(scope) && scope.every((s) => typeof s === 'string'))) {
    throw configError('requireToken: "scope" must be a string or an array of strings')
  }
  if (options.user !== undefined && typeof options.user !== 'boolean') throw configError('requireToken: "user" must be a boolean')
  assertTimeout(options.timeout, 'requireToken: "timeout"')
  if (options.onError !== undefined && typeof options.onError !== 'function') throw configError('requireToken: "onError" must be a function')
  const onError = options.onError ?? defaultErrorLogger('requireToken')
  const timeout = options.timeout ?? DEFAULT_REQUEST_TIMEOUT
  const dpop = checkDPoPOptions(options.dpop)
  const replay = storeHasCapability(server.store, 'replay') ? (server.store as ReplayStore) : undefined
  const { audience, resourceMetadata } = checkResourceOptions(options)
  const requirements = { scope: [...requiredScopes(scope)], user: options.user === true, dpop: { ...dpop, replay }, audience, resourceMetadata }
  return async (request, hooks = {}) => {
    try {
      const token = await deadline(timeout)(server.authenticateBearerToken(request, requirements))
      return { ok: true, token }
    } catch (error) {
      if (!isOAuthError(error)) safeLog(hooks.onError ?? onError, error)
      const response = bearerErrorResponse(error)
      if (server.telemetry.counting) {
        const code = response.body?.['error'] ?? (isOAuthError(error) ? error.code : undefined)
        if (typeof code === 'string') server.telemetry.count('grantkit.errors', 1, { endpoint: 'resource', error: code, status: response.status })
      }
      return { ok: false, outcome: toOutcome(response, request.method) }
    }
  }
}

function checkResourceOptions(options: ResourceGuardOptions): { audience: readonly (string | null)[] | undefined; resourceMetadata: string | undefined } {
  const { metadata, audience } = options
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || typeof metadata.url !== 'string' || typeof metadata.document['resource'] !== 'string')) {
    throw configError('requireToken: "metadata" must be the result of protectedResourceMetadata()')
  }
  if (audience !== undefined && audience !== false && typeof audience !== 'string' && !(Array.isArray(audience) && audience.length > 0 && audience.every((a) => typeof a === 'string' || a === null))) {
    throw configError('requireToken: "audience" must be a resource identifier, a non-empty list of them (null for tokens without audience), or false')
  }
  const audiences = audience === false ? undefined : typeof audience === 'string' ? [audience] : audience !== undefined ? [...(audience as readonly (string | null)[])] : metadata !== undefined ? [metadata.document['resource'] as string] : undefined
  return { audience: audiences, resourceMetadata: metadata?.url }
}

function checkDPoPOptions(options: ResourceGuardOptions['dpop']): Omit<DPoPProofRequirements, 'replay'> {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) throw configError('requireToken: "dpop" must be an object')
  const { algorithms, maxAge, origin } = options
  if (algorithms !== undefined && (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => !DPOP_ALGORITHMS.includes(a)))) {
    throw configError(`requireToken: "dpop.algorithms" must be a non-empty list of ${DPOP_ALGORITHMS.join(', ')}`)
  }
  if (maxAge !== undefined && (!Number.isInteger(maxAge) || maxAge < 1 || maxAge > 3600)) throw configError('requireToken: "dpop.maxAge" must be an integer between 1 and 3600')
  if (origin !== undefined) {
    let url: URL | undefined
    try {
      url = new URL(origin)
    } catch {
      url = undefined
    }
    if (url === undefined || !/^https?:$/.test(url.protocol) || url.origin !== origin) throw configError('requireToken: "dpop.origin" must be an http(s) origin without path, e.g. https://api.example.com')
  }
  return { algorithms, maxAge, origin }
}
