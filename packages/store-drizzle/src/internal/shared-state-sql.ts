import { sql, type Column, type SQL } from 'drizzle-orm'
import { statementName } from './params.js'
import { surfacingPgErrors } from './pg-errors.js'
import type { SqlDatabase, SqlQuery, SqlStatement } from './sql-dialect.js'

/*
 * How the throttle and the pushed request store (sql-throttle.ts,
 * sql-pushed-requests.ts) run their statements on each dialect. They keep
 * state that several processes share, next to the store's tables but apart
 * from the store object, so they carry their own small dialect: statement
 * preparation, SQLITE_BUSY retries, PostgreSQL error surfacing, and the two
 * ways of keeping a list of hit times in a column (a JSON array in SQLite, a
 * `bigint[]` in PostgreSQL).
 */

/** What the shared-state bodies need from a dialect. */
export interface SharedStateDialect {
  /** The public factory's name, for error messages. */
  readonly name: string
  readonly db: SqlDatabase
  /** Prepares a statement once, for reuse. */
  prepare<Result>(query: SqlQuery<Result>): SqlStatement<Result>
  /** Runs a built, unprepared statement. */
  execute<T>(query: PromiseLike<T>): Promise<T>
  /** The number of rows a write without `RETURNING` changed. */
  changes(result: unknown): number
  /** A list holding one time, `now` (epoch ms). */
  hitsOf(now: SQL): SQL
  /** How many times of the list `hits` are greater than `cutoff`. */
  countAfter(hits: Column, cutoff: SQL): SQL
  /** The times of `hits` greater than `cutoff`, plus `now`. */
  keepAfterAndAdd(hits: Column, cutoff: SQL, now: SQL): SQL
  /** Appended to a `SELECT` of rows about to be deleted: PostgreSQL skips rows another transaction holds. */
  readonly skipLocked: SQL
}

/** Whether an error is SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes). */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
}

/**
 * Runs `run` again while it fails with `SQLITE_BUSY`, up to `budget`
 * milliseconds, waiting 2, 4, … up to 50 ms between tries on a timer (the
 * event loop serves other requests meanwhile), as `sqliteStore` does. A busy
 * statement did nothing, so a retry never applies a write twice.
 */
async function retryBusy<T>(run: () => T | PromiseLike<T>, budget: number): Promise<T> {
  const start = Date.now()
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      return await run()
    } catch (error) {
      if (!isBusy(error) || Date.now() - start + wait > budget) throw error
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}

/** A drizzle SQLite prepared query; `.all()`/`.run()` return a value (better-sqlite3) or a promise (async drivers). */
interface SqlitePrepared {
  all(values: Record<string, unknown>): unknown
  run(values: Record<string, unknown>): unknown
}

/** The SQLite dialect: hit times are a JSON array (`json_each`, `json_group_array`). */
export function sqliteSharedState(name: string, db: unknown, busyRetryMillis: number | undefined): SharedStateDialect {
  const budget = busyRetryMillis ?? 5000
  if (!Number.isSafeInteger(budget) || budget < 0) throw new TypeError(`${name}: "busyRetryMillis" must be a non-negative integer`)
  return {
    name,
    db: db as SqlDatabase,
    prepare(query) {
      const statement = (query as unknown as { prepare(): SqlitePrepared }).prepare()
      return {
        all: (values) => retryBusy(() => statement.all(values), budget) as never,
        run: async (values) => void (await retryBusy(() => statement.run(values), budget)),
      }
    },
    execute: (query) => retryBusy(() => query, budget),
    changes: (result) => Number((result as { changes?: number }).changes ?? 0),
    // better-sqlite3 binds a JavaScript number as a REAL: cast, so that the array holds integers.
    hitsOf: (now) => sql`json_array(cast(${now} as integer))`,
    countAfter: (hits, cutoff) => sql`(select count(*) from json_each(${hits}) where value > ${cutoff})`,
    keepAfterAndAdd: (hits, cutoff, now) =>
      sql`(select json_group_array(value) from (select value from json_each(${hits}) where value > ${cutoff} union all select cast(${now} as integer)))`,
    skipLocked: sql``,
  }
}

/** A query of drizzle's PostgreSQL builder, prepared under a name. */
interface PgPreparable {
  prepare(name: string): { execute(values: Record<string, unknown>): Promise<unknown> }
}

/** The PostgreSQL dialect: hit times are a `bigint[]` (`unnest`, `array(...)`). */
export function pgSharedState(name: string, db: unknown): SharedStateDialect {
  return {
    name,
    db: db as SqlDatabase,
    prepare(query) {
      // Named after the SQL text, as pgStore's statements are.
      const statement = (query as unknown as PgPreparable).prepare(statementName(query.toSQL().sql))
      return {
        all: (values) => surfacingPgErrors(() => statement.execute(values)) as never,
        run: async (values) => void (await surfacingPgErrors(() => statement.execute(values))),
      }
    },
    execute: (query) => surfacingPgErrors(() => query),
    changes: (result) => Number((result as { rowCount?: number | null }).rowCount ?? 0),
    hitsOf: (now) => sql`array[${now}::bigint]`,
    countAfter: (hits, cutoff) => sql`(select count(*) from unnest(${hits}) as h where h > ${cutoff}::bigint)`,
    keepAfterAndAdd: (hits, cutoff, now) => sql`(array(select h from unnest(${hits}) as h where h > ${cutoff}::bigint) || ${now}::bigint)`,
    skipLocked: sql` for update skip locked`,
  }
}
