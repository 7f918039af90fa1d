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
  const dialect: SqlDialect = {
    name: 'sqliteStore',
    // The builder calls of SqlDatabase, typed by drizzle for SQLite only.
    db: db as unknown as SqlDatabase,
    tables: options.tables ?? sqliteTables,
    prepare(query) {
      const statement = (query as unknown as { prepare(): SqlitePrepared }).prepare()
      return {
        // `as never`: the rows are what the query selects; drizzle typed them when it was built.
        all: async (values) => (await statement.all(values)) as never,
        // better-sqlite3 refuses `.all()` for a statement without RETURNING.
        run: async (values) => void (await statement.run(values)),
      }
    },
    // Times are integer epoch milliseconds.
    plusSeconds: (time, seconds) => sql`(${time} + ${seconds} * 1000)`,
    // SQLite's default BINARY collation compares bytes.
    byteOrder: (column) => asc(column),
    // A commit (WAL append + lock) was most of a token save's time: group them, up to 32 rows per INSERT.
    preparedTokenRows: 32,
    groupCommit: true,
    // better-sqlite3's run() result.
    changes: (result) => Number((result as { changes?: number }).changes ?? 0),
  }
  return sqlStore(dialect)
}
