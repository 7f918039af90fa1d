import {
  OAuthError,
  emptyResponse,
  errorPageResponse,
  getParam,
  redirectResponse,
  type AuthorizationServer,
  type Client,
  type Endpoint,
  type EndpointRoute,
  type OAuthRequest,
  type OAuthResponse,
  type StoreCapability,
} from '@grantkit/core'
import { providerOf, type OpenIDProvider } from './provider.js'

/** The client's registered `post_logout_redirect_uris` (RP-Initiated Logout 1.0 §3.1), from its metadata. */
export function postLogoutRedirectUris(client: Client): string[] {
  const uris = client.metadata?.['post_logout_redirect_uris']
  return Array.isArray(uris) ? uris.filter((u): u is string => typeof u === 'string') : []
}

/** An error shown to the user: logout errors are never redirected (RP-Initiated Logout 1.0 §3: no redirection to an unregistered URI). */
function shown(description: string): OAuthResponse {
  return errorPageResponse(new OAuthError('invalid_request', description, { status: 400 }))
}

/**
 * The RP-initiated logout endpoint (OpenID Connect RP-Initiated Logout 1.0
 * §2, §3), at `/logout` (the provider's `paths.endSession`), GET and POST:
 *
 * - `id_token_hint`: an ID token we issued, verified by signature and
 *   issuer; an expired one is accepted (§2: "The OP SHOULD accept ID Tokens
 *   when the RP identified by the ID Token's aud claim ... has a current
 *   session or had a recent session");
 * - `client_id`: must be among the hint's `aud` when both are sent (§2);
 * - `post_logout_redirect_uri`: must exactly match one of the client's
 *   registered `post_logout_redirect_uris` (client metadata, §3.1), else the
 *   error is shown and the user is not redirected (§3); it needs a client
 *   (`client_id` or `id_token_hint`);
 * - `state`: echoed in the redirect (§2);
 * - then the app's `endSession` hook ends the session (or answers itself,
 *   e.g. with a confirmation page), and the user is redirected to the
 *   `post_logout_redirect_uri`, else to the provider's `loggedOutPage`,
 *   else answered 204.
 *
 * @see https://openid.net/specs/openid-connect-rpinitiated-1_0.html
 */
export class EndSessionEndpoint implements Endpoint {
  static readonly ENDPOINT_NAME = 'end_session'
  static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients']
  readonly route: EndpointRoute
  readonly #server: AuthorizationServer
  readonly #provider: OpenIDProvider

  constructor(server: AuthorizationServer) {
    this.#server = server
    this.#provider = providerOf(server, 'EndSessionEndpoint')
    // §2: "OPs MUST support the use of the HTTP GET and POST methods"; a browser navigation, not a CORS call.
    this.route = { path: this.#provider.paths.endSession, methods: ['GET', 'POST'], body: 'form', cors: false }
  }

  /** RP-Initiated Logout 1.0 §2.1 `end_session_endpoint`. */
  metadata(): Record<string, unknown> {
    return { end_session_endpoint: this.#server.issuer + this.#provider.paths.endSession }
  }

  async handle(request: OAuthRequest): Promise<OAuthResponse> {
    const params = request.method === 'POST' ? request.body : request.query
    let hint: string | undefined, clientId: string | undefined, redirectUri: string | undefined, state: string | undefined, uiLocales: string | undefined
    try {
      hint = getParam(params, 'id_token_hint')
      clientId = getParam(params, 'client_id')
      redirectUri = getParam(params, 'post_logout_redirect_uri')
      state = getParam(params, 'state')
      uiLocales = getParam(params, 'ui_locales')
    } catch (error) {
      return errorPageResponse(error as OAuthError)
    }
    let idToken: Record<string, unknown> | null = null
    if (hint !== undefined) {
      idToken = await this.#provider.verifyOwnIdToken(hint)
      if (idToken === null) return shown('the id_token_hint is not an ID token issued by this server')
    }
    const aud = idToken?.['aud']
    const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []
    if (clientId !== undefined && idToken !== null && !audiences.includes(clientId)) {
      return shown('client_id does not match the audience of the id_token_hint (RP-Initiated Logout 1.0 section 2)')
    }
    const id = clientId ?? (audiences.length === 1 ? audiences[0] : undefined)
    const client = id === undefined ? null : await this.#server.store.findClient(id)
    if (id !== undefined && client === null) return shown('unknown client')
    if (redirectUri !== undefined) {
      if (client === null) return shown('post_logout_redirect_uri needs client_id or id_token_hint (RP-Initiated Logout 1.0 section 3)')
      // §3: "The OP MUST NOT perform post-logout redirection if the post_logout_redirect_uri value supplied
      // does not exactly match one of the previously registered post_logout_redirect_uris values."
      if (!postLogoutRedirectUris(client).includes(redirectUri)) return shown('post_logout_redirect_uri is not registered for this client (RP-Initiated Logout 1.0 section 3)')
    }
    const answer = await this.#provider.endSession({
      request,
      client,
      idToken,
      postLogoutRedirectUri: redirectUri ?? null,
      uiLocales: uiLocales === undefined ? [] : uiLocales.split(' ').filter((s) => s !== ''),
    })
    if (answer !== undefined) return answer
    if (redirectUri !== undefined) return redirectResponse(redirectUri, { state }, 'query')
    const page = this.#provider.loggedOutPage
    return page === undefined ? emptyResponse(204) : redirectResponse(page, {}, 'query')
  }
}
