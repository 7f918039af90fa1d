import {
  BaseGrant,
  OAuthError,
  clientScopes,
  configError,
  hashToken,
  isPublicClient,
  parseScope,
  type AuthorizationServer,
  type Client,
  type GrantClass,
  type GrantUser,
  type OAuthResponse,
  type StoreCapability,
} from '@grantkit/core'
import { actClaim, isJsonObject, mayActNames, previousAct, previousAudience } from './internal/delegation.js'
import { readAudiences, readResources, refuseNul } from './internal/params.js'
import { TOKEN_EXCHANGE_GRANT_TYPE, TOKEN_TYPES } from './token-types.js'

/**
 * A validated subject or actor token, in a neutral shape whatever its type
 * (an access token of this server, a JWT from a trusted issuer, a SAML
 * assertion…), as {@link TokenExchangeGrant.validateSubjectToken} and
 * {@link TokenExchangeGrant.validateActorToken} answer it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export interface ExchangeTokenInfo {
  /**
   * Whom the token is about: a user id, or, for a client-only token
   * (`clientOnly: true`), the client's id. Becomes the issued token's user
   * (`sub`) for a subject token, `act.sub` for an actor token.
   */
  readonly subject: string
  /**
   * `true` when `subject` is a client id, not a user id (an access token
   * from the client credentials grant). Keeps a client id from ever being
   * taken for a user with the same id. Default `false`.
   */
  readonly clientOnly?: boolean | undefined
  /** The client the token was issued to, when known (`client_id`, RFC 8693 §4.3). */
  readonly clientId?: string | undefined
  /** Who issued the token (`iss`), when known; this server's issuer for its own tokens. */
  readonly issuer?: string | undefined
  /** The token's scopes: the issued token's scope never goes beyond them. */
  readonly scopes: readonly string[]
  /**
   * Other claims of the token the grant looks at: `may_act` (RFC 8693 §4.4)
   * on a subject token authorizes a delegation, `act` (§4.1) is nested in
   * the issued token's, `aud` is kept when the request names no target.
   */
  readonly claims?: Readonly<Record<string, unknown>> | undefined
}

/**
 * A validated token exchange request, as {@link TokenExchangeGrant.authorizeExchange}
 * and {@link TokenExchangeGrant.issuedTokenClaims} see it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export interface TokenExchangeContext {
  /** The authenticated client making the request. */
  readonly client: Client
  /** The validated `subject_token`. */
  readonly subject: ExchangeTokenInfo
  /** The `subject_token_type`. */
  readonly subjectTokenType: string
  /** The validated `actor_token`; `null` without one (impersonation, RFC 8693 §1.1). */
  readonly actor: ExchangeTokenInfo | null
  /** The `actor_token_type`; `null` without an actor token. */
  readonly actorTokenType: string | null
  /** The `requested_token_type` (always an access token here). */
  readonly requestedTokenType: string
  /** The scopes the issued token will have: within the subject token's and the client's. */
  readonly scopes: readonly string[]
  /** The `resource` parameters: absolute URIs, deduplicated, in request order. */
  readonly resources: readonly string[]
  /** The `audience` parameters, deduplicated, in request order. */
  readonly audiences: readonly string[]
}

/** The static configuration of {@link TokenExchangeGrant}, as its subclasses see it. */
interface TokenExchangeGrantClass {
  readonly name: string
  readonly TOKEN_ENDPOINT_AUTH_METHODS: readonly string[]
  readonly ALLOW_IMPERSONATION: boolean
  readonly ISSUE_REFRESH_TOKEN: boolean
}

function invalidRequest(description: string): OAuthError {
  // RFC 8693 §2.2.2: "If the request itself is not valid or if either the subject_token or actor_token
  // are invalid for any reason, or are unacceptable based on policy, [...] The value of the error
  // parameter MUST be the invalid_request error code." (not invalid_grant, as RFC 6749 §5.2 would have it).
  return new OAuthError('invalid_request', description)
}

/**
 * Checks what a `validateSubjectToken` / `validateActorToken` override
 * answered: a malformed answer is a bug of the override (`TypeError`,
 * answered `server_error`); a NUL in an identifier comes from the token,
 * i.e. the client (`invalid_request`), and never reaches the store.
 */
