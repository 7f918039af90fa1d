import { describe, expect, it } from 'vitest'
import { connectMongo, databaseNameFromUri } from './connect-mongo.js'
import { describeWithMongo, freshDatabaseUri, mongoUri } from './internal/test-database.js'

describe('databaseNameFromUri', () => {
  it.each<[string, string | null]>([
    ['mongodb://127.0.0.1:27017/oauth', 'oauth'],
    ['mongodb://user:p%40ss@db1:27017,db2:27017/oauth?replicaSet=rs0', 'oauth'],
    ['mongodb+srv://cluster0.example.net/grantkit_prod?retryWrites=true', 'grantkit_prod'],
    ['mongodb://127.0.0.1:27017/my%20db', 'my db'],
    ['mongodb://127.0.0.1:27017/', null],
    ['mongodb://127.0.0.1:27017', null],
    ['mongodb://127.0.0.1:27017/?authSource=admin', null],
    ['postgres://127.0.0.1/oauth', null],
  ])('reads %s as %s', (uri, name) => {
    expect(databaseNameFromUri(uri)).toBe(name)
  })
})

describe('connectMongo', () => {
  it.each([
    ['a URI that is not mongodb://', 'postgres://127.0.0.1/oauth', /must be a mongodb:\/\/ or mongodb\+srv:\/\/ connection string/],
    ['a URI without a database name', 'mongodb://127.0.0.1:27017/?authSource=admin', /must name the database in its path/],
  ])('rejects %s with a TypeError before connecting', async (_case, uri, message) => {
    await expect(connectMongo(uri)).rejects.toThrow(TypeError)
    await expect(connectMongo(uri)).rejects.toThrow(message)
  })
})

describeWithMongo('connectMongo on a MongoDB server', () => {
  it('opens the database named in the URI, creates the indexes and gives a working store', async () => {
    const uri = freshDatabaseUri(mongoUri as string)
    const connection = await connectMongo(uri, { collectionPrefix: 'app_', clientOptions: { maxPoolSize: 4 } })
    try {
      expect(connection.db.databaseName).toBe(databaseNameFromUri(uri))
      const indexes = await connection.db.collection('app_users').listIndexes().toArray()
      expect(indexes).toContainEqual(expect.objectContaining({ key: { username: 1 }, unique: true }))
      // TTL indexes by default, where the server has them (FerretDB v1 has none: plain indexes, and the answer says so).
      const ferret = typeof (await connection.db.admin().command({ buildInfo: 1 }))['ferretdbVersion'] === 'string'
      expect(connection.indexes).toEqual({ ttlIndexes: !ferret })
      const expiry = (await connection.db.collection('app_tokens').listIndexes().toArray()).find((i) => JSON.stringify(i['key']) === '{"expiresAt":1}')
      expect(expiry?.['expireAfterSeconds']).toBe(ferret ? undefined : 0)
      expect(await connection.store.markUsed('jti-connect', new Date(Date.now() + 60_000), new Date())).toBe(true)
      expect(await connection.store.markUsed('jti-connect', new Date(Date.now() + 60_000), new Date())).toBe(false)
    } finally {
      await connection.db.dropDatabase()
      await connection.close()
    }
  })
})
