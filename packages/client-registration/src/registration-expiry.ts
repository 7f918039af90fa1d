import type { ClientStore, ServerStore } from '@grantkit/core'
import { registrationExpired } from './client-registration-endpoint.js'

/**
 * Wraps a store so that a dynamically registered client whose registration
 * expired (the endpoint's `registrationLifetime`) is unknown everywhere:
 * `findClient` answers `null`, so client authentication fails with
 * `invalid_client` and the authorization endpoint shows an error page.
 * Every other method is the store's own. Give the wrapped store to the
 * `AuthorizationServer`, with the same clock.
 *
 * @example
 * ```ts
 * const server = new AuthorizationServer({ issuer, store: withRegistrationExpiry(sqliteStore(db)) })
 * ```
 */
export function withRegistrationExpiry<S extends ServerStore>(store: S, clock: () => number = Date.now): S {
  const findClient: ServerStore['findClient'] = async (clientId) => {
    const client = await store.findClient(clientId)
    return client !== null && registrationExpired(client, new Date(clock())) ? null : client
  }
  return new Proxy(store, {
    get(target, property) {
      if (property === 'findClient') return findClient
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

/**
 * Deletes the dynamically registered clients whose registration expired
 * before `now` (run it with the store's other housekeeping, e.g. next to
 * `purgeExpired`); returns how many were deleted. Clients registered
 * otherwise are never touched.
 */
export async function purgeExpiredRegistrations(store: Pick<ClientStore, 'listClients' | 'deleteClient'>, now: Date): Promise<number> {
  let deleted = 0
  for (const client of await store.listClients()) {
    if (registrationExpired(client, now) && (await store.deleteClient(client.clientId))) deleted++
  }
  return deleted
}
