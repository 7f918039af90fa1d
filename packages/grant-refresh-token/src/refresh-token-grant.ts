import {
  BaseGrant,
  OAuthError,
  configError,
  hashToken,
  parseScope,
  type AuthorizationServer,
  type Client,
  type GrantClass,
  type GrantUser,
  type OAuthResponse,
  type StoreCapability,
  type TokenRecord,
} from '@grantkit/core'

/** The static configuration of {@link RefreshTokenGrant}, as its subclasses see it. */
interface RefreshTokenGrantClass {
  readonly name: string
  readonly ROTATE_REFRESH_TOKEN: boolean
  readonly REUSE_GRACE_PERIOD: number
}

/**
 * The refresh token grant: exchanges a refresh token for a new access token
 * and, by default, a new refresh token in the same family (rotation).
 *
 * Hooks (override in a subclass; the defaults use the server's store):
 * - {@link authenticateRefreshToken}: finds the token's record;
 * - {@link authenticateUser}: the resource owner behind it;
 * - {@link revokeOldCredential}: the compare-and-set that retires the
 *   presented token when rotating.
 *
 * Static options:
 * - `GRANT_TYPE`: `refresh_token`;
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `['client_secret_basic']` (Authlib’s
 *   default; public clients need a subclass that adds `none`);
 * - `ROTATE_REFRESH_TOKEN` (default `true`, RFC 9700 §4.14.2): issue a new
 *   refresh token and retire the presented one. When `false`, the presented
 *   token stays valid and only an access token is issued;
 * - `REUSE_GRACE_PERIOD` (seconds, default `0`): a rotated token presented
 *   again within this window after its rotation is refused with
 *   `invalid_grant` *without* revoking its family (a client that retried a
 *   request whose response it lost). No second token is ever issued for one
 *   refresh token, so concurrent uses still give at most one success.
 *
 * Reuse of a rotated refresh token outside the grace period revokes every
 * token of its family (RFC 9700 §4.14.2): one of the legitimate client and an
 * attacker holding a stolen token will present an invalidated token.
 *
 * @example
 * ```ts
 * server.registerGrant(RefreshTokenGrant)
 *
 * // public clients (no secret) refresh too:
 * class PublicRefreshTokenGrant extends RefreshTokenGrant {
 *   static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'none']
 * }
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export class RefreshTokenGrant extends BaseGrant {
  static override GRANT_TYPE: string = 'refresh_token'
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic']
  static override AUTHORIZATION_ENDPOINT = false
  static override TOKEN_ENDPOINT = true
  /** Issue a new refresh token and retire the presented one (RFC 9700 §4.14.2). */
  static ROTATE_REFRESH_TOKEN: boolean = true
  /** Seconds after a rotation during which a reuse is refused without revoking the family. */
  static REUSE_GRACE_PERIOD: number = 0
  static override STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens', 'refreshRotation']

  /** Checks `ROTATE_REFRESH_TOKEN` and `REUSE_GRACE_PERIOD` once, at `registerGrant`. */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    BaseGrant.validateConfiguration.call(this, server)
    const options = this as unknown as RefreshTokenGrantClass
    if (typeof options.ROTATE_REFRESH_TOKEN !== 'boolean') throw configError(`${options.name}.ROTATE_REFRESH_TOKEN must be a boolean`)
    const grace: unknown = options.REUSE_GRACE_PERIOD
    if (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0) {
      throw configError(`${options.name}.REUSE_GRACE_PERIOD must be a number of seconds, 0 or more`)
    }
  }

  /** The presented refresh token's record, set by {@link validateTokenRequest}. */
  credential: TokenRecord | null = null
  /** The resource owner, or `null` for a client-only token, set by {@link validateTokenRequest}. */
  user: GrantUser | null = null
  /** The granted scopes, set by {@link validateTokenRequest}. */
  scopes: string[] = []

  /**
   * Finds the record of a presented refresh token; `null` answers
   * `invalid_grant`. The default looks it up by hash in the store and
   * refuses anything that is not a refresh token, expired or revoked. A
   * rotated token is returned, so that its reuse is detected.
   */
  async authenticateRefreshToken(refreshToken: string): Promise<TokenRecord | null> {
    const record = await this.store.findToken(hashToken(refreshToken))
    if (record === null || record.type !== 'refresh_token' || record.revokedAt !== null) return null
    if (record.expiresAt.getTime() <= this.now().getTime()) return null
    return record
  }

  /**
   * The resource owner the token was issued for; `null` for a token with a
   * user that is no longer valid (answered `invalid_grant`). The default is
   * `{ id: credential.userId }` with the username from `server.resolveUser`
   * when it knows the user. It does not refuse users the resolver cannot find:
   * override it to refuse deleted or disabled accounts.
   */
  async authenticateUser(credential: TokenRecord): Promise<GrantUser | null> {
    if (credential.userId === null) return null
    const resolved = await this.server.resolveUser(credential.userId)
    return resolved === null ? { id: credential.userId } : { id: credential.userId, username: resolved.username }
  }

  /**
   * Retires the presented refresh token when rotating; `true` when this
   * request won. The default is the store's compare-and-set
   * `rotateRefreshToken`: of N concurrent requests with one token, at most
   * one wins (RFC 9700 §4.14.2).
   */
  async revokeOldCredential(credential: TokenRecord): Promise<boolean> {
    const result = await this.store.rotateRefreshToken(credential.tokenHash, this.now())
    return result !== null && result.rotated
  }

  /**
   * Validates the request (RFC 6749 §6): authenticates the client, which must
   * be allowed `refresh_token`; requires `refresh_token`, issued to this client
   * and still valid; detects reuse of a rotated token; resolves `scope`
   * against the originally granted scope.
   */
  override async validateTokenRequest(): Promise<void> {
    const options = this.#options()
    // RFC 6749 §6: "authenticate the client if client authentication is included".
    const client = await this.authenticateTokenEndpointClient()
    const refreshToken = this.requireParam('refresh_token')
    const requestedScope = this.param('scope')
    const credential = await this.authenticateRefreshToken(refreshToken)
    // RFC 6749 §5.2: invalid_grant — the refresh token "is invalid, expired, revoked […] or was issued to another client".
    if (credential === null) throw new OAuthError('invalid_grant', 'the refresh token is invalid, expired or revoked')
    // RFC 6749 §6: "ensure that the refresh token was issued to the authenticated client".
    if (credential.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the refresh token was issued to another client')
    // A rotated token is retired for good, whatever ROTATE_REFRESH_TOKEN says now.
    if (credential.rotatedAt !== null) await this.#rejectReuse(credential, options)
    // RFC 6749 §6: "The requested scope MUST NOT include any scope not originally granted";
    // omitted, it is "treated as equal to the scope originally granted".
    this.scopes = this.resolveScopes(requestedScope, client, parseScope(credential.scope), 'a requested scope was not granted to this refresh token')
    const user = await this.authenticateUser(credential)
    if (credential.userId !== null && user === null) throw new OAuthError('invalid_grant', 'the resource owner of the refresh token is no longer valid')
    this.credential = credential
    this.user = user
    await this.runHook('afterValidateTokenRequest', { grant: this, client, refreshToken: credential })
  }

  /**
   * Rotates the refresh token (unless `ROTATE_REFRESH_TOKEN` is false) and
   * issues a new access token, plus a new refresh token in the same family
   * when rotating (RFC 6749 §6, RFC 9700 §4.14.2).
   */
  override async createTokenResponse(): Promise<OAuthResponse> {
    const client: Client | null = this.client
    const credential = this.credential
    if (client === null || credential === null) throw new TypeError('createTokenResponse called before validateTokenRequest')
    const options = this.#options()
    const body = await this.issueTokens({
      client,
      user: this.user,
      scopes: this.scopes,
      refreshToken: options.ROTATE_REFRESH_TOKEN,
      // RFC 6749 §6: "the refresh token scope MUST be identical to that of the refresh token included by the client in the request".
      refreshTokenScopes: parseScope(credential.scope),
      familyId: credential.familyId,
      // The grant's claims (an RFC 8707 audience, an RFC 8693 `act`, an RFC 9449 `cnf`) carry over to its refreshed tokens.
      claims: claimsOf(credential),
      presentedRefreshToken: credential,
    })
    // Rotate only now that the successors are saved: a failure before this
    // line leaves the presented token usable (an honest retry is not a
    // reuse), and a reuse revoking the family at any moment either revokes
    // the presented token first (so this rotation fails) or finds the
    // successors already saved (and revokes them too).
    if (options.ROTATE_REFRESH_TOKEN && !(await this.revokeOldCredential(credential))) {
      // Another request rotated it first (a concurrent use or a reuse), or it
      // was revoked or expired meanwhile: the successors were never sent.
      const now = this.now()
      for (const record of this.issuedRecords) await this.store.revokeToken(record.tokenHash, now)
      await this.#rejectReuse(credential, options)
    }
    return this.tokenResponse(body)
  }

  /** Answers a presented token that could not be rotated; revokes its family when it is a reuse outside the grace period. */
  async #rejectReuse(credential: TokenRecord, options: RefreshTokenGrantClass): Promise<never> {
    const now = this.now()
    const current = (await this.store.findToken(credential.tokenHash)) ?? credential
    if (current.revokedAt !== null || current.expiresAt.getTime() <= now.getTime()) {
      throw new OAuthError('invalid_grant', 'the refresh token is invalid, expired or revoked')
    }
    const rotatedAt = current.rotatedAt
    if (rotatedAt !== null && now.getTime() - rotatedAt.getTime() < options.REUSE_GRACE_PERIOD * 1000) {
      throw new OAuthError('invalid_grant', 'the refresh token was already used')
    }
    // RFC 9700 §4.14.2: reuse of an invalidated refresh token is a breach; revoke the active tokens of the grant
    // (the presented token among them, which tells a rotation still saving its tokens to revoke them too).
    await this.store.revokeTokenFamily(current.familyId, now)
    this.server.reportSecurityEvent({ type: 'refresh_token_reuse', clientId: current.clientId, userId: current.userId, familyId: current.familyId })
    throw new OAuthError('invalid_grant', 'the refresh token was already used; every token of its grant is revoked')
  }

  #options(): RefreshTokenGrantClass {
    return this.constructor as unknown as RefreshTokenGrantClass
  }
}

/** The extra claims a token was issued with (`issueTokens({ claims })`), if any. */
function claimsOf(record: TokenRecord): Readonly<Record<string, unknown>> | undefined {
  const claims = record.extra?.['claims']
  return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined
}