function checkTokenInfo(info: unknown, which: 'subject' | 'actor'): ExchangeTokenInfo | null {
  if (info === null || info === undefined) return null
  const hook = which === 'subject' ? 'validateSubjectToken' : 'validateActorToken'
  if (!isJsonObject(info)) throw new TypeError(`TokenExchangeGrant.${hook} must answer an object or null`)
  const { subject, clientId, issuer, scopes, claims, clientOnly } = info
  if (typeof subject !== 'string' || subject === '') throw new TypeError(`TokenExchangeGrant.${hook}: "subject" must be a non-empty string`)
  if (clientId !== undefined && typeof clientId !== 'string') throw new TypeError(`TokenExchangeGrant.${hook}: "clientId" must be a string`)
  if (issuer !== undefined && typeof issuer !== 'string') throw new TypeError(`TokenExchangeGrant.${hook}: "issuer" must be a string`)
  if (clientOnly !== undefined && typeof clientOnly !== 'boolean') throw new TypeError(`TokenExchangeGrant.${hook}: "clientOnly" must be a boolean`)
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string')) throw new TypeError(`TokenExchangeGrant.${hook}: "scopes" must be an array of strings`)
  if (claims !== undefined && !isJsonObject(claims)) throw new TypeError(`TokenExchangeGrant.${hook}: "claims" must be an object`)
  for (const value of [subject, clientId, issuer]) {
    if (typeof value === 'string' && value.includes('\u0000')) throw invalidRequest(`the ${which} token's identifiers must not contain a NUL character`)
  }
  return info as unknown as ExchangeTokenInfo
}

/** The `error_description` of a token type the server does not understand; the type itself is not echoed (it is the client's input). */
function unsupportedTokenType(parameter: 'subject_token_type' | 'actor_token_type'): OAuthError {
  return invalidRequest(`the "${parameter}" is not supported by this server`)
}

/**
 * The OAuth 2.0 token exchange grant (RFC 8693): a client presents a token
 * (`subject_token`) and gets a new access token for the same subject —
 * narrower in scope, for another audience, or acting for someone.
 *
 * - Impersonation (no `actor_token`): the new token is simply the subject's.
 *   Off by default (`unauthorized_client`); set `ALLOW_IMPERSONATION` or
 *   override {@link authorizeExchange}.
 * - Delegation (with an `actor_token`, RFC 8693 §1.1): the new token says
 *   who acts, in an `act` claim (§4.1) nesting any earlier `act`. Allowed by
 *   default only when the subject token's `may_act` claim (§4.4) names the
 *   actor, and the actor token (if it names a client) belongs to the
 *   requesting client.
 *
 * The issued token keeps the subject's user id, belongs to the requesting
 * client, starts a new token family and carries `aud` (from `resource` and
 * `audience`, else the subject token's own) and `act` as claims: stored
 * with the token (`extra.claims`), answered by introspection and put in JWT
 * access tokens. Its scope never goes beyond the subject token's or the
 * client's (`invalid_scope`).
 *
 * Hooks (override in a subclass):
 * - {@link validateSubjectToken} / {@link validateActorToken}: resolve a
 *   token of a given type; the default understands this server's own access
 *   tokens (`urn:ietf:params:oauth:token-type:access_token`);
 * - {@link authorizeExchange}: who may exchange what (and for which target);
 * - {@link issuedTokenClaims}: the claims of the issued token.
 *
 * Statics (checked at registration with a `TypeError`, `code: 'ERR_GRANTKIT_CONFIG'`):
 * - `GRANT_TYPE`: `urn:ietf:params:oauth:grant-type:token-exchange`;
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `['client_secret_basic', 'client_secret_post']`;
 *   never `none`: the client must authenticate;
 * - `ALLOW_IMPERSONATION` (default `false`);
 * - `ISSUE_REFRESH_TOKEN` (default `false`).
 *
 * @example
 * ```ts
 * server.registerGrant(TokenExchangeGrant)
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8693
 */
export class TokenExchangeGrant extends BaseGrant {
  static override GRANT_TYPE: string = TOKEN_EXCHANGE_GRANT_TYPE
  /**
   * Client authentication accepted; RFC 8693 §2.1 leaves it to the server,
   * this grant requires it (a stolen token alone must not be exchangeable).
   */
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post']
  static override AUTHORIZATION_ENDPOINT = false
  static override TOKEN_ENDPOINT = true
  /** Clients, and tokens: to find the server's own subject and actor tokens, and to save the issued one. */
  static override STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens']
  /**
   * Allow impersonation: an exchange without `actor_token` issues a token
   * that is simply the subject's (RFC 8693 §1.1). Default `false`. Any
   * authenticated client allowed this grant type that holds a user's token
   * can then get a new one for that user: prefer a per-client rule in
   * {@link authorizeExchange}.
   */
  static ALLOW_IMPERSONATION: boolean = false
  /**
   * Issue a refresh token with the access token (RFC 8693 §2.2.1 makes it
   * optional), when the client may use `refresh_token` and a refresh grant is
   * registered. Default `false`: the client exchanges its subject token again.
   */
  static ISSUE_REFRESH_TOKEN: boolean = false

