import { BaseGrant, OAuthError, configError, type AuthorizationServer, type Client, type GrantClass, type GrantUser, type OAuthResponse } from '@grantkit/core'

/**
 * The resource owner password credentials grant: a trusted client sends the
 * user's username and password to the token endpoint.
 *
 * Abstract: a subclass must implement {@link authenticateUser} (a missing one
 * is a compile error at `server.registerGrant`). With a `UserStore`,
 * `authenticateStoreUser` does the work.
 *
 * - `GRANT_TYPE`: `password`
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `['client_secret_basic']` (Authlib’s
 *   default; widen it in a subclass)
 * - a refresh token is issued when {@link BaseGrant.includeRefreshToken} says
 *   so (the client may use `refresh_token` and a grant for it is registered)
 * - failed logins are throttled by the server's `throttle` option, per
 *   username and per remote address: over the limit, 429 `invalid_grant`
 *   with `Retry-After` before the password is checked
 *
 * @deprecated RFC 9700 §2.4: "The resource owner password credentials grant
 * MUST NOT be used." It is offered for migrating legacy clients only; prefer
 * the authorization code grant with PKCE.
 *
 * @example
 * ```ts
 * class PasswordGrant extends ResourceOwnerPasswordCredentialsGrant {
 *   async authenticateUser(username: string, password: string) {
 *     return authenticateStoreUser(users, username, password)
 *   }
 * }
 * server.registerGrant(PasswordGrant)
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-2.4
 */
export abstract class ResourceOwnerPasswordCredentialsGrant extends BaseGrant {
  static override GRANT_TYPE: string = 'password'
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic']
  static override AUTHORIZATION_ENDPOINT = false
  static override TOKEN_ENDPOINT = true

  /**
   * A subclass must implement `authenticateUser` (a compile error in
   * TypeScript; for JavaScript callers this `TypeError` at `registerGrant`
   * instead of a failure on every request).
   */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    BaseGrant.validateConfiguration.call(this, server)
    if (typeof (this.prototype as Partial<ResourceOwnerPasswordCredentialsGrant>).authenticateUser !== 'function') {
      throw configError(`${this.name || 'ResourceOwnerPasswordCredentialsGrant'} must implement authenticateUser(username, password)`)
    }
  }

  /** The authenticated resource owner, set by {@link validateTokenRequest}. */
  user: GrantUser | null = null
  /** The validated scopes, set by {@link validateTokenRequest}. */
  scopes: string[] = []

  /**
   * Checks the resource owner's credentials. Return the user, or `null` when
   * they are wrong (answered `invalid_grant`). Compare passwords in constant
   * time and spend the same work for unknown users (`authenticateStoreUser` does both).
   */
  abstract authenticateUser(username: string, password: string): Promise<GrantUser | null>

  /**
   * Validates the request (RFC 6749 §4.3.2): authenticates the client, which
   * must be allowed the `password` grant, requires `username` and `password`,
   * resolves `scope` against the client, then checks the credentials
   * (throttled: see the class comment).
   */
  override async validateTokenRequest(): Promise<void> {
    // RFC 6749 §4.3.2: "require client authentication for confidential clients".
    const client = await this.authenticateTokenEndpointClient()
    const username = this.requireParam('username')
    const password = this.requireParam('password')
    // Scope first: it is cheap and must not cost a password verification when it fails.
    this.scopes = this.resolveScopes(this.param('scope'), client)
    // RFC 6819 §4.4.3.6 / §5.1.4.2.3: failures are throttled per username (case-folded, so
    // that "Alice" and "alice" share a count) and per remote address; known and unknown
    // usernames alike, so a throttled answer (429) tells nothing about which exist.
    this.user = await this.server.throttleAttempt(this.request, `user:${username.toLowerCase()}`, 'invalid_grant', async () => {
      const user = await this.authenticateUser(username, password)
      // RFC 6749 §5.2: invalid_grant — "The provided authorization grant (e.g., […] resource owner credentials) […] is invalid".
      if (user === null) throw new OAuthError('invalid_grant', 'the resource owner credentials are invalid')
      return user
    })
    await this.runHook('afterValidateTokenRequest', { grant: this, client })
  }

  /** Issues an access token, and a refresh token when {@link BaseGrant.includeRefreshToken} allows (RFC 6749 §4.3.3). */
  override async createTokenResponse(): Promise<OAuthResponse> {
    const client: Client | null = this.client
    const user = this.user
    if (client === null || user === null) throw new TypeError('createTokenResponse called before validateTokenRequest')
    const body = await this.issueTokens({ client, user, scopes: this.scopes, refreshToken: this.includeRefreshToken(client, user) })
    return this.tokenResponse(body)
  }
}
