import { configError, throttleLimits, type PurgeOptions, type Throttle, type ThrottleLimits } from '@grantkit/core'
import { is } from 'drizzle-orm'
import { PgDatabase } from 'drizzle-orm/pg-core'
import { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { pgSharedState, sqliteSharedState } from './internal/shared-state-sql.js'
import { sqlThrottle } from './internal/sql-throttle.js'
import { createPgTables, pgTables, type PgTables } from './pg-schema.js'
import type { AnyPgDatabase } from './pg-store.js'
import { createSqliteTables, sqliteTables, type SqliteTables, type TablesOptions } from './sqlite-schema.js'
import type { AnySqliteDatabase } from './sqlite-store.js'

/**
 * A {@link Throttle} of failed credential attempts kept in the database, so
 * that every process on it counts together, with a batch purge of the keys
 * whose hits all left the window (`schedulePurge` takes it).
 */
export interface DrizzleThrottle extends Throttle {
  /** Deletes the keys whose last hit left the window before `now` (at most `options.limit`); answers how many went. */
  purgeExpired(now: Date, options?: PurgeOptions): Promise<number>
}

/** Options of {@link sqliteThrottle}. */
export interface SqliteThrottleOptions extends ThrottleLimits {
  /** Tables from {@link createSqliteTables}; default {@link sqliteTables} (prefix `grantkit_`). */
  tables?: SqliteTables | undefined
  /** How long a statement that finds the database locked is retried, in milliseconds (as `sqliteStore`'s). Default 5000. */
  busyRetryMillis?: number | undefined
}

/** Options of {@link pgThrottle}. */
export interface PgThrottleOptions extends ThrottleLimits {
  /** Tables from {@link createPgTables}; default {@link pgTables} (prefix `grantkit_`). */
  tables?: PgTables | undefined
}

/** Options of {@link drizzleThrottle}. */
export type DrizzleThrottleOptions = ThrottleLimits & TablesOptions

/**
 * The failed-credential {@link Throttle} (RFC 6819 §4.4.3.6, §5.1.4.2.3) in
 * a SQLite database, shared by every process and connection on the file:
 * pass it as the `AuthorizationServer`'s `throttle`. Same limits and defaults
 * as core's `memoryThrottle` (10 per `client:`/`user:` key, 100 per `ip:`
 * key, in a sliding window of 600 s), and the same sliding window: no
 * `window` seconds ever hold more than the limit of allowed hits, across
 * any boundary.
 *
 * One row per key (table `grantkit_throttle`, created by the shipped
 * migrations) holds the times of its hits inside the window, at most its
 * limit. `hit` is one upsert whose condition is "fewer live hits than the
 * limit", run under SQLite's write lock, so of any number of concurrent hits
 * from any processes exactly the limit are allowed, and a refused hit
 * writes nothing. A hit that starts a key deletes two expired rows, so a
 * flood of distinct keys never grows the table past the keys hit within one
 * window; `purgeExpired` clears the rest in batches.
 *
 * @example
 * ```ts
 * const db = await openSqlite('./data/grantkit.sqlite')
 * const server = new AuthorizationServer({ issuer, store: sqliteStore(db), throttle: sqliteThrottle(db) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.4.2.3
 */
export function sqliteThrottle(db: AnySqliteDatabase, options: SqliteThrottleOptions = {}): DrizzleThrottle {
  const limits = throttleLimits('sqliteThrottle', options)
  const dialect = sqliteSharedState('sqliteThrottle', db, options.busyRetryMillis)
  return sqlThrottle(dialect, (options.tables ?? sqliteTables).throttle, limits)
}

/**
 * The failed-credential {@link Throttle} (RFC 6819 §4.4.3.6, §5.1.4.2.3) in
 * PostgreSQL, shared by every process and connection on the database: pass
 * it as the `AuthorizationServer`'s `throttle`. Same limits, defaults and
 * sliding window as core's `memoryThrottle` (see {@link sqliteThrottle}).
 *
 * One row per key (`grantkit_throttle`, from the shipped migrations) holds a
 * `bigint[]` of its hit times inside the window. `hit` is one `INSERT … ON
 * CONFLICT (key) DO UPDATE … WHERE <fewer live hits than the limit>
 * RETURNING`: PostgreSQL takes the row's lock and checks the condition on the
 * row as the previous hit left it, so under READ COMMITTED exactly the limit
 * of any number of concurrent hits is allowed. Statements are named prepared
 * statements; connection failures are thrown as `PgConnectionError`
 * (transient), as the store's are.
 *
 * @example
 * ```ts
 * const { db } = await connectPostgres(process.env.DATABASE_URL!)
 * const server = new AuthorizationServer({ issuer, store: pgStore(db), throttle: pgThrottle(db, { limit: 5 }) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.4.2.3
 */
export function pgThrottle(db: AnyPgDatabase, options: PgThrottleOptions = {}): DrizzleThrottle {
  const limits = throttleLimits('pgThrottle', options)
  return sqlThrottle(pgSharedState('pgThrottle', db), (options.tables ?? pgTables).throttle, limits)
}

/**
 * {@link sqliteThrottle} or {@link pgThrottle}, told apart by drizzle's own
 * class check, as `drizzleStore` does; `tablePrefix` names the tables as
 * `drizzleStore`'s does.
 *
 * @throws TypeError when `db` is neither a drizzle SQLite nor a drizzle PostgreSQL database.
 * @example
 * ```ts
 * const server = new AuthorizationServer({ issuer, store: drizzleStore(db), throttle: drizzleThrottle(db) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.4.2.3
 */
export function drizzleThrottle(db: AnySqliteDatabase | AnyPgDatabase, options: DrizzleThrottleOptions = {}): DrizzleThrottle {
  if (typeof options !== 'object' || options === null) throw configError('drizzleThrottle: options must be an object')
  const { tablePrefix, ...limits } = options
  if (is(db, BaseSQLiteDatabase)) {
    return sqliteThrottle(db as AnySqliteDatabase, tablePrefix === undefined ? limits : { ...limits, tables: createSqliteTables({ tablePrefix }) })
  }
  if (is(db, PgDatabase)) {
    return pgThrottle(db as AnyPgDatabase, tablePrefix === undefined ? limits : { ...limits, tables: createPgTables({ tablePrefix }) })
  }
  throw new TypeError('drizzleThrottle: "db" must be a drizzle SQLite or PostgreSQL database (MySQL is not supported)')
}
