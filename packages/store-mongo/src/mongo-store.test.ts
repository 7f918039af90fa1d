import { generateToken, hashToken, type AuthorizationCodeRecord, type TokenRecord } from '@grantkit/core'
import type { Db, MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mongoStore, type MongoStore, type MongoStoreOptions } from './mongo-store.js'
import { describeWithMongo, openTestDatabase, type TestDatabase } from './internal/test-database.js'

const T0 = new Date('2030-01-01T00:00:00.123Z')
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000)
const RACERS = 50

function codeRecord(overrides: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord {
  return {
    codeHash: hashToken(generateToken()),
    clientId: 'client-1',
    userId: 'user-1',
    redirectUri: 'https://client.example/cb',
    scope: 'read',
    familyId: `family-${generateToken(8)}`,
    codeChallenge: null,
    codeChallengeMethod: null,
    createdAt: T0,
    expiresAt: at(60),
    consumedAt: null,
    ...overrides,
  }
}

function refreshRecord(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    tokenHash: hashToken(generateToken()),
    type: 'refresh_token',
    clientId: 'client-1',
    userId: 'user-1',
    scope: 'read',
    familyId: `family-${generateToken(8)}`,
    issuedAt: T0,
    expiresAt: at(86400),
    revokedAt: null,
    rotatedAt: null,
    ...overrides,
  }
}

async function indexesOf(db: Db, collection: string): Promise<Record<string, unknown>[]> {
  return (await db.collection(collection).listIndexes().toArray()) as Record<string, unknown>[]
}

async function isFerretDB(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 })
  return typeof info['ferretdbVersion'] === 'string'
}

describe('mongoStore options', () => {
  const db = { collection: () => ({}) } as unknown as Db

  it('names collections grantkit_<name> by default', () => {
    expect(mongoStore(db).collectionNames).toEqual({
      clients: 'grantkit_clients',
      codes: 'grantkit_codes',
      tokens: 'grantkit_tokens',
      replay: 'grantkit_replay',
      users: 'grantkit_users',
      claims: 'grantkit_claims',
    })
  })

  it('applies collectionPrefix, and takes names from collections as given', () => {
    const store = mongoStore(db, { collectionPrefix: 'oauth.', collections: { users: 'people', claims: 'locks' } })
    expect(store.collectionNames).toMatchObject({ clients: 'oauth.clients', tokens: 'oauth.tokens', users: 'people', claims: 'locks' })
  })

  it.each<[string, unknown, MongoStoreOptions | undefined, RegExp]>([
    ['db is not a Db', {}, undefined, /"db" must be a mongodb Db/],
    ['collectionPrefix is not a string', db, { collectionPrefix: 1 as unknown as string }, /"collectionPrefix" must be a string/],
    ['a collection name is empty', db, { collections: { codes: '' } }, /"collections.codes" must be a non-empty string/],
    ['a collection is unknown', db, { collections: { sessions: 'x' } as MongoStoreOptions['collections'] }, /unknown collection "sessions"/],
    ['two collections share a name', db, { collections: { codes: 'grantkit_tokens' } }, /every collection needs its own name/],
  ])('throws a TypeError at set-up when %s', (_case, givenDb, options, message) => {
    expect(() => mongoStore(givenDb as Db, options)).toThrow(TypeError)
    expect(() => mongoStore(givenDb as Db, options)).toThrow(message)
  })
})

