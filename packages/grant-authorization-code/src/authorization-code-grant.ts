import {
  BaseGrant,
  OAuthError,
  formatScope,
  generateToken,
  hashToken,
  isPublicClient,
  parseScope,
  type AuthorizationCodeRecord,
  type AuthorizationRequest,
  type Client,
  type GrantUser,
  type OAuthResponse,
} from '@grantkit/core'

/**
 * The authorization code grant: `response_type=code` at the authorization
 * endpoint, `grant_type=authorization_code` at the token endpoint.
 *
 * With a store configured nothing needs overriding: the default hooks save
 * codes (hashed) in the store and redeem them atomically. Override the hooks
 * to keep codes elsewhere, as the reference's SQLAlchemy example does:
 *
 * - {@link createAuthorizationCode} generates and saves a code;
 * - {@link parseAuthorizationCode} finds (and by default consumes) a code;
 * - {@link deleteAuthorizationCode} removes a redeemed code (default: no-op,
 *   the default `parseAuthorizationCode` already consumed it);
 * - {@link authenticateUser} returns the user the code was issued to.
 *
 * Static configuration (override in a subclass):
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `client_secret_basic`,
 *   `client_secret_post` and `none` (public clients) by default;
 * - `REQUIRE_PKCE_FOR_PUBLIC_CLIENTS`: `true` by default, so a public client's
 *   authorization request without a PKCE challenge accepted by an extension
 *   (register `CodeChallenge` from `@grantkit/ext-pkce`) is rejected with
 *   `invalid_request` (RFC 9700 §2.1.1).
 *
 * @example
 * ```ts
 * server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge()])
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-2.1.1
 */
export class AuthorizationCodeGrant extends BaseGrant {
  static override GRANT_TYPE: string | null = 'authorization_code'
  static override RESPONSE_TYPES: readonly string[] = ['code']
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none']
  static override AUTHORIZATION_ENDPOINT = true
  static override TOKEN_ENDPOINT = true
  /**
   * Reject authorization requests of public clients that carry no PKCE
   * challenge (RFC 9700 §2.1.1: "public clients MUST use PKCE"). Set to
   * `false` in a subclass only for legacy public clients you cannot update.
   */
  static REQUIRE_PKCE_FOR_PUBLIC_CLIENTS = true

  /** The redeemed code, once {@link validateTokenRequest} succeeded. */
  authorizationCode: AuthorizationCodeRecord | null = null
  /** The user the redeemed code was issued to, once {@link validateTokenRequest} succeeded. */
  user: GrantUser | null = null

  // ---- hooks (override to keep codes or users elsewhere) ---------------------

  /**
   * Generates an authorization code for an approved request and saves it.
   * The default saves an {@link AuthorizationCodeRecord} in the store: the
   * code's hash only, bound to the client, the user, the `redirect_uri` as
   * sent (`null` when omitted), the granted scope and the PKCE challenge,
   * expiring after the server's `authorizationCodeLifetime`.
   *
   * @returns the code to send to the client.
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
   */
  async createAuthorizationCode(client: Client, user: GrantUser, authorization: AuthorizationRequest): Promise<string> {
    const code = generateToken()
    const createdAt = this.now()
    await this.store.saveAuthorizationCode({
      codeHash: hashToken(code),
      clientId: client.clientId,
      userId: user.id,
      redirectUri: authorization.redirectUriProvided ? authorization.redirectUri : null,
      scope: formatScope(authorization.scopes),
      familyId: this.server.newId(),
      codeChallenge: authorization.codeChallenge ?? null,
      codeChallengeMethod: authorization.codeChallenge === undefined ? null : (authorization.codeChallengeMethod ?? null),
      createdAt,
      expiresAt: new Date(createdAt.getTime() + this.server.options.authorizationCodeLifetime * 1000),
      consumedAt: null,
      extra: { ...authorization.extra },
    })
    return code
  }

