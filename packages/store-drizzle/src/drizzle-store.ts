import type { FullStore } from '@grantkit/core'
import { is } from 'drizzle-orm'
import { PgDatabase } from 'drizzle-orm/pg-core'
import { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { createPgTables } from './pg-schema.js'
import { pgStore, type AnyPgDatabase } from './pg-store.js'
import { createSqliteTables, type TablesOptions } from './sqlite-schema.js'
import { sqliteStore, type AnySqliteDatabase } from './sqlite-store.js'

/** Options of {@link drizzleStore}. */
export type DrizzleStoreOptions = TablesOptions

/**
 * A {@link FullStore} over a drizzle database, SQLite or PostgreSQL, told
 * apart by drizzle's own class check; {@link sqliteStore} and {@link pgStore}
 * are the same stores without the detection.
 *
 * @throws TypeError when `db` is neither a drizzle SQLite nor a drizzle PostgreSQL database.
 * @example
 * ```ts
 * const server = new AuthorizationServer({ issuer, store: drizzleStore(await openSqlite('./data/grantkit.sqlite')) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 */
export function drizzleStore(db: AnySqliteDatabase | AnyPgDatabase, options: DrizzleStoreOptions = {}): FullStore {
  if (is(db, BaseSQLiteDatabase)) {
    return sqliteStore(db as AnySqliteDatabase, options.tablePrefix === undefined ? {} : { tables: createSqliteTables(options) })
  }
  if (is(db, PgDatabase)) {
    return pgStore(db as AnyPgDatabase, options.tablePrefix === undefined ? {} : { tables: createPgTables(options) })
  }
  throw new TypeError('drizzleStore: "db" must be a drizzle SQLite or PostgreSQL database (MySQL is not supported)')
}
