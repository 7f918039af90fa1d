import type { Client } from './client.js'
import { clientScopes } from './client.js'
import { OAuthError } from './errors.js'
import { getParam, requireParam, type OAuthRequest } from './request.js'
import { jsonResponse, redirectResponse, type OAuthResponse } from './response.js'
import { formatScope, resolveScope } from './scope.js'
import { hashToken } from './secrets.js'
import type { AuthorizationCodeRecord, GrantkitStore, TokenRecord } from './store.js'
import type { AuthorizationServer } from './server.js'
import { configError } from './config-error.js'
import { GRANT_BRAND, hasBrand } from './internal/brand.js'
import type { StoreCapability } from './store-capabilities.js'

/** The resource owner a grant acts for. */
export interface GrantUser {
  /** Stable user id; becomes `sub` in introspection. */
  readonly id: string
  readonly username?: string | undefined
  /**
   * When the user last authenticated (OpenID Connect Core §2 `auth_time`),
   * when the app knows it. Extensions such as OpenID Connect read it.
   */
  readonly authTime?: Date | undefined
  /** The Authentication Context Class Reference satisfied (OpenID Connect Core §2 `acr`). */
  readonly acr?: string | undefined
  /** The authentication methods used (OpenID Connect Core §2 `amr`, RFC 8176 values). */
  readonly amr?: readonly string[] | undefined
}

/**
 * A validated authorization request (RFC 6749 §4.1.1 / §4.2.1), as a consent
 * page needs it.
 */
export interface AuthorizationRequest {
  readonly client: Client
  /** The `response_type`, e.g. `code`. */
  readonly responseType: string
  /** The redirect URI the response goes to (validated, exact match). */
  readonly redirectUri: string
  /** Whether `redirect_uri` was in the request (then the token request must repeat it, RFC 6749 §4.1.3). */
  readonly redirectUriProvided: boolean
  /** `query` for codes, `fragment` for tokens. */
  readonly responseMode: 'query' | 'fragment'
  /** The request's `state`, verbatim. */
  readonly state: string | undefined
  /** The granted scopes after validation. */
  scopes: string[]
  /** RFC 7636 challenge, set by the PKCE extension. */
  codeChallenge?: string | undefined
  /** RFC 7636 challenge method, set by the PKCE extension. */
  codeChallengeMethod?: string | undefined
  /** Extension data carried to the code record (JSON-serialisable). */
  readonly extra: Record<string, unknown>
  /** The request parameters. */
  readonly params: URLSearchParams
}

/** The JSON body of a successful token response (RFC 6749 §5.1). */
export interface TokenResponseBody {
  access_token: string
  token_type: string
  expires_in: number
  scope?: string
  refresh_token?: string
  [extra: string]: unknown
}

/** Context of the `afterValidateAuthorizationRequest` hook. */
export interface AuthorizationHookContext {
  readonly grant: BaseGrant
  readonly authorization: AuthorizationRequest
}

/**
 * Context of the `afterValidateDeviceAuthorizationRequest` hook, run by a
 * device authorization endpoint (RFC 8628 §3.1) with the extensions
 * registered with the grant serving the device grant type: the client is
 * authenticated and may use the grant, the scope is resolved, and nothing
 * is saved yet. `extra` may be added to: it is saved with the device code
 * (`DeviceCodeRecord.extra`, JSON-serialisable), where the grant finds it
 * when the device polls.
 */
export interface DeviceAuthorizationHookContext {
  readonly server: AuthorizationServer
  /** The device grant class the endpoint issues device codes for, to read its `GRANT_TYPE` and statics. */
  readonly grantClass: GrantClass
  /** The authenticated client. */
  readonly client: Client
  /** The device authorization request; its form parameters are in `body`. */
  readonly request: OAuthRequest
  /** The scopes the device code is issued for, after validation. */
  readonly scopes: readonly string[]
  /** Extension data saved with the device code (JSON-serialisable). */
  readonly extra: Record<string, unknown>
}

