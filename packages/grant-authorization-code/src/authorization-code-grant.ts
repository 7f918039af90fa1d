import {
  BaseGrant,
  OAuthError,
  configError,
  formatScope,
  generateToken,
  hashToken,
  isPublicClient,
  isRegisteredRedirectUri,
  parseScope,
  type AuthorizationCodeRecord,
  type AuthorizationRequest,
  type AuthorizationServer,
  type Client,
  type GrantClass,
  type StoreCapability,
  type GrantUser,
  type OAuthResponse,
} from '@grantkit/core'

/**
 * The authorization code grant: `response_type=code` at the authorization
 * endpoint, `grant_type=authorization_code` at the token endpoint.
 *
 * With a store configured nothing needs overriding: the default hooks save
 * codes (hashed) in the store and redeem them atomically. Override the hooks
 * to keep codes elsewhere, as Authlib’s SQLAlchemy example does:
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
 * - `REQUIRE_PKCE_FOR_PUBLIC_CLIENTS`: `true` by default, so without a PKCE
 *   extension a public client's authorization request is rejected with
 *   `invalid_request` (RFC 9700 §2.1.1). With `CodeChallenge` from
 *   `@grantkit/ext-pkce` registered, the extension owns the whole PKCE
 *   policy (its `required`, `requirePublicClients` and
 *   `allowPlainForPublicClients` options) and this static is not consulted.
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
  static override STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'authorizationCodes', 'tokens']

  /** Checks `REQUIRE_PKCE_FOR_PUBLIC_CLIENTS` too, at `registerGrant`. */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    BaseGrant.validateConfiguration.call(this, server)
    const value: unknown = (this as unknown as typeof AuthorizationCodeGrant).REQUIRE_PKCE_FOR_PUBLIC_CLIENTS
    if (typeof value !== 'boolean') throw configError(`${this.name}.REQUIRE_PKCE_FOR_PUBLIC_CLIENTS must be a boolean`)
  }

  /** The redeemed code, once {@link validateTokenRequest} succeeded. */
  authorizationCode: AuthorizationCodeRecord | null = null
  /** The user the redeemed code was issued to, once {@link validateTokenRequest} succeeded. */
  user: GrantUser | null = null
  /** The code as the default `parseAuthorizationCode` read it from the store: consumed by this grant after its tokens are saved. */
  #fromStore: AuthorizationCodeRecord | null = null

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
   * The default reads the code from the store without consuming it; the
   * grant consumes it (`consumeAuthorizationCode`, atomic: of concurrent
   * redemptions exactly one wins) only after the tokens are saved, so a
   * failure on the way (a database fault) leaves the code usable, and a
   * replay that consumes in between revokes the saved tokens with their
   * family. A code redeemed before (a replay) revokes every token issued
   * from it and answers `null` (RFC 6749 §4.1.2: "If an authorization code
   * is used more than once, the authorization server MUST deny the request
   * and SHOULD revoke (when possible) all tokens previously issued based on
   * that authorization code"). A code presented by another client, or one
   * that then fails a check (`redirect_uri`, PKCE), is consumed at once: it
   * never gets a second chance. Unknown and expired codes answer `null`.
   *
   * An override that reads codes elsewhere must also override
   * {@link deleteAuthorizationCode} and list less in `STORE_CAPABILITIES`.
   *
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
   */
  async parseAuthorizationCode(code: string, client: Client): Promise<AuthorizationCodeRecord | null> {
    const record = await this.store.findAuthorizationCode(hashToken(code), this.now())
    if (record === null) return null
    if (record.consumedAt !== null) {
      await this.#replayed(record)
      return null
    }
    this.#fromStore = record
    if (record.clientId !== client.clientId) {
      // A code presented by another client is spent all the same (RFC 6749 §4.1.3).
      await this.#spend(record)
      return null
    }
    return record
  }

  /**
   * Removes a redeemed code, before tokens are issued for it. The default
   * does nothing: a code read by the default {@link parseAuthorizationCode}
   * is consumed in the store right after its tokens are saved (and kept,
   * until it expires, to detect replays). Override it when
   * `parseAuthorizationCode` reads codes from elsewhere.
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
    if (this.#grantRequiresPkce(authorization.client) && authorization.codeChallenge === undefined) {
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
    try {
      // Checked again here so that an overridden parseAuthorizationCode cannot
      // forget them: "ensure that the authorization code was issued to the
      // authenticated confidential client" (RFC 6749 §4.1.3).
      if (record.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the authorization code was issued to another client')
      if (record.expiresAt.getTime() <= this.now().getTime()) throw new OAuthError('invalid_grant', 'the authorization code expired')
      this.checkRedirectUri(record, client, redirectUri)
      await this.runHook('afterValidateTokenRequest', { grant: this, client, code: record })
      // RFC 9700 §2.1.1: a public client's code must have carried a PKCE
      // challenge. Checked here too, so that a storage override that drops
      // the challenge cannot switch PKCE off without anyone noticing.
      if (this.#grantRequiresPkce(client) && record.codeChallenge === null) {
        throw new OAuthError('invalid_grant', 'the authorization code was issued without the PKCE challenge a public client needs')
      }
      const user = await this.authenticateUser(record)
      if (user === null) throw new OAuthError('invalid_grant', 'the user of the authorization code is unknown')
      this.authorizationCode = record
      this.user = user
    } catch (error) {
      // A code that fails a check is spent (it never gets a second chance).
      if (this.#fromStore !== null) await this.#spend(this.#fromStore)
      throw error
    }
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
      code: authorizationCode,
    })
    const fromStore = this.#fromStore
    if (fromStore !== null) {
      // Consume only now that the tokens are saved: a failure before this
      // line leaves the code usable and the saved tokens unknown to anyone.
      // Of N concurrent redemptions exactly one consumes; the others (and
      // any replay) find the code consumed and revoke the family, which
      // already holds the winner's tokens: nothing can slip past a replay.
      const result = await this.store.consumeAuthorizationCode(fromStore.codeHash, this.now())
      if (result === null || !result.consumed) {
        if (result === null) await this.#revokeIssued()
        else await this.#replayed(result.code)
        throw new OAuthError('invalid_grant', 'the authorization code is invalid, expired or already used')
      }
    }
    return this.tokenResponse(body)
  }

  /** Consumes a code that failed a check; a code consumed already meanwhile is a replay. */
  async #spend(record: AuthorizationCodeRecord): Promise<void> {
    const result = await this.store.consumeAuthorizationCode(record.codeHash, this.now())
    if (result !== null && !result.consumed) await this.#replayed(result.code)
  }

  /** RFC 6749 §4.1.2: a code used more than once revokes what it issued. */
  async #replayed(record: AuthorizationCodeRecord): Promise<void> {
    await this.store.revokeTokenFamily(record.familyId, this.now())
    const { clientId, userId, familyId } = record
    this.server.reportSecurityEvent({ type: 'authorization_code_replay', clientId, userId, familyId })
  }

  /** Revokes the tokens this request saved (their code expired before it could be consumed). */
  async #revokeIssued(): Promise<void> {
    const now = this.now()
    for (const record of this.issuedRecords) await this.store.revokeToken(record.tokenHash, now)
  }

  /**
   * Whether the grant itself requires a PKCE challenge of this client:
   * `REQUIRE_PKCE_FOR_PUBLIC_CLIENTS` for public clients, unless a
   * registered extension owns the PKCE policy (`CodeChallenge` does, with
   * its `requirePublicClients` option: one place decides).
   */
  #grantRequiresPkce(client: Client): boolean {
    if (this.extensions.some((e) => e.codeChallengePolicy === true)) return false
    return (this.constructor as typeof AuthorizationCodeGrant).REQUIRE_PKCE_FOR_PUBLIC_CLIENTS && isPublicClient(client)
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
    } else if (redirectUri !== undefined && !isRegisteredRedirectUri(client, redirectUri, { anyLoopbackPort: this.server.options.anyLoopbackPort })) {
      throw new OAuthError('invalid_grant', 'redirect_uri is not registered for this client')
    }
  }
}

