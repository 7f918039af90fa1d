import type { Collection, Db } from 'mongodb'
import { refuseInvalidDates } from '@grantkit/core'
import type { PushedRequestDocument } from './internal/documents.js'
import { isDuplicateKeyError } from './internal/errors.js'
import { resolveCollectionNames, type MongoStoreOptions } from './mongo-store.js'

/**
 * A pushed authorization request as `@grantkit/par` stores it (its
 * `PushedRequestRecord`, RFC 9126 §2.2): the client that pushed it, the
 * parameters (`application/x-www-form-urlencoded`) and when its
 * `request_uri` expires.
 */
export interface StoredPushedRequest {
  readonly clientId: string
  readonly params: string
  readonly expiresAt: Date
}

/**
 * `@grantkit/par`'s `PushedRequestStore` contract (RFC 9126), kept in
 * MongoDB so that a request pushed to one process can be used at any other:
 * pass it as `pushedAuthorizationRequestEndpoint({ store })`. Single use is
 * not decided here but by the server store's `markUsed`, which is atomic
 * across processes.
 */
export interface MongoPushedRequestStore {
  /** Saves a pushed request under the hash of its `request_uri` (saved again: replaced). */
  savePushedRequest(uriHash: string, record: StoredPushedRequest, now: Date): Promise<void>
  /** The request with this hash, or `null` when unknown or when `expiresAt <= now`. Read-only. */
  findPushedRequest(uriHash: string, now: Date): Promise<StoredPushedRequest | null>
  /** Deletes the request with this hash (nothing when unknown; deleting twice is deleting once). */
  deletePushedRequest(uriHash: string): Promise<void>
}

/** Options of {@link mongoPushedRequestStore}: the collection names as given to `mongoStore`. */
export type MongoPushedRequestStoreOptions = Pick<MongoStoreOptions, 'collectionPrefix' | 'collections'>

const text = (where: string, field: string, value: unknown): string => {
  if (typeof value !== 'string') throw new TypeError(`mongoPushedRequestStore.${where}: "${field}" must be a string`)
  return value
}

/**
 * Pushed authorization requests (RFC 9126) in the `pushedRequests`
 * collection, one document per request, `_id` the hash of its
 * `request_uri` (never the `request_uri` itself); expiry is checked in the
 * query. Expired requests go with the store's `purgeExpired` or its TTL
 * indexes (`ensureIndexes` creates the collection's: run it once).
 *
 * @example
 * ```ts
 * const { db } = await connectMongo(process.env.MONGODB_URI!)
 * server.registerEndpoint(pushedAuthorizationRequestEndpoint({ store: mongoPushedRequestStore(db) }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 */
export function mongoPushedRequestStore(db: Db, options: MongoPushedRequestStoreOptions = {}): MongoPushedRequestStore {
  if (db === null || typeof db !== 'object' || typeof (db as Partial<Db>).collection !== 'function') {
    throw new TypeError('mongoPushedRequestStore: "db" must be a mongodb Db (client.db(name))')
  }
  const names = resolveCollectionNames(options, 'mongoPushedRequestStore')
  const requests: Collection<PushedRequestDocument> = db.collection(names.pushedRequests)

  return {
    async savePushedRequest(uriHash, record, now) {
      refuseInvalidDates('mongoPushedRequestStore.savePushedRequest', { expiresAt: record.expiresAt, now })
      const id = text('savePushedRequest', 'uriHash', uriHash)
      const doc = {
        clientId: text('savePushedRequest', 'clientId', record.clientId),
        params: text('savePushedRequest', 'params', record.params),
        expiresAt: new Date(record.expiresAt.getTime()),
      }
      try {
        await requests.replaceOne({ _id: id }, doc, { upsert: true })
      } catch (error) {
        // Two upserts of one new _id may both try the insert (FerretDB does): the loser replaces what the winner wrote.
        if (!isDuplicateKeyError(error)) throw error
        await requests.replaceOne({ _id: id }, doc, { upsert: true })
      }
    },
    async findPushedRequest(uriHash, now) {
      refuseInvalidDates('mongoPushedRequestStore.findPushedRequest', { now })
      const doc = await requests.findOne({ _id: text('findPushedRequest', 'uriHash', uriHash), expiresAt: { $gt: now } })
      return doc === null ? null : { clientId: doc.clientId, params: doc.params, expiresAt: doc.expiresAt }
    },
    async deletePushedRequest(uriHash) {
      await requests.deleteOne({ _id: text('deletePushedRequest', 'uriHash', uriHash) })
    },
  }
}
