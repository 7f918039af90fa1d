import { runStoreContractSuite } from '@grantkit/store-test-suite'
import { mongoStore } from './mongo-store.js'
import { openTestDatabase, skipReason } from './internal/test-database.js'

// The shared contract of packages/core/src/store.ts, on the server named by
// MONGODB_URI (FerretDB v1 in CI), in a fresh database dropped afterwards.
runStoreContractSuite(
  'mongoStore (MongoDB wire protocol)',
  async () => {
    const database = await openTestDatabase()
    // Plain indexes: the suite stores records that expired already and counts what purgeExpired
    // deletes; a TTL monitor deleting them meanwhile (MongoDB) would change the counts.
    const store = mongoStore(database.db, { ttlIndexes: false })
    await store.ensureIndexes()
    return { store, dumpRaw: () => database.dumpRaw(), close: () => database.close() }
  },
  { skip: skipReason },
)