/** Context of the `beforeAuthorizationResponse` hook: `params` may be added to. */
export interface AuthorizationResponseHookContext {
  readonly grant: BaseGrant
  readonly authorization: AuthorizationRequest
  readonly user: GrantUser
  readonly params: Record<string, string>
}

/**
 * Context of the `afterAuthorizationApproved` hook: the user approved the
 * request, and nothing was issued yet. `authorization.extra` may be added
 * to (it is carried to the code record), e.g. the user's `auth_time`.
 */
export interface AuthorizationApprovedHookContext {
  readonly grant: BaseGrant
  readonly authorization: AuthorizationRequest
  readonly user: GrantUser
}

/**
 * Context of the `beforeValidateTokenRequest` hook: the grant, with its
 * `request` and `server`, before it has authenticated the client or read
 * anything of the request.
 */
export interface BeforeTokenHookContext {
  readonly grant: BaseGrant
}

/** Context of the `afterValidateTokenRequest` hook. */
export interface TokenHookContext {
  readonly grant: BaseGrant
  readonly client: Client
  /** The redeemed authorization code (authorization code grant only). */
  readonly code?: AuthorizationCodeRecord | undefined
  /** The presented refresh token's record (refresh token grant only). */
  readonly refreshToken?: TokenRecord | undefined
}

/**
 * Context of the `beforeIssueTokens` hook, run by
 * {@link BaseGrant.issueTokens} before any token is generated: `claims` may
 * be added to or changed (an RFC 8707 `aud`, an RFC 9449 `cnf`); they are
 * stored with the tokens, returned by introspection and put in JWT access
 * tokens.
 */
export interface IssueTokensHookContext {
  readonly grant: BaseGrant
  readonly client: Client
  readonly user: GrantUser | null
  readonly scopes: readonly string[]
  readonly claims: Record<string, unknown>
  /**
   * Claims the refresh token is stored with instead of those of `claims`
   * (merged over them): e.g. the full RFC 8707 audience of a grant whose
   * access token was narrowed to one resource (§2.2), so that a later
   * refresh may still ask for the others. Empty: the refresh token gets
   * exactly `claims`.
   */
  readonly refreshTokenClaims: Record<string, unknown>
  /** Whether a refresh token will be issued. */
  readonly refreshToken: boolean
  /** The redeemed authorization code, when the grant redeems one. */
  readonly code?: AuthorizationCodeRecord | undefined
  /** The presented refresh token's record, when the grant is a refresh. */
  readonly presentedRefreshToken?: TokenRecord | undefined
}

/** Context of the `beforeTokenResponse` hook: `body` may be added to. */
export interface TokenResponseHookContext {
  readonly grant: BaseGrant
  readonly client: Client
  readonly body: TokenResponseBody
  readonly user: GrantUser | null
  readonly scopes: readonly string[]
  /** The claims the tokens were issued with (after `beforeIssueTokens`). */
  readonly claims: Readonly<Record<string, unknown>>
  /** The redeemed authorization code, when the grant redeems one. */
  readonly code?: AuthorizationCodeRecord | undefined
  /** The presented refresh token's record, when the grant is a refresh. */
  readonly presentedRefreshToken?: TokenRecord | undefined
}

/**
 * An extension given at registration, `server.registerGrant(Grant, [ext])`.
 * Each method attaches to a named hook point of the grant; hooks run in
 * registration order and may throw an {@link OAuthError} to reject.
 */
