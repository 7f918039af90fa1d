import { OAuthError } from './errors.js'
import type { OAuthRequest } from './request.js'
import { emptyResponse, type OAuthResponse } from './response.js'
import { hashToken } from './secrets.js'
import { readTokenRequest, tokenEndpointMetadata } from './internal/token-endpoint-request.js'
import type { AuthorizationServer } from './server.js'
import type { EndpointRoute } from './endpoint.js'
import type { StoreCapability } from './store-capabilities.js'

/**
 * Token revocation (RFC 7009). Register with
 * `server.registerEndpoint(RevocationEndpoint)`; answer with
 * `server.createEndpointResponse('revocation', request)`.
 *
 * - the client must authenticate (RFC 7009 §2.1);
 * - an unknown, expired or already revoked token answers 200 (§2.2: "invalid
 *   tokens do not cause an error response");
 * - a token issued to another client is refused (§2.1) and left alone;
 * - revoking a refresh token revokes every token of its grant (§2.1: the
 *   server "SHOULD also invalidate all access tokens based on the same
 *   authorization grant").
 *
 * @see https://www.rfc-editor.org/rfc/rfc7009
 */
export class RevocationEndpoint {
  static readonly ENDPOINT_NAME = 'revocation'
  static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens']
  /** Client authentication methods accepted here. */
  static CLIENT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none']

  readonly server: AuthorizationServer

  constructor(server: AuthorizationServer) {
    this.server = server
  }

  /** POST at the server's `endpoints.revocation` path. */
  get route(): EndpointRoute {
    return { path: this.server.options.endpoints.revocation }
  }

  async handle(request: OAuthRequest): Promise<OAuthResponse> {
    // RFC 7009 §2.1: POST, client authentication, `token`.
    const methods = (this.constructor as typeof RevocationEndpoint).CLIENT_AUTH_METHODS
    const { client, token } = await readTokenRequest(this.server, request, 'revocation', methods)
    const store = this.server.store
    const record = await store.findToken(hashToken(token))
    if (record !== null) {
      if (record.clientId !== client.clientId) {
        throw new OAuthError('unauthorized_client', 'the token was not issued to this client')
      }
      const now = this.server.now()
      if (record.type === 'refresh_token') await store.revokeTokenFamily(record.familyId, now)
      else await store.revokeToken(record.tokenHash, now)
    }
    return emptyResponse(200)
  }

  metadata(): Record<string, unknown> {
    const { issuer, options } = this.server
    const methods = (this.constructor as typeof RevocationEndpoint).CLIENT_AUTH_METHODS
    return tokenEndpointMetadata('revocation', issuer + options.endpoints.revocation, methods)
  }
}
