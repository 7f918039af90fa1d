import {
  configError,
  type AuthorizationApprovedHookContext,
  type AuthorizationHookContext,
  type AuthorizationServer,
  type GrantClass,
  type GrantExtension,
  type IssueTokensHookContext,
  type TokenResponseHookContext,
} from '@grantkit/core'
import { ID_TOKEN_CLAIMS, approvalClaims, carriedNames, requestedNames } from './internal/response-params.js'
import { approvalOf, recordApproval, validateOpenIDRequest } from './openid-request.js'
import { providerOf, type OpenIDProvider } from './provider.js'

/** Options of {@link OpenIDCode}. */
export interface OpenIDCodeOptions {
  /**
   * Refuse code-flow authentication requests without `nonce`
   * (`invalid_request`). Core §3.1.2.1 makes `nonce` OPTIONAL for the code
   * flow; requiring it protects clients that do not use PKCE against code
   * injection. Default `false`.
   */
  requireNonce?: boolean
}

/**
 * OpenID Connect for the authorization code grant and the refresh token
 * grant, as Authlib's `OpenIDCode` extension:
 *
 * - at the authorization endpoint, an authentication request (scope
 *   `openid`) has its parameters validated (Core §3.1.2.1, see
 *   `openidRequest`), and the approval records `nonce`, `auth_time`, `acr`,
 *   `amr` in the code;
 * - the token response carries an `id_token` (Core §3.1.3.3) with `iss`,
 *   `sub`, `aud`, `exp`, `iat`, `auth_time` (when known, always with
 *   `max_age`), the request's `nonce`, `at_hash`, `acr`, `amr`, and the
 *   claims asked for with `claims.id_token` (§5.5);
 * - registered on the refresh grant, each refresh answers a fresh ID token
 *   (Core §12.2): same `iss`, `sub`, `aud`, the original `auth_time`, no
 *   `nonce`, and the claims `claims.id_token` asked for (§5.5).
 *
 * `auth_time`, `acr` and `amr` are kept as claims of the tokens (RFC 9068
 * §2.2.1 names them too): introspection returns them and the refresh grant
 * carries them over.
 *
 * @example
 * ```ts
 * provider.install(server)
 * server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge(), new OpenIDCode({ requireNonce: true })])
 * server.registerGrant(RefreshTokenGrant, [new OpenIDCode()])
 * ```
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
 * @see https://openid.net/specs/openid-connect-core-1_0.html#RefreshTokens
 */
export class OpenIDCode implements GrantExtension {
  readonly requireNonce: boolean
  #provider: OpenIDProvider | null = null

  constructor(options: OpenIDCodeOptions = {}) {
    if (typeof options !== 'object' || options === null) throw configError('OpenIDCode: options must be an object')
    if (options.requireNonce !== undefined && typeof options.requireNonce !== 'boolean') throw configError('OpenIDCode: "requireNonce" must be a boolean')
    this.requireNonce = options.requireNonce ?? false
  }

  /** Refuses grants other than the code and refresh grants' token endpoints, and a server without an {@link OpenIDProvider}. */
  register(grant: GrantClass, server: AuthorizationServer): void {
    const fits = grant.TOKEN_ENDPOINT && (grant.GRANT_TYPE === 'authorization_code' || grant.GRANT_TYPE === 'refresh_token')
    if (!fits) throw configError(`OpenIDCode: ${grant.name} is neither the authorization code grant nor the refresh token grant (OpenIDHybridGrant and OpenIDImplicitGrant need no extension)`)
    const provider = providerOf(server, 'OpenIDCode')
    if (this.#provider !== null && this.#provider !== provider) throw configError('OpenIDCode: this extension is registered on another server')
    this.#provider = provider
  }

  #requireProvider(): OpenIDProvider {
    if (this.#provider === null) throw configError('OpenIDCode: not registered')
    return this.#provider
  }

  /** Discovery §3 fields: signing algorithms, subject types, claims. */
  metadata(): Record<string, unknown> {
    return this.#requireProvider().metadata()
  }

  /** Core §3.1.2.2: validates the OpenID parameters of a request with scope `openid`. */
  async afterValidateAuthorizationRequest({ grant, authorization }: AuthorizationHookContext): Promise<void> {
    await validateOpenIDRequest(this.#requireProvider(), authorization, grant.request, this.requireNonce)
  }

  /** Records the nonce, `auth_time`, `acr`, `amr` and the claims request in the code (Core §3.1.3.6 needs them at the token endpoint). */
  afterAuthorizationApproved({ authorization, user, grant }: AuthorizationApprovedHookContext): void {
    recordApproval(authorization, user, grant.now())
  }

  /** Keeps `auth_time`, `acr`, `amr` and the names of the requested UserInfo and ID token claims with the tokens of a code (the refresh grant carries them over, Core §12.2). */
  beforeIssueTokens({ code, scopes, claims }: IssueTokensHookContext): void {
    if (scopes.includes('openid')) Object.assign(claims, approvalClaims(approvalOf(code?.extra)))
  }

  /**
   * Adds the `id_token` when `openid` was granted (Core §3.1.3.3): from a
   * code with the request's nonce, from a refresh without one (§12.2). The
   * claims the authentication request asked for with `claims.id_token`
   * (§5.5) are in both: the code's approval names them, and the tokens keep
   * the names for their refreshes.
   */
  async beforeTokenResponse({ client, body, user, scopes, claims, code }: TokenResponseHookContext): Promise<void> {
    if (user === null || !scopes.includes('openid')) return
    const provider = this.#requireProvider()
    const approval = approvalOf(code?.extra)
    // Core §5.5, §12.2: a code names them in its approval; a refresh finds them among the grant's claims.
    const wanted = code === undefined ? carriedNames(claims, ID_TOKEN_CLAIMS) : requestedNames(approval?.claims?.id_token)
    const authTime = claims['auth_time']
    const acr = claims['acr']
    const amr = claims['amr']
    body['id_token'] = await provider.signIdToken({
      client,
      userId: user.id,
      // Core §12.2: a refreshed ID token has no nonce (there is no code, hence no approval).
      nonce: approval?.nonce,
      authTime: typeof authTime === 'number' ? authTime : undefined,
      acr: typeof acr === 'string' ? acr : undefined,
      amr: Array.isArray(amr) && amr.every((m) => typeof m === 'string') ? amr : undefined,
      accessToken: body.access_token,
      claims: await provider.claimsFor(user.id, { client, scopes, claims: provider.wantedClaims([], wanted), target: 'id_token' }),
    })
  }
}
