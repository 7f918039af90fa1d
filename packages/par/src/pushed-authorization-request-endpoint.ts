import {
  OAuthError,
  brandRequest,
  configError,
  generateToken,
  getHeader,
  getParam,
  hashToken,
  isOAuthError,
  jsonResponse,
  verifyDPoPProof,
  type AuthorizationRequestResolver,
  type AuthorizationServer,
  type Client,
  type Endpoint,
  type EndpointClass,
  type EndpointRoute,
  type OAuthRequest,
  type OAuthResponse,
  type ReplayStore,
  type StoreCapability,
} from '@grantkit/core'
import { memoryPushedRequestStore, type PushedRequestStore } from './pushed-request-store.js'

/** The URN prefix of the `request_uri` values the endpoint issues (RFC 9126 §2.2). */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:'

/** Client authentication parameters: they authenticate the push and are not part of the authorization request. */
const CLIENT_AUTH_PARAMETERS = ['client_secret', 'client_assertion', 'client_assertion_type']

/** Options of {@link pushedAuthorizationRequestEndpoint}. */
export interface PushedAuthorizationRequestOptions {
  /** Where pushed requests wait for the authorization request. Default: {@link memoryPushedRequestStore} (one process). */
  store?: PushedRequestStore
  /**
   * Seconds a `request_uri` stays valid (`expires_in`, RFC 9126 §2.2: "a
   * positive integer", "typically [...] between 5 and 600 seconds"), 1 to
   * 600. It bounds the whole login and consent, which reads the pushed
   * request on each page. Default 300.
   */
  lifetime?: number
  /**
   * Require pushed authorization requests of every client (RFC 9126 §5
   * `require_pushed_authorization_requests`): an authorization request
   * without a `request_uri` from this endpoint is `invalid_request` (§4).
   * Clients registered with the metadata `require_pushed_authorization_requests: true`
   * (§6) are held to it either way. Default `false`.
   */
  required?: boolean
  /**
   * Client authentication methods accepted (RFC 9126 §2: as at the token
   * endpoint). Default: every method registered on the server; a client
   * still authenticates with its own registered method.
   */
  clientAuthMethods?: readonly string[]
  /** The endpoint's path under the issuer. Default `/par`. */
  path?: string
}

/** The pushed authorization request endpoint as `registerEndpoint` takes it. */
export interface PushedAuthorizationRequestEndpointClass extends EndpointClass {
  new (server: AuthorizationServer): PushedAuthorizationRequestEndpoint
}

/** The endpoint instance `registerEndpoint` creates. */
export interface PushedAuthorizationRequestEndpoint extends Endpoint {
  readonly route: EndpointRoute
  handle(request: OAuthRequest): Promise<OAuthResponse>
  metadata(): Record<string, unknown>
}

function checkOptions(options: PushedAuthorizationRequestOptions) {
  if (typeof options !== 'object' || options === null) throw configError('pushedAuthorizationRequestEndpoint: options must be an object')
  const store = options.store ?? memoryPushedRequestStore()
  for (const method of ['savePushedRequest', 'findPushedRequest', 'deletePushedRequest'] as const) {
    if (typeof (store as unknown as Record<string, unknown>)[method] !== 'function') {
      throw configError(`pushedAuthorizationRequestEndpoint: "store" must have a ${method} method`)
    }
  }
  const lifetime = options.lifetime ?? 300
  if (typeof lifetime !== 'number' || !Number.isInteger(lifetime) || lifetime < 1 || lifetime > 600) {
    throw configError('pushedAuthorizationRequestEndpoint: "lifetime" must be an integer number of seconds between 1 and 600 (RFC 9126 §2.2)')
  }
  const required = options.required ?? false
  if (typeof required !== 'boolean') throw configError('pushedAuthorizationRequestEndpoint: "required" must be a boolean')
  const methods = options.clientAuthMethods
  if (methods !== undefined && (!Array.isArray(methods) || methods.length === 0 || methods.some((m) => typeof m !== 'string' || m === ''))) {
    throw configError('pushedAuthorizationRequestEndpoint: "clientAuthMethods" must be a non-empty array of method names')
  }
  const path = options.path ?? '/par'
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || /[?#\s]/.test(path)) {
    throw configError('pushedAuthorizationRequestEndpoint: "path" must be a path starting with "/", without query or fragment')
  }
  return { store, lifetime, required, methods, path }
}

/** Whether the client must push its authorization requests (RFC 9126 §6 client metadata). */
function clientRequiresPar(client: Client | null): boolean {
  return client?.metadata?.['require_pushed_authorization_requests'] === true
}

