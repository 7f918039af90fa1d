import { BaseGrant, OAuthError, type AuthorizationRequest, type GrantUser, type OAuthResponse } from '@grantkit/core'

/**
 * The implicit grant: `response_type=token` at the authorization endpoint
 * answers the access token in the redirect URI's fragment. It serves public
 * clients only (`TOKEN_ENDPOINT_AUTH_METHODS` is `['none']`): a client
 * registered with another authentication method gets `unauthorized_client`.
 * It never issues a refresh token (RFC 6749 §4.2.2).
 *
 * Nothing needs overriding: `server.registerGrant(ImplicitGrant)`.
 *
 * @deprecated RFC 9700 §2.1.2: "clients SHOULD NOT use the implicit grant".
 * The access token travels in the URL, where it can leak and be injected.
 * Use {@link https://www.npmjs.com/package/@grantkit/grant-authorization-code | AuthorizationCodeGrant}
 * with PKCE instead; this grant remains for clients that cannot move yet.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-2.1.2
 */
export class ImplicitGrant extends BaseGrant {
  static override GRANT_TYPE: string | null = 'implicit'
  static override RESPONSE_TYPES: readonly string[] = ['token']
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['none']
  static override AUTHORIZATION_ENDPOINT = true
  static override TOKEN_ENDPOINT = false

  /**
   * Validates the authorization request (RFC 6749 §4.2.1): the client must
   * be registered with one of `TOKEN_ENDPOINT_AUTH_METHODS` (public by
   * default), then response type, grant type, scope and extension hooks.
   */
  override async validateAuthorizationRequest(): Promise<AuthorizationRequest> {
    const authorization = this.requireAuthorization()
    // RFC 6749 §4.2: the implicit grant "is optimized for public clients";
    // a confidential client has a token endpoint to use instead.
    if (!this.grantClass.TOKEN_ENDPOINT_AUTH_METHODS.includes(authorization.client.tokenEndpointAuthMethod)) {
      throw new OAuthError('unauthorized_client', 'the implicit grant is for public clients only')
    }
    return super.validateAuthorizationRequest()
  }

  /**
   * Issues an access token and redirects back with `access_token`,
   * `token_type`, `expires_in`, `scope` (and `state`, `iss`) in the fragment.
   * "The authorization server MUST NOT issue a refresh token" (RFC 6749 §4.2.2).
   *
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.2.2
   */
  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    const authorization = this.requireAuthorization()
    const body = await this.issueTokens({ client: authorization.client, user, scopes: authorization.scopes, refreshToken: false })
    const params: Record<string, string> = {}
    for (const [name, value] of Object.entries(body)) {
      if (name === 'refresh_token' || value === undefined || value === null || value === '') continue
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') params[name] = String(value)
    }
    return this.authorizationRedirect(user, params)
  }
}
