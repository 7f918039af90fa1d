export { createSqliteTables, sqliteTables, DEFAULT_TABLE_PREFIX } from './sqlite-schema.js'
export type { SqliteTables, TablesOptions } from './sqlite-schema.js'
export { createPgTables, pgTables } from './pg-schema.js'
export type { PgTables } from './pg-schema.js'
export { sqliteStore } from './sqlite-store.js'
export type { AnySqliteDatabase, SqliteStoreOptions } from './sqlite-store.js'
export { pgStore } from './pg-store.js'
export { PgConnectionError } from './internal/pg-errors.js'
export type { PgConnectionFailure } from './internal/pg-errors.js'
export type { AnyPgDatabase, PgStoreOptions } from './pg-store.js'
export { drizzleStore } from './drizzle-store.js'
export type { DrizzleStoreOptions } from './drizzle-store.js'
export { MIGRATIONS_TABLE, migratePg, migrateSqlite, migrationsFolder } from './migrate.js'
export type { MigrateOptions, MigratePgOptions } from './migrate.js'
export { openSqlite } from './open-sqlite.js'
export type { OpenSqliteOptions, SqliteDatabase } from './open-sqlite.js'
export type { SqliteCheckpointer, SqliteCheckpointOptions, SqliteCheckpointResult } from './internal/checkpointer.js'
export { connectPostgres } from './connect-postgres.js'
export type { ConnectPostgresOptions, PostgresConnection } from './connect-postgres.js'
export { drizzleThrottle, pgThrottle, sqliteThrottle } from './throttle.js'
export type { DrizzleThrottle, DrizzleThrottleOptions, PgThrottleOptions, SqliteThrottleOptions } from './throttle.js'
export { drizzlePushedRequestStore, pgPushedRequestStore, sqlitePushedRequestStore } from './pushed-request-store.js'
export type {
  DrizzlePushedRequestStore,
  DrizzlePushedRequestStoreOptions,
  PgPushedRequestStoreOptions,
  SqlitePushedRequestStoreOptions,
  StoredPushedRequest,
} from './pushed-request-store.js'
