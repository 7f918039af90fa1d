/**
 * The `grant_type` of the token exchange grant (RFC 8693 §2.1).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange'

/**
 * The token type identifiers registered by RFC 8693 §3, for
 * `subject_token_type`, `actor_token_type`, `requested_token_type` and
 * `issued_token_type`. {@link TokenExchangeGrant} understands `accessToken`
 * (its own access tokens) out of the box; override
 * `validateSubjectToken` / `validateActorToken` for the others.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-3
 */
export const TOKEN_TYPES = Object.freeze({
  /** An OAuth 2.0 access token issued by the given authorization server. */
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  /** An OAuth 2.0 refresh token issued by the given authorization server. */
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  /** An OpenID Connect ID Token. */
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  /** A base64url-encoded SAML 1.1 assertion. */
  saml1: 'urn:ietf:params:oauth:token-type:saml1',
  /** A base64url-encoded SAML 2.0 assertion. */
  saml2: 'urn:ietf:params:oauth:token-type:saml2',
  /** A JWT (RFC 7519), e.g. one from a trusted issuer. */
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const)
