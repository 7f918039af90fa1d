import {
  purgeLimit,
  refuseInvalidDates,
  storableThrottleKey,
  throttleDecision,
  throttleLimitOf,
  throttleNow,
  type CheckedThrottleLimits,
  type PurgeOptions,
  type PurgeableStore,
  type Throttle,
} from '@grantkit/core'
import { eq, lte, sql } from 'drizzle-orm'
import { lazy, param, ph } from './params.js'
import type { SharedStateDialect } from './shared-state-sql.js'
import type { SqlTable } from './sql-dialect.js'

/** A row of the throttle table. */
export interface ThrottleRow {
  key: string
  /** The times (epoch ms) of the key's allowed hits, at most its limit of them inside the window. */
  hits: number[]
  /** When the last of them leaves the window: the row may go then. */
  expiresAt: Date
}

/** Expired rows a hit that starts a key deletes on the way (more than the one row it adds). */
const EXPIRED_PER_NEW_KEY = 2

/** Numbers from the driver's array (PostgreSQL's `bigint[]` may come as strings). */
const times = (hits: unknown): number[] => (Array.isArray(hits) ? hits.map(Number) : [])

/**
 * The throttle over one SQL table, written once for both dialects. `hit` is
 * one `INSERT … ON CONFLICT (key) DO UPDATE SET hits = <the live hits + now>
 * WHERE <fewer live hits than the limit> RETURNING`: PostgreSQL takes the
 * row's lock and evaluates the condition on the row as the previous winner
 * left it, SQLite runs it under its one write lock, so of any number of
 * concurrent hits from any connections and processes exactly the limit
 * succeed. A refused hit matches the condition nowhere and writes nothing.
 */
export function sqlThrottle(dialect: SharedStateDialect, table: SqlTable<ThrottleRow>, limits: CheckedThrottleLimits): Throttle & PurgeableStore {
  const { db, prepare, name } = dialect
  const { windowMs } = limits

  const hit = lazy(() =>
    prepare(
      db
        .insert(table)
        .values({ key: ph('key'), hits: dialect.hitsOf(sql`${ph('now')}`), expiresAt: sql`${param('expiresAt', table.expiresAt)}` })
        .onConflictDoUpdate({
          target: table.key,
          set: {
            hits: dialect.keepAfterAndAdd(table.hits, sql`${ph('cutoff')}`, sql`${ph('now')}`),
            // The later of the two: a process whose clock is behind never shortens the row's life.
            expiresAt: sql`case when excluded.${sql.identifier(table.expiresAt.name)} > ${table.expiresAt} then excluded.${sql.identifier(table.expiresAt.name)} else ${table.expiresAt} end`,
          },
          setWhere: sql`${dialect.countAfter(table.hits, sql`${ph('cutoff')}`)} < ${ph('limit')}`,
        })
        .returning({ hits: table.hits }),
    ),
  )
  const find = lazy(() => prepare(db.select().from(table).where(eq(table.key, ph('key')))))
  const reset = lazy(() => prepare(db.delete(table).where(eq(table.key, ph('key')))))
  // The oldest few expired rows, by the expires_at index; PostgreSQL skips rows a concurrent delete holds.
  const dropExpired = lazy(() =>
    prepare(
      db
        .delete(table)
        .where(
          sql`${table.key} in (select ${table.key} from ${table} where ${lte(table.expiresAt, param('now', table.expiresAt))} order by ${table.expiresAt} limit ${sql.raw(String(EXPIRED_PER_NEW_KEY))}${dialect.skipLocked})`,
        ),
    ),
  )

  const stored = async (key: string): Promise<number[]> => {
    const [row] = await find().all({ key })
    return row === undefined ? [] : times(row.hits)
  }

  return {
    async hit(key, now) {
      const k = storableThrottleKey(key, `${name}.hit`)
      const at = throttleNow(`${name}.hit`, now)
      const limit = throttleLimitOf(limits, k)
      const rows = (await hit().all({ key: k, now: at, cutoff: at - windowMs, limit, expiresAt: new Date(at + windowMs) })) as { hits: unknown }[]
      const [row] = rows
      if (row === undefined) return throttleDecision(await stored(k), 0, windowMs, at)
      // A new key (or one whose hits had all left the window): bound the table by deleting expired rows as it grows.
      if (times(row.hits).length === 1) await dropExpired().run({ now: new Date(at) })
      return { allowed: true, retryAfter: 0 }
    },
    async peek(key, now) {
      const k = storableThrottleKey(key, `${name}.peek`)
      const at = throttleNow(`${name}.peek`, now)
      return throttleDecision(await stored(k), throttleLimitOf(limits, k), windowMs, at)
    },
    async reset(key) {
      await reset().run({ key: storableThrottleKey(key, `${name}.reset`) })
    },
    async purgeExpired(now: Date, options?: PurgeOptions) {
      refuseInvalidDates(`${name}.purgeExpired`, { now })
      const limit = purgeLimit(`${name}.purgeExpired`, options)
      const expired = lte(table.expiresAt, now)
      const condition = limit === Number.POSITIVE_INFINITY ? expired : sql`${table.key} in (select ${table.key} from ${table} where ${expired} limit ${limit})`
      return dialect.changes(await dialect.execute(db.delete(table).where(condition)))
    },
  }
}
