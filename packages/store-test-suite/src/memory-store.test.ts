import { memoryStore } from '@grantkit/core'
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