export interface GrantExtension {
  /**
   * `true` when the extension decides when a PKCE code challenge is
   * required (RFC 7636, RFC 9700 §2.1.1), as `CodeChallenge` does: the
   * grant's own `REQUIRE_PKCE_FOR_PUBLIC_CLIENTS` is then not consulted, so
   * one place holds the policy.
   */
  readonly codeChallengePolicy?: boolean
  /** Called once by `registerGrant`; throw a `TypeError` if the grant is unsuitable. */
  register?(grant: GrantClass, server: AuthorizationServer): void
  /** RFC 8414 metadata the extension adds, e.g. `code_challenge_methods_supported`. */
  metadata?(): Record<string, unknown>
  afterValidateAuthorizationRequest?(context: AuthorizationHookContext): void | Promise<void>
  /** Runs when the user approved, before the grant issues a code or tokens. */
  afterAuthorizationApproved?(context: AuthorizationApprovedHookContext): void | Promise<void>
  beforeAuthorizationResponse?(context: AuthorizationResponseHookContext): void | Promise<void>
  /**
   * Runs at the device authorization endpoint (RFC 8628 §3.1) once the
   * client is authenticated and the scope resolved, before the device code
   * is saved: reads the request's own parameters (e.g. RFC 8707 `resource`)
   * and keeps what the token endpoint will need in `extra`, which is saved
   * with the device code. A thrown {@link OAuthError} refuses the request
   * with its error as JSON (RFC 8628 §3.2, RFC 6749 §5.2) and saves nothing.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.1
   */
  afterValidateDeviceAuthorizationRequest?(context: DeviceAuthorizationHookContext): void | Promise<void>
  /**
   * Runs at the token endpoint before the grant validates the request:
   * before client authentication, and before any one-time credential (an
   * authorization code, a device code, an assertion's `jti`, a refresh
   * token) is read or spent. A refusal here costs the client nothing, e.g.
   * RFC 9449 §8 `use_dpop_nonce`, which the client retries.
   */
  beforeValidateTokenRequest?(context: BeforeTokenHookContext): void | Promise<void>
  afterValidateTokenRequest?(context: TokenHookContext): void | Promise<void>
  /** Runs in {@link BaseGrant.issueTokens} before tokens are generated; may change their claims. */
  beforeIssueTokens?(context: IssueTokensHookContext): void | Promise<void>
  beforeTokenResponse?(context: TokenResponseHookContext): void | Promise<void>
}

/** Names of the hook points of {@link GrantExtension}. */
export type GrantHookName =
  | 'afterValidateAuthorizationRequest'
  | 'afterAuthorizationApproved'
  | 'beforeAuthorizationResponse'
  | 'afterValidateDeviceAuthorizationRequest'
  | 'beforeValidateTokenRequest'
  | 'afterValidateTokenRequest'
  | 'beforeIssueTokens'
  | 'beforeTokenResponse'

type HookContext<N extends GrantHookName> = Parameters<NonNullable<GrantExtension[N]>>[0]

/** A concrete grant class as `registerGrant` accepts it. */
export interface GrantClass<G extends BaseGrant = BaseGrant> {
  new (server: AuthorizationServer, request: OAuthRequest, extensions: readonly GrantExtension[]): G
  readonly name: string
  readonly prototype: BaseGrant
  readonly GRANT_TYPE: string | null
  readonly RESPONSE_TYPES: readonly string[]
  readonly TOKEN_ENDPOINT_AUTH_METHODS: readonly string[]
  readonly AUTHORIZATION_ENDPOINT: boolean
  readonly TOKEN_ENDPOINT: boolean
  readonly STORE_CAPABILITIES: readonly StoreCapability[]
  readonly DEFAULT_RESPONSE_MODE: 'query' | 'fragment' | null
  readonly AUTHORIZATION_PARAMETERS: readonly string[]
  /** Checks the class's static configuration; `registerGrant` calls it and lets its `TypeError` through. */
  validateConfiguration?(server: AuthorizationServer): void
}

/** Whether `value` is a class extending `BaseGrant` (of any copy of `@grantkit/core`: it checks the brand). */
export function isGrantClass(value: unknown): value is GrantClass {
  return typeof value === 'function' && hasBrand(value, GRANT_BRAND) && value !== BaseGrant
}