  /**
   * Checks the statics, with a `TypeError` whose `code` is
   * `ERR_GRANTKIT_CONFIG` (`registerGrant` calls it, with `this` the grant
   * class), after `BaseGrant`'s own checks.
   */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    BaseGrant.validateConfiguration.call(this, server)
    const grant = this as unknown as TokenExchangeGrantClass
    const name = grant.name || 'TokenExchangeGrant'
    if (typeof grant.ALLOW_IMPERSONATION !== 'boolean') throw configError(`${name}.ALLOW_IMPERSONATION must be a boolean`)
    if (typeof grant.ISSUE_REFRESH_TOKEN !== 'boolean') throw configError(`${name}.ISSUE_REFRESH_TOKEN must be a boolean`)
    if (grant.TOKEN_ENDPOINT_AUTH_METHODS.length === 0) throw configError(`${name}.TOKEN_ENDPOINT_AUTH_METHODS must not be empty`)
    if (grant.TOKEN_ENDPOINT_AUTH_METHODS.includes('none')) {
      throw configError(`${name}.TOKEN_ENDPOINT_AUTH_METHODS must not include "none": the client exchanging a token must authenticate`)
    }
  }

  /** The validated exchange, set by {@link validateTokenRequest}. */
  exchange: TokenExchangeContext | null = null
  /** The claims of the token to issue, set by {@link validateTokenRequest} from {@link issuedTokenClaims}. */
  claims: Readonly<Record<string, unknown>> = {}

  /**
   * Resolves the `subject_token` of type `type` (RFC 8693 §2.1), or answers
   * `null` when it is not valid (unknown, expired, revoked, badly signed…:
   * answered `invalid_request`, RFC 8693 §2.2.2). The default understands
   * this server's access tokens ({@link resolveAccessToken}) and refuses any
   * other type with `invalid_request`. Override to accept more types, and
   * call `super` for the rest:
   *
   * ```ts
   * override async validateSubjectToken(token: string, type: string) {
   *   if (type !== TOKEN_TYPES.jwt) return super.validateSubjectToken(token, type)
   *   const payload = await jwtVerify(token, trustedKey, { issuer: TRUSTED, audience: ISSUER }).then((r) => r.payload, () => null)
   *   if (payload === null || typeof payload.sub !== 'string') return null
   *   return { subject: payload.sub, issuer: TRUSTED, scopes: parseScope(String(payload.scope ?? '')), claims: { may_act: payload.may_act } }
   * }
   * ```
   *
   * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
   */
  async validateSubjectToken(token: string, type: string): Promise<ExchangeTokenInfo | null> {
    if (type === TOKEN_TYPES.accessToken) return this.resolveAccessToken(token)
    throw unsupportedTokenType('subject_token_type')
  }

  /**
   * Resolves the `actor_token` of type `type` (RFC 8693 §2.1), the party
   * that will act for the subject; `null` when it is not valid
   * (`invalid_request`). Same default as {@link validateSubjectToken}.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
   */
  async validateActorToken(token: string, type: string): Promise<ExchangeTokenInfo | null> {
    if (type === TOKEN_TYPES.accessToken) return this.resolveAccessToken(token)
    throw unsupportedTokenType('actor_token_type')
  }

  /**
   * One of this server's own access tokens, looked up by hash: `null`
   * unless it is an access token (not a refresh token), not revoked and not
   * expired by the server's clock. Issued to any client: the holder of a
   * token is who exchanges it (a resource server passing on the token it
   * received, RFC 8693 §1); {@link authorizeExchange} decides whether it may.
   */
  async resolveAccessToken(token: string): Promise<ExchangeTokenInfo | null> {
    const record = await this.store.findToken(hashToken(token))
    if (record === null || record.type !== 'access_token' || record.revokedAt !== null) return null
    if (record.expiresAt.getTime() <= this.now().getTime()) return null
    const claims = record.extra?.['claims']
    return {
      subject: record.userId ?? record.clientId,
      clientOnly: record.userId === null,
      clientId: record.clientId,
      issuer: this.server.issuer,
      scopes: parseScope(record.scope),
      claims: isJsonObject(claims) ? claims : undefined,
    }
  }

  /**
   * Decides whether the exchange may happen; throws an {@link OAuthError} to
   * refuse. Runs after both tokens and the scope were validated. The default:
   *
   * - impersonation (no actor) is refused with `unauthorized_client` unless
   *   `ALLOW_IMPERSONATION` is `true`. The refusal depends on the client and
   *   the server's policy, not on the token presented, so it is RFC 6749
   *   §5.2's "The authenticated client is not authorized to use this
   *   authorization grant type" (in this mode), which RFC 8693 §2.2.2 allows:
   *   "Other error codes may also be used, as appropriate";
   * - delegation needs the subject token's `may_act` claim (RFC 8693 §4.4)
   *   to name the actor: every member it has must match — `sub` the actor's
   *   subject, `client_id` the requesting client, `iss` the actor token's
   *   issuer — and an actor token issued to a client must be the requesting
   *   client's. Otherwise `invalid_request`: the tokens are "unacceptable
   *   based on policy", for which RFC 8693 §2.2.2 says the error "MUST be
   *   the invalid_request error code";
   * - any `resource` and `audience` is accepted. Override to refuse one with
   *   `invalidTarget` from `@grantkit/core` (RFC 8693 §2.2.2).
   *
   * Override for your own policy; call `super.authorizeExchange(context)` to
   * keep these rules.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8693#section-1.1
   * @see https://www.rfc-editor.org/rfc/rfc8693#section-4.4
   */
  async authorizeExchange(context: TokenExchangeContext): Promise<void> {
    const { client, subject, actor } = context
    if (actor === null) {
      // Strictly `true`: a mistyped static set after registration never turns impersonation on.
      if ((this.constructor as unknown as TokenExchangeGrantClass).ALLOW_IMPERSONATION !== true) {
        throw new OAuthError('unauthorized_client', 'the client is not allowed impersonation: send an actor_token to act for the subject (RFC 8693 §1.1)')
      }
      return
    }
    if (actor.clientId !== undefined && actor.clientId !== client.clientId) throw invalidRequest('the actor token was issued to another client')
    if (!mayActNames(subject.claims?.['may_act'], actor, client)) {
      throw invalidRequest('the subject token does not authorize this actor to act for it ("may_act", RFC 8693 §4.4)')
    }
  }

  /**
   * The claims of the issued token (RFC 8693 §4), stored with it and
   * answered by introspection:
   *
   * - `aud`: the `resource` then `audience` values (one string, or a list),
   *   else the subject token's own `aud`, so that an exchange never widens
   *   a token's audience;
   * - `act` (delegation, §4.1): `{ sub, iss?, client_id?, act? }` for the
   *   actor, nesting the subject token's `act`; for impersonation, the
   *   subject token's `act` as it is (an earlier delegation stays visible).
   *
   * `may_act` and the subject token's other claims are not carried over.
   * Override to add claims (JSON-serialisable) and call `super`.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8693#section-4.1
   */
  issuedTokenClaims(context: TokenExchangeContext): Record<string, unknown> {
    const claims: Record<string, unknown> = {}
    const targets = [...new Set([...context.resources, ...context.audiences])]
    const previousAud = previousAudience(context.subject)
    if (targets.length > 0) claims['aud'] = targets.length === 1 ? targets[0] : targets
    else if (previousAud !== undefined) claims['aud'] = previousAud
    const earlier = previousAct(context.subject)
    if (context.actor !== null) claims['act'] = actClaim(context.actor, earlier, this.server.issuer)
    else if (earlier !== undefined) claims['act'] = earlier
    return claims
  }

  /** A refresh token only when `ISSUE_REFRESH_TOKEN` is `true` and the base rule agrees (the client may use a registered refresh grant). */
  override includeRefreshToken(client: Client, user: GrantUser | null): boolean {
    return (this.constructor as unknown as TokenExchangeGrantClass).ISSUE_REFRESH_TOKEN === true && super.includeRefreshToken(client, user)
  }

  /**
   * Validates the request (RFC 8693 §2.1). First the checks that need no
   * store: no NUL in any parameter; `subject_token` and
   * `subject_token_type` required; `actor_token_type` required with
   * `actor_token` and forbidden without; `requested_token_type` an access
   * token; every single-valued parameter at most once; `resource` and
   * `audience` within `TARGET_LIMITS`, each `resource` an absolute URI.
   * Then authenticates the client (which must be allowed this
   * grant type and be confidential), resolves the subject and actor tokens,
   * the scope, and asks {@link authorizeExchange}.
   */
  override async validateTokenRequest(): Promise<void> {
    const body = this.request.body
    refuseNul(body)
    const subjectToken = this.requireParam('subject_token')
    const subjectTokenType = this.requireParam('subject_token_type')
    const actorToken = this.param('actor_token')
    const actorTokenType = this.param('actor_token_type')
    // RFC 8693 §2.1: actor_token_type is "REQUIRED when the actor_token parameter is present in the request but MUST NOT be included otherwise."
    if (actorToken !== undefined && actorTokenType === undefined) throw invalidRequest('missing required parameter "actor_token_type" (with "actor_token", RFC 8693 §2.1)')
    if (actorToken === undefined && actorTokenType !== undefined) throw invalidRequest('"actor_token_type" must not be sent without "actor_token" (RFC 8693 §2.1)')
    const requestedTokenType = this.param('requested_token_type') ?? TOKEN_TYPES.accessToken
    // RFC 8693 §2.2.2 has no error code of its own for an unsupported requested_token_type:
    // it is a request the server cannot honour, so invalid_request ("If the request itself is not valid").
    if (requestedTokenType !== TOKEN_TYPES.accessToken) throw invalidRequest('the "requested_token_type" is not supported: this server issues access tokens only')
    const requestedScope = this.param('scope')
    parseScope(requestedScope)
    const resources = readResources(body)
    const audiences = readAudiences(body)

    const client = await this.authenticateTokenEndpointClient()
    // TOKEN_ENDPOINT_AUTH_METHODS never includes none (validateConfiguration); a custom method may still let a public client through.
    if (isPublicClient(client)) throw new OAuthError('unauthorized_client', 'token exchange is only for confidential clients')
    const subject = checkTokenInfo(await this.validateSubjectToken(subjectToken, subjectTokenType), 'subject')
    if (subject === null) throw invalidRequest('the subject token is invalid, expired or revoked')
    let actor: ExchangeTokenInfo | null = null
    if (actorToken !== undefined && actorTokenType !== undefined) {
      actor = checkTokenInfo(await this.validateActorToken(actorToken, actorTokenType), 'actor')
      if (actor === null) throw invalidRequest('the actor token is invalid, expired or revoked')
    }
    // A client-only token has no user to carry over: the issued token (userId null, clientId the
    // requesting client) can only stand for that client itself, never for another one.
    if (subject.clientOnly === true && subject.subject !== client.clientId) {
      throw invalidRequest('a client-only subject token can be exchanged only by its own client')
    }
    const scopes = this.#resolveExchangeScopes(requestedScope, client, subject)
    const context: TokenExchangeContext = {
      client,
      subject,
      subjectTokenType,
      actor,
      actorTokenType: actor === null ? null : (actorTokenType as string),
      requestedTokenType,
      scopes,
      resources,
      audiences,
    }
    await this.authorizeExchange(context)
    this.claims = this.issuedTokenClaims(context)
    this.exchange = context
    if (this.extensions.length > 0) await this.runHook('afterValidateTokenRequest', { grant: this, client })
  }

  /**
   * Issues the access token (RFC 8693 §2.2.1): for the subject's user, to
   * the requesting client, in a new token family, with the claims of
   * {@link issuedTokenClaims}; `issued_token_type` is always an access token.
   */
  override async createTokenResponse(): Promise<OAuthResponse> {
    const exchange = this.exchange
    if (exchange === null) throw new TypeError('createTokenResponse called before validateTokenRequest')
    const { client, subject } = exchange
    const user: GrantUser | null = subject.clientOnly === true ? null : { id: subject.subject }
    const claims = Object.keys(this.claims).length === 0 ? undefined : this.claims
    const body = await this.issueTokens({ client, user, scopes: exchange.scopes, refreshToken: this.includeRefreshToken(client, user), claims })
    // RFC 8693 §2.2.1: issued_token_type is REQUIRED; token_type is "Bearer" for an access token.
    return this.tokenResponse({ ...body, issued_token_type: TOKEN_TYPES.accessToken })
  }

  /**
   * The issued token's scopes: the requested ones, each within the subject
   * token's (never wider, `invalid_scope`) and the client's registered scope
   * (RFC 6749 §3.3); omitted, the subject token's scopes the client may have.
   */
  #resolveExchangeScopes(requested: string | undefined, client: Client, subject: ExchangeTokenInfo): string[] {
    const clientAllowed = clientScopes(client)
    for (const scope of parseScope(requested)) {
      if (!subject.scopes.includes(scope)) throw new OAuthError('invalid_scope', 'the requested scope is wider than the subject token\'s')
    }
    return this.resolveScopes(requested, client, subject.scopes.filter((s) => clientAllowed.includes(s)))
  }
}
