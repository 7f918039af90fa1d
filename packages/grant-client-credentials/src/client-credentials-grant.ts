import { BaseGrant, OAuthError, isPublicClient, type OAuthResponse } from '@grantkit/core'

const NO_SCOPES: readonly string[] = Object.freeze([])

/**
 * The client credentials grant: a confidential client asks for an access
 * token for itself, with no resource owner (`userId` is `null`).
 *
 * - `GRANT_TYPE`: `client_credentials`
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `['client_secret_basic']` (Authlib’s
 *   default; add `client_secret_post` or a registered method such as
 *   `private_key_jwt` in a subclass)
 * - public clients are refused with `unauthorized_client`, whatever the
 *   methods allowed (RFC 6749 §4.4: "MUST only be used by confidential clients")
 * - never issues a refresh token (RFC 6749 §4.4.3)
 *
 * @example
 * ```ts
 * server.registerGrant(ClientCredentialsGrant)
 *
 * // or, accepting the secret in the body as well:
 * class MyClientCredentialsGrant extends ClientCredentialsGrant {
 *   static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']
 * }
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export class ClientCredentialsGrant extends BaseGrant {
  static override GRANT_TYPE: string = 'client_credentials'
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic']
  static override AUTHORIZATION_ENDPOINT = false
  static override TOKEN_ENDPOINT = true

  /** The validated scopes, set by {@link validateTokenRequest}. */
  scopes: readonly string[] = NO_SCOPES

  /**
   * Authenticates the client (RFC 6749 §4.4.2: "The authorization server
   * MUST authenticate the client"), refuses public clients and resolves the
   * requested `scope` against the client's (`invalid_scope` when wider).
   */
  override async validateTokenRequest(): Promise<void> {
    const client = await this.authenticateTokenEndpointClient()
    // RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential clients."
    if (isPublicClient(client)) {
      throw new OAuthError('unauthorized_client', 'the client credentials grant is only for confidential clients (RFC 6749 §4.4)')
    }
    this.scopes = this.resolveScopes(this.param('scope'), client)
    // Hot path (token-endpoint benchmark): skip the hook loop when no extension is registered.
    if (this.extensions.length > 0) await this.runHook('afterValidateTokenRequest', { grant: this, client })
  }

  /** Issues an access token without a refresh token (RFC 6749 §4.4.3: "A refresh token SHOULD NOT be included"). */
  override async createTokenResponse(): Promise<OAuthResponse> {
    const client = this.client
    if (client === null) throw new TypeError('createTokenResponse called before validateTokenRequest')
    const body = await this.issueTokens({ client, user: null, scopes: this.scopes, refreshToken: false })
    return this.tokenResponse(body)
  }
}
