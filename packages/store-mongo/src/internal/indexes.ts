import { MongoServerError, type Collection, type Document } from 'mongodb'
import { isNotImplementedError } from './errors.js'

/** NamespaceNotFound: `listIndexes` of a collection that does not exist yet. */
const NAMESPACE_NOT_FOUND = 26

/**
 * Why `collMod` could not turn a plain index into a TTL index, with the
 * index left as it was: the server lacks the feature (FerretDB v1:
 * NotImplemented 238; MongoDB before 5.1: InvalidOptions 72 or BadValue 2)
 * or the user lacks the `collMod` privilege (Unauthorized 13; `readWrite`
 * may create indexes but not modify them).
 */
function cannotConvert(error: unknown): boolean {
  return isNotImplementedError(error) || (error instanceof MongoServerError && (error.code === 72 || error.code === 2 || error.code === 13))
}

/** The index on exactly `{ expiresAt: 1 }`, if the collection has one. */
async function findExpiryIndex(collection: Collection<Document>): Promise<Document | undefined> {
  let indexes: Document[]
  try {
    indexes = await collection.listIndexes().toArray()
  } catch (error) {
    if (error instanceof MongoServerError && error.code === NAMESPACE_NOT_FOUND) return undefined
    throw error
  }
  return indexes.find((index) => {
    const key = index['key'] as Record<string, unknown> | undefined
    return key !== undefined && Object.keys(key).length === 1 && key['expiresAt'] === 1
  })
}

/**
 * Makes sure `{ expiresAt: 1 }` is indexed, as a TTL index
 * (`expireAfterSeconds: 0`) when `ttl` is asked for and the server has TTL
 * indexes; answers whether the index is a TTL index.
 *
 * An index already there is kept: a plain one is turned into a TTL index in
 * place when `ttl` is asked for (`collMod`, MongoDB 5.1+), and left plain
 * when that is refused; a TTL index is never weakened or dropped (turning
 * TTL off again means dropping it by hand). Several processes may run this
 * at once.
 */
export async function ensureExpiryIndex(collection: Collection<Document>, ttl: boolean): Promise<boolean> {
  const existing = await findExpiryIndex(collection)
  if (existing !== undefined) {
    if (existing['expireAfterSeconds'] !== undefined) return true
    if (!ttl) return false
    try {
      // expireAfterSeconds: 0 deletes a document once its `expiresAt` has passed.
      await collection.db.command({ collMod: collection.collectionName, index: { name: existing['name'], expireAfterSeconds: 0 } })
      return true
    } catch (error) {
      if (cannotConvert(error)) return false
      throw error
    }
  }
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
