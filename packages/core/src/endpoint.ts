import type { OAuthRequest } from './request.js'
import type { OAuthResponse } from './response.js'
import type { AuthorizationServer } from './server.js'
import type { StoreCapability } from './store-capabilities.js'

/**
 * Where the HTTP adapters serve an endpoint: its path under the issuer's
 * path, the methods it answers, the body it reads and whether CORS applies.
 */
export interface EndpointRoute {
  /** Path relative to the issuer's path, e.g. `/revoke`. */
  readonly path: string
  /** Methods answered; default `['POST']` (RFC 7009 §2.1, RFC 7662 §2.1). Others get 405. */
  readonly methods?: readonly string[]
  /** The body read: `form` (default, `application/x-www-form-urlencoded`), `json` (`application/json`, into `request.json`) or `none`. */
  readonly body?: 'form' | 'json' | 'none'
  /** Whether browser clients may call it cross-origin when the adapter's CORS is on. Default `true`. */
  readonly cors?: boolean
}

/**
 * An endpoint other than authorization and token (e.g. revocation,
 * introspection), registered with `server.registerEndpoint(EndpointClass)`
 * and answered by `server.createEndpointResponse(name, request)`; with a
 * `route`, every adapter serves it.
 */
export interface Endpoint {
  /** Answers a request; an `OAuthError` thrown here becomes its RFC error response. */
  handle(request: OAuthRequest): Promise<OAuthResponse>
  /** RFC 8414 metadata the endpoint adds. */
  metadata?(): Record<string, unknown>
  /** Where adapters serve it; without one, call `createEndpointResponse` yourself. */
  readonly route?: EndpointRoute | undefined
}

/** An endpoint class as `registerEndpoint` accepts it. */
export interface EndpointClass {
  new (server: AuthorizationServer): Endpoint
  /** The name it is registered and called under, e.g. `revocation`. */
  readonly ENDPOINT_NAME: string
  /** What the endpoint needs from the store; `registerEndpoint` refuses a store without it. */
  readonly STORE_CAPABILITIES?: readonly StoreCapability[]
}
