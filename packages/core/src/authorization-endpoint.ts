import { isRegisteredRedirectUri, type Client } from './client.js'
import { OAuthError, isOAuthError, type ErrorRedirect } from './errors.js'
import type { AuthorizationRequest, BaseGrant, GrantUser } from './grant.js'
import { HANDLE_BRAND, hasBrand } from './internal/brand.js'
import { normalizeResponseType, type Registry, type RegisteredGrant } from './internal/registry.js'
import { authorizationParams, getParam, type OAuthRequest } from './request.js'
import { errorPageResponse, redirectResponse, type OAuthResponse } from './response.js'
import type { AuthorizationServer } from './server.js'
import { forAuthorizationEndpoint } from './transient.js'

/**
 * A validated authorization request, from `validateAuthorizationRequest`,
 * for `createAuthorizationResponse(handle, user)`. It is the
 * {@link AuthorizationRequest} a login and consent page shows, carrying the
 * grant instance that validated it and the redirect its errors go to: the
 * request is validated once, the client looked up once, every extension's
 * `afterValidateAuthorizationRequest` runs once, and the same grant answers.
 * Single use: answering one handle twice is a `TypeError`.
 */
export interface AuthorizationHandle extends AuthorizationRequest {
  readonly [HANDLE_BRAND]: true
  /** The grant instance that validated the request and will answer it. */
  readonly grant: BaseGrant
  /** Where errors go from now on (RFC 6749 §4.1.2.1). */
  readonly redirect: ErrorRedirect
}

/** Whether `value` is an {@link AuthorizationHandle} (of any copy of `@grantkit/core`). */
export function isAuthorizationHandle(value: unknown): value is AuthorizationHandle {
  return hasBrand(value, HANDLE_BRAND)
}

const usedHandles = new WeakSet<object>()

/** The `onAnswer` callbacks of the resolvers that resolved a handle's request, out of sight of JSON. */
const answerCallbacks = new WeakMap<object, ReadonlyArray<() => Promise<void>>>()

/**
 * What a resolver may return instead of bare parameters: the parameters to
 * validate, and what to do when the request is answered.
 */
export interface ResolvedAuthorizationRequest {
  /** The parameters to validate instead of the request's. */
  readonly params: URLSearchParams
  /**
   * Called once when the request is answered (approved or denied), before
   * any hook runs or anything is issued, e.g. to consume a single-use
   * `request_uri` (RFC 9126 §4): a login page may show the request several
   * times, it is answered once. Throw an `OAuthError` to refuse the
   * answer; it goes to the client's validated redirect URI.
   */
  readonly onAnswer?: (() => Promise<void>) | undefined
}

/**
 * Resolves an authorization request's parameters before they are
 * validated, e.g. from a pushed authorization request's `request_uri`
 * (RFC 9126 §4). Registered with
 * `server.registerAuthorizationRequestResolver`; resolvers run in
 * registration order, each seeing the previous one's result.
 */
export interface AuthorizationRequestResolver {
  /**
   * Returns the parameters to validate instead of `params` (bare, or with
   * an `onAnswer` callback), or `null` to keep them. Throw an `OAuthError`
   * to refuse the request (it is shown to the user: the redirect URI is not
   * validated yet).
   */
  resolve(
    params: URLSearchParams,
    context: { readonly server: AuthorizationServer; readonly request: OAuthRequest },
  ): Promise<URLSearchParams | ResolvedAuthorizationRequest | null>
}

// ---- the steps, in order (RFC 6749 §4.1.1, §4.1.2.1) -------------------------------

/**
 * RFC 6749 §4.1.2.1: "If the request fails due to a missing, invalid, or
 * mismatching redirection URI, or if the client identifier is missing or
 * invalid, the authorization server [...] MUST NOT automatically redirect the
 * user-agent to the invalid redirection URI." Until {@link resolveRedirectUri}
 * succeeds, every error here is shown to the user.
 */
