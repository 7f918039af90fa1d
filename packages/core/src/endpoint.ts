import type { OAuthRequest } from './request.js'
import type { OAuthResponse } from './response.js'
import type { AuthorizationServer } from './server.js'

/**
 * An endpoint other than authorization and token (e.g. revocation,
 * introspection), registered with `server.registerEndpoint(EndpointClass)`
 * and answered by `server.createEndpointResponse(name, request)`.
 */
export interface Endpoint {
  /** Answers a request; an `OAuthError` thrown here becomes its RFC error response. */
  handle(request: OAuthRequest): Promise<OAuthResponse>
  /** RFC 8414 metadata the endpoint adds. */
  metadata?(): Record<string, unknown>
}

/** An endpoint class as `registerEndpoint` accepts it. */
export interface EndpointClass {
  new (server: AuthorizationServer): Endpoint
  /** The name it is registered and called under, e.g. `revocation`. */
  readonly ENDPOINT_NAME: string
}
