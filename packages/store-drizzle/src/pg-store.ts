import { configError, type FullStore } from '@grantkit/core'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { statementName } from './internal/params.js'
import { surfacingPgErrors } from './internal/pg-errors.js'
import type { SqlDatabase, SqlDialect } from './internal/sql-dialect.js'
import { sqlStore } from './internal/sql-store.js'
import { pgTables, type PgTables } from './pg-schema.js'

/** Any drizzle PostgreSQL database, e.g. `drizzle(pool)` from `drizzle-orm/node-postgres`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any, any>

/** Options of {@link pgStore}. */
export interface PgStoreOptions {
  /** Tables from {@link createPgTables}; default {@link pgTables} (prefix `grantkit_`). */
  tables?: PgTables
  /**
   * Group commit: the token saves of concurrent requests that arrive in one
   * turn of the event loop are written by one multi-row `INSERT` (at most 40
   * rows, each request's rows always together, a failed group retried one
   * request at a time), instead of one statement and one commit per request
   * on connections of their own. Default `true`: on a durable server
   * (`fsync` and `synchronous_commit` on) it served client_credentials about
   * 1.5× the requests a second of one insert per request (bench/README.md);
   * `false` inserts each request's tokens on its own.
   */
  groupCommit?: boolean
}

/** A query of drizzle's PostgreSQL builder, prepared under a name. */
interface PgPreparable {
  prepare(name: string): { execute(values: Record<string, unknown>): Promise<unknown> }
}

/**
 * A {@link FullStore} over a drizzle PostgreSQL database (node-postgres is the
 * tested driver). Every check-and-set is one SQL statement — an `UPDATE …
 * WHERE <still usable> RETURNING` or an `INSERT … ON CONFLICT DO UPDATE …
 * WHERE` — so under READ COMMITTED exactly one of many concurrent callers wins;
 * hot statements are named prepared statements.
 *
 * A failure keeps the driver's SQLSTATE reachable through drizzle's
 * `DrizzleQueryError` (its `cause`); node-postgres' pool and connection
 * failures that carry none (a pool timeout, a dropped connection) are thrown
 * as a `PgConnectionError` with a `code` and `transient: true`, so that core
 * answers them 503 with `Retry-After` and logs which failure it was.
 *
 * @example
 * ```ts
 * const { db, close } = await connectPostgres(process.env.DATABASE_URL!)
 * const server = new AuthorizationServer({ issuer, store: pgStore(db) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export function pgStore(db: AnyPgDatabase, options: PgStoreOptions = {}): FullStore {
  const groupCommit = options.groupCommit ?? true
  if (typeof groupCommit !== 'boolean') throw configError('pgStore: "groupCommit" must be a boolean')
  const dialect: SqlDialect = {
    name: 'pgStore',
    // The builder calls of SqlDatabase, typed by drizzle for PostgreSQL only.
    db: db as unknown as SqlDatabase,
    tables: options.tables ?? pgTables,
    prepare(query) {
      // Named after the SQL text: planned once per connection, and stores with
      // different table prefixes never share a name on one connection.
      const statement = (query as unknown as PgPreparable).prepare(statementName(query.toSQL().sql))
      return {
        all: (values) => surfacingPgErrors(() => statement.execute(values)) as never,
        run: async (values) => void (await surfacingPgErrors(() => statement.execute(values))),
      }
    },
    plusSeconds: (time, seconds) => sql`(${time} + ${seconds} * interval '1 second')`,
    // Byte order whatever the database collation.
    byteOrder: (column) => sql`${column} collate "C"`,
    // A request saves 2 tokens; a few row counts cover every grant, a group at most 20 requests.
    preparedTokenRows: groupCommit ? 40 : 4,
    groupCommit,
    execute: (query) => surfacingPgErrors(() => query),
    // node-postgres' QueryResult.
    changes: (result) => Number((result as { rowCount?: number | null }).rowCount ?? 0),
  }
  return sqlStore(dialect)
}
