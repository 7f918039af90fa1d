import type { UserRecord } from '@grantkit/core'
import type { Column, SQL, Table } from 'drizzle-orm'
import type { ClientRow, CodeRow, DeviceCodeRow, ReplayKeyRow, TokenRow } from './records.js'

/*
 * What the one SQL store body (sql-store.ts) needs from a dialect. drizzle
 * builds the same SQL for SQLite and PostgreSQL through the same calls
 * (`select().from().where()`, `update().set().where().returning()`, …) but
 * gives the two dialects unrelated TypeScript types, so the body is typed
 * against the calls both share (`SqlDatabase`), and each dialect hands its
 * database over once, in its shim (sqlite-store.ts, pg-store.ts).
 */

/** A drizzle table with rows of type `Row` and a column for each field of `Row`. */
export type SqlTable<Row> = Table & { readonly $inferSelect: Row } & { readonly [K in keyof Row]-?: Column }

/** The grantkit tables, as both `createSqliteTables` and `createPgTables` make them. */
export interface SqlTables {
  readonly clients: SqlTable<ClientRow>
  readonly authorizationCodes: SqlTable<CodeRow>
  readonly tokens: SqlTable<TokenRow>
  readonly replayKeys: SqlTable<ReplayKeyRow>
  readonly users: SqlTable<UserRecord>
  readonly deviceCodes: SqlTable<DeviceCodeRow>
}

/** A built statement: awaiting it runs it once, unprepared, and gives `Result`. */
export interface SqlQuery<Result> extends PromiseLike<Result> {
  toSQL(): { sql: string }
}

/** Values for the columns of a row, by field name (a value may be an SQL expression or a placeholder). */
export type SqlValues<Row> = { readonly [K in keyof Row]?: unknown }

/** A write that may return rows: all of them (`returning()`) or some columns. */
export interface SqlReturning<Row> extends SqlQuery<unknown> {
  returning(): SqlQuery<Row[]>
  returning(fields: Readonly<Record<string, Column>>): SqlQuery<unknown[]>
}

/** An `INSERT`, which may turn into an upsert. */
export interface SqlInsert<Row> extends SqlReturning<Row> {
  onConflictDoUpdate(config: { target: Column; set: SqlValues<Row>; setWhere?: SQL }): SqlReturning<Row>
}

/** The query-builder calls that drizzle's SQLite and PostgreSQL databases share, as the store body uses them. */
export interface SqlDatabase {
  select(): {
    from<Row>(table: SqlTable<Row>): {
      where(condition: SQL | undefined): SqlQuery<Row[]>
      orderBy(order: SQL): SqlQuery<Row[]>
    }
  }
  update<Row>(table: SqlTable<Row>): { set(values: SqlValues<Row>): { where(condition: SQL | undefined): SqlReturning<Row> } }
  insert<Row>(table: SqlTable<Row>): { values(values: SqlValues<Row> | readonly SqlValues<Row>[]): SqlInsert<Row> }
  delete<Row>(table: SqlTable<Row>): { where(condition: SQL | undefined): SqlReturning<Row> }
}

/** A prepared statement, run with its placeholder values. */
export interface SqlStatement<Result> {
  /** Runs it and gives what it returns (the rows, for a query or a write with `returning`). */
  all(values: Readonly<Record<string, unknown>>): Promise<Result>
  /** Runs a statement that returns nothing. */
  run(values: Readonly<Record<string, unknown>>): Promise<void>
}

/** How one SQL dialect runs the store body: everything in which SQLite and PostgreSQL differ. */
export interface SqlDialect {
  /** The public factory's name, for error messages (`sqliteStore`, `pgStore`). */
  readonly name: string
  readonly db: SqlDatabase
  readonly tables: SqlTables
  /** Prepares a statement once, for reuse on every call (the hot paths). */
  prepare<Result>(query: SqlQuery<Result>): SqlStatement<Result>
  /** The time `seconds` (an integer column) after `time` (a time column), in `time`'s storage (epoch ms, timestamptz). */
  plusSeconds(time: Column, seconds: Column): SQL
  /** `ORDER BY` for ids in byte order (as JavaScript compares them), whatever the collation. */
  byteOrder(column: Column): SQL
  /** Most rows of one token insert that is prepared (one statement per row count); a larger one is built per call. */
  readonly preparedTokenRows: number
  /**
   * Whether the token saves of one event-loop turn are grouped into one
   * multi-row insert (see group-commit.ts), at most `preparedTokenRows` rows
   * each; otherwise each `saveTokens` call inserts on its own.
   */
  readonly groupCommit: boolean
  /** Runs a built, unprepared statement (awaiting it), retrying as the dialect needs (SQLite: `SQLITE_BUSY`). */
  execute<T>(query: PromiseLike<T>): Promise<T>
  /** The number of rows a write without `RETURNING` changed, from what the driver answered. */
  changes(result: unknown): number
}
