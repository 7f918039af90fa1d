import { OAuthError, type AuthorizationRequest, type AuthorizationServer, type GrantClass, type GrantUser, type OAuthResponse } from '@grantkit/core'
import { ImplicitGrant } from '@grantkit/grant-implicit'
import { approvalClaims, requestedNames, tokenParams } from './internal/response-params.js'
import { recordApproval, validateOpenIDRequest } from './openid-request.js'
import { providerOf } from './provider.js'

/**
 * The OpenID Connect implicit flow (Core §3.2): `response_type=id_token`
 * (an ID token only, no access token) and `id_token token`, answered in the
 * fragment. Only authentication requests: the scope must include `openid`,
 * and `nonce` is REQUIRED (Core §3.2.2.1). Public clients only, like
 * {@link ImplicitGrant}; no refresh token (RFC 6749 §4.2.2).
 *
 * With `id_token` alone the scope's claims (Core §5.4: "when no Access
 * Token is issued") go in the ID token; with `id_token token` they are
 * served by UserInfo and the ID token carries `at_hash` (Core §3.2.2.10).
 *
 * @example
 * ```ts
 * provider.install(server)
 * server.registerGrant(OpenIDImplicitGrant)
 * ```
 *
 * @deprecated RFC 9700 §2.1.2: prefer the code flow with PKCE.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ImplicitFlowAuth
 */
export class OpenIDImplicitGrant extends ImplicitGrant {
  static override RESPONSE_TYPES: readonly string[] = ['id_token', 'id_token token']
  static override DEFAULT_RESPONSE_MODE: 'query' | 'fragment' | null = 'fragment'

  /** Also refuses a server without an installed {@link OpenIDProvider}. */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    ImplicitGrant.validateConfiguration.call(this, server)
    providerOf(server, this.name)
  }

  /** Core §3.2.2.1: `openid` scope and `nonce` required; the OpenID parameters validated (§3.1.2.1). */
  override async validateAuthorizationRequest(): Promise<AuthorizationRequest> {
    const authorization = await super.validateAuthorizationRequest()
    if (!authorization.scopes.includes('openid')) {
      throw new OAuthError('invalid_scope', 'this response type needs the openid scope (OpenID Connect Core section 3.2.2.1)')
    }
    await validateOpenIDRequest(providerOf(this.server, 'OpenIDImplicitGrant'), authorization, this.request, true)
    return authorization
  }

  /** Core §3.2.2.5: the ID token (and with `id_token token` the access token) in the fragment. */
  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    const authorization = this.requireAuthorization()
    const provider = providerOf(this.server, 'OpenIDImplicitGrant')
    const { client, scopes } = authorization
    const approval = recordApproval(authorization, user, this.now())
    const wanted = requestedNames(approval?.claims?.id_token)
    const withToken = authorization.responseType.split(' ').includes('token')
    const params: Record<string, string> = {}
    if (withToken) {
      const body = await this.issueTokens({ client, user, scopes, refreshToken: false, claims: approvalClaims(approval) })
      Object.assign(params, tokenParams(body))
    }
    // Core §5.4: the scope's claims go in the ID token only when no access token is issued.
    const names = provider.wantedClaims(withToken ? [] : scopes, wanted)
    params['id_token'] = await provider.signIdToken({
      client,
      userId: user.id,
      nonce: approval?.nonce,
      authTime: approval?.auth_time,
      acr: approval?.acr,
      amr: approval?.amr,
      accessToken: params['access_token'],
      claims: await provider.claimsFor(user.id, { client, scopes, claims: names, target: 'id_token' }),
    })
    return this.authorizationRedirect(user, params)
  }
}