/** Options of {@link BaseGrant.issueTokens}. */
export interface IssueTokensOptions {
  readonly client: Client
  readonly user: GrantUser | null
  readonly scopes: readonly string[]
  /** Issue a refresh token as well. */
  readonly refreshToken: boolean
  /**
   * The refresh token's scopes when they differ from the access token's:
   * a refresh keeps the refresh token's original scope even when the new
   * access token's is narrower (RFC 6749 §6). Default: `scopes`.
   */
  readonly refreshTokenScopes?: readonly string[] | undefined
  /** The token family; a new one when absent. */
  readonly familyId?: string | undefined
  /**
   * Claims the tokens carry beyond the standard ones, e.g. `aud` (RFC 8707),
   * `act` (RFC 8693 §4.1) or `cnf` (RFC 9449 §6): stored with the tokens
   * (`extra.claims`), returned by introspection (RFC 7662 §2.2) and put in
   * JWT access tokens. JSON-serialisable.
   */
  readonly claims?: Readonly<Record<string, unknown>> | undefined
  /** The authorization code being redeemed, handed to the hooks. */
  readonly code?: AuthorizationCodeRecord | undefined
  /** The refresh token being redeemed, handed to the hooks. */
  readonly presentedRefreshToken?: TokenRecord | undefined
}

/**
 * The base of every grant. A grant instance lives for one request: the
 * server creates it with the request, calls `validateTokenRequest()` then
 * `createTokenResponse()` at the token endpoint, or
 * `validateAuthorizationRequest()` then `createAuthorizationResponse(user)`
 * at the authorization endpoint.
 *
 * Static configuration (override in a subclass):
 * - `GRANT_TYPE`: the `grant_type` served at the token endpoint;
 * - `RESPONSE_TYPES`: the `response_type`s served at the authorization endpoint;
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: client authentication methods accepted;
 * - `AUTHORIZATION_ENDPOINT` / `TOKEN_ENDPOINT`: which endpoints it serves.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4
 */
export abstract class BaseGrant {
  static readonly [GRANT_BRAND] = true
  static GRANT_TYPE: string | null = null
  static RESPONSE_TYPES: readonly string[] = []
  static TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic']
  static AUTHORIZATION_ENDPOINT = false
  static TOKEN_ENDPOINT = false
  /**
   * What the grant needs from the store (fosite's narrow storage
   * interfaces): `registerGrant` refuses a store without them. A grant that
   * keeps its codes or tokens elsewhere (overriding the hooks) lists less.
   */
  static STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens']
  /**
   * The response mode of the grant's authorization responses (RFC 6749
   * §4.1.2 query, §4.2.2 fragment). `null` (default): `fragment` when the
   * response type includes `token`, else `query`; set `'fragment'` for a
   * custom response type that returns tokens (e.g. OpenID Connect `id_token`).
   */
  static DEFAULT_RESPONSE_MODE: 'query' | 'fragment' | null = null
  /**
   * Authorization request parameters the grant reads beyond those core knows
   * (RFC 6749 §4.1.1, PKCE, OpenID Connect, RFC 8707, RFC 9126, RFC 9449):
   * they are kept in the `actionUrl` a login page posts back to.
   */
  static AUTHORIZATION_PARAMETERS: readonly string[] = []

