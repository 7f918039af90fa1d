import { randomUUID } from 'node:crypto'
import type { Client } from './client.js'
import { clientSecretBasic, clientSecretPost, noneAuth, type ClientAuthContext, type ClientAuthMethod } from './client-auth.js'
import type { Endpoint, EndpointClass } from './endpoint.js'
import { OAuthError, invalidClient, type ErrorRedirect } from './errors.js'
import { BaseGrant, type AuthorizationRequest, type GrantClass, type GrantExtension, type GrantUser } from './grant.js'
import { getHeader, getParam, type OAuthRequest } from './request.js'
import { errorResponse, redirectResponse, type OAuthResponse } from './response.js'
import { hashToken } from './secrets.js'
import type { GrantkitStore, TokenRecord, UserStore } from './store.js'
import { opaqueTokens, type TokenStrategy } from './token-strategy.js'

/** Paths of the endpoints, relative to the issuer; used in metadata. */
export interface EndpointPaths {
  authorization: string
  token: string
  revocation: string
  introspection: string
  /** The JWK Set of a token strategy that signs (RFC 8414 §2 `jwks_uri`). */
  jwks: string
}

/** Options of {@link AuthorizationServer}. */
export interface AuthorizationServerOptions {
  /** The issuer identifier: an `http(s)` URL without query, fragment or trailing slash (RFC 8414 §2). */
  issuer: string
  /** Where clients, codes and tokens live. */
  store: GrantkitStore
  /** How tokens look; opaque 256-bit tokens by default. */
  tokenStrategy?: TokenStrategy
  /** Milliseconds since the epoch; inject one in tests. */
  clock?: () => number
  /** Access-token lifetime in seconds, or a function of grant type and client. Default 3600. */
  accessTokenLifetime?: number | ((grantType: string, client: Client) => number)
  /** Refresh-token lifetime in seconds. Default 30 days. */
  refreshTokenLifetime?: number
  /** Authorization-code lifetime in seconds; at most 600 (RFC 6749 §4.1.2). Default 60. */
  authorizationCodeLifetime?: number
  /** Endpoint paths, for metadata. */
  endpoints?: Partial<EndpointPaths>
  /** `scopes_supported` in metadata. */
  scopesSupported?: readonly string[]
  /** Add RFC 9207 `iss` to authorization responses. Default true. */
  authorizationResponseIss?: boolean
  /** Called with unexpected (non-OAuth) errors; they are answered `server_error` without details. */
  onError?: (error: unknown) => void
  /**
   * Called when a grant detects an attack signal: a replayed authorization
   * code (RFC 6749 §4.1.2) or a reused rotated refresh token (RFC 9700
   * §4.14.2). The tokens of the grant are revoked either way; this is for
   * alerting. Never receives a token or code, only ids.
   */
  onSecurityEvent?: (event: SecurityEvent) => void
  /** Looks a user up for introspection; default: the store's `findUserById` when it has one. */
  resolveUser?: (userId: string) => Promise<GrantUser | null>
}

/** The resolved options. */
export interface ResolvedServerOptions {
  readonly refreshTokenLifetime: number
  readonly authorizationCodeLifetime: number
  readonly endpoints: Readonly<EndpointPaths>
  readonly scopesSupported: readonly string[] | undefined
  readonly authorizationResponseIss: boolean
}

/** An attack signal a grant detected; see `onSecurityEvent`. */
export interface SecurityEvent {
  /** `authorization_code_replay` (RFC 6749 §4.1.2) or `refresh_token_reuse` (RFC 9700 §4.14.2). */
  readonly type: 'authorization_code_replay' | 'refresh_token_reuse'
  /** The client the code or token was issued to. */
  readonly clientId: string
  /** The resource owner, if any. */
  readonly userId: string | null
  /** The token family that was revoked in response. */
  readonly familyId: string
}

/** A valid bearer token and what it grants (RFC 6750). */
export interface AccessTokenInfo {
  readonly token: TokenRecord
  readonly clientId: string
  readonly userId: string | null
  readonly scopes: readonly string[]
}

interface RegisteredGrant {
  readonly grantClass: GrantClass
  readonly extensions: readonly GrantExtension[]
}

