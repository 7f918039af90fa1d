import { OAUTH_ERROR_BRAND, hasBrand } from './internal/brand.js'

/**
 * Error codes registered for OAuth 2.0 and the specs grantkit implements.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1 (authorization endpoint)
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 (token endpoint)
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (protected resources)
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.2.1 (revocation)
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5 (device authorization)
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.2.2 (token exchange)
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'unsupported_token_type'
  // RFC 8707 §2, RFC 8693 §2.2.2
  | 'invalid_target'
  // RFC 8628 §3.5
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  // OpenID Connect Core §3.1.2.6
  | 'interaction_required'
  | 'login_required'
  | 'account_selection_required'
  | 'consent_required'
  | 'invalid_request_uri'
  | 'invalid_request_object'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  // RFC 7591 §3.2.2
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  // RFC 9449 §5, §8
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'

/** Marks the base class itself, so that `instanceof` a subclass keeps its usual meaning. */
const BASE_CLASS = Symbol('grantkit.OAuthError.base')

const DEFAULT_STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  // RFC 6749 §5.2: 401 when the client attempted to authenticate; the server's
  // authenticateClient picks 401 + challenge or 400 by the method tried.
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_response_type: 400,
  invalid_scope: 400,
  access_denied: 403,
  server_error: 500,
  temporarily_unavailable: 503,
  invalid_token: 401,
  insufficient_scope: 403,
  unsupported_token_type: 400,
  invalid_target: 400,
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
  interaction_required: 400,
  login_required: 400,
  account_selection_required: 400,
  consent_required: 400,
  invalid_request_uri: 400,
  invalid_request_object: 400,
  request_not_supported: 400,
  request_uri_not_supported: 400,
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
}

/** Where an authorization-endpoint error is sent back to the client (RFC 6749 §4.1.2.1). */
export interface ErrorRedirect {
  /** The validated redirection URI. */
  readonly uri: string
  /** `query` for the code flow, `fragment` for the implicit flow. */
  readonly mode: 'query' | 'fragment'
  /** The request's `state`, echoed verbatim. */
  readonly state?: string | undefined
  /** RFC 9207 `iss`, when the server adds it. */
  readonly iss?: string | undefined
}

/** Options for {@link OAuthError}. */
export interface OAuthErrorOptions {
  /** HTTP status; defaults to the one the RFC gives the code. */
  status?: number
  /** Extra response headers, e.g. `WWW-Authenticate`. */
  headers?: Record<string, string>
  /** The underlying cause; never sent to the client. */
  cause?: unknown
  /** Set once the client and redirect URI are validated (authorization endpoint only). */
  redirect?: ErrorRedirect
}

/**
 * A protocol failure answered to the client with an RFC error body.
 *
 * `description` is always safe to show: it never contains secrets, tokens or
 * internals. `switch (err.code)` narrows on the RFC error code.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class OAuthError extends Error {
  /**
   * `instanceof OAuthError` is true for an error of any copy of this package
   * (an ESM and a CommonJS build loaded side by side), by its brand.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return Object.prototype.hasOwnProperty.call(this, BASE_CLASS) ? hasBrand(value, OAUTH_ERROR_BRAND) : Function.prototype[Symbol.hasInstance].call(this, value)
  }

  static readonly [BASE_CLASS] = true
  readonly [OAUTH_ERROR_BRAND] = true
  override readonly name = 'OAuthError'
  /** The RFC `error` code. */
  readonly code: OAuthErrorCode
  /** The `error_description`, safe to show to the client. */
  readonly description: string
  /** The HTTP status the error is answered with. */
  readonly status: number
  /** Headers added to the error response. */
  readonly headers: Record<string, string>
  /** Where to redirect the error to, when it happened at the authorization endpoint after the redirect URI was validated. */
  redirect: ErrorRedirect | undefined

  constructor(code: OAuthErrorCode, description: string, options: OAuthErrorOptions = {}) {
    const safe = safeDescription(description)
    super(safe, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.description = safe
    this.status = options.status ?? DEFAULT_STATUS[code]
    this.headers = options.headers ?? {}
    this.redirect = options.redirect
  }

  /** The RFC 6749 §5.2 JSON body: `{ error, error_description }`. */
  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description }
  }
}

/** Characters RFC 6749 §5.2 allows in `error_description`: `%x20-21 / %x23-5B / %x5D-7E`. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/

/**
 * An `error_description` RFC 6749 §5.2 allows — "Values for the
 * "error_description" parameter MUST NOT include characters outside the set
 * %x20-21 / %x23-5B / %x5D-7E" — enforced in one place, the `OAuthError`
 * constructor: `"` becomes `'`, `\` becomes `/`, `§` becomes "section",
 * typographic quotes and dashes their ASCII forms, and anything else outside
 * the set (control characters, other non-ASCII) is dropped. Descriptions
 * never carry request values, so nothing an attacker sent is echoed.
 */
export function safeDescription(description: string): string {
  if (DESCRIPTION_CHARS.test(description)) return description
  return description
    .replace(/"|[\u201C\u201D]/g, "'")
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/\\/g, '/')
    .replace(/§\s?/g, 'section ')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/[\t\r\n]/g, ' ')
    .replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')
}

/** Builds an `invalid_request` error. */
export function invalidRequest(description: string): OAuthError {
  return new OAuthError('invalid_request', description)
}

/** Builds an `invalid_grant` error. */
export function invalidGrant(description: string): OAuthError {
  return new OAuthError('invalid_grant', description)
}

/** Builds an `invalid_scope` error. */
export function invalidScope(description: string): OAuthError {
  return new OAuthError('invalid_scope', description)
}

/**
 * Builds the `invalid_target` error (400): the server will not issue a token
 * for a requested `resource` or `audience` (RFC 8707 §2, RFC 8693 §2.2.2).
 * Keep `description` free of request values.
 */
export function invalidTarget(description: string): OAuthError {
  return new OAuthError('invalid_target', description)
}

/** Builds an `unauthorized_client` error. */
export function unauthorizedClient(description: string): OAuthError {
  return new OAuthError('unauthorized_client', description)
}

/**
 * Builds the `invalid_client` error of a failed client authentication: 401
 * with a `Basic` challenge. Thrown from a client authentication method,
 * `AuthorizationServer.authenticateClient` then answers what RFC 6749 §5.2
 * asks for the method the client tried: 401 with a `Basic` challenge when
 * it sent Basic credentials or Basic is offered, else 400 without one.
 */
export function invalidClient(description: string, realm = 'oauth'): OAuthError {
  return new OAuthError('invalid_client', description, {
    status: 401,
    headers: { 'www-authenticate': `Basic realm="${realm}"` },
  })
}

/** Whether a value is an {@link OAuthError} (of any copy of this package: it checks the brand, not the class). */
export function isOAuthError(value: unknown): value is OAuthError {
  return hasBrand(value, OAUTH_ERROR_BRAND)
}