/**
 * The pushed authorization request endpoint (RFC 9126), as a class for
 * `server.registerEndpoint`:
 *
 * - POST, form body, client authentication as at the token endpoint (§2);
 * - the whole authorization request is validated when it is pushed, with
 *   the server's own validation (client, redirect URI, response type, scope,
 *   every grant extension such as PKCE), so errors reach the client as JSON
 *   400 (§2.3); a `request_uri` parameter in the push is `invalid_request` (§2.1);
 * - 201 `{ request_uri, expires_in }` (§2.2), a `urn:ietf:params:oauth:request_uri:`
 *   with 256 random bits, stored hashed, bound to the client;
 * - at the authorization endpoint, `client_id` + `request_uri` stand for
 *   the pushed parameters, any others are ignored (§4); an unknown,
 *   expired or used `request_uri`, or one of another client, is
 *   `invalid_request_uri` (shown to the user); the login and consent pages
 *   may read it any number of times, and answering the authorization
 *   (approved or denied) consumes it once, atomically, through the server
 *   store's `markUsed` (§4: one-time use, a reload allowed);
 * - `required` (server-wide) and the client metadata
 *   `require_pushed_authorization_requests` refuse a request that was not
 *   pushed (`invalid_request`, §4, §5, §6);
 * - metadata `pushed_authorization_request_endpoint` and
 *   `require_pushed_authorization_requests` (§5).
 *
 * @example
 * ```ts
 * server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge({ required: true })])
 * server.registerEndpoint(pushedAuthorizationRequestEndpoint({ required: true }))
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc9126
 */
