import type { Collection, Document } from 'mongodb'
import { isNotImplementedError } from './errors.js'

/** Creates `{ expiresAt: 1 }`, as a TTL index when asked and supported; answers whether it is a TTL index. */
export async function ensureExpiryIndex(collection: Collection<Document>, ttl: boolean): Promise<boolean> {
  if (ttl) {
    try {
      // expireAfterSeconds: 0 deletes a document once `expiresAt` has passed
      // (MongoDB's monitor runs about once a minute). Cleanup only: every query
      // checks expiry itself.
      await collection.createIndex({ expiresAt: 1 }, { name: 'expiresAt_ttl', expireAfterSeconds: 0 })
      return true
    } catch (error) {
      // FerretDB v1 has no TTL indexes: fall back to a plain index; purgeExpired does the cleanup.
      if (!isNotImplementedError(error)) throw error
    }
  }
  await collection.createIndex({ expiresAt: 1 }, { name: 'expiresAt' })
  return false
}
