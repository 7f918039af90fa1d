import {
  OAuthError,
  clientScopes,
  configError,
  formatScope,
  getParam,
  hashToken,
  isGrantClass,
  jsonResponse,
  resolveScope,
  type AuthorizationServer,
  type Client,
  type DeviceAuthorizationHookContext,
  type DeviceCodeStore,
  type Endpoint,
  type EndpointRoute,
  type OAuthRequest,
  type OAuthResponse,
  type StoreCapability,
} from '@grantkit/core'
import { DeviceCodeGrant, type DeviceCodeGrantClass } from './device-code-grant.js'
import { verificationUri } from './internal/config.js'
import { newDeviceCode } from './internal/device-code.js'
import { refuseNul } from './internal/params.js'
import { formatUserCode, newUserCode } from './internal/user-code.js'

/** How many fresh user codes are drawn before giving up on a unique one (a collision needs billions of live codes). */
const USER_CODE_DRAWS = 5

/**
 * The JSON body of a device authorization response.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.2
 */
export interface DeviceAuthorizationResponseBody {
  /** The code the device polls the token endpoint with; 256 random bits. */
  device_code: string
  /** The code the user types on the verification page, e.g. `WDJB-MJHT`. */
  user_code: string
  /** The app's verification page. */
  verification_uri: string
  /** The verification page with the user code in its query (`?user_code=…`), for a QR code or a link. */
  verification_uri_complete: string
  /** Seconds until both codes expire. */
  expires_in: number
  /** Minimum seconds between polls. */
  interval: number
  [extra: string]: unknown
}

/**
 * The device authorization endpoint (RFC 8628 §3.1, §3.2): a device asks
 * for a device code and a user code, shows the user code and the
 * verification URI, and polls the token endpoint
 * ({@link DeviceCodeGrant}) while the user decides on the app's page
 * ({@link deviceVerification}).
 *
 * - POST, `application/x-www-form-urlencoded`; NUL in a parameter is `invalid_request`;
 * - the client authenticates with one of the grant's
 *   `TOKEN_ENDPOINT_AUTH_METHODS` (a public client sends `client_id`, §3.1);
 *   failures are `invalid_client`;
 * - the client must be registered for the device grant type (`unauthorized_client`);
 * - `scope` must be within the client's (`invalid_scope`), omitted means all of it;
 * - then the extensions registered with the grant serving the device grant
 *   type (`server.registerGrant(DeviceCodeGrant, [extension])`) run their
 *   `afterValidateDeviceAuthorizationRequest` hook: they may read the
 *   request's other parameters (e.g. RFC 8707 `resource` with
 *   `ResourceIndicators`), refuse it with an `OAuthError` (answered as JSON),
 *   or add to `extra`, which is saved with the device code;
 * - the device code is 256 random bits, the user code 8 characters from
 *   `BCDFGHJKLMNPQRSTVWXZ` shown as `WDJB-MJHT` (§6.1); both are stored hashed.
 *
 * Lifetime, interval, user-code format and verification URI are the statics
 * of the grant class named by `GRANT` (default {@link DeviceCodeGrant}); to
 * change them, subclass both:
 *
 * @example
 * ```ts
 * class MyDeviceCodeGrant extends DeviceCodeGrant {
 *   static override VERIFICATION_URI = 'https://example.com/activate'
 * }
 * class MyDeviceAuthorizationEndpoint extends DeviceAuthorizationEndpoint {
 *   static override GRANT = MyDeviceCodeGrant
 * }
 * server.registerGrant(MyDeviceCodeGrant).registerEndpoint(MyDeviceAuthorizationEndpoint)
 * ```
 *
 * The HTTP adapters serve it at `PATH` under the issuer (`route`); metadata
 * gets `device_authorization_endpoint` (RFC 8628 §4).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.2
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-4
 */
