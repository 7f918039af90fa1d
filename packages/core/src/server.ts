import { randomUUID } from 'node:crypto'
import { authorizationError, completeAuthorization, isAuthorizationHandle, validateAuthorization, type AuthorizationHandle, type AuthorizationRequestResolver } from './authorization-endpoint.js'
import { authenticateBearer, type AccessTokenInfo, type BearerRequirements } from './bearer.js'
import type { Client } from './client.js'
import { claimedClientId, clientSecretBasic, clientSecretPost, noneAuth, type ClientAuthContext, type ClientAuthMethod } from './client-auth.js'
import { assertFunction, assertInteger, configError } from './config-error.js'
import type { EndpointClass, EndpointRoute } from './endpoint.js'
import { OAuthError, invalidClient, isOAuthError, type ErrorRedirect, type OAuthErrorCode } from './errors.js'
import type { GrantClass, GrantExtension, GrantUser } from './grant.js'
import { Registry } from './internal/registry.js'
import { defaultErrorLogger, safeLog } from './log.js'
import { buildMetadata } from './metadata.js'
import { getHeader, getParam, isOAuthRequest, type OAuthRequest } from './request.js'
import { errorResponse, type OAuthResponse } from './response.js'
import { assertStoreCapabilities, storeHasCapability } from './store-capabilities.js'
import type { ClientStore, FullStore, GrantkitStore, TokenRecord, UserStore } from './store.js'
import { assertTelemetry, guardTelemetry, traceStore, type GuardedTelemetry, type Telemetry, type TelemetryAttributes } from './telemetry.js'
import { assertThrottle, memoryThrottle, throttledAttempt, type Throttle, type ThrottledAttemptOptions } from './throttle.js'
import { opaqueTokens, type TokenStrategy } from './token-strategy.js'
import { unexpectedError } from './transient.js'

export type { AccessTokenInfo } from './bearer.js'

/** Paths of the endpoints, relative to the issuer; used in metadata and by the adapters. */
export interface EndpointPaths {
  authorization: string
  token: string
  revocation: string
  introspection: string
  /** The JWK Set of a token strategy that signs (RFC 8414 §2 `jwks_uri`). */
  jwks: string
}

/** A source of public keys for the server's JWK Set, see {@link AuthorizationServer.registerKeySource}. */
export interface KeySource {
  /** The public JWKs to publish now (each with a `kid`). */
  jwks(): { keys: object[] }
}

/**
 * The store a server is given: at least `findClient`; every other capability
 * is checked when a grant or endpoint that needs it is registered.
 */
export type ServerStore = Pick<ClientStore, 'findClient'> & Partial<FullStore>

/** Options of {@link AuthorizationServer}. */
export interface AuthorizationServerOptions {
  /** The issuer identifier: an `http(s)` URL without query, fragment or trailing slash (RFC 8414 §2). */
  issuer: string
  /** Where clients, codes and tokens live. */
  store: ServerStore
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
  /** Endpoint paths, for metadata and the adapters. */
  endpoints?: Partial<EndpointPaths>
  /** `scopes_supported` in metadata. */
  scopesSupported?: readonly string[]
  /** Add RFC 9207 `iss` to authorization responses. Default true. */
  authorizationResponseIss?: boolean
  /**
   * RFC 8252 §7.3: accept a loopback `http` redirect URI (`127.0.0.1`,
   * `[::1]`, `localhost`) whose port differs from the registered one, for
   * native and desktop apps (and AI agents) that listen on an ephemeral
   * port. Default `false`: exact string matching (RFC 9700 §4.1.3) for
   * every URI.
   */
  anyLoopbackPort?: boolean
  /**
   * More RFC 8414 §2 metadata parameters, e.g. `service_documentation`,
   * `op_policy_uri`, or `client_id_metadata_document_supported` from
   * `@grantkit/client-metadata-document`. They never replace a parameter
   * built from what is registered (`issuer`, endpoints, supported values).
   */
  metadata?: Readonly<Record<string, unknown>>
  /**
   * Called with unexpected (non-OAuth) errors; they are answered without
   * details: 503 with `Retry-After` when `isTransientError` says the failure
   * is a passing outage (the database restarting, unreachable or
   * overloaded), else 500 `server_error`. Default: one `console.error` line
   * with the error's name and code, and its causes' (never a message or a
   * stack), identical lines at most once a second (`defaultErrorLogger`).
   */
  onError?: (error: unknown) => void
  /**
   * Metrics and tracing hooks, OpenTelemetry-friendly without depending on
   * it: counters of tokens issued by grant type, of errors by code and of
   * security events, and spans around each endpoint's handling and every
   * store call (see {@link Telemetry}). With a `span` hook, `server.store`
   * is a traced view of the store. A hook that throws is ignored.
   */
  telemetry?: Telemetry
  /**
   * Called when a grant detects an attack signal: a replayed authorization
   * code (RFC 6749 §4.1.2) or a reused rotated refresh token (RFC 9700
   * §4.14.2). The tokens of the grant are revoked either way; this is for
   * alerting. Never receives a token or code, only ids.
   */
  onSecurityEvent?: (event: SecurityEvent) => void
  /** Looks a user up for introspection; default: the store's `findUserById` when it has one. */
  resolveUser?: (userId: string) => Promise<GrantUser | null>
  /**
   * Bounds failed credential attempts (RFC 6819 §4.4.3.6, §5.1.4.2.3):
   * client authentication per client id, the password grant per username,
   * and per remote address when the adapter passes one. Only failures count
   * and a success resets the identity's count; an attempt over the limit is
   * answered 429 with `Retry-After` before any credential is checked.
   * Default: `memoryThrottle()` (10 failures per identity and 100 per
   * address in 10 minutes, per process); `false` turns it off.
   */
  throttle?: Throttle | false
}

