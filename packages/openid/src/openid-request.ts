import { OAuthError, getParam, type AuthorizationRequest, type GrantUser, type OAuthRequest } from '@grantkit/core'
import { parseClaimsRequest, type ClaimsRequest } from './claims.js'
import type { OpenIDProvider } from './provider.js'

/** A `prompt` value (OpenID Connect Core §3.1.2.1). */
export type Prompt = 'none' | 'login' | 'consent' | 'select_account'

/** A `display` value (Core §3.1.2.1). */
export type Display = 'page' | 'popup' | 'touch' | 'wap'

/**
 * The OpenID Connect parameters of a validated authentication request
 * (Core §3.1.2.1), parsed, for the app's `authorize` hook: read it with
 * {@link openidRequest}.
 */
export interface OpenIDRequest {
  readonly nonce: string | undefined
  /** The `prompt` values; empty when none was sent. */
  readonly prompt: readonly Prompt[]
  /** `max_age` in seconds: authenticate again when the last authentication is older. */
  readonly maxAge: number | undefined
  readonly loginHint: string | undefined
  /** The verified claims of the `id_token_hint` (an ID token we issued to this client, possibly expired). */
  readonly idTokenHint: Readonly<Record<string, unknown>> | undefined
  /** `ui_locales`, in order of preference (BCP 47 tags). */
  readonly uiLocales: readonly string[]
  readonly claimsLocales: readonly string[]
  readonly acrValues: readonly string[]
  readonly display: Display | undefined
  /** The `claims` request parameter (Core §5.5). */
  readonly claims: ClaimsRequest | undefined
}

/** What an approved OpenID request carries into the code record (`authorization.extra.openid`). */
export interface OpenIDApproval {
  readonly nonce?: string
  /** Seconds since the epoch. */
  readonly auth_time?: number
  readonly acr?: string
  readonly amr?: readonly string[]
  readonly claims?: ClaimsRequest
}

const PROMPTS: readonly string[] = ['none', 'login', 'consent', 'select_account']
const DISPLAYS: readonly string[] = ['page', 'popup', 'touch', 'wap']
const MAX_NONCE = 512

/** Where the parsed request hangs on its authorization request (a registered symbol: shared by every entry point and build). */
const OPENID_REQUEST = Symbol.for('grantkit.openid.request')

/**
 * The OpenID Connect parameters of a validated authorization request, or
 * `null` when it is not an OpenID request (no `openid` scope).
 *
 * @example
 * ```ts
 * authorize: async (ctx, { request }) => {
 *   const oidc = openidRequest(request)
 *   if (oidc?.prompt.includes('none') && !session) throw loginRequired()
 *   if (oidc?.prompt.includes('login') || needsReauthentication(request, session.authTime)) return showLogin(ctx)
 * }
 * ```
 */
export function openidRequest(authorization: AuthorizationRequest): OpenIDRequest | null {
  return (authorization as unknown as Record<symbol, OpenIDRequest | undefined>)[OPENID_REQUEST] ?? null
}

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(' ').filter((s) => s !== '')
}

/**
 * Refuses request objects (OpenID Connect Core §6), which this package does
 * not support (discovery says `request_parameter_supported: false`,
 * `request_uri_parameter_supported: false`): Core §6.1 and §6.2 make a
 * server that does not support them answer the error rather than ignore the
 * parameter, since the client's signed parameters would otherwise be
 * replaced by the unsigned ones beside them.
 *
 * - `request` (§6.1) is `request_not_supported`;
 * - `request_uri` (§6.2) is `request_uri_not_supported`, unless an
 *   authorization request resolver already answered it: the `request_uri`
 *   of a pushed authorization request (RFC 9126 §4, `@grantkit/par`) stands
 *   for the pushed parameters, and the resolver refuses any `request_uri`
 *   it did not issue. A resolved request's parameters are a new object,
 *   never the query or body of `request`, which is how it is told apart.
 *
 * Both errors are redirected to the client (Core §3.1.2.6). They are
 * answered for every request the OpenID grants and extensions see, with the
 * `openid` scope or without: silently ignoring either parameter is never right.
 */
