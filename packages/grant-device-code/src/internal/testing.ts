// Test-only: the server, clients and helpers the device-flow tests share.
// Never exported from the package (internal/), never bundled (tsup builds index.ts).
import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  createOAuthRequest,
  storeHasCapability,
  type DeviceCodeStore,
  type GrantExtension,
  type OAuthResponse,
  type ServerStore,
} from '@grantkit/core'
import { openSqlite, sqliteStore } from '@grantkit/store-drizzle'
import { TEST_STORES, type TestStore } from '../../../../test-support/stores.js'
import { DeviceAuthorizationEndpoint } from '../device-authorization-endpoint.js'
import { DEVICE_CODE_GRANT_TYPE, DeviceCodeGrant } from '../device-code-grant.js'
import { deviceVerification, type DeviceVerificationOptions } from '../device-verification.js'

export const ISSUER = 'https://auth.example.com'
export const T0 = Date.UTC(2025, 0, 1)
export const GT = DEVICE_CODE_GRANT_TYPE
export const ALICE = { id: 'user-alice', username: 'alice' }

/** A store under test that has the device-code capability. */
export type DeviceTestStore = TestStore & DeviceCodeStore
export type OpenDeviceStore = () => Promise<DeviceTestStore>

/**
 * The stores of `test-support/stores.ts` that offer device codes (RFC
 * 8628): the memory store, and the SQLite store as soon as
 * `@grantkit/store-drizzle` implements `DeviceCodeStore` (asked of a
 * throw-away in-memory database), so it gains every device test then.
 */
export async function deviceStores(): Promise<ReadonlyArray<readonly [string, OpenDeviceStore]>> {
  const db = await openSqlite(':memory:')
  const sqliteHasDeviceCodes = storeHasCapability(sqliteStore(db), 'deviceCodes')
  db.$client.close()
  return TEST_STORES.filter(([name]) => name !== 'SQLite store' || sqliteHasDeviceCodes) as ReadonlyArray<readonly [string, OpenDeviceStore]>
}

export function basic(id: string, secret: string): string {
  return 'Basic ' + btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)
}

/** Registered so that `includeRefreshToken` sees a refresh grant the clients may use; it never serves a request here. */
export class RegisteredRefreshTokenGrant extends BaseGrant {
  static override GRANT_TYPE = 'refresh_token'
  static override TOKEN_ENDPOINT = true
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none']
  override async validateTokenRequest(): Promise<void> {
    throw new Error('this stand-in serves no request in these tests')
  }
}

/** The clients every test has. */
export const CLIENTS = {
  /** A public device app (a TV), the usual device-flow client. */
  tv: { clientId: 'tv-app', tokenEndpointAuthMethod: 'none', grantTypes: [GT, 'refresh_token'], scope: 'profile read write' },
  /** Another public device app. */
  otherTv: { clientId: 'other-tv', tokenEndpointAuthMethod: 'none', grantTypes: [GT], scope: 'profile read' },
  /** A confidential CLI with a Basic secret, without refresh tokens. */
  cli: { clientId: 'cli', clientSecret: 'cli-secret', tokenEndpointAuthMethod: 'client_secret_basic', grantTypes: [GT], scope: 'read' },
  /** A confidential agent sending its secret in the body. */
  agent: { clientId: 'agent', clientSecret: 'agent-secret', tokenEndpointAuthMethod: 'client_secret_post', grantTypes: [GT], scope: 'read' },
  /** A public client not registered for the device grant. */
  spa: { clientId: 'spa', tokenEndpointAuthMethod: 'none', grantTypes: ['authorization_code'], scope: 'read' },
} as const

export const CLI_AUTH = { authorization: basic('cli', 'cli-secret') }

export interface SetupOptions {
  grant?: typeof DeviceCodeGrant
  endpoint?: typeof DeviceAuthorizationEndpoint
  extensions?: GrantExtension[]
  verification?: DeviceVerificationOptions
  /** Wrap the store (e.g. to make one method fail). */
  wrap?: (store: DeviceTestStore) => ServerStore
}

/** A server with the device grant and endpoint over a fresh store, a settable clock and helpers. */
export async function setupDevice(openStore: OpenDeviceStore, options: SetupOptions = {}) {
  const store = await openStore()
  let now = T0
  const clock = {
    /** Moves the server's clock forward. */
    advance: (seconds: number) => void (now += seconds * 1000),
    now: () => now,
  }
  /** The unexpected errors the server reported (answered server_error). */
  const errors: unknown[] = []
  const server = new AuthorizationServer({
    issuer: ISSUER,
    store: options.wrap === undefined ? store : options.wrap(store),
    clock: () => now,
    onError: (error) => void errors.push(error),
  })
  server.registerGrant(options.grant ?? DeviceCodeGrant, options.extensions ?? [])
  server.registerGrant(RegisteredRefreshTokenGrant)
  server.registerEndpoint(options.endpoint ?? DeviceAuthorizationEndpoint)
  for (const input of Object.values(CLIENTS)) await store.saveClient((await createClient({ ...input, secretHash: 'sha256' })).client)
  const verification = deviceVerification(server, options.verification)

  /** POST /device_authorization with a form body. */
  const authorize = async (body: string | URLSearchParams, headers: Record<string, string> = {}, method = 'POST'): Promise<OAuthResponse> =>
    server.createEndpointResponse('device_authorization', createOAuthRequest({ method, url: '/device_authorization', headers, body }))
  /** POST /token with a form body. */
  const token = async (body: string | URLSearchParams, headers: Record<string, string> = {}): Promise<OAuthResponse> =>
    server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))
  /** The device authorization of the public TV app (or another public client). */
  const start = async (clientId: string = CLIENTS.tv.clientId, scope?: string) => {
    const response = await authorize(new URLSearchParams({ client_id: clientId, ...(scope === undefined ? {} : { scope }) }).toString())
    if (response.status !== 200) throw new Error(`device authorization failed: ${JSON.stringify(response.body)}`)
    return response.body as { device_code: string; user_code: string; verification_uri: string; verification_uri_complete: string; expires_in: number; interval: number }
  }
  /** A poll of the token endpoint by a public client. */
  const poll = (deviceCode: string, clientId: string = CLIENTS.tv.clientId): Promise<OAuthResponse> =>
    token(new URLSearchParams({ grant_type: GT, device_code: deviceCode, client_id: clientId }).toString())
  return { store, server, clock, errors, verification, authorize, token, start, poll }
}
