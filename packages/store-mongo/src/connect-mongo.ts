import { MongoClient, type Db, type MongoClientOptions } from 'mongodb'
import { mongoStore, type EnsureIndexesResult, type MongoStore, type MongoStoreOptions } from './mongo-store.js'

/** Options of {@link connectMongo}: the store's options, plus the driver's. */
export interface ConnectMongoOptions extends MongoStoreOptions {
  /** Passed to `new MongoClient(uri, clientOptions)`. */
  clientOptions?: MongoClientOptions | undefined
}

/** An open connection with its store, from {@link connectMongo}. */
export interface MongoConnection {
  readonly client: MongoClient
  readonly db: Db
  readonly store: MongoStore
  /** What `ensureIndexes()` did at connection: `ttlIndexes` says whether the server deletes expired documents itself. */
  readonly indexes: EnsureIndexesResult
  /** Closes the client (and every pooled connection). */
  close(): Promise<void>
}

/**
 * The database name in a `mongodb://` or `mongodb+srv://` connection string:
 * the path after the host list, percent-decoded; `null` when there is none.
 *
 * @see https://www.mongodb.com/docs/manual/reference/connection-string/
 */
export function databaseNameFromUri(uri: string): string | null {
  const match = /^mongodb(?:\+srv)?:\/\/[^/?#]*\/([^?#]*)/i.exec(uri)
  if (match === null) return null
  const name = decodeURIComponent(match[1] ?? '')
  return name === '' ? null : name
}

/**
 * Connects to MongoDB (or FerretDB), opens the database named in the URI's
 * path (`mongodb://host:27017/oauth` → `oauth`), makes a {@link mongoStore}
 * and runs `ensureIndexes()`. Call `close()` on shutdown.
 *
 * @example
 * ```ts
 * const { store, indexes, close } = await connectMongo('mongodb://127.0.0.1:27017/oauth')
 * if (!indexes.ttlIndexes) schedulePurge(store, { intervalSeconds: 3600 }) // e.g. FerretDB v1
 * ```
 * @throws TypeError when the URI is not a MongoDB URI or names no database.
 */
export async function connectMongo(uri: string, options: ConnectMongoOptions = {}): Promise<MongoConnection> {
  if (typeof uri !== 'string' || !/^mongodb(\+srv)?:\/\//i.test(uri)) {
    throw new TypeError('connectMongo: "uri" must be a mongodb:// or mongodb+srv:// connection string')
  }
  const dbName = databaseNameFromUri(uri)
  if (dbName === null) {
    throw new TypeError('connectMongo: the URI must name the database in its path, e.g. mongodb://localhost:27017/oauth')
  }
  const { clientOptions, ...storeOptions } = options
  const client = new MongoClient(uri, clientOptions)
  try {
    await client.connect()
    const db = client.db(dbName)
    const store = mongoStore(db, storeOptions)
    const indexes = await store.ensureIndexes()
    return { client, db, store, indexes, close: () => client.close() }
  } catch (error) {
    await client.close().catch(() => {})
    throw error
  }
}