async function loadClient(server: AuthorizationServer, params: URLSearchParams): Promise<Client> {
  // RFC 6749 §4.1.1: client_id is REQUIRED.
  const clientId = getParam(params, 'client_id')
  if (clientId === undefined) throw new OAuthError('invalid_request', 'missing required parameter "client_id"')
  const client = await server.store.findClient(clientId)
  if (client === null) throw new OAuthError('invalid_client', 'unknown client', { status: 400 })
  return client
}

/**
 * RFC 9700 §4.1.3: redirect URIs are compared by exact string matching.
 * RFC 6749 §3.1.2.3: with several registered URIs (or none) the request MUST
 * include one.
 */
function resolveRedirectUri(client: Client, params: URLSearchParams, anyLoopbackPort: boolean): { uri: string; provided: boolean } {
  const requested = getParam(params, 'redirect_uri')
  if (requested !== undefined) {
    if (!isRegisteredRedirectUri(client, requested, { anyLoopbackPort })) throw new OAuthError('invalid_request', 'redirect_uri is not registered for this client')
    return { uri: requested, provided: true }
  }
  if (client.redirectUris.length !== 1) throw new OAuthError('invalid_request', 'missing required parameter "redirect_uri"')
  return { uri: client.redirectUris[0] as string, provided: false }
}

/**
 * The response mode of a response type: the grant's `DEFAULT_RESPONSE_MODE`,
 * else `fragment` when an access token travels in it (RFC 6749 §4.2.2),
 * else `query` (§4.1.2). Grants of other response types that carry tokens
 * (OpenID Connect's `id_token`, hybrid flows) declare `fragment`.
 */
export function responseModeOf(responseType: string, declared: 'query' | 'fragment' | null | undefined): 'query' | 'fragment' {
  if (declared === 'query' || declared === 'fragment') return declared
  return responseType.split(' ').includes('token') ? 'fragment' : 'query'
}

/**
 * RFC 6749 §3.1: "Request and response parameters MUST NOT be included more
 * than once"; §3.1.1: `response_type` is REQUIRED and must be one the server
 * supports (`unsupported_response_type`, §4.1.2.1). `state` is echoed
 * verbatim (§4.1.2), so the first value is kept for the error redirect.
 */
function selectResponseType(registry: Registry, params: URLSearchParams) {
  const states = params.getAll('state')
  const state = states[0] === '' ? undefined : states[0]
  const raw = params.getAll('response_type')
  const responseType = raw.length === 1 ? normalizeResponseType(raw[0] as string) : ''
  const registered = registry.authorizationGrants.get(responseType)
  const check = (): RegisteredGrant => {
    if (states.length > 1) throw new OAuthError('invalid_request', 'parameter "state" must not be included more than once')
    if (raw.length > 1) throw new OAuthError('invalid_request', 'parameter "response_type" must not be included more than once')
    if (responseType === '') throw new OAuthError('invalid_request', 'missing required parameter "response_type"')
    if (registered === undefined) throw new OAuthError('unsupported_response_type', 'the response type is not supported')
    return registered
  }
  return { state, responseType, responseMode: responseModeOf(responseType, registered?.grantClass.DEFAULT_RESPONSE_MODE), check }
}

/**
 * Validates an authorization request once and returns its handle. Errors
 * before the redirect URI is validated carry no `redirect` (shown to the
 * user); later ones carry it (sent back to the client).
 */