export function refuseRequestObjects(authorization: AuthorizationRequest, request: OAuthRequest): void {
  const params = authorization.params
  if (params.has('request')) {
    throw new OAuthError('request_not_supported', 'request objects are not supported: send the parameters in the request itself or push them (OpenID Connect Core section 6.1)', { status: 400 })
  }
  if (params.has('request_uri') && (params === request.query || params === request.body)) {
    throw new OAuthError('request_uri_not_supported', 'request objects by reference are not supported (OpenID Connect Core section 6.2)', { status: 400 })
  }
}

/**
 * Validates the OpenID parameters of an authorization request whose scope
 * includes `openid` (Core §3.1.2.1, §3.1.2.2) and makes them available to
 * {@link openidRequest}. `invalid_request` for: a missing `nonce` when
 * required (Core §3.2.2.1, §3.3.2.11 for implicit and hybrid; the
 * `requireNonce` option for the code flow), an unknown `prompt` value or
 * `none` with another, a `max_age` that is not a non-negative integer, an
 * unknown `display`, a malformed `claims`, or an `id_token_hint` we did not
 * issue to this client. Request objects are refused first, whatever the
 * scope (see {@link refuseRequestObjects}).
 */
export async function validateOpenIDRequest(provider: OpenIDProvider, authorization: AuthorizationRequest, httpRequest: OAuthRequest, requireNonce: boolean): Promise<OpenIDRequest | null> {
  refuseRequestObjects(authorization, httpRequest)
  if (!authorization.scopes.includes('openid')) return null
  const params = authorization.params
  provider.checkClient(authorization.client)
  const nonce = getParam(params, 'nonce')
  if (nonce === undefined && requireNonce) throw new OAuthError('invalid_request', 'missing required parameter "nonce" (OpenID Connect Core section 3.2.2.1)')
  if (nonce !== undefined && (nonce === '' || nonce.length > MAX_NONCE)) throw new OAuthError('invalid_request', 'the nonce is empty or too long')
  const prompt = list(getParam(params, 'prompt'))
  // Core §3.1.2.1: unknown prompt values and "none" with any other value are errors.
  if (prompt.some((p) => !PROMPTS.includes(p))) throw new OAuthError('invalid_request', 'unknown prompt value (OpenID Connect Core section 3.1.2.1)')
  if (prompt.includes('none') && prompt.length > 1) throw new OAuthError('invalid_request', 'prompt=none must not be combined with other values (OpenID Connect Core section 3.1.2.1)')
  if (new Set(prompt).size !== prompt.length) throw new OAuthError('invalid_request', 'a prompt value is repeated')
  const rawMaxAge = getParam(params, 'max_age')
  let maxAge: number | undefined
  if (rawMaxAge !== undefined) {
    if (!/^\d{1,10}$/.test(rawMaxAge)) throw new OAuthError('invalid_request', 'max_age must be a non-negative integer of seconds (OpenID Connect Core section 3.1.2.1)')
    maxAge = Number(rawMaxAge)
  }
  const display = getParam(params, 'display')
  if (display !== undefined && !DISPLAYS.includes(display)) throw new OAuthError('invalid_request', 'unknown display value (OpenID Connect Core section 3.1.2.1)')
  const rawHint = getParam(params, 'id_token_hint')
  let idTokenHint: Record<string, unknown> | undefined
  if (rawHint !== undefined) {
    const claims = await provider.verifyOwnIdToken(rawHint)
    const aud = claims?.['aud']
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
    if (claims === null || !audiences.includes(authorization.client.clientId)) {
      throw new OAuthError('invalid_request', 'the id_token_hint is not an ID token issued by this server to this client (OpenID Connect Core section 3.1.2.1)')
    }
    idTokenHint = claims
  }
  const request: OpenIDRequest = {
    nonce,
    prompt: prompt as Prompt[],
    maxAge,
    loginHint: getParam(params, 'login_hint'),
    idTokenHint,
    uiLocales: list(getParam(params, 'ui_locales')),
    claimsLocales: list(getParam(params, 'claims_locales')),
    acrValues: list(getParam(params, 'acr_values')),
    display: display as Display | undefined,
    claims: parseClaimsRequest(getParam(params, 'claims')),
  }
  // Non-enumerable: not part of the request's JSON, nor carried into the code record.
  Object.defineProperty(authorization, OPENID_REQUEST, { value: request, configurable: true })
  return request
}

