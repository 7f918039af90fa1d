import type { OAuthRequest } from './request.js'
import { jsonResponse, type OAuthResponse } from './response.js'
import { boundThumbprint } from './bearer.js'
import { hashToken } from './secrets.js'
import { readTokenRequest, tokenEndpointMetadata } from './internal/token-endpoint-request.js'
import type { AuthorizationServer } from './server.js'
import type { EndpointRoute } from './endpoint.js'
import type { StoreCapability } from './store-capabilities.js'

/**
 * Token introspection (RFC 7662). Register with
 * `server.registerEndpoint(IntrospectionEndpoint)`; answer with
 * `server.createEndpointResponse('introspection', request)`.
 *
 * The caller must authenticate as a client (§2.1: "the endpoint MUST also
 * require some form of authorization"); a client sees only its own tokens:
 * any other token, like an unknown, expired, revoked or rotated one, is
 * `{ "active": false }` (§2.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662
 */
export class IntrospectionEndpoint {
  static readonly ENDPOINT_NAME = 'introspection'
  static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens']
  /** Client authentication methods accepted here. */
  static CLIENT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none']

  readonly server: AuthorizationServer

  constructor(server: AuthorizationServer) {
    this.server = server
  }

  /** POST at the server's `endpoints.introspection` path. */
  get route(): EndpointRoute {
    return { path: this.server.options.endpoints.introspection }
  }

  async handle(request: OAuthRequest): Promise<OAuthResponse> {
    // RFC 7662 §2.1: POST, client authentication ("MUST also require some form of authorization"), `token`.
    const methods = (this.constructor as typeof IntrospectionEndpoint).CLIENT_AUTH_METHODS
    const { client, token } = await readTokenRequest(this.server, request, 'introspection', methods)
    const record = await this.server.store.findToken(hashToken(token))
    const now = this.server.now().getTime()
    if (
      record === null ||
      record.clientId !== client.clientId ||
      record.revokedAt !== null ||
      record.rotatedAt !== null ||
      record.expiresAt.getTime() <= now
    ) {
      return jsonResponse(200, { active: false })
    }
    // Claims a grant or extension attached (RFC 7662 §2.2 `aud`, RFC 8693 §4.1 `act`, RFC 9449 §6.2 `cnf`);
    // the standard members below always win.
    const claims = record.extra?.['claims']
    const body: Record<string, unknown> = {
      ...(typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>) : {}),
      active: true,
      scope: record.scope,
      client_id: record.clientId,
      // RFC 7662 §2.2: "Type of the token as defined in Section 5.1 of OAuth 2.0" — the
      // access-token type (RFC 6749 §7.1), which a refresh token yields too. Not "refresh_token".
      // RFC 9449 §6.2: a token bound to a DPoP key (cnf.jkt) is of type DPoP.
      token_type: boundThumbprint(record) === undefined ? 'Bearer' : 'DPoP',
      exp: Math.floor(record.expiresAt.getTime() / 1000),
      iat: Math.floor(record.issuedAt.getTime() / 1000),
      iss: this.server.issuer,
    }
    if (record.userId !== null) {
      body['sub'] = record.userId
      const user = await this.server.resolveUser(record.userId)
      if (user?.username !== undefined) body['username'] = user.username
    }
    return jsonResponse(200, body)
  }

  metadata(): Record<string, unknown> {
    const { issuer, options } = this.server
    const methods = (this.constructor as typeof IntrospectionEndpoint).CLIENT_AUTH_METHODS
    return tokenEndpointMetadata('introspection', issuer + options.endpoints.introspection, methods)
  }
}
