import { OAuthError, hashToken, type AuthorizationRequest, type AuthorizationServer, type GrantClass, type GrantExtension, type GrantUser, type OAuthResponse } from '@grantkit/core'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { approvalClaims, requestedNames, tokenParams } from './internal/response-params.js'
import { recordApproval, validateOpenIDRequest } from './openid-request.js'
import { providerOf } from './provider.js'

/**
 * The OpenID Connect hybrid flow (Core §3.3): `code id_token`, `code token`
 * and `code id_token token` at the authorization endpoint, answered in the
 * fragment. The code is redeemed at the token endpoint by the registered
 * {@link AuthorizationCodeGrant} (with {@link OpenIDCode}, whose ID token
 * then carries the same nonce): this grant serves the authorization
 * endpoint only. The scope must include `openid` and `nonce` is REQUIRED
 * (Core §3.3.2.11); the client needs the `implicit` grant type besides
 * `authorization_code` (tokens travel in the front channel).
 *
 * The ID token of the authorization response carries `c_hash` and, with
 * `code id_token token`, `at_hash` (Core §3.3.2.11). PKCE: give it the
 * code grant's `CodeChallenge` through {@link authorizationHooks} (the
 * challenge is read here and verified by the code grant at the token endpoint).
 *
 * @example
 * ```ts
 * const pkce = new CodeChallenge()
 * server.registerGrant(AuthorizationCodeGrant, [pkce, new OpenIDCode()])
 * server.registerGrant(OpenIDHybridGrant, [authorizationHooks(pkce)])
 * ```
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#HybridFlowAuth
 */
export class OpenIDHybridGrant extends AuthorizationCodeGrant {
  static override RESPONSE_TYPES: readonly string[] = ['code id_token', 'code token', 'code id_token token']
  static override TOKEN_ENDPOINT = false
  static override DEFAULT_RESPONSE_MODE: 'query' | 'fragment' | null = 'fragment'

  /** Also refuses a server without an installed {@link OpenIDProvider}. */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    AuthorizationCodeGrant.validateConfiguration.call(this, server)
    providerOf(server, this.name)
  }

  /** Core §3.3.2.11: `openid` scope and `nonce` required; the OpenID parameters validated (§3.1.2.1). */
  override async validateAuthorizationRequest(): Promise<AuthorizationRequest> {
    const authorization = await super.validateAuthorizationRequest()
    if (!authorization.client.grantTypes.includes('implicit')) {
      throw new OAuthError('unauthorized_client', 'the hybrid flow needs the implicit grant type (OpenID Connect Registration section 2)')
    }
    if (!authorization.scopes.includes('openid')) {
      throw new OAuthError('invalid_scope', 'this response type needs the openid scope (OpenID Connect Core section 3.3.2.11)')
    }
    await validateOpenIDRequest(providerOf(this.server, 'OpenIDHybridGrant'), authorization, this.request, true)
    return authorization
  }

  /** Core §3.3.2.5: `code`, plus the access token and/or ID token its response type names. */
  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    const authorization = this.requireAuthorization()
    const provider = providerOf(this.server, 'OpenIDHybridGrant')
    const { client, scopes } = authorization
    // Recorded before the code is saved: the token endpoint's ID token repeats the nonce (Core §3.3.3.6).
    const approval = recordApproval(authorization, user, this.now())
    const code = await this.createAuthorizationCode(client, user, authorization)
    const types = authorization.responseType.split(' ')
    const params: Record<string, string> = { code }
    if (types.includes('token')) {
      // In the code's token family, so that a replay of the code revokes this token too (RFC 6749 §4.1.2).
      const record = await this.store.findAuthorizationCode(hashToken(code), this.now())
      const body = await this.issueTokens({ client, user, scopes, refreshToken: false, claims: approvalClaims(approval), familyId: record?.familyId })
      Object.assign(params, tokenParams(body))
    }
    if (types.includes('id_token')) {
      const wanted = requestedNames(approval?.claims?.id_token)
      params['id_token'] = await provider.signIdToken({
        client,
        userId: user.id,
        nonce: approval?.nonce,
        authTime: approval?.auth_time,
        acr: approval?.acr,
        amr: approval?.amr,
        code,
        accessToken: params['access_token'],
        claims: await provider.claimsFor(user.id, { client, scopes, claims: provider.wantedClaims([], wanted), target: 'id_token' }),
      })
    }
    return this.authorizationRedirect(user, params)
  }
}

/**
 * The authorization-endpoint side of an extension of the code grant (its
 * `afterValidateAuthorizationRequest`, `afterAuthorizationApproved` and
 * `beforeAuthorizationResponse` hooks, and its PKCE policy flag), for
 * {@link OpenIDHybridGrant}: its codes are redeemed by the code grant, where
 * the same extension runs its token-endpoint hooks (PKCE verification).
 */
export function authorizationHooks(extension: GrantExtension): GrantExtension {
  return {
    ...(extension.codeChallengePolicy === undefined ? {} : { codeChallengePolicy: extension.codeChallengePolicy }),
    ...(extension.afterValidateAuthorizationRequest === undefined ? {} : { afterValidateAuthorizationRequest: extension.afterValidateAuthorizationRequest.bind(extension) }),
    ...(extension.afterAuthorizationApproved === undefined ? {} : { afterAuthorizationApproved: extension.afterAuthorizationApproved.bind(extension) }),
    ...(extension.beforeAuthorizationResponse === undefined ? {} : { beforeAuthorizationResponse: extension.beforeAuthorizationResponse.bind(extension) }),
  }
}