export async function validateAuthorization(server: AuthorizationServer, registry: Registry, request: OAuthRequest): Promise<AuthorizationHandle> {
  let params = authorizationParams(request)
  const onAnswer: Array<() => Promise<void>> = []
  for (const resolver of registry.authorizationRequestResolvers) {
    const resolved = await resolver.resolve(params, { server, request })
    if (resolved === null) continue
    if (resolved instanceof URLSearchParams) {
      params = resolved
      continue
    }
    params = resolved.params
    if (resolved.onAnswer !== undefined) onAnswer.push(resolved.onAnswer)
  }
  const client = await loadClient(server, params)
  const redirectUri = resolveRedirectUri(client, params, server.options.anyLoopbackPort)
  const { state, responseType, responseMode, check } = selectResponseType(registry, params)
  const redirect: ErrorRedirect = { uri: redirectUri.uri, mode: responseMode, state, iss: server.options.authorizationResponseIss ? server.issuer : undefined }
  try {
    const registered = check()
    const grant = new registered.grantClass(server, request, registered.extensions)
    grant.client = client
    grant.authorization = {
      client,
      responseType,
      redirectUri: redirectUri.uri,
      redirectUriProvided: redirectUri.provided,
      responseMode,
      state,
      scopes: [],
      extra: {},
      params,
    }
    // The grant's own checks and its extensions' afterValidateAuthorizationRequest hooks: once per request.
    const authorization = await grant.validateAuthorizationRequest()
    // The handle is the validated request itself; what the server needs to
    // answer it rides along, out of sight of JSON and equality checks.
    Object.defineProperties(authorization, {
      [HANDLE_BRAND]: { value: true },
      grant: { value: grant },
      redirect: { value: redirect },
    })
    if (onAnswer.length > 0) answerCallbacks.set(authorization, onAnswer)
    return authorization as AuthorizationHandle
  } catch (error) {
    throw withRedirect(server, error, redirect)
  }
}

/**
 * Answers a validated request: `user` approved it, `null` denied it
 * (`access_denied`, RFC 6749 §4.1.2.1). Never throws for a protocol error:
 * it answers the redirect to the client.
 */
export async function completeAuthorization(server: AuthorizationServer, handle: AuthorizationHandle, user: GrantUser | null): Promise<OAuthResponse> {
  if (usedHandles.has(handle)) throw new TypeError('createAuthorizationResponse: this authorization handle was already answered')
  usedHandles.add(handle)
  try {
    // The resolvers' answer step first (a pushed request's request_uri is consumed here, RFC 9126 §4): a
    // request answered twice — two tabs, a replayed form — gets one answer, whether approved or denied.
    for (const answer of answerCallbacks.get(handle) ?? []) await answer()
    if (user === null) throw new OAuthError('access_denied', 'the resource owner denied the request')
    await handle.grant.runHook('afterAuthorizationApproved', { grant: handle.grant, authorization: handle, user })
    return await handle.grant.createAuthorizationResponse(user)
  } catch (error) {
    return authorizationError(server, withRedirect(server, error, handle.redirect))
  }
}

/** An error of the authorization endpoint with its redirect set (when it has none), or `server_error` for an unexpected one. */
function withRedirect(server: AuthorizationServer, error: unknown, redirect: ErrorRedirect): OAuthError {
  if (isOAuthError(error)) {
    if (error.redirect === undefined) error.redirect = redirect
    return error
  }
  return server.serverError(error, redirect)
}

/**
 * The response for an authorization-endpoint error: a redirect with
 * `error`, `error_description`, `state` (and RFC 9207 `iss`) when the error
 * carries a validated redirect, else an error page (400, or 500 for a
 * server error) that must be shown to the user.
 */
export function authorizationError(server: AuthorizationServer, error: unknown): OAuthResponse {
  // RFC 6749 §4.1.2.1: a passing outage is `temporarily_unavailable` here (a 503 cannot be redirected).
  const oauthError = forAuthorizationEndpoint(isOAuthError(error) ? error : server.serverError(error, undefined))
  const redirect = oauthError.redirect
  const status = redirect !== undefined ? 302 : oauthError.status >= 500 ? oauthError.status : 400
  server.telemetry.count('grantkit.errors', 1, { endpoint: 'authorization', error: oauthError.code, status })
  if (redirect === undefined) {
    return errorPageResponse(oauthError.status >= 500 ? oauthError : new OAuthError(oauthError.code, oauthError.description, { status: 400 }))
  }
  return redirectResponse(
    redirect.uri,
    { error: oauthError.code, error_description: oauthError.description, state: redirect.state, iss: redirect.iss },
    redirect.mode,
  )
}