export class DeviceAuthorizationEndpoint implements Endpoint {
  static readonly ENDPOINT_NAME = 'device_authorization'
  static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'deviceCodes']
  /** Where the endpoint is served, relative to the issuer's path. Default `/device_authorization`. */
  static PATH = '/device_authorization'
  /** The grant class whose statics (lifetime, interval, user codes, verification URI, auth methods) the endpoint uses. */
  static GRANT: DeviceCodeGrantClass = DeviceCodeGrant

  readonly server: AuthorizationServer
  /** The grant class whose statics the endpoint uses. */
  readonly grant: DeviceCodeGrantClass
  /** The verification URI sent to devices (RFC 8628 §3.2). */
  readonly verificationUri: string
  readonly #path: string

  /** Checks `PATH` and the grant's statics, at `registerEndpoint`, with a `TypeError` carrying `code: 'ERR_GRANTKIT_CONFIG'`. */
  constructor(server: AuthorizationServer) {
    const endpointClass = this.constructor as typeof DeviceAuthorizationEndpoint
    const name = endpointClass.name || 'DeviceAuthorizationEndpoint'
    const path: unknown = endpointClass.PATH
    if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || /[?#\s]/.test(path)) {
      throw configError(`${name}.PATH must be a path starting with "/", without query or fragment`)
    }
    const grant: unknown = endpointClass.GRANT
    if (!isGrantClass(grant) || !(grant === DeviceCodeGrant || grant.prototype instanceof DeviceCodeGrant)) {
      throw configError(`${name}.GRANT must be DeviceCodeGrant or a subclass of it`)
    }
    const deviceGrant = grant as DeviceCodeGrantClass
    deviceGrant.validateConfiguration?.(server)
    this.server = server
    this.grant = deviceGrant
    this.verificationUri = verificationUri(deviceGrant.VERIFICATION_URI, server.issuer, deviceGrant.name)
    this.#path = path
  }

  /** POST at `PATH`. */
  get route(): EndpointRoute {
    return { path: this.#path, methods: ['POST'], body: 'form' }
  }

  /** The server's store, with the device-code capability the endpoint declared. */
  get deviceCodeStore(): DeviceCodeStore {
    return this.server.store as unknown as DeviceCodeStore
  }

  /**
   * Answers a device authorization request (RFC 8628 §3.1) with a device
   * code, a user code and where the user enters it (§3.2).
   *
   * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.2
   */
  async handle(request: OAuthRequest): Promise<OAuthResponse> {
    if (request.method !== 'POST') {
      throw new OAuthError('invalid_request', 'the device authorization endpoint accepts only POST', { status: 405, headers: { allow: 'POST' } })
    }
    refuseNul(request)
    const grant = this.grant
    // RFC 8628 §3.1: the client authenticates as at the token endpoint, or sends client_id.
    const client = await this.server.authenticateClient(request, grant.TOKEN_ENDPOINT_AUTH_METHODS)
    if (grant.GRANT_TYPE === null || !client.grantTypes.includes(grant.GRANT_TYPE)) {
      throw new OAuthError('unauthorized_client', 'the client is not allowed the device authorization grant')
    }
    const scopes = this.resolveScopes(getParam(request.body, 'scope'), client)
    const extra: Record<string, unknown> = {}
    await this.runExtensions({ server: this.server, grantClass: grant, client, request, scopes, extra })
    const now = this.server.now()
    const expiresAt = new Date(now.getTime() + grant.DEVICE_CODE_LIFETIME * 1000)
    const { deviceCode, userCode } = await this.#save(client, scopes, extra, now, expiresAt)
    const shown = formatUserCode(userCode)
    const body: DeviceAuthorizationResponseBody = {
      device_code: deviceCode,
      user_code: shown,
      verification_uri: this.verificationUri,
      verification_uri_complete: `${this.verificationUri}${this.verificationUri.includes('?') ? '&' : '?'}user_code=${shown}`,
      expires_in: grant.DEVICE_CODE_LIFETIME,
      interval: grant.INTERVAL,
    }
    return jsonResponse(200, body)
  }

  /**
   * The scopes of a request (RFC 8628 §3.1, RFC 6749 §3.3): omitted means
   * the client's registered scope, otherwise a subset of it, else
   * `invalid_scope`. Override for another policy.
   */
  resolveScopes(requested: string | undefined, client: Client): string[] {
    return resolveScope(requested, clientScopes(client))
  }

  /**
   * Runs the `afterValidateDeviceAuthorizationRequest` hook (RFC 8628
   * §3.1) of every extension registered with the grant serving `GRANT`'s
   * grant type, in registration order; they are looked up at each request,
   * so the grant may be registered before or after the endpoint. A thrown
   * `OAuthError` refuses the request before anything is saved.
   */
  async runExtensions(context: DeviceAuthorizationHookContext): Promise<void> {
    const grantType = this.grant.GRANT_TYPE
    if (grantType === null) return
    for (const extension of this.server.grantExtensions(grantType)) {
      if (extension.afterValidateDeviceAuthorizationRequest !== undefined) await extension.afterValidateDeviceAuthorizationRequest(context)
    }
  }

  /** RFC 8628 §4: `device_authorization_endpoint` in the server metadata. */
  metadata(): Record<string, unknown> {
    return { device_authorization_endpoint: this.server.issuer + this.#path }
  }

  /**
   * Draws a device code and a user code no live authorization has, and saves
   * them. A save that fails is retried with new codes: a user code may
   * collide with an expired one the store still holds under a unique index.
   * `extra` (from the extensions) is saved with the code unless empty.
   */
  async #save(client: Client, scopes: readonly string[], extra: Readonly<Record<string, unknown>>, now: Date, expiresAt: Date): Promise<{ deviceCode: string; userCode: string }> {
    const { USER_CODE_CHARSET, USER_CODE_LENGTH, INTERVAL } = this.grant
    const store = this.deviceCodeStore
    let failure: unknown = new Error(`DeviceAuthorizationEndpoint: no unused user code in ${USER_CODE_DRAWS} draws`)
    for (let draw = 0; draw < USER_CODE_DRAWS; draw++) {
      const userCode = newUserCode(USER_CODE_CHARSET, USER_CODE_LENGTH)
      const userCodeHash = hashToken(userCode)
      // Two live authorizations must never share a user code: the user would approve the wrong device.
      if ((await store.findDeviceCodeByUserCode(userCodeHash, now)) !== null) continue
      const deviceCode = newDeviceCode(expiresAt)
      try {
        await store.saveDeviceCode({
          deviceCodeHash: hashToken(deviceCode),
          userCodeHash,
          clientId: client.clientId,
          scope: formatScope(scopes),
          status: 'pending',
          userId: null,
          familyId: this.server.newId(),
          interval: INTERVAL,
          lastPolledAt: null,
          createdAt: now,
          expiresAt,
          ...(Object.keys(extra).length === 0 ? {} : { extra: { ...extra } }),
        })
        return { deviceCode, userCode }
      } catch (error) {
        failure = error
      }
    }
    throw failure
  }
}
