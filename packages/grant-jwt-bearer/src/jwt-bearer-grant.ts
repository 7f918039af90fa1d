import {
  BaseGrant,
  OAuthError,
  configError,
  type AuthorizationServer,
  type Client,
  type GrantClass,
  type GrantUser,
  type OAuthResponse,
  type StoreCapability,
  type UserStore,
} from '@grantkit/core'
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type KeyObject,
  type ProtectedHeaderParameters,
} from 'jose'

/**
 * What {@link JWTBearerGrant.resolveClientPublicKey} may answer: a key (a
 * `CryptoKey`, a Node `KeyObject`, a JWK, or a `Uint8Array` secret for HMAC
 * algorithms a subclass allows), a JWKS function from `jose`
 * (`createLocalJWKSet`, `createRemoteJWKSet`), or `null` for none.
 */
export type AssertionVerificationKey = CryptoKey | KeyObject | JWK | Uint8Array | JWTVerifyGetKey

/** The static configuration of {@link JWTBearerGrant}, as its subclasses see it. */
interface JWTBearerGrantClass {
  readonly name: string
  readonly TOKEN_ENDPOINT_AUTH_METHODS: readonly string[]
  readonly ALGORITHMS: readonly string[]
  readonly CLOCK_SKEW: number
  readonly MAX_LIFETIME: number
  readonly MAX_AGE: number | null
  readonly REQUIRE_JTI: boolean
}

const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

/** Upper bound of `MAX_LIFETIME` and `MAX_AGE`: one year, in seconds. */
const MAX_CONFIGURABLE_LIFETIME = 365 * 24 * 3600
/** Upper bound of `CLOCK_SKEW`: one hour, in seconds. */
const MAX_CONFIGURABLE_SKEW = 3600

/**
 * Request parameters that carry client authentication: `client_id` (with
 * `none`, `client_secret_post`, RFC 8705 §2 mTLS), `client_secret`
 * (RFC 6749 §2.3.1) and `client_assertion(_type)` (RFC 7523 §2.2, RFC 7521 §4.2).
 */
const CLIENT_AUTHENTICATION_PARAMS = ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type'] as const

function invalidGrant(description: string): OAuthError {
  // RFC 7523 §3.1: "the value of the "error" parameter MUST be the "invalid_grant" error code".
  return new OAuthError('invalid_grant', description)
}

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
}

/**
 * Checks the statics this grant adds (not those of `BaseGrant`), with a
 * {@link configError}. Run at registration by
 * {@link JWTBearerGrant.validateConfiguration} and again on every request.
 */
function checkOwnConfiguration(options: JWTBearerGrantClass): void {
  const { name, ALGORITHMS, CLOCK_SKEW, MAX_LIFETIME, MAX_AGE, REQUIRE_JTI } = options
  if (!Array.isArray(ALGORITHMS) || ALGORITHMS.length === 0 || ALGORITHMS.some((a) => typeof a !== 'string' || a === '' || a === 'none')) {
    throw configError(`${name}.ALGORITHMS must be a non-empty list of JWS algorithms, without "none"`)
  }
  if (!isInteger(CLOCK_SKEW, 0, MAX_CONFIGURABLE_SKEW)) throw configError(`${name}.CLOCK_SKEW must be an integer number of seconds between 0 and ${MAX_CONFIGURABLE_SKEW}`)
  if (!isInteger(MAX_LIFETIME, 1, MAX_CONFIGURABLE_LIFETIME)) {
    throw configError(`${name}.MAX_LIFETIME must be an integer number of seconds between 1 and ${MAX_CONFIGURABLE_LIFETIME}`)
  }
  if (MAX_AGE !== null && !isInteger(MAX_AGE, 1, MAX_CONFIGURABLE_LIFETIME)) {
    throw configError(`${name}.MAX_AGE must be null or an integer number of seconds between 1 and ${MAX_CONFIGURABLE_LIFETIME}`)
  }
  if (typeof REQUIRE_JTI !== 'boolean') throw configError(`${name}.REQUIRE_JTI must be a boolean`)
}

/**
 * A string claim or header that reaches the store or a hook (`iss`, `sub`,
 * `jti`, `kid`): a non-empty string without NUL, which PostgreSQL refuses in
 * `text` (a 500 instead of a 4xx) and C-string drivers truncate.
 */
