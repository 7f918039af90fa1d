// Test harnesses of the throttle and the pushed request store over real databases (used by *.test.ts only; never exported).
import { join } from 'node:path'
import { afterAll, beforeAll, describe } from 'vitest'
import { connectPostgres, type PostgresConnection } from '../connect-postgres.js'
import { openSqlite, type SqliteDatabase } from '../open-sqlite.js'
import type { AnyPgDatabase } from '../pg-store.js'
import type { AnySqliteDatabase } from '../sqlite-store.js'
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

/** Either dialect's drizzle database. */
export type AnyDb = AnySqliteDatabase | AnyPgDatabase

/** PostgreSQL blocks run when DATABASE_URL is set, and always under CI (where a missing database must fail, not skip). */
const describePg = pgSkipReason === undefined || process.env['CI'] ? describe : describe.skip

/**
 * `title` over SQLite and over PostgreSQL (`%s`: the name), each with fresh
 * {@link TwoConnections} opened before its tests and closed after them;
 * `body` gets a view that reads the open ones (use it inside tests).
 */
export function describeOverBoth(title: string, body: (c: TwoConnections<AnyDb>) => void): void {
  describe.each([
    ['SQLite', sqliteConnections, describe],
    ['PostgreSQL', pgConnections, describePg],
  ] as const)(title, (_, open, describeIf) => {
    describeIf('rows', () => {
      let opened: TwoConnections<AnyDb> | undefined
      beforeAll(async () => {
        opened = await open()
      })
      afterAll(async () => {
        await opened?.close()
      })
      const current = (): TwoConnections<AnyDb> => {
        if (opened === undefined) throw new Error('the connections were not opened')
        return opened
      }
      body({
        get dialect() {
          return current().dialect
        },
        get a() {
          return current().a
        },
        get b() {
          return current().b
        },
        query: (text, values) => current().query(text, values),
        close: () => current().close(),
      })
    })
  })
}