describeWithMongo('mongoStore on a MongoDB server', () => {
  let database: TestDatabase
  let store: MongoStore
  let second: MongoClient
  let otherStore: MongoStore
  let connectionsCreated = 0

  beforeAll(async () => {
    database = await openTestDatabase()
    database.client.on('connectionCreated', () => connectionsCreated++)
    store = mongoStore(database.db)
    await store.ensureIndexes()
    second = await database.secondClient()
    otherStore = mongoStore(second.db(database.db.databaseName))
  })
  afterAll(async () => {
    await database?.close()
  })

  describe('ensureIndexes', () => {
    it('indexes username (unique), the tokens familyId and every expiresAt, and can run again', async () => {
      expect(await store.ensureIndexes()).toEqual({ ttlIndexes: false })
      const names = store.collectionNames
      expect(await indexesOf(database.db, names.users)).toContainEqual(expect.objectContaining({ key: { username: 1 }, unique: true }))
      expect(await indexesOf(database.db, names.tokens)).toContainEqual(expect.objectContaining({ key: { familyId: 1 } }))
      for (const collection of [names.codes, names.tokens, names.replay, names.claims]) {
        const expiry = (await indexesOf(database.db, collection)).find((i) => JSON.stringify(i['key']) === '{"expiresAt":1}')
        expect(expiry, collection).toBeDefined()
        expect(expiry?.['expireAfterSeconds'], collection).toBeUndefined()
      }
    })

    it('makes TTL indexes when ttlIndexes is set, and plain ones where the server has none (FerretDB v1)', async () => {
      const ttlStore = mongoStore(database.db, { collectionPrefix: 'ttl_', ttlIndexes: true })
      const ferret = await isFerretDB(database.db)
      expect(await ttlStore.ensureIndexes()).toEqual({ ttlIndexes: !ferret })
      const expiry = (await indexesOf(database.db, 'ttl_codes')).find((i) => JSON.stringify(i['key']) === '{"expiresAt":1}')
      expect(expiry?.['expireAfterSeconds']).toBe(ferret ? undefined : 0)
    })
  })

  describe('documents at rest', () => {
    it('keys codes by their hash, keeps BSON dates and nulls, and leaves absent fields out', async () => {
      const code = codeRecord({ redirectUri: null })
      await store.saveAuthorizationCode(code)
      const raw = await database.db.collection(store.collectionNames.codes).findOne({ _id: code.codeHash as never })
      expect(raw).toMatchObject({ _id: code.codeHash, redirectUri: null, consumedAt: null, codeChallenge: null })
      expect(raw?.['createdAt']).toBeInstanceOf(Date)
      expect((raw?.['expiresAt'] as Date).getTime()).toBe(at(60).getTime())
      expect(raw).not.toHaveProperty('extra')
      expect(raw).not.toHaveProperty('codeHash')
    })

    it('stores extension data as JSON text, so keys MongoDB restricts (dots, $) round-trip', async () => {
      const extra = { 'https://example.com/claims': { $role: 'admin' }, 'a.b': [1, null] }
      const code = codeRecord({ extra })
      await store.saveAuthorizationCode(code)
      expect((await store.consumeAuthorizationCode(code.codeHash, at(1)))?.code.extra).toEqual(extra)
    })

    it('reads a missing nullable field as null (documents written without it)', async () => {
      const hash = hashToken(generateToken())
      await database.db.collection(store.collectionNames.codes).insertOne({
        _id: hash as never, clientId: 'c', userId: 'u', scope: '', familyId: 'f', createdAt: T0, expiresAt: at(60),
      })
      const result = await store.consumeAuthorizationCode(hash, at(1))
      expect(result).toMatchObject({ consumed: true, code: { redirectUri: null, codeChallenge: null, codeChallengeMethod: null, consumedAt: null } })
      expect(result?.code).not.toHaveProperty('extra')
    })

    it('puts documents in the collections named by the options', async () => {
      const custom = mongoStore(database.db, { collectionPrefix: 'custom_', collections: { replay: 'jti_seen' } })
      await custom.markUsed('jti-1', at(60), at(0))
      await custom.saveTokens([refreshRecord()])
      const collections = (await database.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)
      expect(collections).toEqual(expect.arrayContaining(['jti_seen', 'custom_tokens']))
      expect(await database.db.collection('jti_seen').countDocuments({ _id: 'jti-1' as never })).toBe(1)
    })
  })

  describe('claims (one winner where conditional updates are not atomic)', () => {
    it('answers consumed:false when the code was already claimed, failing closed (RFC 6749 §4.1.2)', async () => {
      const code = codeRecord()
      await store.saveAuthorizationCode(code)
      await database.db.collection(store.collectionNames.claims).insertOne({ _id: `code:${code.codeHash}` as never, expiresAt: code.expiresAt })
      expect(await store.consumeAuthorizationCode(code.codeHash, at(1))).toMatchObject({ consumed: false })
    })

    it('answers rotated:false when the refresh token was already claimed (RFC 9700 §4.14.2)', async () => {
      const token = refreshRecord()
      await store.saveTokens([token])
      await database.db.collection(store.collectionNames.claims).insertOne({ _id: `refresh:${token.tokenHash}` as never, expiresAt: token.expiresAt })
      expect(await store.rotateRefreshToken(token.tokenHash, at(1))).toMatchObject({ rotated: false })
    })

    it('purges expired claims with the records they protect, without counting them', async () => {
      const isolated = mongoStore(database.db, { collectionPrefix: 'purge_' })
      const code = codeRecord({ expiresAt: at(10) })
      await isolated.saveAuthorizationCode(code)
      expect(await isolated.consumeAuthorizationCode(code.codeHash, at(1))).toMatchObject({ consumed: true })
      expect(await database.db.collection('purge_claims').countDocuments()).toBe(1)
      expect(await isolated.purgeExpired(at(10))).toBe(1)
      expect(await database.db.collection('purge_claims').countDocuments()).toBe(0)
      expect(await database.db.collection('purge_codes').countDocuments()).toBe(0)
    })
  })

  describe(`${RACERS} concurrent calls through two clients with pools of several connections`, () => {
    const split = <T>(task: (s: MongoStore) => Promise<T>): Promise<T[]> =>
      Promise.all(Array.from({ length: RACERS }, (_, i) => task(i % 2 === 0 ? store : otherStore)))

    it('consume one code: exactly one consumed:true (RFC 6749 §4.1.2)', async () => {
      const code = codeRecord()
      await store.saveAuthorizationCode(code)
      const results = await split((s) => s.consumeAuthorizationCode(code.codeHash, at(2)))
      expect(results.filter((r) => r?.consumed === true)).toHaveLength(1)
      expect(results.filter((r) => r?.consumed === false)).toHaveLength(RACERS - 1)
      expect(connectionsCreated).toBeGreaterThan(1)
    })

    it('rotate one refresh token: exactly one rotated:true (RFC 9700 §4.14.2)', async () => {
      const token = refreshRecord()
      await store.saveTokens([token])
      const results = await split((s) => s.rotateRefreshToken(token.tokenHash, at(3)))
      expect(results.filter((r) => r?.rotated === true)).toHaveLength(1)
      expect(results.filter((r) => r?.rotated === false)).toHaveLength(RACERS - 1)
    })

    it('mark one new key: exactly one true (RFC 7523 §3)', async () => {
      const key = `jti-${generateToken(8)}`
      const results = await split((s) => s.markUsed(key, at(60), at(0)))
      expect(results.filter(Boolean)).toHaveLength(1)
    })

    it('mark a key whose record expired: exactly one true replaces it', async () => {
      const key = `jti-${generateToken(8)}`
      expect(await store.markUsed(key, at(60), at(0))).toBe(true)
      const results = await split((s) => s.markUsed(key, at(200), at(100)))
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await store.markUsed(key, at(300), at(150))).toBe(false)
      expect(await store.markUsed(key, at(300), at(200))).toBe(true)
    })
  })
})