function checkIdentifier(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '') throw invalidGrant(`${what} must be a non-empty string`)
  if (value.includes('\u0000')) throw invalidGrant(`${what} must not contain a NUL character`)
}

/**
 * A NumericDate claim (RFC 7519 §2) as this grant accepts it: a whole,
 * non-negative number of seconds. Fractions (rare; RFC 7519 allows them),
 * `1e400` (`Infinity` once parsed), negative and non-numeric values are refused.
 */
function checkNumericDate(payload: JWTPayload, claim: 'exp' | 'nbf' | 'iat'): number | undefined {
  const value: unknown = payload[claim]
  if (value === undefined) return undefined
  // Number.isInteger refuses ±Infinity and NaN; a huge integer (1e20) passes here and is then "too far in the future".
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalidGrant(`the assertion's "${claim}" claim must be a NumericDate: a whole number of seconds since 1970`)
  }
  return value
}

/**
 * The JWT bearer authorization grant: a client presents a signed JWT
 * (`assertion`) stating that the subject `sub` authorized it, and gets an
 * access token for that subject.
 *
 * Hooks (override in a subclass):
 * - {@link resolveIssuerClient}: the client behind the JWT's `iss`
 *   (default: the client whose `clientId` is `iss`);
 * - {@link resolveClientPublicKey}: its verification key (default: the
 *   JWKS in `client.metadata.jwks`; `jwks_uri` is not fetched);
 * - {@link authenticateUser}: the user behind `sub` (default: the store's
 *   user with that id when the store keeps users, else `{ id: sub }`).
 *
 * Client identification: RFC 7523 §3.1 makes client authentication optional.
 * - With client authentication (`TOKEN_ENDPOINT_AUTH_METHODS`, default
 *   `client_secret_basic`, `client_secret_post`, `none` by `client_id`), the
 *   JWT's issuer must be the authenticated client.
 * - With none at all (no `Authorization` header and no `client_id`,
 *   `client_secret`, `client_assertion` or `client_assertion_type`, as Go's
 *   `x/oauth2/jwt` and Python assertion clients send it), the client is the
 *   assertion's issuer: accepted when it is a public client
 *   (`tokenEndpointAuthMethod: 'none'`), `none` is among
 *   `TOKEN_ENDPOINT_AUTH_METHODS` and the client may use this grant type;
 *   the signature with its registered key is then what authenticates it. A
 *   confidential (or unknown) issuer is `invalid_client`: it must authenticate.
 *
 * Static options (checked by {@link validateConfiguration} with a
 * `TypeError` whose `code` is `ERR_GRANTKIT_CONFIG`, and again per request):
 * - `GRANT_TYPE`: `urn:ietf:params:oauth:grant-type:jwt-bearer`;
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `client_secret_basic`, `client_secret_post`,
 *   `none`; without `none`, public clients cannot use the grant at all;
 * - `ALGORITHMS` (default `RS256`, `PS256`, `ES256`, `EdDSA`): accepted
 *   signature algorithms; `none` is never accepted;
 * - `CLOCK_SKEW` (integer seconds, 0 to 3600, default 60): tolerance on
 *   every time check;
 * - `MAX_LIFETIME` (integer seconds, 1 to one year, default 3600): `exp`
 *   may be at most this far after the server's clock, and after `iat` when
 *   present (RFC 7523 §3 item 4: the server "MAY reject JWTs with an "exp"
 *   claim value that is unreasonably far in the future"); it also bounds how
 *   long a `jti` is remembered, and how long an assertion without `jti` can be
 *   replayed. 3600 matches the one-hour default of Go's `x/oauth2/jwt`;
 * - `MAX_AGE` (integer seconds or `null`, default 3600): `iat` is required
 *   and may be at most this old (plus `CLOCK_SKEW`) by the server's clock
 *   (RFC 7523 §3 item 6: the server "may reject JWTs with an "iat" claim
 *   value that is unreasonably far in the past"). RFC 7523 §3 item 6 makes
 *   `iat` optional; grantkit requires it by default because without it an
 *   assertion's age is unknown: one signed today with an `exp` years ahead
 *   would be refused until its last `MAX_LIFETIME` seconds, then accepted.
 *   3600 accepts every assertion `MAX_LIFETIME`'s default accepts when it
 *   is sent soon after it is signed (Go's `x/oauth2/jwt` signs one per token
 *   request, with `iat` 10 s back). `null` accepts assertions without `iat`
 *   (then only `exp` bounds them);
 * - `REQUIRE_JTI` (default `true`): RFC 7523 §3 item 7 makes `jti` optional;
 *   grantkit requires it by default because it is the only replay protection
 *   of a bearer assertion. Any `jti` is accepted once per issuer until the JWT
 *   expires. Set `false` for clients that cannot send one (their assertions
 *   can then be replayed until `exp`, at most `MAX_LIFETIME`); a `jti` that is
 *   sent is still used once.
 *
 * An empty `jti` counts as none. `exp`, `nbf` and `iat` must be whole, non-negative numbers of seconds;
 * `iss`, `sub`, `jti` and the `kid` header must not contain NUL. These checks
 * come before any store call.
 *
 * No refresh token is issued by default: the client can present a new
 * assertion instead (RFC 7523 §2.1 allows either; override
 * `includeRefreshToken` to issue one).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export class JWTBearerGrant extends BaseGrant {
  static override GRANT_TYPE: string = GRANT_TYPE
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none']
  static override AUTHORIZATION_ENDPOINT = false
  static override TOKEN_ENDPOINT = true
  /** Accepted JWS algorithms: asymmetric only by default. `none` is refused whatever this says. */
  static ALGORITHMS: readonly string[] = ['RS256', 'PS256', 'ES256', 'EdDSA']
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in whole seconds (0 to 3600). */
  static CLOCK_SKEW: number = 60
  /**
   * How far in the future `exp` may be, from the server's clock and from
   * `iat`, in whole seconds (1 to one year; RFC 7523 §3 item 4). Also the
   * longest a `jti` is remembered.
   */
  static MAX_LIFETIME: number = 3600
  /**
   * Maximum age of the JWT from its `iat`, in whole seconds (1 to one year;
   * RFC 7523 §3 item 6), plus `CLOCK_SKEW`; `iat` is then required. Default
   * 3600. `null` for none: `iat` becomes optional and only `exp` (within
   * `MAX_LIFETIME`) bounds an assertion.
   */
  static MAX_AGE: number | null = 3600
  /** Require a `jti` claim, used once (RFC 7523 §3 item 7: replay protection). Default `true`. */
  static REQUIRE_JTI: boolean = true
  /** A `jti` is remembered in the replay store until the assertion expires. */
  static override STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens', 'replay']

  /**
   * Checks the static configuration, with a `TypeError` whose `code` is
   * `ERR_GRANTKIT_CONFIG`: `registerGrant` calls it (with `this` the grant
   * class), so a bad static is refused at start-up rather than on each
   * request. Runs `BaseGrant`'s own check too when core has one.
   */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    BaseGrant.validateConfiguration.call(this, server)
    checkOwnConfiguration(this as unknown as JWTBearerGrantClass)
  }

  /** The verified JWT claims, set by {@link validateTokenRequest}. */
  claims: JWTPayload | null = null
  /** The user the token is issued for, set by {@link validateTokenRequest}. */
  user: GrantUser | null = null
  /** The granted scopes, set by {@link validateTokenRequest}. */
  scopes: string[] = []

  /**
   * The client that issued the JWT (`iss`), or `null` for an unknown issuer.
   * Default: the requesting client when `iss` is its `clientId`, else the
   * stored client with that id (which the grant then refuses as not the
   * requesting client). Override to map a trusted third-party issuer. When
   * the request carries no client authentication, the client it answers is
   * the requesting client (accepted only if public).
   */
  async resolveIssuerClient(iss: string): Promise<Client | null> {
    const client = this.client
    if (client !== null && client.clientId === iss) return client
    return this.store.findClient(iss)
  }

  /**
   * The key that verifies the issuer's JWT, or `null` when it has none.
   * Default: the JWKS object in `client.metadata.jwks`, matched by `kid`
   * and `alg` with `createLocalJWKSet`. `client.metadata.jwks_uri` is not
   * fetched (no network by default): override and return
   * `createRemoteJWKSet(new URL(uri))` to use it.
   */
  async resolveClientPublicKey(client: Client, _header: ProtectedHeaderParameters): Promise<AssertionVerificationKey | null> {
    const jwks = client.metadata?.['jwks'] as JSONWebKeySet | undefined
    if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) return null
    return createLocalJWKSet(jwks)
  }

  /**
   * The user the JWT's subject identifies; `null` answers `invalid_grant`.
   * Default: when the store keeps users (`findUserById`), that user by id
   * (unknown → `null`); otherwise `{ id: sub }`, trusting the issuer.
   */
  async authenticateUser(sub: string, _client: Client): Promise<GrantUser | null> {
    const users = this.store as Partial<UserStore>
    if (typeof users.findUserById !== 'function') return { id: sub }
    const user = await users.findUserById(sub)
    return user === null ? null : { id: user.id, username: user.username }
  }

  /** No refresh token by default (RFC 7523 §2.1: the client can present a new assertion). */
  override includeRefreshToken(_client: Client, _user: GrantUser | null): boolean {
    return false
  }

  /**
   * Validates the request (RFC 7523 §2.1, §3): requires `assertion`, a
   * single JWT with an accepted algorithm and well-formed claims (checked
   * before any store call); identifies the client, which must be allowed the
   * grant type (by its authentication, or, without any, as the assertion's
   * public issuer); then requires the JWT to be signed by the client, its
   * `iss` to be the client, `sub` a known user, `aud` the token endpoint or
   * the issuer, `exp` in the future but within `MAX_LIFETIME`, `nbf`/`iat`
   * not in the future, `iat` at most `MAX_AGE` old and `jti` not seen before; resolves `scope` against the client.
   */
  override async validateTokenRequest(): Promise<void> {
    const options = this.#options()
    const assertion = this.requireParam('assertion')
    const requestedScope = this.param('scope')
    const now = this.now()
    // Every time check and the replay key's expiry depend on it: a broken clock is the server's fault, not the client's.
    if (!Number.isFinite(now.getTime())) throw new TypeError(`${options.name}: the server clock gave an invalid date`)
    const { header, iss, jti } = this.#checkAssertion(assertion, options, now)

    const { client, issuer } = await this.#identifyClient(iss, options)
    if (issuer === null) throw invalidGrant('the assertion\'s issuer is unknown')
    if (issuer.clientId !== client.clientId) throw invalidGrant('the assertion\'s issuer is not the requesting client')
    const key = await this.resolveClientPublicKey(issuer, header)
    if (key === null || key === undefined) throw invalidGrant('the assertion\'s issuer has no registered key')

    const verifyOptions: JWTVerifyOptions = {
      algorithms: [...options.ALGORITHMS],
      issuer: iss,
      // RFC 7523 §3 item 3: the audience "MUST" identify the authorization server; its token endpoint URL "MAY" be used.
      audience: [this.server.tokenEndpointUrl, this.server.issuer],
      // RFC 7523 §3 items 2 and 4: "sub" and "exp" are required.
      requiredClaims: ['sub', 'exp'],
      clockTolerance: options.CLOCK_SKEW,
      currentDate: now,
    }
    if (options.MAX_AGE !== null) verifyOptions.maxTokenAge = options.MAX_AGE
    let claims: JWTPayload
    try {
      claims = (await jwtVerify(assertion, key, verifyOptions)).payload
    } catch (error) {
      // jose throws a JOSEError for a bad JWT, a TypeError for a key that cannot verify this algorithm.
      if (error instanceof errors.JOSEError || error instanceof TypeError) throw invalidGrant(describeJoseError(error))
      throw error
    }
    // The verified claims are the ones #checkAssertion checked: the same bytes, parsed alike.
    const sub = claims.sub as string
    const exp = claims.exp as number
    this.scopes = this.resolveScopes(requestedScope, client)
    const user = await this.authenticateUser(sub, issuer)
    if (user === null) throw invalidGrant('the assertion\'s subject is unknown')
    // RFC 7523 §3 item 7: "The authorization server MAY ensure that JWTs are not replayed, by maintaining
    // the set of used "jti" values for the length of time for which the JWT would be considered valid".
    // Last, so that only an otherwise valid assertion uses up its jti. `exp` is at most
    // now + MAX_LIFETIME + CLOCK_SKEW (checked above), so `until` is a valid, bounded date.
    if (jti !== undefined) {
      const until = new Date((exp + options.CLOCK_SKEW) * 1000)
      if (!(await this.store.markUsed(`jwt-bearer:${iss}:${jti}`, until, now))) throw invalidGrant('the assertion was already used')
    }
    this.claims = claims
    this.user = user
    await this.runHook('afterValidateTokenRequest', { grant: this, client })
  }

  /** Issues an access token for the subject (RFC 7523 §2.1, RFC 6749 §5.1); a refresh token only when {@link includeRefreshToken} says so. */
  override async createTokenResponse(): Promise<OAuthResponse> {
    const client: Client | null = this.client
    const user = this.user
    if (client === null || user === null) throw new TypeError('createTokenResponse called before validateTokenRequest')
    const body = await this.issueTokens({ client, user, scopes: this.scopes, refreshToken: this.includeRefreshToken(client, user) })
    return this.tokenResponse(body)
  }

  /**
   * The checks of the assertion that need no store, no key and no hook:
   * a single JWS-signed JWT, an accepted algorithm, the identifiers (`iss`,
   * `sub`, `jti`, `kid`) without NUL, and sane NumericDates (RFC 7523 §3
   * items 4 to 6). Signature, audience and expiry are left to `jwtVerify`.
   */
  #checkAssertion(assertion: string, options: JWTBearerGrantClass, now: Date): { header: ProtectedHeaderParameters; iss: string; jti: string | undefined } {
    let header: ProtectedHeaderParameters
    let payload: JWTPayload
    try {
      header = decodeProtectedHeader(assertion)
      payload = decodeJwt(assertion)
    } catch {
      // RFC 7523 §2.1: "The value of the "assertion" parameter MUST contain a single JWT."
      throw invalidGrant('the assertion is not a well-formed signed JWT')
    }
    const alg = header.alg
    if (typeof alg !== 'string' || alg === 'none' || !options.ALGORITHMS.includes(alg)) {
      throw invalidGrant("the assertion's signature algorithm is not accepted")
    }
    if (header.kid !== undefined) checkIdentifier(header.kid, 'the assertion\'s "kid" header')
    // RFC 7523 §3 item 1: "The JWT MUST contain an "iss" (issuer) claim".
    if (payload.iss === undefined || payload.iss === '') throw invalidGrant('the assertion has no "iss" claim')
    checkIdentifier(payload.iss, 'the assertion\'s "iss" claim')
    // RFC 7523 §3 item 2: "The JWT MUST contain a "sub" (subject) claim".
    if (payload.sub === undefined) throw invalidGrant('the assertion has no "sub" claim')
    checkIdentifier(payload.sub, 'the assertion\'s "sub" claim')
    // RFC 7523 §3 item 7: "The JWT MAY contain a "jti" (JWT ID) claim"; required here unless REQUIRE_JTI is false.
    // An empty jti identifies nothing: it counts as none (Go's x/oauth2 sends "jti":"" unless told otherwise).
    const jti = payload.jti === '' ? undefined : payload.jti
    if (jti !== undefined) checkIdentifier(jti, 'the assertion\'s "jti" claim')
    else if (options.REQUIRE_JTI) throw invalidGrant('the assertion has no "jti" claim')

    const skew = options.CLOCK_SKEW
    const nowSeconds = Math.floor(now.getTime() / 1000)
    // RFC 7523 §3 item 4: "The JWT MUST contain an "exp" (expiration time) claim".
    const exp = checkNumericDate(payload, 'exp')
    if (exp === undefined) throw invalidGrant('the assertion has no "exp" claim')
    checkNumericDate(payload, 'nbf')
    const iat = checkNumericDate(payload, 'iat')
    // RFC 7523 §3 item 4: the server "MAY reject JWTs with an "exp" claim value that is unreasonably far in the future".
    // Written `!(a <= b)` so that an invalid clock (NaN) refuses rather than accepts.
    if (!(exp <= nowSeconds + options.MAX_LIFETIME + skew)) {
      throw invalidGrant(`the assertion's "exp" claim is too far in the future (at most ${options.MAX_LIFETIME} s ahead)`)
    }
    if (iat !== undefined) {
      // RFC 7523 §3 item 6: the server "MAY reject JWTs with an "iat" claim value that is unreasonably far in the past" — and one in the future is never reasonable.
      if (!(iat <= nowSeconds + skew)) throw invalidGrant('the assertion\'s "iat" claim is in the future')
      if (!(exp - iat <= options.MAX_LIFETIME + skew)) {
        throw invalidGrant(`the assertion's lifetime from "iat" to "exp" is longer than ${options.MAX_LIFETIME} s`)
      }
    }
    // RFC 7523 §3 item 6: "iat" is optional in the RFC; with MAX_AGE (the default) it is required, and bounds the age.
    if (options.MAX_AGE !== null) {
      if (iat === undefined) throw invalidGrant('the assertion has no "iat" claim')
      if (!(nowSeconds - iat <= options.MAX_AGE + skew)) throw invalidGrant('the assertion is too old ("iat")')
    }
    return { header, iss: payload.iss, jti }
  }

  /**
   * The requesting client and the assertion's issuer. With client
   * authentication, the authenticated client. Without any (RFC 7523 §3.1),
   * the issuer itself when it is a public client allowed this grant type;
   * otherwise the standard authentication runs, and answers `invalid_client`.
   */
  async #identifyClient(iss: string, options: JWTBearerGrantClass): Promise<{ client: Client; issuer: Client | null }> {
    if (this.#carriesClientAuthentication() || !options.TOKEN_ENDPOINT_AUTH_METHODS.includes('none')) {
      const client = await this.authenticateTokenEndpointClient()
      return { client, issuer: await this.resolveIssuerClient(iss) }
    }
    const issuer = await this.resolveIssuerClient(iss)
    if (issuer === null || issuer.tokenEndpointAuthMethod !== 'none') {
      // A confidential client must authenticate, and an unknown one gets the same answer:
      // "client authentication is required" (invalid_client, 401), as without this grant's fallback.
      const client = await this.authenticateTokenEndpointClient()
      return { client, issuer: await this.resolveIssuerClient(iss) }
    }
    // As BaseGrant.authenticateTokenEndpointClient does for an authenticated client (RFC 6749 §5.2).
    const grantType = this.grantClass.GRANT_TYPE
    if (grantType !== null && !issuer.grantTypes.includes(grantType)) {
      throw new OAuthError('unauthorized_client', `client is not allowed the grant type "${grantType}"`)
    }
    this.client = issuer
    return { client: issuer, issuer }
  }

  /** Whether the request attempts any client authentication (a header or a client parameter). */
  #carriesClientAuthentication(): boolean {
    const request = this.request
    return request.headers['authorization'] !== undefined || CLIENT_AUTHENTICATION_PARAMS.some((name) => request.body.has(name))
  }

  /** The grant's statics, checked (the fallback until registration checks them): a bad one is a `TypeError`, answered `server_error`. */
  #options(): JWTBearerGrantClass {
    const options = this.constructor as unknown as JWTBearerGrantClass
    checkOwnConfiguration(options)
    return options
  }
}

/** A safe `error_description` for a failed `jwtVerify`. */
function describeJoseError(error: Error): string {
  if (error instanceof errors.JWTExpired) {
    return error.claim === 'iat' ? 'the assertion is too old ("iat")' : 'the assertion expired ("exp")'
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `the assertion has no "${error.claim}" claim`
    if (error.claim === 'aud') return 'the assertion\'s audience ("aud") is not this authorization server'
    if (error.claim === 'nbf') return 'the assertion is not valid yet ("nbf")'
    if (error.claim === 'iat') return 'the assertion\'s "iat" claim is in the future'
    return `the assertion's "${error.claim}" claim is invalid`
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the assertion\'s signature is invalid'
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the assertion\'s signature algorithm is not accepted'
  if (error instanceof errors.JWKSNoMatchingKey) return 'no registered key of the issuer matches the assertion'
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'several registered keys match the assertion: set "kid"'
  if (error instanceof TypeError) return 'the issuer\'s key cannot verify the assertion'
  return 'the assertion is invalid'
}

/** The `grant_type` of the JWT bearer grant (RFC 7523 §2.1). */
export const JWT_BEARER_GRANT_TYPE = GRANT_TYPE