  /**
   * Checks the static configuration once, at `registerGrant`, with a
   * `TypeError` carrying `code: 'ERR_GRANTKIT_CONFIG'`; a bad static never
   * becomes a 500 on every request. Override to check your own statics and
   * call `super.validateConfiguration(server)`.
   */
  static validateConfiguration(this: GrantClass, _server: AuthorizationServer): void {
    const name = this.name || 'grant'
    if (typeof this.TOKEN_ENDPOINT !== 'boolean') throw configError(`${name}.TOKEN_ENDPOINT must be a boolean`)
    if (typeof this.AUTHORIZATION_ENDPOINT !== 'boolean') throw configError(`${name}.AUTHORIZATION_ENDPOINT must be a boolean`)
    if (!this.TOKEN_ENDPOINT && !this.AUTHORIZATION_ENDPOINT) throw configError(`registerGrant: ${name} serves neither the token nor the authorization endpoint`)
    if (this.GRANT_TYPE !== null && (typeof this.GRANT_TYPE !== 'string' || this.GRANT_TYPE === '')) {
      throw configError(`${name}.GRANT_TYPE must be a non-empty string or null`)
    }
    if (this.TOKEN_ENDPOINT && this.GRANT_TYPE === null) throw configError(`registerGrant: ${name} serves the token endpoint but has no GRANT_TYPE`)
    for (const list of ['RESPONSE_TYPES', 'TOKEN_ENDPOINT_AUTH_METHODS', 'STORE_CAPABILITIES', 'AUTHORIZATION_PARAMETERS'] as const) {
      const value: unknown = this[list]
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) throw configError(`${name}.${list} must be an array of non-empty strings`)
    }
    if (this.AUTHORIZATION_ENDPOINT && this.RESPONSE_TYPES.length === 0) {
      throw configError(`registerGrant: ${name} serves the authorization endpoint but has no RESPONSE_TYPES`)
    }
    if (this.DEFAULT_RESPONSE_MODE !== null && this.DEFAULT_RESPONSE_MODE !== 'query' && this.DEFAULT_RESPONSE_MODE !== 'fragment') {
      throw configError(`${name}.DEFAULT_RESPONSE_MODE must be "query", "fragment" or null`)
    }
    const proto = this.prototype
    const base = BaseGrant.prototype
    // A custom grant that serves an endpoint but overrides none of its
    // methods would answer every request with an error: refuse it now.
    if (this.TOKEN_ENDPOINT && proto.validateTokenRequest === base.validateTokenRequest && proto.createTokenResponse === base.createTokenResponse) {
      throw configError(`registerGrant: ${name} sets TOKEN_ENDPOINT but overrides neither validateTokenRequest nor createTokenResponse`)
    }
    if (this.AUTHORIZATION_ENDPOINT && proto.createAuthorizationResponse === base.createAuthorizationResponse) {
      throw configError(`registerGrant: ${name} sets AUTHORIZATION_ENDPOINT but does not override createAuthorizationResponse`)
    }
  }

  readonly server: AuthorizationServer
  readonly request: OAuthRequest
  readonly extensions: readonly GrantExtension[]
  /** The authenticated client (token endpoint) or the requesting client (authorization endpoint), once known. */
  client: Client | null = null
  /** The validated authorization request (authorization endpoint only). */
  authorization: AuthorizationRequest | null = null
  /** The token records {@link issueTokens} saved for this request (hashes only), e.g. to revoke them when a later step fails. */
  issuedRecords: readonly TokenRecord[] = []

  constructor(server: AuthorizationServer, request: OAuthRequest, extensions: readonly GrantExtension[]) {
    this.server = server
    this.request = request
    this.extensions = extensions
  }

  /** The grant's class, to read its static configuration. */
  get grantClass(): GrantClass {
    return this.constructor as GrantClass
  }

  /** The server's store. */
  get store(): GrantkitStore {
    return this.server.store
  }

  /** The server's current time. */
  now(): Date {
    return this.server.now()
  }

  // ---- token endpoint -----------------------------------------------------

  /** Validates the token request (override when `TOKEN_ENDPOINT` is true). */
  async validateTokenRequest(): Promise<void> {
    throw new OAuthError('unsupported_grant_type', 'this grant does not serve the token endpoint')
  }

  /** Issues the token response (override when `TOKEN_ENDPOINT` is true). */
  async createTokenResponse(): Promise<OAuthResponse> {
    throw new OAuthError('unsupported_grant_type', 'this grant does not serve the token endpoint')
  }

  // ---- authorization endpoint ---------------------------------------------

  /**
   * Validates the authorization request. The server has already checked the
   * client, the redirect URI and `state`, and set `this.authorization`; the
   * default checks that the client may use the response type and grant type
   * (`unauthorized_client`) and the scope (`invalid_scope`), then runs the
   * `afterValidateAuthorizationRequest` hooks. Override and call `super`.
   */
  async validateAuthorizationRequest(): Promise<AuthorizationRequest> {
    const authorization = this.authorization
    if (authorization === null) throw new TypeError('validateAuthorizationRequest called without an authorization request')
    const client = authorization.client
    // RFC 6749 §3.1.1: "the order of the space-delimited values does not matter";
    // authorization.responseType is already sorted, so sort the registered ones too.
    const sorted = (type: string) => type.split(' ').filter((s) => s !== '').sort().join(' ')
    if (!client.responseTypes.some((type) => sorted(type) === authorization.responseType)) {
      throw new OAuthError('unauthorized_client', 'the client is not allowed this response type')
    }
    const grantType = this.grantClass.GRANT_TYPE
    if (grantType !== null && !client.grantTypes.includes(grantType)) {
      throw new OAuthError('unauthorized_client', `client is not allowed the grant type "${grantType}"`)
    }
    authorization.scopes = this.resolveScopes(getParam(authorization.params, 'scope'), client)
    await this.runHook('afterValidateAuthorizationRequest', { grant: this, authorization })
    return authorization
  }

  /**
   * Answers an approved authorization request (override when
   * `AUTHORIZATION_ENDPOINT` is true), usually with {@link authorizationRedirect}.
   */
  async createAuthorizationResponse(_user: GrantUser): Promise<OAuthResponse> {
    throw new OAuthError('unsupported_response_type', 'this grant does not serve the authorization endpoint')
  }

  /**
   * Redirects back to the client with `params` plus `state` and (RFC 9207)
   * `iss`, after the `beforeAuthorizationResponse` hooks.
   */
  protected async authorizationRedirect(user: GrantUser, params: Record<string, string>): Promise<OAuthResponse> {
    const authorization = this.requireAuthorization()
    await this.runHook('beforeAuthorizationResponse', { grant: this, authorization, user, params })
    const out: Record<string, string | undefined> = { ...params, state: authorization.state }
    if (this.server.options.authorizationResponseIss) out['iss'] = this.server.issuer
    return redirectResponse(authorization.redirectUri, out, authorization.responseMode)
  }

  /** `this.authorization`, or a TypeError when called outside the authorization endpoint. */
  protected requireAuthorization(): AuthorizationRequest {
    if (this.authorization === null) throw new TypeError('no authorization request: call validateAuthorizationRequest first')
    return this.authorization
  }

  // ---- shared steps --------------------------------------------------------

  /** A single-valued body parameter; repeated is `invalid_request` (RFC 6749 §3.2). */
  param(name: string): string | undefined {
    return getParam(this.request.body, name)
  }

  /** A required body parameter; missing or repeated is `invalid_request`. */
  requireParam(name: string): string {
    return requireParam(this.request.body, name)
  }

  /**
   * Authenticates the client with one of the grant's
   * `TOKEN_ENDPOINT_AUTH_METHODS` (RFC 6749 §3.2.1) and checks that it may
   * use this grant type (`unauthorized_client`, RFC 6749 §5.2). Sets `this.client`.
   */
  async authenticateTokenEndpointClient(): Promise<Client> {
    const grantClass = this.grantClass
    const client = await this.server.authenticateClient(this.request, grantClass.TOKEN_ENDPOINT_AUTH_METHODS)
    if (grantClass.GRANT_TYPE !== null && !client.grantTypes.includes(grantClass.GRANT_TYPE)) {
      throw new OAuthError('unauthorized_client', `client is not allowed the grant type "${grantClass.GRANT_TYPE}"`)
    }
    this.client = client
    return client
  }

  /**
   * The scopes of a request: omitted means the client's registered scope,
   * otherwise a subset of `allowed` (default: the client's scope), else
   * `invalid_scope` (RFC 6749 §3.3).
   */
  resolveScopes(requested: string | undefined, client: Client, allowed: readonly string[] = clientScopes(client), message?: string): string[] {
    return resolveScope(requested, allowed, message)
  }

  /**
   * Whether to issue a refresh token with an access token: by default when
   * the client may use `refresh_token` and a grant for it is registered
   * (RFC 6749 §1.5, §5.1).
   */
  includeRefreshToken(client: Client, _user: GrantUser | null): boolean {
    // A refresh token the client could not present (its authentication
    // method is not accepted by the refresh grant) would be useless: none.
    return client.grantTypes.includes('refresh_token') && this.server.grantAcceptsClient('refresh_token', client)
  }

  /**
   * Generates an access token (and a refresh token when asked), saves their
   * hashes, and returns the RFC 6749 §5.1 body after the
   * `beforeTokenResponse` hooks.
   */
  async issueTokens(options: IssueTokensOptions): Promise<TokenResponseBody> {
    const server = this.server
    const { client, user } = options
    const grantType = this.grantClass.GRANT_TYPE ?? 'unknown'
    const issuedAt = server.now()
    const scope = formatScope(options.scopes)
    const familyId = options.familyId ?? server.newId()
    const accessLifetime = server.accessTokenLifetime(grantType, client)
    const accessExpires = new Date(issuedAt.getTime() + accessLifetime * 1000)
    const userId = user === null ? null : user.id
    const strategy = server.tokenStrategy
    // Hot path (token-endpoint benchmark): without extensions, no hook context is built and no hook awaited.
    const hooked = this.extensions.length > 0
    const hookClaims: Record<string, unknown> = options.claims === undefined ? {} : { ...options.claims }
    const links = hooked
      ? {
          ...(options.code === undefined ? {} : { code: options.code }),
          ...(options.presentedRefreshToken === undefined ? {} : { presentedRefreshToken: options.presentedRefreshToken }),
        }
      : {}
    const refreshTokenClaims: Record<string, unknown> = {}
    if (hooked) await this.runHook('beforeIssueTokens', { grant: this, client, user, scopes: options.scopes, claims: hookClaims, refreshTokenClaims, refreshToken: options.refreshToken, ...links })
    const claims = options.claims === undefined && !hasOwnKeys(hookClaims) ? undefined : hookClaims
    const extra = claims === undefined ? undefined : { claims: { ...claims } }
    const refreshExtra = !hasOwnKeys(refreshTokenClaims) ? extra : { claims: { ...claims, ...refreshTokenClaims } }
    const context = { client, userId, scope, grantType, issuedAt, expiresAt: accessExpires, familyId, issuer: server.issuer, claims }
    const accessToken = await strategy.generateAccessToken(context)
    const records: TokenRecord[] = [
      {
        tokenHash: hashToken(accessToken),
        type: 'access_token',
        clientId: client.clientId,
        userId,
        scope,
        familyId,
        issuedAt,
        expiresAt: accessExpires,
        revokedAt: null,
        rotatedAt: null,
        ...(extra === undefined ? {} : { extra }),
      },
    ]
    const body: TokenResponseBody = { access_token: accessToken, token_type: 'Bearer', expires_in: accessLifetime, scope }
    if (options.refreshToken) {
      const refreshExpires = new Date(issuedAt.getTime() + server.options.refreshTokenLifetime * 1000)
      const refreshScope = options.refreshTokenScopes === undefined ? scope : formatScope(options.refreshTokenScopes)
      const refreshToken = await strategy.generateRefreshToken({ ...context, scope: refreshScope, expiresAt: refreshExpires })
      records.push({
        tokenHash: hashToken(refreshToken),
        type: 'refresh_token',
        clientId: client.clientId,
        userId,
        scope: refreshScope,
        familyId,
        issuedAt,
        expiresAt: refreshExpires,
        revokedAt: null,
        rotatedAt: null,
        ...(refreshExtra === undefined ? {} : { extra: refreshExtra }),
      })
      body.refresh_token = refreshToken
    }
    await server.store.saveTokens(records)
    this.issuedRecords = records
    if (hooked) await this.runHook('beforeTokenResponse', { grant: this, client, body, user, scopes: options.scopes, claims: claims ?? {}, ...links })
    return body
  }

  /** A 200 token response with `Cache-Control: no-store` (RFC 6749 §5.1). */
  tokenResponse(body: TokenResponseBody): OAuthResponse {
    return jsonResponse(200, body)
  }

  /** Runs one hook point of every extension, in registration order. */
  async runHook<N extends GrantHookName>(name: N, context: HookContext<N>): Promise<void> {
    for (const extension of this.extensions) {
      const hook = extension[name] as ((c: HookContext<N>) => void | Promise<void>) | undefined
      if (hook !== undefined) await hook.call(extension, context)
    }
  }
}

/** Whether an object has an own enumerable key (without building the array `Object.keys` would). */
function hasOwnKeys(value: Record<string, unknown>): boolean {
  for (const _ in value) return true
  return false
}
