// Test harnesses over real databases (used by the *.test.ts files only; never exported).
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FullStore } from '@grantkit/core'
import { getTableName, type Table } from 'drizzle-orm'
import pg from 'pg'
import { connectPostgres } from '../connect-postgres.js'
import { openSqlite, type SqliteDatabase } from '../open-sqlite.js'
import { pgTables } from '../pg-schema.js'
import { pgStore } from '../pg-store.js'
import { sqliteTables } from '../sqlite-schema.js'
import { sqliteStore } from '../sqlite-store.js'

export const databaseUrl = process.env['DATABASE_URL']

/** Why the PostgreSQL tests cannot run here, or `undefined` when they can. */
export const pgSkipReason = databaseUrl ? undefined : 'DATABASE_URL is not set (run `source scripts/services.sh`)'

export interface Harness<Db> {
  store: FullStore
  db: Db
  dumpRaw(): Promise<string>
  close(): Promise<void>
}

/** A fresh temp folder, removed by the returned function. */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'grantkit-drizzle-'))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Every row of every table, read with plain SQL (not through the store). */
function dumpSqliteTables(db: SqliteDatabase, tables: readonly Table[]): string {
  const dump = Object.fromEntries(
    tables.map((table) => [getTableName(table), db.$client.prepare(`SELECT * FROM "${getTableName(table)}"`).all()]),
  )
  return JSON.stringify(dump)
}

/** The SQLite store over a migrated temp file in WAL mode. */
export async function sqliteHarness(): Promise<Harness<SqliteDatabase> & { file: string }> {
  const tmp = tempDir()
  const file = join(tmp.dir, 'grantkit.sqlite')
  const db = await openSqlite(file)
  return {
    store: sqliteStore(db),
    db,
    file,
    dumpRaw: async () => dumpSqliteTables(db, Object.values(sqliteTables)),
    close: async () => {
      db.$client.close()
      tmp.remove()
    },
  }
}

/**
 * The PostgreSQL store in a schema of its own (random name, first on the
 * search_path, dropped on close), so that runs never collide.
 */
export async function pgHarness(poolMax = 10): Promise<Harness<Awaited<ReturnType<typeof connectPostgres>>['db']> & { schema: string; schemaUrl: string }> {
  if (databaseUrl === undefined) throw new Error(pgSkipReason)
  const url = databaseUrl
  const schema = `grantkit_test_${randomBytes(6).toString('hex')}`
  const admin = async (text: string) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(text)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE SCHEMA "${schema}"`)
  /** The URL with this schema as the search_path (for tools that take only a URL). */
  const schemaUrl = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
  const { db, close } = await connectPostgres(url, {
    pool: { max: poolMax, options: `-c search_path=${schema}` },
  })
  return {
    store: pgStore(db),
    db,
    schema,
    schemaUrl,
    dumpRaw: async () => {
      const dump: Record<string, unknown[]> = {}
      for (const table of Object.values(pgTables)) {
        const name = getTableName(table)
        dump[name] = (await db.$client.query(`SELECT * FROM "${schema}"."${name}"`)).rows
      }
      return JSON.stringify(dump)
    },
    close: async () => {
      await close()
      await admin(`DROP SCHEMA "${schema}" CASCADE`)
    },
  }
}