export function pushedAuthorizationRequestEndpoint(options: PushedAuthorizationRequestOptions = {}): PushedAuthorizationRequestEndpointClass {
  const { store, lifetime, required, methods, path } = checkOptions(options)
  /** The requests the endpoint is validating as pushed: the resolver leaves them alone. */
  const pushing = new WeakSet<OAuthRequest>()

  const resolver = (server: AuthorizationServer): AuthorizationRequestResolver => ({
    async resolve(params, { request }) {
      if (pushing.has(request)) return null
      const requestUri = getParam(params, 'request_uri')
      const clientId = getParam(params, 'client_id')
      if (requestUri === undefined) {
        // RFC 9126 §4: a server or client that requires PAR refuses any other request with invalid_request.
        if (required) throw new OAuthError('invalid_request', 'authorization requests must be pushed to the pushed authorization request endpoint (RFC 9126)')
        if (clientId !== undefined && clientRequiresPar(await server.store.findClient(clientId))) {
          throw new OAuthError('invalid_request', 'this client must push its authorization requests (RFC 9126)')
        }
        return null
      }
      // RFC 9101 §5 (which RFC 9126 §4 builds on): client_id is required beside request_uri.
      if (clientId === undefined) throw new OAuthError('invalid_request', 'missing required parameter "client_id"')
      if (!requestUri.startsWith(REQUEST_URI_PREFIX)) throw new OAuthError('invalid_request_uri', 'the request_uri was not issued by the pushed authorization request endpoint')
      const uriHash = hashToken(requestUri)
      const record = await store.findPushedRequest(uriHash, server.now())
      // RFC 9126 §4: "An expired request_uri MUST be rejected as invalid."
      if (record === null || record.expiresAt.getTime() <= server.now().getTime()) {
        throw new OAuthError('invalid_request_uri', 'the request_uri is unknown, expired or already used')
      }
      // RFC 9126 §2.2: "The request_uri value MUST be bound to the client that posted the authorization request."
      if (record.clientId !== clientId) throw new OAuthError('invalid_request_uri', 'the request_uri was issued to another client')
      // RFC 9126 §4: only the pushed parameters count. request_uri rides along so that the login
      // page's form (core's actionUrl) posts back the same pushed request.
      const pushed = new URLSearchParams(record.params)
      pushed.set('request_uri', requestUri)
      const replay = server.store as ReplayStore
      return {
        params: pushed,
        async onAnswer() {
          // RFC 9126 §4, §7.3: one-time use. Of concurrent answers, markUsed lets exactly one through.
          if (!(await replay.markUsed(`par:${uriHash}`, record.expiresAt, server.now()))) {
            throw new OAuthError('invalid_request_uri', 'the request_uri was already used')
          }
          await store.deletePushedRequest(uriHash)
        },
      }
    },
  })

  return class PushedAuthorizationRequests implements PushedAuthorizationRequestEndpoint {
    static readonly ENDPOINT_NAME = 'pushed_authorization_request'
    static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'replay']

    readonly server: AuthorizationServer

    /** Registers the endpoint's authorization request resolver on the server. */
    constructor(server: AuthorizationServer) {
      this.server = server
      server.registerAuthorizationRequestResolver(resolver(server))
    }

    /** POST at `path`, a form body (RFC 9126 §2.1). */
    get route(): EndpointRoute {
      return { path, methods: ['POST'], body: 'form' }
    }

    /**
     * Answers a pushed authorization request (RFC 9126 §2.1) with 201
     * `{ request_uri, expires_in }` (§2.2), or an RFC 6749 §5.2 error (§2.3).
     */
    async handle(request: OAuthRequest): Promise<OAuthResponse> {
      const server = this.server
      if (request.method !== 'POST') {
        throw new OAuthError('invalid_request', 'the pushed authorization request endpoint accepts only POST', { status: 405, headers: { allow: 'POST' } })
      }
      // RFC 9126 §2: "the client [...] authenticates as it would at the token endpoint".
      const client = await server.authenticateClient(request, methods ?? server.clientAuthMethodNames())
      const params = new URLSearchParams()
      for (const [name, value] of request.body) if (!CLIENT_AUTH_PARAMETERS.includes(name)) params.append(name, value)
      // RFC 9126 §2.1: "The request_uri authorization request parameter is one exception, and it MUST NOT be provided."
      if (params.has('request_uri')) throw new OAuthError('invalid_request', 'a pushed authorization request must not contain request_uri (RFC 9126 §2.1)')
      // Request objects (RFC 9126 §3, RFC 9101) are not supported: refused rather than ignored.
      if (params.has('request')) throw new OAuthError('invalid_request', 'request objects are not supported')
      const clientId = getParam(params, 'client_id')
      if (clientId === undefined) params.set('client_id', client.clientId)
      else if (clientId !== client.clientId) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client')
      await this.bindDPoPKey(request, params)
      await this.validate(request, params)
      const requestUri = REQUEST_URI_PREFIX + generateToken(32)
      const now = server.now()
      const expiresAt = new Date(now.getTime() + lifetime * 1000)
      await store.savePushedRequest(hashToken(requestUri), { clientId: client.clientId, params: params.toString(), expiresAt }, now)
      // RFC 9126 §2.2: 201 Created with request_uri and expires_in.
      return jsonResponse(201, { request_uri: requestUri, expires_in: lifetime })
    }

    /**
     * Validates the pushed parameters as the authorization endpoint would
     * (RFC 9126 §2.1), answering its errors to the client as 400 JSON
     * (§2.3) instead of redirecting them.
     */
    async validate(request: OAuthRequest, params: URLSearchParams): Promise<void> {
      const server = this.server
      const authorization = brandRequest<OAuthRequest>({ method: 'GET', url: server.options.endpoints.authorization, headers: request.headers, query: params, body: new URLSearchParams() })
      pushing.add(authorization)
      try {
        await server.validateAuthorizationRequest(authorization)
      } catch (error) {
        if (!isOAuthError(error) || error.status >= 500) throw error
        throw new OAuthError(error.code, error.description, { status: 400 })
      }
    }

    /**
     * RFC 9449 §10.1: a push may carry a `DPoP` proof for this endpoint;
     * its key then binds the authorization code as `dpop_jkt` does (§10), and
     * a `dpop_jkt` sent beside it must be that key's thumbprint. A bad or
     * replayed proof is `invalid_dpop_proof`, a mismatch `invalid_request`.
     * (The code is bound only when the grant runs the DPoP extension.)
     */
    async bindDPoPKey(request: OAuthRequest, params: URLSearchParams): Promise<void> {
      const proof = getHeader(request.headers, 'dpop')
      if (proof === undefined) return
      const server = this.server
      const now = server.now()
      let verified: ReturnType<typeof verifyDPoPProof>
      try {
        verified = verifyDPoPProof(proof, { method: 'POST', url: server.issuer + path, now: Math.floor(now.getTime() / 1000) })
      } catch (error) {
        if (error instanceof TypeError) throw new OAuthError('invalid_dpop_proof', error.message)
        throw error
      }
      const jkt = getParam(params, 'dpop_jkt')
      if (jkt !== undefined && jkt !== verified.jkt) throw new OAuthError('invalid_request', 'dpop_jkt is not the thumbprint of the DPoP proof key (RFC 9449 section 10.1)')
      // RFC 9449 §11.1: a proof is accepted once (it may lie 300 s in the past, 60 s ahead).
      const until = new Date((verified.iat + 361) * 1000)
      if (!(await (server.store as ReplayStore).markUsed(`par-dpop:${verified.jkt}:${verified.jti}`, until, now))) {
        throw new OAuthError('invalid_dpop_proof', 'the DPoP proof was already used')
      }
      params.set('dpop_jkt', verified.jkt)
    }

    /** RFC 9126 §5 metadata. */
    metadata(): Record<string, unknown> {
      return {
        pushed_authorization_request_endpoint: this.server.issuer + path,
        require_pushed_authorization_requests: required,
      }
    }
  }
}