/** The resolved options. */
export interface ResolvedServerOptions {
  readonly refreshTokenLifetime: number
  readonly authorizationCodeLifetime: number
  readonly endpoints: Readonly<EndpointPaths>
  readonly scopesSupported: readonly string[] | undefined
  readonly authorizationResponseIss: boolean
  readonly anyLoopbackPort: boolean
  readonly metadata: Readonly<Record<string, unknown>>
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

const DEFAULT_ENDPOINTS: EndpointPaths = {
  authorization: '/authorize',
  token: '/token',
  revocation: '/revoke',
  introspection: '/introspect',
  jwks: '/jwks.json',
}

function checkIssuer(issuer: unknown): string {
  let url: URL
  try {
    url = new URL(String(issuer))
  } catch {
    throw configError('AuthorizationServer: "issuer" must be an absolute URL')
  }
  if (typeof issuer !== 'string' || !/^https?:$/.test(url.protocol) || url.search !== '' || url.hash !== '' || issuer.endsWith('/')) {
    throw configError('AuthorizationServer: "issuer" must be an http(s) URL without query, fragment or trailing slash (RFC 8414 §2)')
  }
  return issuer
}

/**
 * The authorization server: grants, client authentication, endpoints and
 * metadata over a store. Framework-neutral: adapters hand it an
 * `OAuthRequest` and write back the `OAuthResponse` it answers (or use
 * `createHttpHandler`, which does all of an adapter's work but the I/O).
 *
 * Each concern lives in its own module: registration (`internal/registry`),
 * the authorization endpoint (`authorization-endpoint`), bearer tokens for
 * resource servers (`bearer`), metadata (`metadata`); this class ties them
 * to one configuration.
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
  /** The store; grants and endpoints use only the capabilities they declared (checked at registration). */
  readonly store: GrantkitStore
  readonly tokenStrategy: TokenStrategy
  readonly options: ResolvedServerOptions
  readonly tokenEndpointUrl: string
  /** The limiter of failed credential attempts (`throttle` option), or `null` when off. */
  readonly throttle: Throttle | null
  /**
   * The `telemetry` hooks, guarded (a failing hook is ignored): grants,
   * endpoints and adapters count and trace through it.
   */
  readonly telemetry: GuardedTelemetry

  readonly #clock: () => number
  readonly #accessTokenLifetime: number | ((grantType: string, client: Client) => number)
  readonly #registry = new Registry()
  readonly #onError: (error: unknown) => void
  readonly #onSecurityEvent: ((event: SecurityEvent) => void) | undefined
  readonly #resolveUser: ((userId: string) => Promise<GrantUser | null>) | undefined
  readonly #authContext: ClientAuthContext
  #bearerStoreChecked = false