const DEFAULT_ENDPOINTS: EndpointPaths = {
  authorization: '/authorize',
  token: '/token',
  revocation: '/revoke',
  introspection: '/introspect',
  jwks: '/jwks.json',
}

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

function assertPositiveInteger(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > max) {
    throw new TypeError(`AuthorizationServer: "${name}" must be an integer between 1 and ${max}`)
  }
}

function normalizeResponseType(value: string): string {
  return value.split(' ').filter((s) => s !== '').sort().join(' ')
}

/**
 * The authorization server: grants, client authentication, endpoints and
 * metadata over a store. Framework-neutral: adapters hand it an
 * `OAuthRequest` and send back the `OAuthResponse` it answers.
 *
 * @example
 * ```ts
 * const server = new AuthorizationServer({ issuer: 'https://auth.example.com', store: memoryStore() })
 * server.registerGrant(ClientCredentialsGrant)
 * const response = await server.createTokenResponse(request)
 * ```
 */
export class AuthorizationServer {
  readonly issuer: string
  readonly store: GrantkitStore
  readonly tokenStrategy: TokenStrategy
  readonly options: ResolvedServerOptions
  readonly tokenEndpointUrl: string

  readonly #clock: () => number
  readonly #accessTokenLifetime: number | ((grantType: string, client: Client) => number)
  readonly #tokenGrants = new Map<string, RegisteredGrant>()
  readonly #authorizationGrants = new Map<string, RegisteredGrant>()
  readonly #grants: RegisteredGrant[] = []
  readonly #clientAuthMethods = new Map<string, ClientAuthMethod>()
  readonly #endpoints = new Map<string, Endpoint>()
  readonly #onError: (error: unknown) => void
  readonly #onSecurityEvent: ((event: SecurityEvent) => void) | undefined
  readonly #resolveUser: ((userId: string) => Promise<GrantUser | null>) | undefined
  readonly #authContext: ClientAuthContext