  /**
   * Finds the code a client presents at the token endpoint; `null` makes
   * the request fail with `invalid_grant`.
   *
   * The default **consumes** the code: it redeems it atomically in the store
   * (`consumeAuthorizationCode`), so of concurrent redemptions exactly one
   * gets the record. A code redeemed before (a replay) revokes every token
   * issued from it and answers `null` (RFC 6749 §4.1.2: "If an authorization
   * code is used more than once, the authorization server MUST deny the
   * request and SHOULD revoke (when possible) all tokens previously issued
   * based on that authorization code"). A code of another client, an
   * unknown or an expired code answer `null`. The code is consumed even when
   * a later check (client, `redirect_uri`, PKCE) fails: it never gets a
   * second chance.
   *
   * An override that only looks the code up must also override
   * {@link deleteAuthorizationCode}.
   *
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
   */
  async parseAuthorizationCode(code: string, client: Client): Promise<AuthorizationCodeRecord | null> {
    const now = this.now()
    const result = await this.store.consumeAuthorizationCode(hashToken(code), now)
    if (result === null) return null
    if (!result.consumed) {
      // Mark the replay before revoking, so that a redemption still saving its
      // tokens sees it afterwards (see createTokenResponse).
      await this.store.markUsed(replayKey(result.code), result.code.expiresAt, now)
      await this.store.revokeTokenFamily(result.code.familyId, now)
      const { clientId, userId, familyId } = result.code
      this.server.reportSecurityEvent({ type: 'authorization_code_replay', clientId, userId, familyId })
      return null
    }
    if (result.code.clientId !== client.clientId) return null
    return result.code
  }

  /**
   * Removes a redeemed code, before tokens are issued for it. The default
   * does nothing: the default {@link parseAuthorizationCode} consumed the
   * code already, and the store keeps it (until it expires) to detect
   * replays. Override it when `parseAuthorizationCode` only looks codes up.
   */
  async deleteAuthorizationCode(_authorizationCode: AuthorizationCodeRecord): Promise<void> {}

  /**
   * The user a redeemed code was issued to; `null` fails the request with
   * `invalid_grant`. The default is `{ id: record.userId }`, with the
   * `username` from the server's `resolveUser` when it knows the user.
   */
  async authenticateUser(authorizationCode: AuthorizationCodeRecord): Promise<GrantUser | null> {
    const resolved = await this.server.resolveUser(authorizationCode.userId)
    return resolved?.username === undefined ? { id: authorizationCode.userId } : { id: authorizationCode.userId, username: resolved.username }
  }

  // ---- authorization endpoint ----------------------------------------------

  /**
   * Validates the authorization request (RFC 6749 §4.1.1) after the server's
   * checks: the client's authentication method must be one of
   * `TOKEN_ENDPOINT_AUTH_METHODS` (else `unauthorized_client`: it could not
   * redeem the code), then response type, grant type and scope
   * (`BaseGrant`), the extensions' hooks (PKCE), then the PKCE requirement
   * for public clients.
   *
   * @see https://www.rfc-editor.org/rfc/rfc9700#section-2.1.1
   */
  override async validateAuthorizationRequest(): Promise<AuthorizationRequest> {
    const grantClass = this.constructor as typeof AuthorizationCodeGrant
    // Fail before issuing a code the client could never redeem: its
    // authentication method is not accepted at this grant's token endpoint.
    if (!grantClass.TOKEN_ENDPOINT_AUTH_METHODS.includes(this.requireAuthorization().client.tokenEndpointAuthMethod)) {
      throw new OAuthError('unauthorized_client', 'the client authentication method is not allowed for this grant')
    }
    const authorization = await super.validateAuthorizationRequest()
    // RFC 9700 §2.1.1: "Public clients MUST use PKCE [RFC7636] to this end".
    if (grantClass.REQUIRE_PKCE_FOR_PUBLIC_CLIENTS && isPublicClient(authorization.client) && authorization.codeChallenge === undefined) {
      throw new OAuthError('invalid_request', 'public clients must send a PKCE code challenge (RFC 9700 §2.1.1)')
    }
    return authorization
  }

