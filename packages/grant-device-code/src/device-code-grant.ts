import {
  BaseGrant,
  OAuthError,
  hashToken,
  invalidGrant,
  parseScope,
  type AuthorizationServer,
  type DeviceCodeRecord,
  type DeviceCodeStore,
  type GrantClass,
  type GrantUser,
  type OAuthResponse,
  type StoreCapability,
} from '@grantkit/core'
import { checkDeviceFlowStatics } from './internal/config.js'
import { deviceCodeExpiry } from './internal/device-code.js'
import { refuseNul } from './internal/params.js'

/**
 * The device grant type, `urn:ietf:params:oauth:grant-type:device_code`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.4
 */
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code'

/** The statics of {@link DeviceCodeGrant} and its subclasses. */
export interface DeviceCodeGrantClass extends GrantClass<DeviceCodeGrant> {
  readonly DEVICE_CODE_LIFETIME: number
  readonly INTERVAL: number
  readonly USER_CODE_LENGTH: number
  readonly USER_CODE_CHARSET: string
  readonly VERIFICATION_URI: string
}

/**
 * The device authorization grant (RFC 8628) at the token endpoint: a device
 * without a browser (a CLI, a TV, an agent) polls with its `device_code`
 * until the user approved or denied it on another device.
 *
 * It answers each poll (RFC 8628 §3.5):
 * - `authorization_pending` while the user has not decided;
 * - `slow_down` for a pending code polled sooner than `interval` seconds
 *   after its previous poll; the interval then grows by 5 seconds, for this
 *   and every later poll;
 * - `access_denied` once the user denied it;
 * - `expired_token` once it expired (also after the store purged it: the
 *   device code carries its expiry for this);
 * - tokens once the user approved it, exactly once, even to concurrent
 *   polls; then `invalid_grant`.
 *
 * A device code issued to another client, or unknown, is `invalid_grant`.
 * Tokens are saved before the code is marked redeemed, so a store failure
 * leaves the code usable; of concurrent polls the one that loses the
 * redemption revokes what it saved. A refresh token comes with the access
 * token per `includeRefreshToken`.
 *
 * Codes are issued by {@link DeviceAuthorizationEndpoint}, which reads the
 * statics below from the grant class it names (`GRANT`), and decided on the
 * app's own page with {@link deviceVerification}. Register both:
 * `server.registerGrant(DeviceCodeGrant).registerEndpoint(DeviceAuthorizationEndpoint)`.
 *
 * Static configuration (override in a subclass; checked at `registerGrant`):
 * - `TOKEN_ENDPOINT_AUTH_METHODS`: `client_secret_basic`,
 *   `client_secret_post` and `none` (public clients, the usual device apps);
 * - `DEVICE_CODE_LIFETIME`: seconds a device and user code live, default
 *   600, at most 1800;
 * - `INTERVAL`: the minimum seconds between polls the client is told
 *   (`interval`), default 5 (RFC 8628 §3.2), at most 60;
 * - `USER_CODE_LENGTH`, `USER_CODE_CHARSET`: 8 characters from
 *   `BCDFGHJKLMNPQRSTVWXZ` by default (RFC 8628 §6.1: no vowels, no
 *   look-alikes; 34.5 bits); fewer than 20 bits are refused;
 * - `VERIFICATION_URI`: the app's verification page, a path under the
 *   issuer or an absolute URL; default `/device`.
 *
 * @example
 * ```ts
 * server.registerGrant(DeviceCodeGrant).registerEndpoint(DeviceAuthorizationEndpoint)
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.4
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5
 */
export class DeviceCodeGrant extends BaseGrant {
  static override GRANT_TYPE: string = DEVICE_CODE_GRANT_TYPE
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none']
  static override AUTHORIZATION_ENDPOINT = false
  static override TOKEN_ENDPOINT = true
  static override STORE_CAPABILITIES: readonly StoreCapability[] = ['clients', 'tokens', 'deviceCodes']
  /** Seconds a device code and its user code live (RFC 8628 §3.2 `expires_in`). Default 600, at most 1800. */
  static DEVICE_CODE_LIFETIME = 600
  /** Minimum seconds between polls, sent as `interval` (RFC 8628 §3.2). Default 5. */
  static INTERVAL = 5
  /** Characters of a user code, dashes not counted (RFC 8628 §6.1). Default 8. */
  static USER_CODE_LENGTH = 8
  /** The characters user codes are drawn from: upper-case letters and digits (RFC 8628 §6.1). Default: consonants without look-alikes. */
  static USER_CODE_CHARSET = 'BCDFGHJKLMNPQRSTVWXZ'
  /** The app's verification page (RFC 8628 §3.2 `verification_uri`): a path under the issuer, or an absolute URL. Default `/device`. */
  static VERIFICATION_URI = '/device'