/**
 * Whether the user must authenticate again before approving: `max_age` was
 * sent and the last authentication (`authTime`) is older (Core §3.1.2.1:
 * "the OP MUST attempt to actively re-authenticate the End-User"), or it is
 * unknown. `false` for requests without `max_age`.
 */
export function needsReauthentication(authorization: AuthorizationRequest, authTime: Date | undefined, now: Date = new Date()): boolean {
  const maxAge = openidRequest(authorization)?.maxAge
  if (maxAge === undefined) return false
  return authTime === undefined || elapsedSeconds(authTime, now) > maxAge
}

/** Whole seconds from `authTime` to `now`, as `auth_time` counts them (Core §2: seconds since the epoch), so `max_age=0` holds right after a login. */
function elapsedSeconds(authTime: Date, now: Date): number {
  return Math.floor(now.getTime() / 1000) - Math.floor(authTime.getTime() / 1000)
}

/**
 * What an approved OpenID request records for the ID token (put into
 * `authorization.extra.openid`, carried into the code record): the nonce,
 * `auth_time`, `acr`, `amr` and the claims request. With `max_age`, the
 * user must carry an `authTime` within it: an unknown time is the app's
 * bug (a `TypeError`, Core §3.1.2.1: auth_time is then REQUIRED), a stale
 * one `login_required` (the OP must re-authenticate).
 */
export function recordApproval(authorization: AuthorizationRequest, user: GrantUser, now: Date): OpenIDApproval | null {
  const request = openidRequest(authorization)
  if (request === null) return null
  if (request.maxAge !== undefined) {
    if (user.authTime === undefined) throw new TypeError('authorize hook: the request has max_age, so the user must carry authTime (OpenID Connect Core §3.1.2.1)')
    if (needsReauthentication(authorization, user.authTime, now)) throw new OAuthError('login_required', 'the authentication is older than max_age (OpenID Connect Core section 3.1.2.1)')
  }
  const approval: OpenIDApproval = {
    ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
    ...(user.authTime === undefined ? {} : { auth_time: Math.floor(user.authTime.getTime() / 1000) }),
    ...(user.acr === undefined ? {} : { acr: user.acr }),
    ...(user.amr === undefined ? {} : { amr: [...user.amr] }),
    ...(request.claims === undefined ? {} : { claims: request.claims }),
  }
  authorization.extra['openid'] = approval
  return approval
}

/** The {@link OpenIDApproval} of a code record's `extra`, if any. */
export function approvalOf(extra: Readonly<Record<string, unknown>> | undefined): OpenIDApproval | undefined {
  const value = extra?.['openid']
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as OpenIDApproval) : undefined
}

function interaction(code: 'login_required' | 'consent_required' | 'interaction_required' | 'account_selection_required', description: string): OAuthError {
  return new OAuthError(code, description)
}

/** Throw from the `authorize` hook when `prompt=none` and nobody is signed in (Core §3.1.2.6): the client gets `error=login_required`. */
export function loginRequired(description = 'the end-user is not signed in'): OAuthError {
  return interaction('login_required', description)
}

/** Throw from the `authorize` hook when `prompt=none` and consent is needed (Core §3.1.2.6): `error=consent_required`. */
export function consentRequired(description = 'the end-user has not consented to this request'): OAuthError {
  return interaction('consent_required', description)
}

/** Throw when `prompt=none` and any other interaction is needed (Core §3.1.2.6): `error=interaction_required`. */
export function interactionRequired(description = 'the end-user must interact with the server'): OAuthError {
  return interaction('interaction_required', description)
}

/** Throw when `prompt=none` and the user must pick an account (Core §3.1.2.6): `error=account_selection_required`. */
export function accountSelectionRequired(description = 'the end-user must select an account'): OAuthError {
  return interaction('account_selection_required', description)
}