  /**
   * Issues a code for the approved request and redirects back with `code`
   * (plus `state` and `iss`).
   *
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
   */
  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    const authorization = this.requireAuthorization()
    const code = await this.createAuthorizationCode(authorization.client, user, authorization)
    return this.authorizationRedirect(user, { code })
  }

  // ---- token endpoint -------------------------------------------------------

  /**
   * Validates an access token request (RFC 6749 §4.1.3): authenticates the
   * client, redeems `code`, checks that it was issued to this client, has not
   * expired and that `redirect_uri` matches, runs the
   * `afterValidateTokenRequest` hooks (PKCE verifies here) and finds the user.
   *
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
   */
  override async validateTokenRequest(): Promise<void> {
    const client = await this.authenticateTokenEndpointClient()
    // Read every parameter before redeeming, so that a malformed request
    // (missing or repeated parameter) does not burn the code.
    const code = this.requireParam('code')
    const redirectUri = this.param('redirect_uri')
    const record = await this.parseAuthorizationCode(code, client)
    if (record === null) throw new OAuthError('invalid_grant', 'the authorization code is invalid, expired or already used')
    // Checked again here so that an overridden parseAuthorizationCode cannot
    // forget them: "ensure that the authorization code was issued to the
    // authenticated confidential client" (RFC 6749 §4.1.3).
    if (record.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the authorization code was issued to another client')
    if (record.expiresAt.getTime() <= this.now().getTime()) throw new OAuthError('invalid_grant', 'the authorization code expired')
    this.checkRedirectUri(record, client, redirectUri)
    await this.runHook('afterValidateTokenRequest', { grant: this, client, code: record })
    const user = await this.authenticateUser(record)
    if (user === null) throw new OAuthError('invalid_grant', 'the user of the authorization code is unknown')
    this.authorizationCode = record
    this.user = user
  }

  /**
   * Deletes the code ({@link deleteAuthorizationCode}) and issues the access
   * token, and a refresh token when `includeRefreshToken` says so, in the
   * code's token family (revoked together on a replay).
   *
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.4
   */
  override async createTokenResponse(): Promise<OAuthResponse> {
    const { client, authorizationCode, user } = this
    if (client === null || authorizationCode === null || user === null) {
      throw new TypeError('createTokenResponse called before validateTokenRequest')
    }
    // Delete before issuing, so that tokens never exist next to a usable code.
    await this.deleteAuthorizationCode(authorizationCode)
    const body = await this.issueTokens({
      client,
      user,
      scopes: parseScope(authorizationCode.scope),
      refreshToken: this.includeRefreshToken(client, user),
      familyId: authorizationCode.familyId,
    })
    // A replay racing this redemption may have revoked the family before the
    // tokens above were saved. Both sides mark the same key in the replay
    // store — the replay before revoking, this request after saving — so the
    // second one to mark sees the first: if a replay got there first, revoke
    // what was just issued (RFC 6749 §4.1.2). Of N concurrent redemptions
    // exactly one still answers 200; its tokens are dead if a replay was seen.
    const now = this.now()
    if (!(await this.store.markUsed(replayKey(authorizationCode), authorizationCode.expiresAt, now))) {
      await this.store.revokeTokenFamily(authorizationCode.familyId, now)
    }
    return this.tokenResponse(body)
  }

  /**
   * RFC 6749 §4.1.3: `redirect_uri` is "REQUIRED, if the "redirect_uri"
   * parameter was included in the authorization request [...], and their
   * values MUST be identical." When it was omitted there, a `redirect_uri`
   * sent here must still be one registered for the client.
   */
  protected checkRedirectUri(record: AuthorizationCodeRecord, client: Client, redirectUri: string | undefined): void {
    if (record.redirectUri !== null) {
      if (redirectUri === undefined) throw new OAuthError('invalid_grant', 'redirect_uri is required: it was sent in the authorization request')
      if (redirectUri !== record.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request')
    } else if (redirectUri !== undefined && !client.redirectUris.includes(redirectUri)) {
      throw new OAuthError('invalid_grant', 'redirect_uri is not registered for this client')
    }
  }
}

/** The replay-store key shared by a code's redemption and its replays. */
function replayKey(code: AuthorizationCodeRecord): string {
  return `authorization_code:${code.codeHash}`
}
