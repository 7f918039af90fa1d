import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { migrate as migrateBetterSqlite } from 'drizzle-orm/better-sqlite3/migrator'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'

/** The table that records which shipped migrations ran (kept apart from an app's own `__drizzle_migrations`). */
export const MIGRATIONS_TABLE = '__grantkit_migrations'

/**
 * The folder of the SQL migrations shipped in this package, resolved from
 * this file so that it works from `src/`, `dist/*.js` and `dist/*.cjs`.
 */
export function migrationsFolder(dialect: 'sqlite' | 'pg'): string {
  return fileURLToPath(new URL(`../migrations/${dialect}`, import.meta.url))
}

/** Options of {@link migrateSqlite} and {@link migratePg}. */
export interface MigrateOptions {
  /** Where the migrations are; default the folder shipped in this package (set it when you bundle your server). */
  migrationsFolder?: string
  /** Default `__grantkit_migrations`. */
  migrationsTable?: string
}

/** Options of {@link migratePg}. */
export interface MigratePgOptions extends MigrateOptions {
  /**
   * Schema of the migrations table; default the current schema (the first
   * of the `search_path`), where the tables are created, so that each schema
   * keeps its own record.
   */
  migrationsSchema?: string
}

/**
 * Creates or updates the grantkit tables (default `grantkit_` prefix) in a
 * better-sqlite3 database with the migrations shipped in this package.
 * Synchronous, like the driver.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function migrateSqlite(db: BetterSQLite3Database<any>, options: MigrateOptions = {}): void {
  migrateBetterSqlite(db, {
    migrationsFolder: options.migrationsFolder ?? migrationsFolder('sqlite'),
    migrationsTable: options.migrationsTable ?? MIGRATIONS_TABLE,
  })
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function currentSchema(db: NodePgDatabase<any>): Promise<string> {
  const { rows } = await db.execute<{ schema: string | null }>(sql`select current_schema() as schema`)
  const schema = rows[0]?.schema
  if (typeof schema !== 'string') throw new Error('migratePg: no current schema (check the search_path)')
  return schema
}

/** A node-postgres `Pool` or `Client`, as `db.$client` holds it. */
interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<unknown>
  connect?: () => Promise<PgQueryable & { release(): void }>
}

/**
 * Creates or updates the grantkit tables (default `grantkit_` prefix) in the
 * first schema of the `search_path` of a node-postgres database, with the
 * migrations shipped in this package, in one transaction. Several processes
 * may start at once: the migration runs under a PostgreSQL advisory lock
 * named after the schema and migrations table, on one connection, so the
 * others wait and then find it done.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function migratePg(db: NodePgDatabase<any>, options: MigratePgOptions = {}): Promise<void> {
  const schema = options.migrationsSchema ?? (await currentSchema(db))
  const table = options.migrationsTable ?? MIGRATIONS_TABLE
  const client = (db as unknown as { $client: PgQueryable }).$client
  const pooled = typeof client.connect === 'function' && 'totalCount' in client
  const connection = pooled ? await (client.connect as () => Promise<PgQueryable & { release(): void }>)() : client
  const lockName = `grantkit:${schema}.${table}`
  try {
    await connection.query('SELECT pg_advisory_lock(hashtext($1))', [lockName])
    try {
      const { drizzle } = await import('drizzle-orm/node-postgres')
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      await migrateNodePg(drizzle({ client: connection as any }), { migrationsFolder: options.migrationsFolder ?? migrationsFolder('pg'), migrationsTable: table, migrationsSchema: schema })
    } finally {
      await connection.query('SELECT pg_advisory_unlock(hashtext($1))', [lockName])
    }
  } finally {
    if (pooled) (connection as unknown as { release(): void }).release()
  }
}