  constructor(options: AuthorizationServerOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('AuthorizationServer: options are required')
    const { issuer, store } = options
    let issuerUrl: URL
    try {
      issuerUrl = new URL(issuer)
    } catch {
      throw new TypeError('AuthorizationServer: "issuer" must be an absolute URL')
    }
    if (!/^https?:$/.test(issuerUrl.protocol) || issuerUrl.search !== '' || issuerUrl.hash !== '' || issuer.endsWith('/')) {
      throw new TypeError('AuthorizationServer: "issuer" must be an http(s) URL without query, fragment or trailing slash (RFC 8414 §2)')
    }
    if (typeof store !== 'object' || store === null) throw new TypeError('AuthorizationServer: "store" is required')
    for (const method of ['findClient', 'saveAuthorizationCode', 'consumeAuthorizationCode', 'saveTokens', 'findToken', 'rotateRefreshToken', 'revokeToken', 'revokeTokenFamily', 'markUsed'] as const) {
      if (typeof store[method] !== 'function') throw new TypeError(`AuthorizationServer: the store lacks "${method}"`)
    }
    const accessTokenLifetime = options.accessTokenLifetime ?? 3600
    if (typeof accessTokenLifetime !== 'function') assertPositiveInteger(accessTokenLifetime, 'accessTokenLifetime')
    const refreshTokenLifetime = options.refreshTokenLifetime ?? 30 * 24 * 3600
    assertPositiveInteger(refreshTokenLifetime, 'refreshTokenLifetime')
    const authorizationCodeLifetime = options.authorizationCodeLifetime ?? 60
    // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
    assertPositiveInteger(authorizationCodeLifetime, 'authorizationCodeLifetime', 600)

    this.issuer = issuer
    this.store = store
    this.tokenStrategy = options.tokenStrategy ?? opaqueTokens()
    this.#clock = options.clock ?? Date.now
    this.#accessTokenLifetime = accessTokenLifetime
    this.#onError = options.onError ?? ((error) => console.error('[grantkit] unexpected error', error))
    if (options.onSecurityEvent !== undefined && typeof options.onSecurityEvent !== 'function') {
      throw new TypeError('AuthorizationServer: "onSecurityEvent" must be a function')
    }
    this.#onSecurityEvent = options.onSecurityEvent
    const userStore = store as Partial<UserStore>
    this.#resolveUser =
      options.resolveUser ??
      (typeof userStore.findUserById === 'function'
        ? async (id) => {
            const user = await userStore.findUserById!(id)
            return user === null ? null : { id: user.id, username: user.username }
          }
        : undefined)
    const endpoints = { ...DEFAULT_ENDPOINTS, ...options.endpoints }
    this.options = Object.freeze({
      refreshTokenLifetime,
      authorizationCodeLifetime,
      endpoints: Object.freeze(endpoints),
      scopesSupported: options.scopesSupported,
      authorizationResponseIss: options.authorizationResponseIss ?? true,
    })
    this.tokenEndpointUrl = issuer + endpoints.token
    this.#authContext = {
      store,
      issuer,
      tokenEndpoint: this.tokenEndpointUrl,
      now: () => this.now(),
    }
    this.registerClientAuthMethod('client_secret_basic', clientSecretBasic())
    this.registerClientAuthMethod('client_secret_post', clientSecretPost())
    this.registerClientAuthMethod('none', noneAuth())
  }

  /** The current time from the server's clock. */
  now(): Date {
    return new Date(this.#clock())
  }

  /** A new random identifier (token families, user ids). */
  newId(): string {
    return randomUUID()
  }

  /** The access-token lifetime in seconds for a grant type and client. */
  accessTokenLifetime(grantType: string, client: Client): number {
    const lifetime = this.#accessTokenLifetime
    return typeof lifetime === 'number' ? lifetime : lifetime(grantType, client)
  }

  // ---- registration ---------------------------------------------------------

  /**
   * Registers a grant class with optional extensions (the reference's
   * `register_grant(GrantClass, [extension])`). Throws a `TypeError` for a
   * non-grant, a grant serving no endpoint, or a grant type / response type
   * registered twice.
   */
  registerGrant(grantClass: GrantClass, extensions: readonly GrantExtension[] = []): this {
    if (typeof grantClass !== 'function' || !(grantClass.prototype instanceof BaseGrant)) {
      throw new TypeError('registerGrant: expected a class extending BaseGrant')
    }
    if (!Array.isArray(extensions) || extensions.some((e) => typeof e !== 'object' || e === null)) {
      throw new TypeError('registerGrant: extensions must be an array of extension objects')
    }
    const name = grantClass.name || 'grant'
    if (!grantClass.TOKEN_ENDPOINT && !grantClass.AUTHORIZATION_ENDPOINT) {
      throw new TypeError(`registerGrant: ${name} serves neither the token nor the authorization endpoint`)
    }
    if (grantClass.TOKEN_ENDPOINT) {
      if (typeof grantClass.GRANT_TYPE !== 'string' || grantClass.GRANT_TYPE === '') {
        throw new TypeError(`registerGrant: ${name} serves the token endpoint but has no GRANT_TYPE`)
      }
      if (this.#tokenGrants.has(grantClass.GRANT_TYPE)) {
        throw new TypeError(`registerGrant: grant type "${grantClass.GRANT_TYPE}" is already registered`)
      }
    }
    const responseTypes = grantClass.AUTHORIZATION_ENDPOINT ? grantClass.RESPONSE_TYPES.map(normalizeResponseType) : []
    if (grantClass.AUTHORIZATION_ENDPOINT) {
      if (responseTypes.length === 0) throw new TypeError(`registerGrant: ${name} serves the authorization endpoint but has no RESPONSE_TYPES`)
      for (const type of responseTypes) {
        if (this.#authorizationGrants.has(type)) throw new TypeError(`registerGrant: response type "${type}" is already registered`)
      }
    }
    for (const method of grantClass.TOKEN_ENDPOINT_AUTH_METHODS) {
      if (typeof method !== 'string') throw new TypeError(`registerGrant: ${name}.TOKEN_ENDPOINT_AUTH_METHODS must be strings`)
    }
    const frozen = Object.freeze([...extensions])
    for (const extension of frozen) extension.register?.(grantClass, this)
    const registered: RegisteredGrant = { grantClass, extensions: frozen }
    if (grantClass.TOKEN_ENDPOINT) this.#tokenGrants.set(grantClass.GRANT_TYPE as string, registered)
    for (const type of responseTypes) this.#authorizationGrants.set(type, registered)
    this.#grants.push(registered)
    return this
  }

  /** Whether a grant serving this `grant_type` at the token endpoint is registered. */
  hasGrantType(grantType: string): boolean {
    return this.#tokenGrants.has(grantType)
  }

  /**
   * Registers (or replaces) a client authentication method, e.g.
   * `private_key_jwt`. Grants accept it when listed in their
   * `TOKEN_ENDPOINT_AUTH_METHODS`.
   */
  registerClientAuthMethod(name: string, method: ClientAuthMethod): this {
    if (typeof name !== 'string' || name === '') throw new TypeError('registerClientAuthMethod: name must be a non-empty string')
    if (typeof method !== 'object' || method === null || typeof method.matches !== 'function' || typeof method.authenticate !== 'function') {
      throw new TypeError('registerClientAuthMethod: method must have matches() and authenticate()')
    }
    this.#clientAuthMethods.set(name, method)
    return this
  }

  /** Registers an endpoint class (e.g. `RevocationEndpoint`) under its `ENDPOINT_NAME`. */
  registerEndpoint(endpointClass: EndpointClass): this {
    if (typeof endpointClass !== 'function' || typeof endpointClass.ENDPOINT_NAME !== 'string' || endpointClass.ENDPOINT_NAME === '') {
      throw new TypeError('registerEndpoint: expected an endpoint class with a static ENDPOINT_NAME')
    }
    if (this.#endpoints.has(endpointClass.ENDPOINT_NAME)) {
      throw new TypeError(`registerEndpoint: endpoint "${endpointClass.ENDPOINT_NAME}" is already registered`)
    }
    const endpoint = new endpointClass(this)
    if (typeof endpoint.handle !== 'function') throw new TypeError('registerEndpoint: the endpoint has no handle()')
    this.#endpoints.set(endpointClass.ENDPOINT_NAME, endpoint)
    return this
  }

  /** Whether an endpoint is registered under this name. */
  hasEndpoint(name: string): boolean {
    return this.#endpoints.has(name)
  }

  // ---- client authentication ----------------------------------------------

  /**
   * Authenticates the client of a request with one of `allowedMethods`
   * (RFC 6749 §2.3). Exactly one method may be used ("The client MUST NOT
   * use more than one authentication method in each request", §2.3); it must
   * be allowed here and be the client's registered method. Failures are
   * `invalid_client` (401 + `WWW-Authenticate`).
   */
  async authenticateClient(request: OAuthRequest, allowedMethods: readonly string[]): Promise<Client> {
    let usedName: string | undefined
    let used: ClientAuthMethod | undefined
    for (const [name, method] of this.#clientAuthMethods) {
      if (!method.matches(request)) continue
      if (used !== undefined) throw new OAuthError('invalid_request', 'more than one client authentication method was used (RFC 6749 §2.3)')
      usedName = name
      used = method
    }
    if (used === undefined || usedName === undefined) throw invalidClient('client authentication is required')
    if (!allowedMethods.includes(usedName)) throw invalidClient(`client authentication method "${usedName}" is not allowed here`)
    const client = await used.authenticate(request, this.#authContext)
    if (client.tokenEndpointAuthMethod !== usedName) {
      throw invalidClient(`client is registered for "${client.tokenEndpointAuthMethod}", not "${usedName}"`)
    }
    return client
  }

  // ---- authorization endpoint --------------------------------------------------

  /**
   * Validates an authorization request (RFC 6749 §4.1.1, §4.2.1) for a
   * consent page. Throws an `OAuthError`; when the client and redirect URI
   * were valid it carries `redirect`, so {@link authorizationErrorResponse}
   * sends it back to the client, otherwise it must be shown to the user.
   */
  async validateAuthorizationRequest(request: OAuthRequest): Promise<AuthorizationRequest> {
    const grant = await this.#prepareAuthorization(request)
    return grant.authorization as AuthorizationRequest
  }

  /**
   * Completes an authorization request: `user` approved it, `null` denied it
   * (`access_denied`). Always answers a response: the redirect to the client,
   * or a 400 error that must be shown to the user when the client or redirect
   * URI are invalid (never redirected, RFC 6749 §4.1.2.1).
   */
  async createAuthorizationResponse(request: OAuthRequest, user: GrantUser | null): Promise<OAuthResponse> {
    let grant: BaseGrant
    try {
      grant = await this.#prepareAuthorization(request)
    } catch (error) {
      return this.authorizationErrorResponse(error)
    }
    const redirect = (grant as BaseGrant & { [REDIRECT]: ErrorRedirect })[REDIRECT]
    try {
      if (user === null) throw new OAuthError('access_denied', 'the resource owner denied the request')
      return await grant.createAuthorizationResponse(user)
    } catch (error) {
      if (error instanceof OAuthError && error.redirect === undefined) error.redirect = redirect
      return this.authorizationErrorResponse(error instanceof OAuthError ? error : this.#serverError(error, redirect))
    }
  }

  /**
   * The response for an authorization-endpoint error: a redirect with
   * `error`, `error_description`, `state` (and `iss`) when the error carries
   * a validated redirect, else a 400 JSON error the adapter shows to the user.
   */
  authorizationErrorResponse(error: unknown): OAuthResponse {
    const oauthError = error instanceof OAuthError ? error : this.#serverError(error, undefined)
    const redirect = oauthError.redirect
    if (redirect === undefined) {
      return errorResponse(oauthError.status >= 500 ? oauthError : new OAuthError(oauthError.code, oauthError.description, { status: 400 }))
    }
    return redirectResponse(
      redirect.uri,
      { error: oauthError.code, error_description: oauthError.description, state: redirect.state, iss: redirect.iss },
      redirect.mode,
    )
  }

  async #prepareAuthorization(request: OAuthRequest): Promise<BaseGrant> {
    const params = request.method === 'POST' ? request.body : request.query
    // RFC 6749 §4.1.2.1: "If the request fails due to a missing, invalid, or
    // mismatching redirection URI, or if the client identifier is missing or
    // invalid, the authorization server [...] MUST NOT automatically redirect".
    const clientId = getParam(params, 'client_id')
    if (clientId === undefined) throw new OAuthError('invalid_request', 'missing required parameter "client_id"')
    const client = await this.store.findClient(clientId)
    if (client === null) throw new OAuthError('invalid_client', 'unknown client', { status: 400 })
    const requestedRedirect = getParam(params, 'redirect_uri')
    let redirectUri: string
    if (requestedRedirect !== undefined) {
      // RFC 9700 §4.1.3: exact string matching of redirect URIs.
      if (!client.redirectUris.includes(requestedRedirect)) {
        throw new OAuthError('invalid_request', 'redirect_uri is not registered for this client')
      }
      redirectUri = requestedRedirect
    } else {
      // RFC 6749 §3.1.2.3: with several registered URIs the client MUST include one.
      if (client.redirectUris.length !== 1) throw new OAuthError('invalid_request', 'missing required parameter "redirect_uri"')
      redirectUri = client.redirectUris[0] as string
    }
    const states = params.getAll('state')
    const state = states[0] === '' ? undefined : states[0]
    const rawResponseType = params.getAll('response_type')
    const responseType = rawResponseType.length === 1 ? normalizeResponseType(rawResponseType[0] as string) : ''
    const registered = this.#authorizationGrants.get(responseType)
    const responseMode: 'query' | 'fragment' = responseType.split(' ').includes('token') ? 'fragment' : 'query'
    const redirect: ErrorRedirect = {
      uri: redirectUri,
      mode: responseMode,
      state,
      iss: this.options.authorizationResponseIss ? this.issuer : undefined,
    }
    try {
      if (states.length > 1) throw new OAuthError('invalid_request', 'parameter "state" must not be included more than once')
      if (rawResponseType.length > 1) throw new OAuthError('invalid_request', 'parameter "response_type" must not be included more than once')
      if (responseType === '') throw new OAuthError('invalid_request', 'missing required parameter "response_type"')
      if (registered === undefined) throw new OAuthError('unsupported_response_type', `response type "${responseType}" is not supported`)
      const grant = new registered.grantClass(this, request, registered.extensions)
      ;(grant as BaseGrant & { [REDIRECT]: ErrorRedirect })[REDIRECT] = redirect
      grant.client = client
      grant.authorization = {
        client,
        responseType,
        redirectUri,
        redirectUriProvided: requestedRedirect !== undefined,
        responseMode,
        state,
        scopes: [],
        extra: {},
        params,
      }
      await grant.validateAuthorizationRequest()
      return grant
    } catch (error) {
      if (error instanceof OAuthError) {
        if (error.redirect === undefined) error.redirect = redirect
        throw error
      }
      throw this.#serverError(error, redirect)
    }
  }

  // ---- token endpoint --------------------------------------------------------

  /**
   * Answers a token request (RFC 6749 §3.2): picks the grant by
   * `grant_type`, validates, issues. Always answers a response; errors are
   * RFC 6749 §5.2 JSON bodies, unexpected failures `server_error` without details.
   */
  async createTokenResponse(request: OAuthRequest): Promise<OAuthResponse> {
    try {
      // RFC 6749 §3.2: "The client MUST use the HTTP "POST" method when making access token requests."
      if (request.method !== 'POST') {
        throw new OAuthError('invalid_request', 'the token endpoint accepts only POST', { status: 405, headers: { allow: 'POST' } })
      }
      const grantType = getParam(request.body, 'grant_type')
      if (grantType === undefined) throw new OAuthError('invalid_request', 'missing required parameter "grant_type"')
      const registered = this.#tokenGrants.get(grantType)
      if (registered === undefined) throw new OAuthError('unsupported_grant_type', `grant type "${grantType}" is not supported`)
      const grant = new registered.grantClass(this, request, registered.extensions)
      await grant.validateTokenRequest()
      return await grant.createTokenResponse()
    } catch (error) {
      return errorResponse(error instanceof OAuthError ? error : this.#serverError(error, undefined))
    }
  }

  // ---- other endpoints --------------------------------------------------------

  /**
   * Answers a request to a registered endpoint (`revocation`,
   * `introspection`, …). Throws a `TypeError` for an unregistered name.
   */
  async createEndpointResponse(name: string, request: OAuthRequest): Promise<OAuthResponse> {
    const endpoint = this.#endpoints.get(name)
    if (endpoint === undefined) throw new TypeError(`createEndpointResponse: no endpoint "${name}" is registered`)
    try {
      return await endpoint.handle(request)
    } catch (error) {
      return errorResponse(error instanceof OAuthError ? error : this.#serverError(error, undefined))
    }
  }

  /**
   * Reports an attack signal to `onSecurityEvent` (grants call this when they
   * detect a code replay or a refresh-token reuse). A failing hook is ignored:
   * it must not change the answer to the request.
   */
  reportSecurityEvent(event: SecurityEvent): void {
    try {
      this.#onSecurityEvent?.(event)
    } catch {
      // Alerting must never break the protocol.
    }
  }

  /** Looks up the user behind a token, for introspection. */
  async resolveUser(userId: string): Promise<GrantUser | null> {
    return this.#resolveUser === undefined ? null : this.#resolveUser(userId)
  }

  /**
   * Authenticates a protected-resource request by its bearer token (RFC 6750
   * §2.1 `Authorization` header; scheme case-insensitive). Throws an
   * `OAuthError` carrying the RFC 6750 §3 `WWW-Authenticate` challenge:
   * 401 without an error code when no token was sent, 401 `invalid_token`
   * when it is unknown, expired or revoked, 403 `insufficient_scope` when it
   * lacks a required scope.
   */
  async authenticateBearerToken(request: OAuthRequest, options: { scope?: string | readonly string[] } = {}): Promise<AccessTokenInfo> {
    const realm = `realm="${this.issuer}"`
    const header = getHeader(request.headers, 'authorization')
    const space = header === undefined ? -1 : header.indexOf(' ')
    if (header === undefined || space === -1 || header.slice(0, space).toLowerCase() !== 'bearer') {
      throw new OAuthError('invalid_request', 'a bearer token is required', { status: 401, headers: { 'www-authenticate': `Bearer ${realm}` } })
    }
    const token = header.slice(space + 1).trim()
    const invalid = (description: string) =>
      new OAuthError('invalid_token', description, {
        status: 401,
        headers: { 'www-authenticate': `Bearer ${realm}, error="invalid_token", error_description="${description}"` },
      })
    if (!B64TOKEN.test(token)) throw invalid('the access token is malformed')
    const record = await this.store.findToken(hashToken(token))
    const now = this.#clock()
    if (record === null || record.type !== 'access_token') throw invalid('the access token is invalid')
    if (record.revokedAt !== null) throw invalid('the access token was revoked')
    if (record.expiresAt.getTime() <= now) throw invalid('the access token expired')
    const scopes = record.scope === '' ? [] : record.scope.split(' ')
    const required = options.scope === undefined ? [] : typeof options.scope === 'string' ? options.scope.split(' ').filter(Boolean) : options.scope
    const missing = required.filter((s) => !scopes.includes(s))
    if (missing.length > 0) {
      const scope = required.join(' ')
      throw new OAuthError('insufficient_scope', `the access token lacks the scope "${missing.join(' ')}"`, {
        status: 403,
        headers: { 'www-authenticate': `Bearer ${realm}, error="insufficient_scope", scope="${scope}"` },
      })
    }
    return { token: record, clientId: record.clientId, userId: record.userId, scopes }
  }

  // ---- metadata -----------------------------------------------------------

  /**
   * The RFC 8414 authorization server metadata, built from what is registered.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
   */
  metadata(): Record<string, unknown> {
    const { endpoints } = this.options
    const grantTypes = new Set<string>()
    const responseTypes = new Set<string>()
    const authMethods = new Set<string>()
    let hasAuthorization = false
    let hasToken = false
    const extra: Record<string, unknown> = {}
    for (const { grantClass, extensions } of this.#grants) {
      if (grantClass.GRANT_TYPE !== null) grantTypes.add(grantClass.GRANT_TYPE)
      if (grantClass.AUTHORIZATION_ENDPOINT) {
        hasAuthorization = true
        for (const type of grantClass.RESPONSE_TYPES) responseTypes.add(type)
      }
      if (grantClass.TOKEN_ENDPOINT) {
        hasToken = true
        for (const method of grantClass.TOKEN_ENDPOINT_AUTH_METHODS) if (this.#clientAuthMethods.has(method)) authMethods.add(method)
      }
      for (const extension of extensions) Object.assign(extra, extension.metadata?.())
    }
    const metadata: Record<string, unknown> = { issuer: this.issuer }
    if (hasAuthorization) metadata['authorization_endpoint'] = this.issuer + endpoints.authorization
    if (hasToken) metadata['token_endpoint'] = this.tokenEndpointUrl
    if (this.jwks() !== null) metadata['jwks_uri'] = this.issuer + endpoints.jwks
    for (const endpoint of this.#endpoints.values()) Object.assign(metadata, endpoint.metadata?.())
    metadata['grant_types_supported'] = [...grantTypes]
    metadata['response_types_supported'] = [...responseTypes]
    if (hasAuthorization) {
      metadata['response_modes_supported'] = [...new Set([...responseTypes].map((t) => (t.split(' ').includes('token') ? 'fragment' : 'query')))]
    }
    if (this.options.scopesSupported !== undefined) metadata['scopes_supported'] = [...this.options.scopesSupported]
    metadata['token_endpoint_auth_methods_supported'] = [...authMethods]
    if (hasAuthorization && this.options.authorizationResponseIss) metadata['authorization_response_iss_parameter_supported'] = true
    return { ...metadata, ...extra }
  }

  /**
   * The public keys resource servers verify self-contained access tokens
   * with (`jwtAccessTokens`), or `null` when the token strategy does not sign.
   *
   * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
   */
  jwks(): { keys: object[] } | null {
    const strategy = this.tokenStrategy as TokenStrategy & { jwks?: () => { keys: object[] } }
    return typeof strategy.jwks === 'function' ? strategy.jwks() : null
  }

  /** The names of the registered client authentication methods. */
  clientAuthMethodNames(): string[] {
    return [...this.#clientAuthMethods.keys()]
  }

  #serverError(error: unknown, redirect: ErrorRedirect | undefined): OAuthError {
    try {
      this.#onError(error)
    } catch {
      // A failing logger must not turn into a crash.
    }
    return new OAuthError('server_error', 'the server failed to process the request', { cause: error, redirect })
  }
}

const REDIRECT = Symbol('grantkit.redirect')
