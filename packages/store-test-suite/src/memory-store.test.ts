import { memoryStore, storeHasCapability } from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { runStoreContractSuite } from './index.js'

runStoreContractSuite('memoryStore', async () => {
  const store = memoryStore()
  return {
    store,
    // The memory store's "database" is its snapshot, read without going through the store's methods.
    dumpRaw: async () => JSON.stringify(store.snapshot()),
    close: async () => {},
  }
})

describe('memoryStore capabilities', () => {
  it('has every capability, so the contract suite runs its device authorization tests (RFC 8628)', () => {
    const store = memoryStore()
    for (const capability of ['clients', 'authorizationCodes', 'tokens', 'refreshRotation', 'replay', 'users', 'purge', 'deviceCodes'] as const) {
      expect(storeHasCapability(store, capability)).toBe(true)
    }
  })
})
