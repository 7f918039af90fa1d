// Test harnesses of the throttle and the pushed request store over real databases (used by *.test.ts only; never exported).
import { join } from 'node:path'
import { connectPostgres, type PostgresConnection } from '../connect-postgres.js'
import { openSqlite, type SqliteDatabase } from '../open-sqlite.js'
import { databaseUrl, pgHarness, pgSkipReason, tempDir } from './testing.js'

/** Two connections to one database, as two processes have, with plain SQL reads beside them. */
export interface TwoConnections<Db> {
  readonly dialect: 'sqlite' | 'pg'
  readonly a: Db
  readonly b: Db
  /** Rows of a query, read with the driver on connection `a` (NOT through a store). */
  query(text: string, values?: unknown[]): Promise<Record<string, unknown>[]>
  close(): Promise<void>
}

/** A migrated SQLite file in a temp folder, opened twice. */
export async function sqliteConnections(): Promise<TwoConnections<SqliteDatabase>> {
  const tmp = tempDir()
  const file = join(tmp.dir, 'shared.sqlite')
  const a = await openSqlite(file)
  const b = await openSqlite(file)
  return {
    dialect: 'sqlite',
    a,
    b,
    query: async (text, values = []) => a.$client.prepare(text.replace(/\$\d+/g, '?')).all(...values) as Record<string, unknown>[],
    close: async () => {
      a.$client.close()
      b.$client.close()
      tmp.remove()
    },
  }
}

/** A migrated PostgreSQL schema of its own (dropped on close), reached through two pools. */
export async function pgConnections(): Promise<TwoConnections<PostgresConnection['db']>> {
  if (databaseUrl === undefined) throw new Error(pgSkipReason)
  const h = await pgHarness(6)
  const second = await connectPostgres(databaseUrl, { migrate: false, pool: { max: 6, options: `-c search_path=${h.schema}` } })
  return {
    dialect: 'pg',
    a: h.db,
    b: second.db,
    query: async (text, values = []) => (await h.db.$client.query(text, values)).rows as Record<string, unknown>[],
    close: async () => {
      await second.close()
      await h.close()
    },
  }
}
