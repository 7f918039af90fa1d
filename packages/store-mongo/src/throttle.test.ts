import { randomUUID } from 'node:crypto'
import { runThrottleContractSuite } from '@grantkit/store-test-suite'
import type { Db, MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWithMongo, openTestDatabase, skipReason, type TestDatabase } from './internal/test-database.js'
import { mongoStore } from './mongo-store.js'
import { mongoThrottle } from './throttle.js'

// The shared throttle contract on the server named by MONGODB_URI (FerretDB v1 in CI), over two clients with
// their own pools (two processes), in a fresh database; expired slots go with the store's purgeExpired.
runThrottleContractSuite(
  'mongoThrottle (MongoDB wire protocol, two clients)',
  async () => {
    const database = await openTestDatabase()
    const second = await database.secondClient()
    // Plain indexes: a TTL monitor (MongoDB) deleting expired slots meanwhile would change the purge counts.
    const store = mongoStore(database.db, { ttlIndexes: false })
    await store.ensureIndexes()
    const slots = database.db.collection(store.collectionNames.throttle)
    return {
      throttle: (limits) => mongoThrottle(database.db, limits),
      otherConnection: (limits) => mongoThrottle(second.db(database.db.databaseName), limits),
      purgeExpired: (now, options) => store.purgeExpired(now, options),
      stored: async (key) => (await slots.countDocuments({ key })) > 0,
      close: () => database.close(),
    }
  },
  { shared: true, skip: skipReason },
)

const T0 = Date.UTC(2030, 0, 1)

describe('mongoThrottle options', () => {
  const db = { collection: () => ({}) } as unknown as Db
  it.each([
    ['db is not a Db', {}, {}, /"db" must be a mongodb Db/],
    ['limit is 0', db, { limit: 0 }, /"limit" must be an integer/],
    ['a collection is unknown', db, { collections: { sessions: 'x' } }, /mongoThrottle: unknown collection "sessions"/],
  ])('throws a TypeError at set-up when %s', (_, givenDb, options, message) => {
    expect(() => mongoThrottle(givenDb as Db, options as never)).toThrow(TypeError)
    expect(() => mongoThrottle(givenDb as Db, options as never)).toThrow(message)
  })
})

describeWithMongo('mongoThrottle slots', () => {
  let database: TestDatabase
  let second: MongoClient
  beforeAll(async () => {
    database = await openTestDatabase()
    second = await database.secondClient()
    await mongoStore(database.db).ensureIndexes()
  })
  afterAll(async () => {
    await database?.close()
  })
  const slots = () => database.db.collection<{ _id: string; key: string; slot: number; expiresAt: Date }>('grantkit_throttle')

  it('keeps at most `limit` slot documents per key, however many hits are refused, and takes expired ones over', async () => {
    const throttle = mongoThrottle(database.db, { limit: 3, window: 60 })
    const key = `client:${randomUUID()}`
    for (let i = 0; i < 30; i++) await throttle.hit(key, T0 + i)
    const held = await slots().find({ key }).sort({ slot: 1 }).toArray()
    // Slots are taken from a random free one on, so which hit holds which slot is not fixed.
    expect(held.map((d) => d._id)).toEqual([0, 1, 2].map((slot) => `${slot}:${key}`))
    expect(held.map((d) => d.expiresAt.getTime()).sort((x, y) => x - y)).toEqual([T0 + 60_000, T0 + 60_001, T0 + 60_002])
    // A window later the same three slots are reused, not added to.
    for (let i = 0; i < 30; i++) await throttle.hit(key, T0 + 60_002 + i)
    expect(await slots().countDocuments({ key })).toBe(3)
  })

  it('stores a key longer than 128 characters as <prefix>:#<SHA-256>, never the key itself', async () => {
    const throttle = mongoThrottle(database.db, { limit: 1 })
    const long = `user:${'z'.repeat(5000)}${randomUUID()}`
    await throttle.hit(long, T0)
    const keys = (await slots().find({ key: /^user:#/ }).toArray()).map((d) => d.key)
    expect(keys.length).toBeGreaterThan(0)
    for (const key of keys) expect(key).toMatch(/^user:#[A-Za-z0-9_-]{43}$/)
  })

  it('of 60 concurrent hits from two clients retaking one key\'s expired slots, exactly `limit` win (one claim per slot generation)', async () => {
    const a = mongoThrottle(database.db, { limit: 4, window: 10 })
    const b = mongoThrottle(second.db(database.db.databaseName), { limit: 4, window: 10 })
    const key = `client:${randomUUID()}`
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).hit(key, T0 + round * 10_000)))
      expect(results.filter((r) => r.allowed)).toHaveLength(4)
    }
    expect(await slots().countDocuments({ key })).toBe(4)
  })
})
