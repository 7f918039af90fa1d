import { generateToken, hashToken } from '@grantkit/core'
import { runPushedRequestStoreContractSuite } from '@grantkit/store-test-suite'
import { expect, it } from 'vitest'
import { describeOverBoth, pgConnections, sqliteConnections, type TwoConnections } from './internal/shared-state-testing.js'
import { pgSkipReason } from './internal/testing.js'
import type { AnyPgDatabase } from './pg-store.js'
import { drizzlePushedRequestStore, pgPushedRequestStore, sqlitePushedRequestStore, type DrizzlePushedRequestStore } from './pushed-request-store.js'
import type { AnySqliteDatabase } from './sqlite-store.js'

type Db = AnySqliteDatabase | AnyPgDatabase

/** The contract suite's harness over two connections of one database. */
function harness(open: () => Promise<TwoConnections<Db>>, make: (db: Db) => DrizzlePushedRequestStore) {
  return async () => {
    const c = await open()
    const store = make(c.a)
    return {
      store,
      otherConnection: make(c.b),
      purgeExpired: (now: Date, options?: { limit?: number }) => store.purgeExpired(now, options),
      stored: async (uriHash: string) => (await c.query('SELECT uri_hash FROM grantkit_pushed_requests WHERE uri_hash = $1', [uriHash])).length > 0,
      close: () => c.close(),
    }
  }
}

runPushedRequestStoreContractSuite('sqlitePushedRequestStore (one file, two connections)', harness(sqliteConnections, (db) => sqlitePushedRequestStore(db as AnySqliteDatabase)), { shared: true })
runPushedRequestStoreContractSuite('pgPushedRequestStore (one schema, two pools)', harness(pgConnections, (db) => pgPushedRequestStore(db as AnyPgDatabase)), {
  shared: true,
  skip: pgSkipReason,
})

const T0 = Date.UTC(2030, 0, 1)
const uriHash = () => hashToken(`urn:ietf:params:oauth:request_uri:${generateToken(32)}`)

describeOverBoth('the pushed requests table over %s', (c) => {
  const count = async (): Promise<number> => Number((await c.query('SELECT count(*) AS n FROM grantkit_pushed_requests'))[0]?.['n'])

  it('stays bounded without a purge: each save deletes two expired requests', async () => {
    // An era of its own: only this test's rows have expired at its times.
    const era = T0 - 1000 * 86_400_000
    const store = drizzlePushedRequestStore(c.a)
    const before = await count()
    const old = Array.from({ length: 10 }, uriHash)
    for (const hash of old) await store.savePushedRequest(hash, { clientId: 'c', params: 'a=b', expiresAt: new Date(era + 1000) }, new Date(era))
    expect(await count()).toBe(before + 10)
    for (let i = 0; i < 5; i++) await store.savePushedRequest(uriHash(), { clientId: 'c', params: 'a=b', expiresAt: new Date(era + 300_000) }, new Date(era + 1000))
    expect(await count()).toBe(before + 5)
  })

  it('refuses an invalid date or a non-string field with a TypeError, writing nothing', async () => {
    const store = drizzlePushedRequestStore(c.a)
    const before = await count()
    const hash = uriHash()
    await expect(store.savePushedRequest(hash, { clientId: 'c', params: 'a=b', expiresAt: new Date(Number.NaN) }, new Date(T0))).rejects.toThrow(TypeError)
    await expect(store.savePushedRequest(hash, { clientId: 'c', params: 'a=b', expiresAt: new Date(T0) }, new Date('x'))).rejects.toThrow(TypeError)
    await expect(store.savePushedRequest(hash, { clientId: 7, params: 'a=b', expiresAt: new Date(T0) } as never, new Date(T0))).rejects.toThrow(TypeError)
    await expect(store.findPushedRequest(hash, new Date(Number.NaN))).rejects.toThrow(TypeError)
    await expect(store.purgeExpired(new Date(Number.NaN))).rejects.toThrow(TypeError)
    expect(await count()).toBe(before)
  })

  it('refuses a store without a drizzle database with a TypeError', () => {
    expect(() => drizzlePushedRequestStore({} as never)).toThrow(TypeError)
    expect(() => drizzlePushedRequestStore(c.a, null as never)).toThrow(expect.objectContaining({ code: 'ERR_GRANTKIT_CONFIG' }))
  })
})
