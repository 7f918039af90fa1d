import { randomUUID } from 'node:crypto'
import { runThrottleContractSuite } from '@grantkit/store-test-suite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateSQLiteDrizzleJson, generateSQLiteMigration } from 'drizzle-kit/api'
import { describeOverBoth, pgConnections, sqliteConnections, type TwoConnections } from './internal/shared-state-testing.js'
import { pgSkipReason } from './internal/testing.js'
import { createSqliteTables } from './sqlite-schema.js'
import { drizzleThrottle, pgThrottle, sqliteThrottle, type DrizzleThrottle } from './throttle.js'
import type { AnyPgDatabase } from './pg-store.js'
import type { AnySqliteDatabase } from './sqlite-store.js'

type Db = AnySqliteDatabase | AnyPgDatabase

/** The contract suite's harness over two connections of one database. */
function harness(open: () => Promise<TwoConnections<Db>>, make: (db: Db, limits: object) => DrizzleThrottle) {
  return async () => {
    const c = await open()
    const a = (limits: object) => make(c.a, limits)
    return {
      throttle: a,
      otherConnection: (limits: object) => make(c.b, limits),
      purgeExpired: (now: Date, options?: { limit?: number }) => a({}).purgeExpired(now, options),
      stored: async (key: string) => (await c.query('SELECT key FROM grantkit_throttle WHERE key = $1', [key])).length > 0,
      close: () => c.close(),
    }
  }
}

runThrottleContractSuite('sqliteThrottle (one file, two connections)', harness(sqliteConnections, (db, o) => sqliteThrottle(db as AnySqliteDatabase, o)), { shared: true })
runThrottleContractSuite('pgThrottle (one schema, two pools)', harness(pgConnections, (db, o) => pgThrottle(db as AnyPgDatabase, o)), { shared: true, skip: pgSkipReason })

const T0 = Date.UTC(2030, 0, 1)

describeOverBoth('the throttle table over %s', (c) => {
  const throttle = (limits: object = {}) => drizzleThrottle(c.a, limits)
  const hitsOf = async (key: string): Promise<number[]> => {
    const [row] = await c.query('SELECT hits FROM grantkit_throttle WHERE key = $1', [key])
    if (row === undefined) return []
    const hits = typeof row['hits'] === 'string' ? (JSON.parse(row['hits']) as unknown[]) : (row['hits'] as unknown[])
    return hits.map(Number)
  }
  const count = async (): Promise<number> => Number((await c.query('SELECT count(*) AS n FROM grantkit_throttle'))[0]?.['n'])

  it('keeps one row per key with at most `limit` hit times, whole milliseconds, however many hits are refused', async () => {
    const t = throttle({ limit: 3 })
    const key = `client:${randomUUID()}`
    for (let i = 0; i < 40; i++) await t.hit(key, T0 + i)
    expect(await hitsOf(key)).toEqual([T0, T0 + 1, T0 + 2])
    // A fractional clock reading is stored as whole milliseconds.
    const other = `user:${randomUUID()}`
    await t.hit(other, T0 + 0.75)
    expect(await hitsOf(other)).toEqual([T0])
  })

  it('stores a key longer than 128 characters as <prefix>:#<SHA-256>, never the key itself', async () => {
    const t = throttle({ limit: 1 })
    const long = `client:${'z'.repeat(5000)}${randomUUID()}`
    await t.hit(long, T0)
    const rows = await c.query('SELECT key FROM grantkit_throttle WHERE key LIKE $1', ['client:#%'])
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(String(row['key'])).toMatch(/^client:#[A-Za-z0-9_-]{43}$/)
    expect((await c.query('SELECT key FROM grantkit_throttle WHERE length(key) > 128')).length).toBe(0)
  })

  it('bounds the table under a flood of distinct keys without a purge: each new key deletes two expired rows', async () => {
    // An era of its own: only this test's rows have expired at its times.
    const era = T0 - 1000 * 86_400_000
    const t = throttle({ limit: 1, window: 60 })
    const before = await count()
    const flood = Array.from({ length: 40 }, () => `client:${randomUUID()}`)
    for (const key of flood) await t.hit(key, era)
    expect(await count()).toBe(before + 40)
    // One window later, 20 new keys: each deletes two of the expired ones on the way.
    for (let i = 0; i < 20; i++) await t.hit(`client:${randomUUID()}`, era + 60_000)
    for (const key of flood) expect(await hitsOf(key)).toEqual([])
    expect(await count()).toBe(before + 20)
  })

  it('refuses a throttle without a drizzle database, and options that are not an object, with a TypeError', () => {
    expect(() => drizzleThrottle({} as never)).toThrow(TypeError)
    expect(() => drizzleThrottle(c.a, 'limit=3' as never)).toThrow(expect.objectContaining({ code: 'ERR_GRANTKIT_CONFIG' }))
    expect(() => sqliteThrottle(c.a as AnySqliteDatabase, { busyRetryMillis: -1 })).toThrow(TypeError)
  })
})

describe('sqliteThrottle under another connection\'s write lock', () => {
  let c: TwoConnections<AnySqliteDatabase>
  beforeAll(async () => {
    c = await sqliteConnections()
  })
  afterAll(async () => {
    await c?.close()
  })

  it('waits for the lock (SQLITE_BUSY is retried off the event loop) and then counts the hit', async () => {
    const t = sqliteThrottle(c.a, { limit: 1 })
    const key = `user:${randomUUID()}`
    const other = (c.b as unknown as { $client: { exec(sql: string): void } }).$client
    other.exec('BEGIN IMMEDIATE')
    const hit = t.hit(key, T0)
    let settled = false
    void hit.finally(() => {
      settled = true
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(settled).toBe(false)
    other.exec('COMMIT')
    expect(await hit).toEqual({ allowed: true, retryAfter: 0 })
    expect((await t.peek(key, T0)).allowed).toBe(false)
  })
})

describe('drizzleThrottle with a table prefix, tables generated by drizzle-kit from createSqliteTables', () => {
  it('counts in the prefixed table only', async () => {
    const c = await sqliteConnections()
    try {
      const statements = await generateSQLiteMigration(await generateSQLiteDrizzleJson({}), await generateSQLiteDrizzleJson(createSqliteTables({ tablePrefix: 'acme_' })))
      for (const statement of statements) (c.a as unknown as { $client: { exec(sql: string): void } }).$client.exec(statement)
      const t = drizzleThrottle(c.a, { tablePrefix: 'acme_', limit: 1 })
      expect((await t.hit('client:x', T0)).allowed).toBe(true)
      expect((await t.hit('client:x', T0)).allowed).toBe(false)
      expect(await c.query('SELECT key FROM acme_throttle')).toEqual([{ key: 'client:x' }])
      expect(await c.query('SELECT key FROM grantkit_throttle')).toEqual([])
    } finally {
      await c.close()
    }
  })
})
