import { generateToken, hashToken } from '@grantkit/core'
import { runPushedRequestStoreContractSuite } from '@grantkit/store-test-suite'
import type { Db } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWithMongo, openTestDatabase, skipReason, type TestDatabase } from './internal/test-database.js'
import { mongoStore } from './mongo-store.js'
import { mongoPushedRequestStore } from './pushed-request-store.js'

// The shared pushed request store contract on the server named by MONGODB_URI (FerretDB v1 in CI), over two
// clients with their own pools (two processes); expired requests go with the store's purgeExpired.
runPushedRequestStoreContractSuite(
  'mongoPushedRequestStore (MongoDB wire protocol, two clients)',
  async () => {
    const database = await openTestDatabase()
    const second = await database.secondClient()
    const store = mongoStore(database.db, { ttlIndexes: false })
    await store.ensureIndexes()
    const requests = database.db.collection<{ _id: string }>(store.collectionNames.pushedRequests)
    return {
      store: mongoPushedRequestStore(database.db),
      otherConnection: mongoPushedRequestStore(second.db(database.db.databaseName)),
      purgeExpired: (now, options) => store.purgeExpired(now, options),
      stored: async (uriHash) => (await requests.countDocuments({ _id: uriHash })) > 0,
      close: () => database.close(),
    }
  },
  { shared: true, skip: skipReason },
)

const T0 = Date.UTC(2030, 0, 1)

describe('mongoPushedRequestStore options', () => {
  it('throws a TypeError at set-up without a Db, or with collections the store would refuse', () => {
    expect(() => mongoPushedRequestStore({} as Db)).toThrow(/"db" must be a mongodb Db/)
    const db = { collection: () => ({}) } as unknown as Db
    expect(() => mongoPushedRequestStore(db, { collections: { pushedRequests: '' } })).toThrow(/"collections.pushedRequests" must be a non-empty string/)
  })
})

describeWithMongo('mongoPushedRequestStore documents', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await openTestDatabase()
    await mongoStore(database.db).ensureIndexes()
  })
  afterAll(async () => {
    await database?.close()
  })

  it('keeps one document per request: the hash as _id, never the request_uri; expiry a BSON date', async () => {
    const requestUri = `urn:ietf:params:oauth:request_uri:${generateToken(32)}`
    const store = mongoPushedRequestStore(database.db, { collectionPrefix: 'par_' })
    await store.savePushedRequest(hashToken(requestUri), { clientId: 'c', params: 'response_type=code', expiresAt: new Date(T0 + 60_000) }, new Date(T0))
    const docs = await database.db.collection('par_pushedRequests').find({}).toArray()
    expect(docs).toEqual([{ _id: hashToken(requestUri), clientId: 'c', params: 'response_type=code', expiresAt: new Date(T0 + 60_000) }])
    expect(JSON.stringify(await database.dumpRaw())).not.toContain(requestUri.slice(-43))
  })

  it('refuses an invalid date or a non-string field with a TypeError, writing nothing', async () => {
    const store = mongoPushedRequestStore(database.db, { collectionPrefix: 'bad_' })
    const hash = hashToken(generateToken())
    await expect(store.savePushedRequest(hash, { clientId: 'c', params: 'a=b', expiresAt: new Date(Number.NaN) }, new Date(T0))).rejects.toThrow(TypeError)
    await expect(store.savePushedRequest(hash, { clientId: 'c', params: 1, expiresAt: new Date(T0) } as never, new Date(T0))).rejects.toThrow(TypeError)
    await expect(store.findPushedRequest(hash, new Date('x'))).rejects.toThrow(TypeError)
    expect(await database.db.collection('bad_pushedRequests').countDocuments({})).toBe(0)
  })
})
