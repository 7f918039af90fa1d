import type { FullStore } from '@grantkit/core'
import { asc, getTableName, sql } from 'drizzle-orm'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { writeHoldOf, type WriteHold } from './internal/checkpointer.js'
import { ClientCache, isCacheConnection } from './internal/client-cache.js'
import type { SqlDatabase, SqlDialect } from './internal/sql-dialect.js'
import { sqlStore } from './internal/sql-store.js'
import { sqliteTables, type SqliteTables } from './sqlite-schema.js'

/** Any drizzle SQLite database, e.g. `drizzle(new Database(file))` from `drizzle-orm/better-sqlite3`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySqliteDatabase = BaseSQLiteDatabase<'sync' | 'async', any, any>

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /** Tables from {@link createSqliteTables}; default {@link sqliteTables} (prefix `grantkit_`). */
  tables?: SqliteTables
  /**
   * How long, in milliseconds, a statement that finds the database locked
   * by another connection (`SQLITE_BUSY`: a purge, a backup, another
   * process) is retried before it fails. The retries wait asynchronously, so
   * the event loop keeps serving other requests meanwhile; keep the
   * connection's own `busy_timeout` short (`openSqlite` sets 50 ms once its
   * migrations ran). Default 5000; `0` never retries.
   */
  busyRetryMillis?: number
  /**
   * Keep the clients `findClient` read in memory (default `true`), for a
   * better-sqlite3 connection: `findClient` runs on every token request. A
   * kept client is served only while nothing may have changed it: SQLite's
   * `PRAGMA data_version` (read on each lookup, about a microsecond; it
   * changes whenever another connection or process commits) is what it was
   * when the client was read, and no statement on this connection wrote to
   * the clients table since (TEMP triggers, on this connection only, count
   * them). So a client changed or deleted by another process, the clients
   * CLI or raw SQL is never served stale. Nothing is kept or served inside a
   * transaction of the connection. With several processes writing to one
   * file the version changes with their token writes, and the cache mostly
   * misses (it is still never wrong).
   */
  clientCache?: boolean
}

/** Whether an error, or one of its causes (a driver error wrapped by drizzle), is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
function isBusy(error: unknown): boolean {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true
  }
  return false
}

/**
 * Runs `run` again while it fails with `SQLITE_BUSY`, up to `budget`
 * milliseconds, waiting 2, 4, … up to 50 ms between tries with a timer (the
 * event loop is free meanwhile). A busy statement did nothing, so a retry
 * cannot apply a write twice. With `hold` (a write on a connection from
 * `openSqlite`), each try first waits, asynchronously and within the budget,
 * while the checkpoint thread truncates the WAL.
 */
async function retryBusy<T>(run: () => T | PromiseLike<T>, budget: number, hold?: WriteHold): Promise<T> {
  const start = Date.now()
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    if (hold?.held === true) await hold.released(Math.max(0, budget - (Date.now() - start)))
    try {
      return await run()
    } catch (error) {
      if (!isBusy(error) || Date.now() - start + wait > budget) throw error
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}

/** Whether a built statement writes (its SQL does not start with SELECT). */
function writes(query: unknown): boolean {
  const text = (query as { toSQL?: () => { sql: string } }).toSQL?.().sql ?? 'write'
  return !/^\s*select\b/i.test(text)
}

/** A drizzle SQLite prepared query; `.all()`/`.run()` return a value (better-sqlite3) or a promise (async drivers). */
interface SqlitePrepared {
  all(values: Record<string, unknown>): unknown
  run(values: Record<string, unknown>): unknown
}

/**
 * A {@link FullStore} over a drizzle SQLite database (better-sqlite3 is the
 * tested driver). Every check-and-set is one SQL statement, so it is atomic
 * across connections and processes sharing the file; hot statements are
 * prepared once, on first use. The token saves of one event-loop turn are
 * written by one multi-row `INSERT` (group commit): one commit instead of
 * one per request. Clients are kept in memory between look-ups, never past
 * a change (see {@link SqliteStoreOptions.clientCache}); on a connection from
 * `openSqlite`, writes wait, asynchronously, for the few milliseconds its
 * checkpoint thread holds the writer lock to truncate the WAL (see
 * `OpenSqliteOptions.checkpoint`).
 *
 * @example
 * ```ts
 * const db = await openSqlite('./data/grantkit.sqlite')
 * const server = new AuthorizationServer({ issuer, store: sqliteStore(db) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export function sqliteStore(db: AnySqliteDatabase, options: SqliteStoreOptions = {}): FullStore {
  const budget = options.busyRetryMillis ?? 5000
  if (!Number.isSafeInteger(budget) || budget < 0) throw new TypeError('sqliteStore: "busyRetryMillis" must be a non-negative integer')
  const client = (db as { $client?: unknown }).$client
  // The checkpoint thread of a connection from openSqlite briefly holds writes now and then.
  const hold = writeHoldOf(client)
  const dialect: SqlDialect = {
    name: 'sqliteStore',
    // The builder calls of SqlDatabase, typed by drizzle for SQLite only.
    db: db as unknown as SqlDatabase,
    tables: options.tables ?? sqliteTables,
    prepare(query) {
      const statement = (query as unknown as { prepare(): SqlitePrepared }).prepare()
      const writeHold = hold !== undefined && writes(query) ? hold : undefined
      return {
        // `as never`: the rows are what the query selects; drizzle typed them when it was built.
        all: (values) => retryBusy(() => statement.all(values), budget, writeHold) as never,
        // better-sqlite3 refuses `.all()` for a statement without RETURNING.
        run: async (values) => void (await retryBusy(() => statement.run(values), budget, writeHold)),
      }
    },
    // Times are integer epoch milliseconds.
    plusSeconds: (time, seconds) => sql`(${time} + ${seconds} * 1000)`,
    // SQLite's default BINARY collation compares bytes.
    byteOrder: (column) => asc(column),
    // A commit (WAL append + lock) was most of a token save's time: group them, up to 32 rows per INSERT.
    preparedTokenRows: 32,
    groupCommit: true,
    // Awaiting a drizzle query runs it again, so a busy one is simply awaited again.
    // (Whether it writes is looked at only while writes are held: building the SQL text costs.)
    execute: (query) => retryBusy(() => query, budget, hold?.held === true && writes(query) ? hold : undefined),
    // better-sqlite3's run() result.
    changes: (result) => Number((result as { changes?: number }).changes ?? 0),
  }
  const cache = options.clientCache !== false && isCacheConnection(client) ? new ClientCache(client, getTableName(dialect.tables.clients)) : undefined
  return sqlStore(dialect, { clientCache: cache })
}
