import {
  OAuthError,
  bearerChallenge,
  bearerErrorResponse,
  jsonResponse,
  storeHasCapability,
  type AuthorizationServer,
  type BearerRequirements,
  type Endpoint,
  type EndpointRoute,
  type OAuthRequest,
  type OAuthResponse,
  type ReplayStore,
  type StoreCapability,
} from '@grantkit/core'
import { USERINFO_CLAIMS, carriedNames } from './internal/response-params.js'
import { providerOf, type OpenIDProvider } from './provider.js'

/**
 * The UserInfo endpoint (OpenID Connect Core §5.3), at `/userinfo` (the
 * provider's `paths.userinfo`), GET and POST. The access token must hold
 * `openid` and be issued for a user; it is verified by core like every
 * protected resource, sent as
 *
 * - `Authorization: Bearer <token>` (RFC 6750 §2.1), or
 * - `Authorization: DPoP <token>` with a `DPoP` proof for this request
 *   (RFC 9449 §7): `htm` the request's method, `htu` the advertised
 *   `userinfo_endpoint`, `ath` the token's hash, made with the key the token
 *   is bound to. Proofs are accepted once when the store has the `replay`
 *   capability (RFC 9449 §11.1). A DPoP-bound token sent as `Bearer` is
 *   refused (§7.2).
 *
 * The answer is `sub` (the same as in the ID token: public or pairwise)
 * plus the claims of the granted scopes (Core §5.4) and those asked for
 * with `claims.userinfo` (§5.5), from the app's `findClaims`. Failures are
 * RFC 6750 §3 errors with `WWW-Authenticate` (Core §5.3.3): the bare 401
 * without a token, 401 `invalid_token`, 403 `insufficient_scope`; for a
 * DPoP request the `DPoP` challenge with `algs` (RFC 9449 §7.1), and 401
 * `invalid_dpop_proof` for a missing, malformed or foreign proof. When the
 * server issues DPoP-bound tokens (a DPoP extension publishes
 * `dpop_signing_alg_values_supported`), the challenge to a request without
 * a token names both schemes (RFC 9449 §7.2), and only those algorithms are
 * accepted.
 *
 * @example
 * ```ts
 * provider.install(server)
 * server.registerEndpoint(UserInfoEndpoint)
 * ```
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 */
export class UserInfoEndpoint implements Endpoint {
  static readonly ENDPOINT_NAME = 'userinfo'
  static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens']
  readonly route: EndpointRoute
  readonly #server: AuthorizationServer
  readonly #provider: OpenIDProvider
  /** The advertised URL: what a DPoP proof's `htu` names (RFC 9449 §4.3 item 9). */
  readonly #url: string
  /** Read from the server's metadata at the first request, once every grant and extension is registered. */
  #dpop: { readonly algorithms: readonly string[] | undefined; readonly replay: ReplayStore | undefined } | undefined

  constructor(server: AuthorizationServer) {
    this.#server = server
    this.#provider = providerOf(server, 'UserInfoEndpoint')
    this.#url = server.issuer + this.#provider.paths.userinfo
    // Core §5.3.1: "The Client MUST support the use of HTTP GET and HTTP POST".
    this.route = { path: this.#provider.paths.userinfo, methods: ['GET', 'POST'], body: 'form', cors: true }
  }

  /** Discovery §3 `userinfo_endpoint`. */
  metadata(): Record<string, unknown> {
    return { userinfo_endpoint: this.#url }
  }

  /** The DPoP algorithms the server's DPoP extension accepts (RFC 9449 §5.1), or `undefined` when it has none; and the replay store. */
  #dpopSettings(): { readonly algorithms: readonly string[] | undefined; readonly replay: ReplayStore | undefined } {
    if (this.#dpop === undefined) {
      const advertised = this.#server.metadata()['dpop_signing_alg_values_supported']
      const algorithms = Array.isArray(advertised) && advertised.length > 0 && advertised.every((a) => typeof a === 'string') ? (advertised as string[]) : undefined
      const replay = storeHasCapability(this.#server.store, 'replay') ? (this.#server.store as unknown as ReplayStore) : undefined
      this.#dpop = { algorithms, replay }
    }
    return this.#dpop
  }

  async handle(request: OAuthRequest): Promise<OAuthResponse> {
    const dpop = this.#dpopSettings()
    const requirements: BearerRequirements = { scope: 'openid', user: true, dpop: { algorithms: dpop.algorithms, replay: dpop.replay } }
    // RFC 9449 §4.3 item 9: the proof's htu is checked against the endpoint's advertised URL, not
    // whatever host and scheme the request reached this process with (a proxy may stand between).
    const resource = { headers: request.headers, method: request.method, url: this.#url }
    let token
    try {
      token = await this.#server.authenticateBearerToken(resource, requirements)
    } catch (error) {
      return this.#withDPoPChallenge(bearerErrorResponse(error), dpop.algorithms)
    }
    const client = await this.#server.store.findClient(token.clientId)
    if (client === null || token.userId === null) return bearerErrorResponse(invalidToken(this.#server))
    const requested = carriedNames(token.token.extra?.['claims'] as Record<string, unknown> | undefined, USERINFO_CLAIMS)
    const claims = this.#provider.wantedClaims(token.scopes, requested)
    const found = await this.#provider.claimsFor(token.userId, { client, scopes: token.scopes, claims, target: 'userinfo' })
    // Core §5.3.2: "The sub Claim MUST always be returned in the UserInfo Response."
    return jsonResponse(200, { ...found, sub: this.#provider.subject(client, token.userId) })
  }

  /**
   * RFC 9449 §7.2: a resource that accepts both schemes answers a request
   * without a token with both challenges, the DPoP one naming its `algs`
   * (§7.1), so the client learns it may present a DPoP-bound token.
   */
  #withDPoPChallenge(response: OAuthResponse, algorithms: readonly string[] | undefined): OAuthResponse {
    const challenge = response.headers['www-authenticate']
    const bare = response.status === 401 && response.kind === 'empty' && challenge !== undefined && challenge.startsWith('Bearer ')
    if (algorithms === undefined || !bare) return response
    const dpop = bearerChallenge(this.#server.issuer, undefined, { algs: algorithms.join(' ') }).replace(/^Bearer /, 'DPoP ')
    return { ...response, headers: { ...response.headers, 'www-authenticate': `${challenge}, ${dpop}` } }
  }
}

/** RFC 6750 §3.1 `invalid_token`, for a token whose client is gone. */
function invalidToken(server: AuthorizationServer): OAuthError {
  const description = 'the access token is invalid'
  return new OAuthError('invalid_token', description, { status: 401, headers: { 'www-authenticate': bearerChallenge(server.issuer, { code: 'invalid_token', description }) } })
}
