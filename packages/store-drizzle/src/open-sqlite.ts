import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { migrateSqlite, type MigrateOptions } from './migrate.js'

/** What {@link openSqlite} returns: a drizzle database with its better-sqlite3 connection as `$client`. */
export type SqliteDatabase = BetterSQLite3Database & { $client: BetterSqlite3.Database }

/** Options of {@link openSqlite}. */
export interface OpenSqliteOptions extends MigrateOptions {
  /** Run the shipped migrations (default `true`). */
  migrate?: boolean
  /**
   * `PRAGMA busy_timeout` in milliseconds while the migrations run: how long
   * opening waits for another process's lock (default 5000).
   */
  busyTimeout?: number
  /**
   * `PRAGMA busy_timeout` once open (default 50). better-sqlite3 is
   * synchronous: a statement waiting for a lock blocks the whole event loop
   * for up to this long, so it is kept short and `sqliteStore` retries a
   * locked statement asynchronously instead (its `busyRetryMillis`).
   */
  requestBusyTimeout?: number
}

/**
 * Opens (creating its folder and file) a SQLite database with better-sqlite3,
 * ready for several connections and processes: `journal_mode=WAL` (readers
 * never block the writer), `busy_timeout=5000` while migrating and 50 ms
 * afterwards (see {@link OpenSqliteOptions.requestBusyTimeout}), `synchronous=NORMAL` (durable
 * at each checkpoint, safe from corruption in WAL mode) and
 * `foreign_keys=ON`; then runs the shipped migrations. Close it with
 * `db.$client.close()`.
 *
 * better-sqlite3 is loaded only when this is called, so PostgreSQL users need
 * not install it.
 *
 * @example
 * ```ts
 * const db = await openSqlite('./data/grantkit.sqlite')
 * const store = sqliteStore(db)
 * ```
 * @see https://www.sqlite.org/wal.html
 */
export async function openSqlite(file: string, options: OpenSqliteOptions = {}): Promise<SqliteDatabase> {
  const [{ default: Database }, { drizzle }] = await Promise.all([import('better-sqlite3'), import('drizzle-orm/better-sqlite3')])
  const inMemory = file === ':memory:' || file === ''
  if (!inMemory) mkdirSync(dirname(file), { recursive: true })
  const client = new Database(file)
  try {
    client.pragma('journal_mode = WAL')
    client.pragma(`busy_timeout = ${Math.trunc(options.busyTimeout ?? 5000)}`)
    client.pragma('synchronous = NORMAL')
    client.pragma('foreign_keys = ON')
    const db = drizzle({ client })
    if (options.migrate !== false) migrateSqlite(db, options)
    client.pragma(`busy_timeout = ${Math.trunc(options.requestBusyTimeout ?? 50)}`)
    return db
  } catch (error) {
    client.close()
    throw error
  }
}
