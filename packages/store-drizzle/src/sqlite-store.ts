import type { FullStore } from '@grantkit/core'
import { asc, sql } from 'drizzle-orm'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
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
}

/** Whether an error is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
}

/**
 * Runs `run` again while it fails with `SQLITE_BUSY`, up to `budget`
 * milliseconds, waiting 2, 4, … up to 50 ms between tries with a timer (the
 * event loop is free meanwhile). A busy statement did nothing, so a retry
 * cannot apply a write twice.
 */
async function retryBusy<T>(run: () => T | PromiseLike<T>, budget: number): Promise<T> {
  const start = Date.now()
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      return await run()
    } catch (error) {
      if (!isBusy(error) || Date.now() - start + wait > budget) throw error
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
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
 * one per request.
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
  const dialect: SqlDialect = {
    name: 'sqliteStore',
    // The builder calls of SqlDatabase, typed by drizzle for SQLite only.
    db: db as unknown as SqlDatabase,
    tables: options.tables ?? sqliteTables,
    prepare(query) {
      const statement = (query as unknown as { prepare(): SqlitePrepared }).prepare()
      return {
        // `as never`: the rows are what the query selects; drizzle typed them when it was built.
        all: async (values) => (await retryBusy(() => statement.all(values), budget)) as never,
        // better-sqlite3 refuses `.all()` for a statement without RETURNING.
        run: async (values) => void (await retryBusy(() => statement.run(values), budget)),
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
    execute: (query) => retryBusy(() => query, budget),
    // better-sqlite3's run() result.
    changes: (result) => Number((result as { changes?: number }).changes ?? 0),
  }
  return sqlStore(dialect)
}
