import { createHash } from 'node:crypto'
import { Param, sql, type Column, type Placeholder } from 'drizzle-orm'

/**
 * A named placeholder encoded by `column` (so a `Date` becomes epoch ms in
 * SQLite and an ISO string in PostgreSQL). drizzle encodes placeholders in
 * `set`/`values` but passes them raw in comparisons; wrapping them in a
 * `Param` makes both go through the column's encoder.
 */
export function param(name: string, column: Column): Param {
  return new Param(sql.placeholder(name), column)
}

/** A raw placeholder, for text columns that need no encoding. */
export function ph(name: string): Placeholder {
  return sql.placeholder(name)
}

/** Builds once, on first use (tables may not exist when the store is created). */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined
  return () => (value ??= build())
}

/**
 * A PostgreSQL prepared-statement name derived from the SQL text, so that
 * stores with different table prefixes never share a name on one connection.
 */
export function statementName(text: string): string {
  return `grantkit_${createHash('sha256').update(text).digest('hex').slice(0, 20)}`
}

/**
 * A value encoded for the driver by `column`, with SQL NULL kept as `null`
 * (drizzle's placeholder filling would hand `null` to the encoder).
 */
export function encode(column: Column, value: unknown): unknown {
  return value === null || value === undefined ? null : column.mapToDriverValue(value)
}
