import { OAuthError, bearerChallenge, bearerErrorResponse, jsonResponse, type AuthorizationServer, type Endpoint, type EndpointRoute, type OAuthRequest, type OAuthResponse, type StoreCapability } from '@grantkit/core'
import { USERINFO_CLAIMS } from './internal/response-params.js'
import { providerOf, type OpenIDProvider } from './provider.js'

/**
 * The UserInfo endpoint (OpenID Connect Core §5.3), at `/userinfo` (the
 * provider's `paths.userinfo`), GET and POST: the access token in the
 * `Authorization: Bearer` header (RFC 6750 §2.1), verified by core like
 * every protected resource, must hold `openid` and be issued for a user.
 * The answer is `sub` (the same as in the ID token: public or pairwise)
 * plus the claims of the granted scopes (Core §5.4) and those asked for
 * with `claims.userinfo` (§5.5), from the app's `findClaims`. Failures are
 * RFC 6750 §3 errors with `WWW-Authenticate` (Core §5.3.3): the bare 401
 * without a token, 401 `invalid_token`, 403 `insufficient_scope`.
 *
 * @example
 * ```ts
 * provider.install(server)
 * server.registerEndpoint(UserInfoEndpoint)
 * ```
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 */
export class UserInfoEndpoint implements Endpoint {
  static readonly ENDPOINT_NAME = 'userinfo'
  static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens']
  readonly route: EndpointRoute
  readonly #server: AuthorizationServer
  readonly #provider: OpenIDProvider

  constructor(server: AuthorizationServer) {
    this.#server = server
    this.#provider = providerOf(server, 'UserInfoEndpoint')
    // Core §5.3.1: "The Client MUST support the use of HTTP GET and HTTP POST".
    this.route = { path: this.#provider.paths.userinfo, methods: ['GET', 'POST'], body: 'form', cors: true }
  }

  /** Discovery §3 `userinfo_endpoint`. */
  metadata(): Record<string, unknown> {
    return { userinfo_endpoint: this.#server.issuer + this.#provider.paths.userinfo }
  }

  async handle(request: OAuthRequest): Promise<OAuthResponse> {
    let token
    try {
      token = await this.#server.authenticateBearerToken(request, { scope: 'openid', user: true })
    } catch (error) {
      return bearerErrorResponse(error)
    }
    const client = await this.#server.store.findClient(token.clientId)
    if (client === null || token.userId === null) return bearerErrorResponse(invalidToken(this.#server))
    const extra = token.token.extra?.['claims'] as Record<string, unknown> | undefined
    const individual = extra?.[USERINFO_CLAIMS]
    const requested = Array.isArray(individual) ? individual.filter((n): n is string => typeof n === 'string') : []
    const claims = this.#provider.wantedClaims(token.scopes, requested)
    const found = await this.#provider.claimsFor(token.userId, { client, scopes: token.scopes, claims, target: 'userinfo' })
    // Core §5.3.2: "The sub Claim MUST always be returned in the UserInfo Response."
    return jsonResponse(200, { ...found, sub: this.#provider.subject(client, token.userId) })
  }
}

/** RFC 6750 §3.1 `invalid_token`, for a token whose client is gone. */
function invalidToken(server: AuthorizationServer): OAuthError {
  const description = 'the access token is invalid'
  return new OAuthError('invalid_token', description, { status: 401, headers: { 'www-authenticate': bearerChallenge(server.issuer, { code: 'invalid_token', description }) } })
}