  constructor(options: AuthorizationServerOptions) {
    if (typeof options !== 'object' || options === null) throw configError('AuthorizationServer: options are required')
    const issuer = checkIssuer(options.issuer)
    const store = options.store
    if (typeof store !== 'object' || store === null) throw configError('AuthorizationServer: "store" is required')
    // Only what every server uses; the rest is checked per grant and endpoint.
    assertStoreCapabilities(store, ['clients'], 'AuthorizationServer')
    const accessTokenLifetime = options.accessTokenLifetime ?? 3600
    if (typeof accessTokenLifetime !== 'function') assertInteger(accessTokenLifetime, 'AuthorizationServer: "accessTokenLifetime"')
    const refreshTokenLifetime = options.refreshTokenLifetime ?? 30 * 24 * 3600
    assertInteger(refreshTokenLifetime, 'AuthorizationServer: "refreshTokenLifetime"')
    const authorizationCodeLifetime = options.authorizationCodeLifetime ?? 60
    // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
    assertInteger(authorizationCodeLifetime, 'AuthorizationServer: "authorizationCodeLifetime"', 1, 600)
    assertFunction(options.onError, 'AuthorizationServer: "onError"', true)
    assertFunction(options.onSecurityEvent, 'AuthorizationServer: "onSecurityEvent"', true)
    assertFunction(options.resolveUser, 'AuthorizationServer: "resolveUser"', true)
    assertFunction(options.clock, 'AuthorizationServer: "clock"', true)
    assertTelemetry(options.telemetry, 'AuthorizationServer: "telemetry"')
    if (options.throttle !== undefined && options.throttle !== false) assertThrottle(options.throttle, 'AuthorizationServer: "throttle"')
    const metadata = options.metadata ?? {}
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw configError('AuthorizationServer: "metadata" must be an object of RFC 8414 parameters')

    this.issuer = issuer
    this.telemetry = guardTelemetry(options.telemetry)
    this.store = (this.telemetry.tracing ? traceStore(store, this.telemetry) : store) as GrantkitStore
    this.tokenStrategy = options.tokenStrategy ?? opaqueTokens()
    this.#clock = options.clock ?? Date.now
    this.throttle = options.throttle === false ? null : (options.throttle ?? memoryThrottle())
    this.#accessTokenLifetime = accessTokenLifetime
    this.#onError = options.onError ?? defaultErrorLogger('the authorization server')
    this.#onSecurityEvent = options.onSecurityEvent
    this.#resolveUser =
      options.resolveUser ??
      (storeHasCapability(store, 'users')
        ? async (id) => {
            const user = await (this.store as unknown as UserStore).findUserById(id)
            return user === null ? null : { id: user.id, username: user.username }
          }
        : undefined)
    const endpoints = { ...DEFAULT_ENDPOINTS, ...options.endpoints }
    for (const [name, path] of Object.entries(endpoints)) {
      if (typeof path !== 'string' || !path.startsWith('/')) throw configError(`AuthorizationServer: endpoints.${name} must be a path starting with "/"`)
    }
    this.options = Object.freeze({
      refreshTokenLifetime,
      authorizationCodeLifetime,
      endpoints: Object.freeze(endpoints),
      scopesSupported: options.scopesSupported,
      authorizationResponseIss: options.authorizationResponseIss ?? true,
      anyLoopbackPort: options.anyLoopbackPort === true,
      metadata: Object.freeze({ ...metadata }),
    })
    this.tokenEndpointUrl = issuer + endpoints.token
    this.#authContext = { store: this.store, replay: this.store, issuer, tokenEndpoint: this.tokenEndpointUrl, now: () => this.now() }
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
   * Registers a grant class with optional extensions (Authlib’s
   * `register_grant(GrantClass, [extension])`). Every check happens here,
   * once, with a `TypeError` carrying a `code`: the grant's statics
   * (`validateConfiguration`), a grant type or response type registered
   * twice, the store capabilities the grant needs (`STORE_CAPABILITIES`), and
   * each extension's own `register` check.
   */
  registerGrant(grantClass: GrantClass, extensions: readonly GrantExtension[] = []): this {
    this.#registry.addGrant(this, grantClass, extensions)
    return this
  }

  /** Whether a grant serving this `grant_type` at the token endpoint is registered. */
  hasGrantType(grantType: string): boolean {
    return this.#registry.tokenGrants.has(grantType)
  }

  /**
   * The extensions registered with the grant serving `grantType` at the
   * token endpoint (`registerGrant`), in registration order; empty when no
   * such grant is registered. An endpoint that starts a grant elsewhere runs
   * their hooks, e.g. the device authorization endpoint (RFC 8628 §3.1)
   * runs `afterValidateDeviceAuthorizationRequest`.
   */
  grantExtensions(grantType: string): readonly GrantExtension[] {
    return this.#registry.tokenGrants.get(grantType)?.extensions ?? []
  }

  /**
   * Whether the grant serving `grantType` is registered and accepts the
   * client's authentication method, i.e. whether the client could use it.
   */
  grantAcceptsClient(grantType: string, client: Client): boolean {
    return this.#registry.grantAcceptsMethod(grantType, client.tokenEndpointAuthMethod)
  }

  /**
   * Registers (or replaces) a client authentication method, e.g.
   * `private_key_jwt`. Grants accept it when listed in their
   * `TOKEN_ENDPOINT_AUTH_METHODS`.
   */
  registerClientAuthMethod(name: string, method: ClientAuthMethod): this {
    this.#registry.addClientAuthMethod(name, method)
    return this
  }

  /**
   * Registers a resolver that may replace an authorization request's
   * parameters before validation, e.g. a pushed authorization request
   * (RFC 9126 §4). Resolvers run in registration order.
   */
  registerAuthorizationRequestResolver(resolver: AuthorizationRequestResolver): this {
    if (typeof resolver !== 'object' || resolver === null || typeof resolver.resolve !== 'function') {
      throw configError('registerAuthorizationRequestResolver: expected an object with a resolve(params, context) method')
    }
    this.#registry.authorizationRequestResolvers.push(resolver)
    return this
  }

  /**
   * Registers a source of public keys to publish in the server's JWK Set
   * (RFC 8414 §2 `jwks_uri`), besides the token strategy's: e.g. the
   * OpenID Connect ID token signing keys. `jwks()` is called on every
   * request of the JWK Set, so a source that rotates keys publishes the
   * current set.
   */
  registerKeySource(source: KeySource): this {
    if (typeof source !== 'object' || source === null || typeof source.jwks !== 'function') {
      throw configError('registerKeySource: expected an object with a jwks() method')
    }
    this.#registry.keySources.push(source)
    return this
  }

  /** Registers an endpoint class (e.g. `RevocationEndpoint`) under its `ENDPOINT_NAME`. */
  registerEndpoint(endpointClass: EndpointClass): this {
    this.#registry.addEndpoint(this, endpointClass)
    return this
  }

  /** Whether an endpoint is registered under this name. */
  hasEndpoint(name: string): boolean {
    return this.#registry.endpoints.has(name)
  }

  /** The registered endpoints that have an HTTP route, by name (for the HTTP handler). */
  routedEndpoints(): ReadonlyArray<readonly [name: string, route: EndpointRoute]> {
    const out: Array<readonly [string, EndpointRoute]> = []
    for (const [name, endpoint] of this.#registry.endpoints) if (endpoint.route !== undefined) out.push([name, endpoint.route])
    return out
  }

  /** Whether any registered grant serves the authorization endpoint. */
  hasAuthorizationEndpoint(): boolean {
    return this.#registry.authorizationGrants.size > 0
  }

  // ---- client authentication ----------------------------------------------

  /**
   * Authenticates the client of a request with one of `allowedMethods`
   * (RFC 6749 §2.3). Exactly one method may be used ("The client MUST NOT
   * use more than one authentication method in each request", §2.3); it must
   * be allowed here and be the client's registered method. Failures are
   * `invalid_client` with the status and challenge of RFC 6749 §5.2 (401
   * with a `Basic` challenge when Basic was sent or is offered here, else
   * 400 without one); failures are throttled per claimed client id
   * (`throttle` option), except for `none`, which checks no credential.
   */
  async authenticateClient(request: OAuthRequest, allowedMethods: readonly string[]): Promise<Client> {
    try {
      let usedName: string | undefined
      let used: ClientAuthMethod | undefined
      for (const [name, method] of this.#registry.clientAuthMethods) {
        if (!method.matches(request)) continue
        if (used !== undefined) throw new OAuthError('invalid_request', 'more than one client authentication method was used (RFC 6749 §2.3)')
        usedName = name
        used = method
      }
      if (used === undefined || usedName === undefined) throw invalidClient('client authentication is required')
      if (!allowedMethods.includes(usedName)) throw invalidClient(`client authentication method "${usedName}" is not allowed here`)
      const method = used
      const authenticate = () => method.authenticate(request, this.#authContext)
      let client: Client
      if (usedName === 'none') client = await authenticate()
      else {
        const clientId = typeof method.clientId === 'function' ? method.clientId(request) : claimedClientId(request)
        client = await this.throttleAttempt(request, clientId === undefined ? undefined : `client:${clientId}`, 'invalid_client', authenticate)
      }
      if (client.tokenEndpointAuthMethod !== usedName) {
        throw invalidClient(`client is registered for "${client.tokenEndpointAuthMethod}", not "${usedName}"`)
      }
      return client
    } catch (error) {
      throw isOAuthError(error) && error.code === 'invalid_client' && error.status === 401 ? clientAuthFailure(error, request, allowedMethods) : error
    }
  }

  /**
   * Runs one credential attempt under the server's `throttle`: refused with
   * 429 and `Retry-After` (and the `failure` error code) when `key` (e.g.
   * `user:<username>`; `undefined` for none) or the request's remote address
   * has too many recent failures; a failure (an `OAuthError` with code
   * `failure`) is counted; with `{ strict: true }` the attempt is counted
   * before it runs and a success resets `key` (see
   * {@link ThrottledAttemptOptions}). Grants that check a credential of
   * their own (the password grant) call this.
   */
  async throttleAttempt<T>(request: OAuthRequest, key: string | undefined, failure: OAuthErrorCode, attempt: () => Promise<T>, options?: ThrottledAttemptOptions): Promise<T> {
    return throttledAttempt(this.throttle, request, key, this.#clock(), failure, attempt, options)
  }

  // ---- authorization endpoint --------------------------------------------------

  /**
   * Validates an authorization request (RFC 6749 §4.1.1, §4.2.1) once and
   * returns its {@link AuthorizationHandle}: the validated request (client,
   * scopes, redirect URI, state) for the consent page, which
   * {@link createAuthorizationResponse} then answers. Throws an `OAuthError`;
   * when the client and redirect URI were valid it carries `redirect`, so
   * {@link authorizationErrorResponse} sends it back to the client, otherwise
   * it must be shown to the user.
   */
  async validateAuthorizationRequest(request: OAuthRequest): Promise<AuthorizationHandle> {
    if (!this.telemetry.tracing) return validateAuthorization(this, this.#registry, request)
    return this.telemetry.span('grantkit.authorization', {}, () => validateAuthorization(this, this.#registry, request))
  }

  /**
   * Answers an authorization request: `user` approved it, `null` denied it
   * (`access_denied`). Give it the handle from
   * {@link validateAuthorizationRequest} (the request is not validated
   * again); given a request instead, it validates it first. Always answers a
   * response: the redirect to the client, or an error page (`kind:
   * 'error_page'`) when the client or redirect URI are invalid (never
   * redirected, RFC 6749 §4.1.2.1).
   */
  async createAuthorizationResponse(handle: AuthorizationHandle | OAuthRequest, user: GrantUser | null): Promise<OAuthResponse> {
    if (!isAuthorizationHandle(handle) && !isOAuthRequest(handle)) throw new TypeError('createAuthorizationResponse: expected an authorization handle or an OAuthRequest')
    let validated: AuthorizationHandle
    if (isAuthorizationHandle(handle)) validated = handle
    else {
      try {
        validated = await this.validateAuthorizationRequest(handle)
      } catch (error) {
        return this.authorizationErrorResponse(error)
      }
    }
    const response = this.telemetry.tracing
      ? await this.telemetry.span('grantkit.authorization.response', {}, () => completeAuthorization(this, validated, user))
      : await completeAuthorization(this, validated, user)
    // Tokens in the redirect (the implicit and hybrid flows, RFC 6749 §4.2.2).
    const grant = validated.grant
    if (grant.issuedRecords.length > 0 && response.kind === 'redirect' && !/[?#&]error=/.test(response.headers['location'] ?? '')) this.#countIssued(grant.grantClass.GRANT_TYPE ?? validated.responseType, grant.issuedRecords)
    return response
  }

  /**
   * The response for an authorization-endpoint error: a redirect with
   * `error`, `error_description`, `state` (and `iss`) when the error carries
   * a validated redirect, else an error page to show to the user.
   */
  authorizationErrorResponse(error: unknown): OAuthResponse {
    return authorizationError(this, error)
  }

  // ---- token endpoint --------------------------------------------------------

  /**
   * Answers a token request (RFC 6749 §3.2): picks the grant by
   * `grant_type`, validates, issues. Always answers a response; errors are
   * RFC 6749 §5.2 JSON bodies, unexpected failures `server_error` without details.
   */
  createTokenResponse(request: OAuthRequest): Promise<OAuthResponse> {
    // Not async: without tracing, the token path pays no extra promise.
    if (!this.telemetry.tracing) return this.#tokenResponse(request)
    // Only a registered grant type names the span: a request's value must not become an attribute.
    let grantType: string | null = null
    try {
      grantType = request.body.get('grant_type')
    } catch {
      grantType = null
    }
    const attributes: TelemetryAttributes = grantType !== null && this.#registry.tokenGrants.has(grantType) ? { grant_type: grantType } : {}
    return this.telemetry.span('grantkit.token', attributes, () => this.#tokenResponse(request))
  }

  async #tokenResponse(request: OAuthRequest): Promise<OAuthResponse> {
    try {
      // RFC 6749 §3.2: "The client MUST use the HTTP "POST" method when making access token requests."
      if (request.method !== 'POST') {
        throw new OAuthError('invalid_request', 'the token endpoint accepts only POST', { status: 405, headers: { allow: 'POST' } })
      }
      const grantType = getParam(request.body, 'grant_type')
      if (grantType === undefined) throw new OAuthError('invalid_request', 'missing required parameter "grant_type"')
      const registered = this.#registry.tokenGrants.get(grantType)
      if (registered === undefined) throw new OAuthError('unsupported_grant_type', 'the grant type is not supported')
      const grant = new registered.grantClass(this, request, registered.extensions)
      // Before the grant reads anything: a refusal here spends no code, device code, assertion or refresh token.
      if (grant.extensions.length > 0) await grant.runHook('beforeValidateTokenRequest', { grant })
      await grant.validateTokenRequest()
      const response = await grant.createTokenResponse()
      if (response.status < 300 && grant.issuedRecords.length > 0) this.#countIssued(grantType, grant.issuedRecords)
      return this.#countError('token', response)
    } catch (error) {
      return this.#countError('token', errorResponse(isOAuthError(error) ? error : this.serverError(error, undefined)))
    }
  }

  // ---- other endpoints --------------------------------------------------------

  /**
   * Answers a request to a registered endpoint (`revocation`,
   * `introspection`, …). Throws a `TypeError` for an unregistered name.
   */
  async createEndpointResponse(name: string, request: OAuthRequest): Promise<OAuthResponse> {
    const endpoint = this.#registry.endpoints.get(name)
    if (endpoint === undefined) throw new TypeError(`createEndpointResponse: no endpoint "${name}" is registered`)
    const answer = async () => {
      try {
        return this.#countError(name, await endpoint.handle(request))
      } catch (error) {
        return this.#countError(name, errorResponse(isOAuthError(error) ? error : this.serverError(error, undefined)))
      }
    }
    return this.telemetry.tracing ? this.telemetry.span(`grantkit.${name}`, {}, answer) : answer()
  }

  /** Counts the tokens of one answer in `grantkit.tokens.issued`. */
  #countIssued(grantType: string, records: readonly TokenRecord[]): void {
    if (!this.telemetry.counting) return
    for (const record of records) this.telemetry.count('grantkit.tokens.issued', 1, { grant_type: grantType, token_type: record.type })
  }

  /** Counts an error answer (a JSON body with `error`) in `grantkit.errors`, and returns it. */
  #countError(endpoint: string, response: OAuthResponse): OAuthResponse {
    if (this.telemetry.counting && response.status >= 400) {
      const error = response.body?.['error']
      if (typeof error === 'string') this.telemetry.count('grantkit.errors', 1, { endpoint, error, status: response.status })
    }
    return response
  }

  /**
   * Reports an attack signal to `onSecurityEvent` (grants call this when they
   * detect a code replay or a refresh-token reuse). A failing hook is ignored:
   * it must not change the answer to the request.
   */
  reportSecurityEvent(event: SecurityEvent): void {
    this.telemetry.count('grantkit.security_events', 1, { type: event.type })
    safeLog(this.#onSecurityEvent, event)
  }

  /** Looks up the user behind a token, for introspection. */
  async resolveUser(userId: string): Promise<GrantUser | null> {
    return this.#resolveUser === undefined ? null : this.#resolveUser(userId)
  }

  // ---- resource servers ----------------------------------------------------

  /**
   * Authenticates a protected-resource request by its bearer token (RFC 6750
   * §2.1). Throws an `OAuthError` carrying the RFC 6750 §3 challenge; write
   * it with `bearerErrorResponse` (the bare 401 of §3.1 for a missing token).
   */
  async authenticateBearerToken(request: Pick<OAuthRequest, 'headers'>, requirements: BearerRequirements = {}): Promise<AccessTokenInfo> {
    // Checked on the first call only: this is every protected request's path.
    if (!this.#bearerStoreChecked) {
      assertStoreCapabilities(this.store, ['tokens'], 'authenticateBearerToken')
      this.#bearerStoreChecked = true
    }
    if (!this.telemetry.tracing) return authenticateBearer(this.store, this.issuer, this.#clock(), request, requirements)
    return this.telemetry.span('grantkit.resource', {}, () => authenticateBearer(this.store, this.issuer, this.#clock(), request, requirements))
  }

  // ---- metadata -----------------------------------------------------------

  /**
   * The RFC 8414 authorization server metadata, built from what is registered.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
   */
  metadata(): Record<string, unknown> {
    return buildMetadata(this, this.#registry)
  }

  /**
   * The public keys the server publishes: those resource servers verify
   * self-contained access tokens with (`jwtAccessTokens`) and those of
   * every registered key source (`registerKeySource`), or `null` when
   * nothing signs.
   *
   * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
   */
  jwks(): { keys: object[] } | null {
    const strategy = this.tokenStrategy as TokenStrategy & { jwks?: () => { keys: object[] } }
    const sources = this.#registry.keySources
    if (typeof strategy.jwks !== 'function' && sources.length === 0) return null
    const keys: object[] = typeof strategy.jwks === 'function' ? [...strategy.jwks().keys] : []
    for (const source of sources) keys.push(...source.jwks().keys)
    return { keys }
  }

  /** The names of the registered client authentication methods. */
  clientAuthMethodNames(): string[] {
    return [...this.#registry.clientAuthMethods.keys()]
  }

  /**
   * Reports an unexpected error to `onError` and returns the `server_error`
   * answered for it (no details): 500, or 503 with `Retry-After` when the
   * error is a passing outage (`isTransientError`: the database restarting,
   * unreachable or overloaded). The authorization endpoint answers the
   * latter `temporarily_unavailable` (RFC 6749 §4.1.2.1).
   */
  serverError(error: unknown, redirect: ErrorRedirect | undefined): OAuthError {
    safeLog(this.#onError, error)
    return unexpectedError(error, { redirect })
  }

  /** Reports an unexpected error to `onError` (a failing logger is ignored). */
  reportError(error: unknown): void {
    safeLog(this.#onError, error)
  }
}

/**
 * The `invalid_client` answer of RFC 6749 §5.2: "If the client attempted to
 * authenticate via the "Authorization" request header field, the
 * authorization server MUST respond with an HTTP 401 (Unauthorized) status
 * code and include the "WWW-Authenticate" response header field matching
 * the authentication scheme used by the client." So:
 *
 * - Basic credentials in the header: 401 with a `Basic` challenge;
 * - otherwise (credentials in the body, an assertion, none), when Basic is
 *   allowed here: 401 with a `Basic` challenge, the "MAY return an HTTP 401
 *   […] to indicate which HTTP authentication schemes are supported" case;
 * - otherwise 400 without `WWW-Authenticate`: no HTTP scheme is supported,
 *   and a 401 must carry a challenge (RFC 9110 §15.5.2).
 */
function clientAuthFailure(error: OAuthError, request: OAuthRequest, allowedMethods: readonly string[]): OAuthError {
  let header: string | undefined
  try {
    header = getHeader(request.headers, 'authorization')
  } catch {
    header = undefined
  }
  const basicUsed = header !== undefined && /^basic(\s|$)/i.test(header)
  const headers = Object.fromEntries(Object.entries(error.headers).filter(([name]) => name !== 'www-authenticate'))
  if (basicUsed || allowedMethods.includes('client_secret_basic')) {
    return new OAuthError('invalid_client', error.description, { status: 401, headers: { ...headers, 'www-authenticate': 'Basic realm="oauth"' }, cause: error.cause })
  }
  return new OAuthError('invalid_client', error.description, { status: 400, headers, cause: error.cause })
}