  /**
   * Checks the statics above as well as `BaseGrant`'s, at `registerGrant`,
   * with a `TypeError` carrying `code: 'ERR_GRANTKIT_CONFIG'`.
   */
  static override validateConfiguration(this: GrantClass, server: AuthorizationServer): void {
    BaseGrant.validateConfiguration.call(this, server)
    checkDeviceFlowStatics(this as unknown as DeviceCodeGrantClass)
  }

  /** The approved device authorization, once {@link validateTokenRequest} succeeded. */
  deviceCode: DeviceCodeRecord | null = null
  /** The user who approved it, once {@link validateTokenRequest} succeeded. */
  user: GrantUser | null = null

  /** The server's store, with the device-code capability the grant declared. */
  get deviceCodeStore(): DeviceCodeStore {
    return this.server.store as unknown as DeviceCodeStore
  }

  /**
   * The user who approved a device authorization; `null` fails the request
   * with `invalid_grant`. The default is `{ id: record.userId }`, with the
   * `username` from the server's `resolveUser` when it knows the user.
   */
  async authenticateUser(record: DeviceCodeRecord): Promise<GrantUser | null> {
    const userId = record.userId
    if (userId === null) return null
    const resolved = await this.server.resolveUser(userId)
    return resolved?.username === undefined ? { id: userId } : { id: userId, username: resolved.username }
  }

  /**
   * Validates a device access token request (RFC 8628 §3.4): no NUL in any
   * parameter, an authenticated client allowed this grant type, a
   * `device_code`; then records the poll and answers what §3.5 says for the
   * code's state (see the class), running the `afterValidateTokenRequest`
   * hooks for an approved code.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.4
   * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5
   */
  override async validateTokenRequest(): Promise<void> {
    refuseNul(this.request)
    const client = await this.authenticateTokenEndpointClient()
    const deviceCode = this.requireParam('device_code')
    const now = this.now()
    const polled = await this.deviceCodeStore.pollDeviceCode(hashToken(deviceCode), now)
    if (polled === null) {
      // Unknown or expired, the store does not say which: the code's own expiry does.
      const expiry = deviceCodeExpiry(deviceCode)
      if (expiry !== null && expiry.getTime() <= now.getTime()) throw expiredToken()
      throw invalidGrant('the device code is invalid')
    }
    const { record, slowDown } = polled
    if (record.clientId !== client.clientId) throw invalidGrant('the device code was issued to another client')
    // Checked here too, so that a store override cannot forget it.
    if (record.expiresAt.getTime() <= now.getTime()) throw expiredToken()
    switch (record.status) {
      case 'pending':
        if (slowDown) {
          throw new OAuthError('slow_down', `polling too fast: wait at least ${record.interval} seconds between requests (RFC 8628 §3.5)`)
        }
        throw new OAuthError('authorization_pending', 'the user has not yet approved or denied the request')
      case 'denied':
        // RFC 8628 §3.5 errors are RFC 6749 §5.2 token endpoint errors: 400.
        throw new OAuthError('access_denied', 'the user denied the request', { status: 400 })
      case 'approved':
        break
      default:
        throw invalidGrant('the device code was already used')
    }
    const user = await this.authenticateUser(record)
    if (user === null) throw invalidGrant('the user of the device code is unknown')
    // Set before the hooks, so that an extension can read the authorization (e.g. its `extra`).
    this.deviceCode = record
    this.user = user
    await this.runHook('afterValidateTokenRequest', { grant: this, client })
  }

  /**
   * Issues the access token (and a refresh token when `includeRefreshToken`
   * says so) in the authorization's token family, then marks the device code
   * redeemed; when another poll redeemed it first, revokes what it issued
   * and answers `invalid_grant`.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5
   */
  override async createTokenResponse(): Promise<OAuthResponse> {
    const { client, deviceCode, user } = this
    if (client === null || deviceCode === null || user === null) throw new TypeError('createTokenResponse called before validateTokenRequest')
    const body = await this.issueTokens({
      client,
      user,
      scopes: parseScope(deviceCode.scope),
      refreshToken: this.includeRefreshToken(client, user),
      familyId: deviceCode.familyId,
    })
    // Redeem only now that the tokens are saved: a failure before this line
    // leaves the code approved, and the saved tokens unknown to anyone.
    const redeemed = await this.deviceCodeStore.redeemDeviceCode(deviceCode.deviceCodeHash, this.now())
    if (redeemed === null) {
      await this.#revokeIssued()
      throw invalidGrant('the device code was already used')
    }
    return this.tokenResponse(body)
  }

  /** Revokes the tokens this request saved (another poll redeemed the code first): never the family, which holds the winner's. */
  async #revokeIssued(): Promise<void> {
    const now = this.now()
    for (const record of this.issuedRecords) await this.store.revokeToken(record.tokenHash, now)
  }
}

function expiredToken(): OAuthError {
  return new OAuthError('expired_token', 'the device code expired: start a new device authorization request')
}

