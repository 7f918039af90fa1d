import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
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
  if (!inMemory) {
    mkdirSync(dirname(file), { recursive: true })
    // Owner-only from the first byte: SQLite gives the -wal and -shm files
    // the database file's permissions, so they are 0600 too.
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600))
  }
  const client = new Database(file)
  try {
    client.pragma('journal_mode = WAL')
    client.pragma(`busy_timeout = ${Math.trunc(options.busyTimeout ?? 5000)}`)
    client.pragma('synchronous = NORMAL')
    client.pragma('foreign_keys = ON')
    const db = drizzle({ client })
    if (options.migrate !== false) migrateOnce(db, options, options.busyTimeout ?? 5000)
    client.pragma(`busy_timeout = ${Math.trunc(options.requestBusyTimeout ?? 50)}`)
    return db
  } catch (error) {
    client.close()
    throw error
  }
}

/**
 * Runs the migrations, again while they fail with `SQLITE_BUSY`: processes
 * started at once on a new file race for the first write, and SQLite answers
 * the loser's upgrade from reader to writer with `SQLITE_BUSY_SNAPSHOT`
 * without waiting. The failed attempt rolled back; the next one finds the
 * winner's migrations recorded and applies nothing twice. Synchronous like
 * the driver: it runs once, before the server serves anything.
 */
function migrateOnce(db: SqliteDatabase, options: MigrateOptions, budget: number): void {
  const start = Date.now()
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (;;) {
    try {
      migrateSqlite(db, options)
      return
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code
      const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY')
      if (!busy || Date.now() - start > budget) throw error
      Atomics.wait(pause, 0, 0, 20 + Math.floor(Math.random() * 30))
    }
  }
}
