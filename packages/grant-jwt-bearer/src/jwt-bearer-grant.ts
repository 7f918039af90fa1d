import {
  BaseGrant,
  OAuthError,
  type Client,
  type GrantUser,
  type OAuthResponse,
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
  readonly ALGORITHMS: readonly string[]
  readonly CLOCK_SKEW: number
  readonly MAX_AGE: number | null
  readonly REQUIRE_JTI: boolean
}

const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

function invalidGrant(description: string): OAuthError {
  // RFC 7523 §3.1: "the value of the "error" parameter MUST be the "invalid_grant" error code".
  return new OAuthError('invalid_grant', description)
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
 * Static options:
 * - `GRANT_TYPE`: `urn:ietf:params:oauth:grant-type:jwt-bearer`;
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `client_secret_basic`, `client_secret_post`,
 *   `none`. RFC 7523 §3.1 makes client authentication optional; grantkit
 *   still requires the client to be identified (with `none`, a public client
 *   by its `client_id`) so that its grant types and scope are enforced, and
 *   the JWT's issuer must be that client;
 * - `ALGORITHMS` (default `RS256`, `PS256`, `ES256`, `EdDSA`): accepted
 *   signature algorithms; `none` is never accepted;
 * - `CLOCK_SKEW` (seconds, default 60): tolerance for `exp`, `nbf` and `iat`;
 * - `MAX_AGE` (seconds, default `null`): when set, `iat` is required and the
 *   JWT must not be older;
 * - `REQUIRE_JTI` (default `true`): a `jti` is required; any `jti` is
 *   accepted once per issuer until the JWT expires (RFC 7523 §3 item 7).
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
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. */
  static CLOCK_SKEW: number = 60
  /** Maximum age of the JWT from its `iat`, in seconds; `null` for none (then `iat` is optional). */
  static MAX_AGE: number | null = null
  /** Require a `jti` claim, used once (RFC 7523 §3: replay protection). */
  static REQUIRE_JTI: boolean = true

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
   * requesting client). Override to map a trusted third-party issuer.
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
   * Validates the request (RFC 7523 §2.1, §3): identifies the client, which
   * must be allowed the grant type; requires `assertion`, a JWT signed by
   * the client with an accepted algorithm, whose `iss` is the client, `sub`
   * a known user, `aud` the token endpoint or the issuer, `exp` in the
   * future, `nbf`/`iat` not in the future and `jti` not seen before; resolves
   * `scope` against the client.
   */
  override async validateTokenRequest(): Promise<void> {
    const options = this.#options()
    const client = await this.authenticateTokenEndpointClient()
    const assertion = this.requireParam('assertion')
    const requestedScope = this.param('scope')

    let header: ProtectedHeaderParameters
    let unverified: JWTPayload
    try {
      header = decodeProtectedHeader(assertion)
      unverified = decodeJwt(assertion)
    } catch {
      // RFC 7523 §2.1: "The value of the "assertion" parameter MUST contain a single JWT."
      throw invalidGrant('the assertion is not a well-formed signed JWT')
    }
    const alg = header.alg
    if (typeof alg !== 'string' || alg === 'none' || !options.ALGORITHMS.includes(alg)) {
      throw invalidGrant(`the assertion's signature algorithm "${String(alg)}" is not accepted`)
    }
    // RFC 7523 §3 item 1: "The JWT MUST contain an "iss" (issuer) claim".
    const iss = unverified.iss
    if (typeof iss !== 'string' || iss === '') throw invalidGrant('the assertion has no "iss" claim')
    const issuer = await this.resolveIssuerClient(iss)
    if (issuer === null) throw invalidGrant('the assertion\'s issuer is unknown')
    if (issuer.clientId !== client.clientId) throw invalidGrant('the assertion\'s issuer is not the requesting client')
    const key = await this.resolveClientPublicKey(issuer, header)
    if (key === null || key === undefined) throw invalidGrant('the assertion\'s issuer has no registered key')

    const now = this.now()
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
    const nowSeconds = Math.floor(now.getTime() / 1000)
    // RFC 7523 §3 item 6: the server "MAY reject JWTs with an "iat" claim value that is unreasonably far in the past" — and one in the future is never reasonable.
    if (typeof claims.iat === 'number' && claims.iat > nowSeconds + options.CLOCK_SKEW) {
      throw invalidGrant('the assertion\'s "iat" claim is in the future')
    }
    const sub = claims.sub
    if (typeof sub !== 'string' || sub === '') throw invalidGrant('the assertion\'s "sub" claim must be a non-empty string')
    const jti = claims.jti
    if (jti !== undefined && (typeof jti !== 'string' || jti === '')) throw invalidGrant('the assertion\'s "jti" claim must be a non-empty string')
    if (jti === undefined && options.REQUIRE_JTI) throw invalidGrant('the assertion has no "jti" claim')
    this.scopes = this.resolveScopes(requestedScope, client)
    const user = await this.authenticateUser(sub, issuer)
    if (user === null) throw invalidGrant('the assertion\'s subject is unknown')
    // RFC 7523 §3 item 7: "The authorization server MAY ensure that JWTs are not replayed, by maintaining
    // the set of used "jti" values for the length of time for which the JWT would be considered valid".
    // Last, so that only an otherwise valid assertion uses up its jti.
    if (jti !== undefined) {
      const until = new Date(((claims.exp as number) + options.CLOCK_SKEW) * 1000)
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

  #options(): JWTBearerGrantClass {
    const options = this.constructor as unknown as JWTBearerGrantClass
    const { name, ALGORITHMS, CLOCK_SKEW, MAX_AGE, REQUIRE_JTI } = options
    if (!Array.isArray(ALGORITHMS) || ALGORITHMS.length === 0 || ALGORITHMS.some((a) => typeof a !== 'string' || a === 'none')) {
      throw new TypeError(`${name}.ALGORITHMS must be a non-empty list of JWS algorithms, without "none"`)
    }
    if (typeof CLOCK_SKEW !== 'number' || !Number.isFinite(CLOCK_SKEW) || CLOCK_SKEW < 0) throw new TypeError(`${name}.CLOCK_SKEW must be a number of seconds, 0 or more`)
    if (MAX_AGE !== null && (typeof MAX_AGE !== 'number' || !Number.isFinite(MAX_AGE) || MAX_AGE <= 0)) {
      throw new TypeError(`${name}.MAX_AGE must be null or a positive number of seconds`)
    }
    if (typeof REQUIRE_JTI !== 'boolean') throw new TypeError(`${name}.REQUIRE_JTI must be a boolean`)
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
