import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { Checkpointer, type SqliteCheckpointer, type SqliteCheckpointOptions } from './internal/checkpointer.js'
import { MIGRATIONS_TABLE, migrateSqlite, type MigrateOptions } from './migrate.js'

/**
 * What {@link openSqlite} returns: a drizzle database with its better-sqlite3
 * connection as `$client`, and the WAL checkpoint thread as `$checkpointer`
 * (absent for `:memory:` and with `checkpoint: false`).
 */
export type SqliteDatabase = BetterSQLite3Database & { $client: BetterSqlite3.Database; $checkpointer?: SqliteCheckpointer }

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
  /**
   * Where the WAL is checkpointed (copied into the database file). By
   * default a `worker_thread` with its own connection does it, off the
   * event loop: a PASSIVE checkpoint every `intervalMillis`, and a TRUNCATE
   * once the `-wal` file is past `walSizeLimit` (see
   * {@link SqliteCheckpointOptions} for the defaults); the request
   * connection's own auto-checkpoint is off meanwhile. Without it, SQLite
   * checkpoints every 1000 pages inside whichever request's commit crosses
   * the mark, synchronously, on the event loop. `false` keeps SQLite's
   * auto-checkpoint (for short-lived processes such as a CLI). `:memory:`
   * databases have no WAL and no thread. `db.$client.close()` stops the
   * thread; if it dies, SQLite's auto-checkpoint comes back.
   */
  checkpoint?: SqliteCheckpointOptions | false
}

/**
 * Opens (creating its folder and file) a SQLite database with better-sqlite3,
 * ready for several connections and processes: `journal_mode=WAL` (readers
 * never block the writer), `busy_timeout=5000` while migrating and 50 ms
 * afterwards (see {@link OpenSqliteOptions.requestBusyTimeout}), `synchronous=NORMAL` (durable
 * at each checkpoint, safe from corruption in WAL mode) and
 * `foreign_keys=ON`; then runs the shipped migrations, and starts the
 * checkpoint thread that keeps the WAL small off the event loop (see
 * {@link OpenSqliteOptions.checkpoint}). Close it with `db.$client.close()`,
 * which stops the thread too.
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
    if (!inMemory && options.checkpoint !== false) startCheckpointer(db, resolve(file), options.checkpoint ?? {})
    return db
  } catch (error) {
    client.close()
    throw error
  }
}

/**
 * Starts the checkpoint thread of `db` as `db.$checkpointer`. Bad options
 * throw; a thread that cannot be created (no `worker_threads`, the driver not
 * resolvable from this package) leaves SQLite's auto-checkpoint on, with a
 * process warning.
 */
function startCheckpointer(db: SqliteDatabase, file: string, options: SqliteCheckpointOptions): void {
  try {
    db.$checkpointer = new Checkpointer(db.$client, file, options)
  } catch (error) {
    if (error instanceof TypeError) throw error
    process.emitWarning(`SQLite checkpoint thread not started (${(error as Error).message}); SQLite checkpoints on the event loop`, { type: 'GrantkitSqliteCheckpoint' })
  }
}

/**
 * Runs the migrations, again while a concurrent start made them fail:
 * processes started at once on a new file race for the first write. SQLite
 * answers the loser's upgrade from reader to writer with
 * `SQLITE_BUSY_SNAPSHOT` without waiting; and the migrator reads which
 * migrations ran before it opens its transaction, so a process that read
 * "none" while another committed them fails on `CREATE TABLE` ("already
 * exists"). Either way the failed attempt rolled back, and the next one finds
 * the winner's migrations recorded and applies nothing twice. Any other
 * failure (the recorded migrations unchanged by anyone else) is thrown.
 * Synchronous like the driver: it runs once, before the server serves anything.
 */
function migrateOnce(db: SqliteDatabase, options: MigrateOptions, budget: number): void {
  const start = Date.now()
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const table = options.migrationsTable ?? MIGRATIONS_TABLE
  for (;;) {
    const before = recordedMigrations(db, table)
    try {
      migrateSqlite(db, options)
      return
    } catch (error) {
      const raced = isBusy(error) || recordedMigrations(db, table) !== before
      if (!raced || Date.now() - start > budget) throw error
      Atomics.wait(pause, 0, 0, 20 + Math.floor(Math.random() * 30))
    }
  }
}

/** Whether `error` or one of its causes (drizzle wraps the driver's error) is `SQLITE_BUSY` or one of its extended codes. */
function isBusy(error: unknown): boolean {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true
  }
  return false
}

/** How many migrations the migrations table records (-1 before it exists, or while it cannot be read). */
function recordedMigrations(db: SqliteDatabase, table: string): number {
  try {
    const row = db.$client.prepare(`SELECT count(*) AS n FROM "${table.replaceAll('"', '""')}"`).get() as { n: number }
    return row.n
  } catch {
    return -1
  }
}
