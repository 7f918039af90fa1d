import { configError } from './config-error.js'

/**
 * A capability a store offers, as a set of methods (after fosite's narrow
 * storage interfaces). A store offers a capability when it has all of its
 * methods; grants and endpoints declare the capabilities they need
 * (`STORE_CAPABILITIES`), and registration refuses a store without them.
 *
 * - `clients`: `findClient` (`ClientStore`);
 * - `authorizationCodes`: save, find and consume codes (`AuthorizationCodeStore`);
 * - `tokens`: save, find and revoke tokens (`TokenStore` without rotation);
 * - `refreshRotation`: `rotateRefreshToken`;
 * - `replay`: `markUsed` (`ReplayStore`);
 * - `users`: `findUserById`, `findUserByUsername` (`UserStore`);
 * - `purge`: `purgeExpired` (`PurgeableStore`);
 * - `deviceCodes`: RFC 8628 device authorizations (`DeviceCodeStore`).
 */
export type StoreCapability = 'clients' | 'authorizationCodes' | 'tokens' | 'refreshRotation' | 'replay' | 'users' | 'purge' | 'deviceCodes'

/** The methods of each {@link StoreCapability}. */
export const STORE_CAPABILITY_METHODS: Readonly<Record<StoreCapability, readonly string[]>> = Object.freeze({
  clients: ['findClient'],
  authorizationCodes: ['saveAuthorizationCode', 'findAuthorizationCode', 'consumeAuthorizationCode'],
  tokens: ['saveTokens', 'findToken', 'revokeToken', 'revokeTokenFamily'],
  refreshRotation: ['rotateRefreshToken'],
  replay: ['markUsed'],
  users: ['findUserById', 'findUserByUsername'],
  purge: ['purgeExpired'],
  deviceCodes: ['saveDeviceCode', 'findDeviceCodeByUserCode', 'decideDeviceCode', 'pollDeviceCode', 'redeemDeviceCode'],
})

/** Whether `store` offers `capability` (has every one of its methods). */
export function storeHasCapability(store: object, capability: StoreCapability): boolean {
  const methods = STORE_CAPABILITY_METHODS[capability]
  return methods !== undefined && methods.every((m) => typeof (store as Record<string, unknown>)[m] === 'function')
}

/**
 * Throws a `TypeError` (`code: 'ERR_GRANTKIT_STORE_CAPABILITY'`) naming the
 * first method `store` lacks for what `who` needs.
 */
export function assertStoreCapabilities(store: object, capabilities: readonly StoreCapability[], who: string): void {
  for (const capability of capabilities) {
    const methods = STORE_CAPABILITY_METHODS[capability]
    if (methods === undefined) throw configError(`${who}: unknown store capability "${String(capability)}"`)
    for (const method of methods) {
      if (typeof (store as Record<string, unknown>)[method] !== 'function') {
        throw configError(`${who} needs a store with "${method}" (capability "${capability}")`, 'ERR_GRANTKIT_STORE_CAPABILITY')
      }
    }
  }
}
