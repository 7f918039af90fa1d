import { configError, type PurgeOptions } from '@grantkit/core'
import { is } from 'drizzle-orm'
import { PgDatabase } from 'drizzle-orm/pg-core'
import { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { pgSharedState, sqliteSharedState } from './internal/shared-state-sql.js'
import { sqlPushedRequests } from './internal/sql-pushed-requests.js'
import { createPgTables, pgTables, type PgTables } from './pg-schema.js'
import type { AnyPgDatabase } from './pg-store.js'
import { createSqliteTables, sqliteTables, type SqliteTables, type TablesOptions } from './sqlite-schema.js'
import type { AnySqliteDatabase } from './sqlite-store.js'

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
 * `@grantkit/par`'s `PushedRequestStore` contract (RFC 9126), kept in the
 * database so that a request pushed to one process can be used at any
 * other: pass it as `pushedAuthorizationRequestEndpoint({ store })`. Single
 * use is not decided here but by the server store's `markUsed`, which is
 * atomic across processes.
 */
export interface DrizzlePushedRequestStore {
  /** Saves a pushed request under the hash of its `request_uri` (saved again: replaced), deleting two expired ones on the way. */
  savePushedRequest(uriHash: string, record: StoredPushedRequest, now: Date): Promise<void>
  /** The request with this hash, or `null` when unknown or when `expiresAt <= now`. Read-only. */
  findPushedRequest(uriHash: string, now: Date): Promise<StoredPushedRequest | null>
  /** Deletes the request with this hash (nothing when unknown; deleting twice is deleting once). */
  deletePushedRequest(uriHash: string): Promise<void>
  /** Deletes the requests expired at `now` (at most `options.limit`); answers how many went. `schedulePurge` takes it. */
  purgeExpired(now: Date, options?: PurgeOptions): Promise<number>
}

/** Options of {@link sqlitePushedRequestStore}. */
export interface SqlitePushedRequestStoreOptions {
  /** Tables from {@link createSqliteTables}; default {@link sqliteTables} (prefix `grantkit_`). */
  tables?: SqliteTables | undefined
  /** How long a statement that finds the database locked is retried, in milliseconds (as `sqliteStore`'s). Default 5000. */
  busyRetryMillis?: number | undefined
}

/** Options of {@link pgPushedRequestStore}. */
export interface PgPushedRequestStoreOptions {
  /** Tables from {@link createPgTables}; default {@link pgTables} (prefix `grantkit_`). */
  tables?: PgTables | undefined
}

/** Options of {@link drizzlePushedRequestStore}. */
export type DrizzlePushedRequestStoreOptions = TablesOptions

function checkOptions(name: string, options: unknown): void {
  if (typeof options !== 'object' || options === null) throw configError(`${name}: options must be an object`)
}

/**
 * Pushed authorization requests (RFC 9126) in a SQLite database
 * (`grantkit_pushed_requests`, from the shipped migrations), shared by every
 * process on the file. Rows are keyed by the `request_uri`'s hash (the
 * `request_uri` itself is never stored); expiry is checked in the query;
 * each save deletes two expired rows, and `purgeExpired` the rest in
 * batches, so the table holds little more than the live requests.
 *
 * @example
 * ```ts
 * const db = await openSqlite('./data/grantkit.sqlite')
 * server.registerEndpoint(pushedAuthorizationRequestEndpoint({ store: sqlitePushedRequestStore(db) }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 */
export function sqlitePushedRequestStore(db: AnySqliteDatabase, options: SqlitePushedRequestStoreOptions = {}): DrizzlePushedRequestStore {
  checkOptions('sqlitePushedRequestStore', options)
  const dialect = sqliteSharedState('sqlitePushedRequestStore', db, options.busyRetryMillis)
  return sqlPushedRequests(dialect, (options.tables ?? sqliteTables).pushedRequests)
}

/**
 * Pushed authorization requests (RFC 9126) in PostgreSQL
 * (`grantkit_pushed_requests`, from the shipped migrations), shared by every
 * process on the database; see {@link sqlitePushedRequestStore}.
 *
 * @example
 * ```ts
 * const { db } = await connectPostgres(process.env.DATABASE_URL!)
 * server.registerEndpoint(pushedAuthorizationRequestEndpoint({ store: pgPushedRequestStore(db) }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 */
export function pgPushedRequestStore(db: AnyPgDatabase, options: PgPushedRequestStoreOptions = {}): DrizzlePushedRequestStore {
  checkOptions('pgPushedRequestStore', options)
  return sqlPushedRequests(pgSharedState('pgPushedRequestStore', db), (options.tables ?? pgTables).pushedRequests)
}

/**
 * {@link sqlitePushedRequestStore} or {@link pgPushedRequestStore}, told
 * apart by drizzle's own class check, as `drizzleStore` does.
 *
 * @throws TypeError when `db` is neither a drizzle SQLite nor a drizzle PostgreSQL database.
 * @example
 * ```ts
 * server.registerEndpoint(pushedAuthorizationRequestEndpoint({ store: drizzlePushedRequestStore(db) }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126
 */
export function drizzlePushedRequestStore(db: AnySqliteDatabase | AnyPgDatabase, options: DrizzlePushedRequestStoreOptions = {}): DrizzlePushedRequestStore {
  checkOptions('drizzlePushedRequestStore', options)
  const { tablePrefix } = options
  if (is(db, BaseSQLiteDatabase)) {
    return sqlitePushedRequestStore(db as AnySqliteDatabase, tablePrefix === undefined ? {} : { tables: createSqliteTables({ tablePrefix }) })
  }
  if (is(db, PgDatabase)) {
    return pgPushedRequestStore(db as AnyPgDatabase, tablePrefix === undefined ? {} : { tables: createPgTables({ tablePrefix }) })
  }
  throw new TypeError('drizzlePushedRequestStore: "db" must be a drizzle SQLite or PostgreSQL database (MySQL is not supported)')
}
