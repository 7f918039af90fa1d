import { generateToken, hashToken, storeHasCapability, type AuthorizationCodeRecord, type DeviceCodeRecord, type TokenRecord } from '@grantkit/core'
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

function deviceRecord(overrides: Partial<DeviceCodeRecord> = {}): DeviceCodeRecord {
  return {
    deviceCodeHash: hashToken(generateToken()),
    userCodeHash: hashToken(generateToken()),
    clientId: 'client-1',
    scope: 'read',
    status: 'pending',
    userId: null,
    familyId: `family-${generateToken(8)}`,
    interval: 5,
    lastPolledAt: null,
    createdAt: T0,
    expiresAt: at(600),
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
      devices: 'grantkit_devices',
      decisions: 'grantkit_decisions',
      throttle: 'grantkit_throttle',
      pushedRequests: 'grantkit_pushedRequests',
    })
  })

  it('has every store capability, device authorizations (RFC 8628) included, so the contract suite runs them all', () => {
    for (const capability of ['clients', 'authorizationCodes', 'tokens', 'refreshRotation', 'replay', 'users', 'purge', 'deviceCodes'] as const) {
      expect(storeHasCapability(mongoStore(db), capability)).toBe(true)
    }
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
    ['ttlIndexes is not a boolean', db, { ttlIndexes: 'yes' as unknown as boolean }, /"ttlIndexes" must be a boolean/],
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
    /** The index on exactly `{ expiresAt: 1 }` of `collection` (there is never more than one). */
    const expiryIndexes = async (collection: string) => (await indexesOf(database.db, collection)).filter((i) => JSON.stringify(i['key']) === '{"expiresAt":1}')

    it('indexes username and userCodeHash (unique), the tokens familyId, the throttle slots key and every expiresAt (TTL where the server has them), and can run again', async () => {
      const ferret = await isFerretDB(database.db)
      // Made in beforeAll already: this second run changes nothing.
      expect(await store.ensureIndexes()).toEqual({ ttlIndexes: !ferret })
      const names = store.collectionNames
      expect(await indexesOf(database.db, names.users)).toContainEqual(expect.objectContaining({ key: { username: 1 }, unique: true }))
      expect(await indexesOf(database.db, names.devices)).toContainEqual(expect.objectContaining({ key: { userCodeHash: 1 }, unique: true }))
      expect(await indexesOf(database.db, names.tokens)).toContainEqual(expect.objectContaining({ key: { familyId: 1 } }))
      expect(await indexesOf(database.db, names.throttle)).toContainEqual(expect.objectContaining({ key: { key: 1 } }))
      for (const collection of [names.codes, names.tokens, names.replay, names.claims, names.devices, names.decisions, names.throttle, names.pushedRequests]) {
        const expiry = await expiryIndexes(collection)
        expect(expiry, collection).toHaveLength(1)
        // FerretDB v1 has no TTL indexes: a plain index, and purgeExpired does the cleanup.
        expect(expiry[0]?.['expireAfterSeconds'], collection).toBe(ferret ? undefined : 0)
      }
    })

    it('makes plain expiresAt indexes with ttlIndexes: false', async () => {
      const plain = mongoStore(database.db, { collectionPrefix: 'plain_', ttlIndexes: false })
      expect(await plain.ensureIndexes()).toEqual({ ttlIndexes: false })
      for (const collection of Object.values(plain.collectionNames).filter((name) => !/_(clients|users)$/.test(name))) {
        const expiry = await expiryIndexes(collection)
        expect(expiry, collection).toHaveLength(1)
        expect(expiry[0]?.['expireAfterSeconds'], collection).toBeUndefined()
      }
    })

    it('turns a plain expiresAt index made earlier into a TTL index in place where the server allows it, keeps it plain where not (FerretDB v1), and never weakens a TTL index', async () => {
      const ferret = await isFerretDB(database.db)
      const before = mongoStore(database.db, { collectionPrefix: 'upgrade_', ttlIndexes: false })
      expect(await before.ensureIndexes()).toEqual({ ttlIndexes: false })
      // The same collections, now with TTL asked for: MongoDB 5.1+ converts (collMod), FerretDB v1 answers NotImplemented.
      const after = mongoStore(database.db, { collectionPrefix: 'upgrade_' })
      expect(await after.ensureIndexes()).toEqual({ ttlIndexes: !ferret })
      for (const collection of ['upgrade_codes', 'upgrade_tokens', 'upgrade_replay', 'upgrade_devices']) {
        const expiry = await expiryIndexes(collection)
        expect(expiry, collection).toHaveLength(1)
        expect(expiry[0]?.['expireAfterSeconds'], collection).toBe(ferret ? undefined : 0)
      }
      // Asking for plain indexes again keeps what is there, and says so.
      expect(await before.ensureIndexes()).toEqual({ ttlIndexes: !ferret })
      expect((await expiryIndexes('upgrade_tokens'))[0]?.['expireAfterSeconds']).toBe(ferret ? undefined : 0)
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

  describe('device authorizations (RFC 8628): decisions apart from the polled document', () => {
    const raw = (collection: string, id: string) => database.db.collection(collection).findOne({ _id: id as never })

    it('keys the device document by the device code hash, and writes decide and redeem to its decision document only', async () => {
      const record = deviceRecord({ extra: { resource: 'https://api.example/' } })
      await store.saveDeviceCode(record)
      const saved = await raw(store.collectionNames.devices, record.deviceCodeHash)
      expect(saved).toMatchObject({ _id: record.deviceCodeHash, userCodeHash: record.userCodeHash, status: 'pending', userId: null, lastPolledAt: null, extra: '{"resource":"https://api.example/"}' })
      expect(await store.decideDeviceCode(record.userCodeHash, { approved: true, userId: 'user-1', scope: '' }, at(1))).toMatchObject({ status: 'approved', userId: 'user-1', scope: '' })
      expect(await store.redeemDeviceCode(record.deviceCodeHash, at(2))).toMatchObject({ status: 'approved', userId: 'user-1' })
      expect(await raw(store.collectionNames.devices, record.deviceCodeHash)).toEqual(saved)
      expect(await raw(store.collectionNames.decisions, record.deviceCodeHash)).toMatchObject({ status: 'redeemed', userId: 'user-1', scope: '', expiresAt: record.expiresAt, decidedAt: at(1) })
    })

    it('redeems an authorization saved as approved, marking it redeemed once', async () => {
      const record = deviceRecord({ status: 'approved', userId: 'user-2' })
      await store.saveDeviceCode(record)
      expect(await store.redeemDeviceCode(record.deviceCodeHash, at(1))).toEqual(record)
      expect(await store.redeemDeviceCode(record.deviceCodeHash, at(2))).toBeNull()
      expect(await store.findDeviceCodeByUserCode(record.userCodeHash, at(3))).toEqual({ ...record, status: 'redeemed' })
    })

    it('answers null to a redemption already claimed, failing closed', async () => {
      const record = deviceRecord()
      await store.saveDeviceCode(record)
      await store.decideDeviceCode(record.userCodeHash, { approved: true, userId: 'user-1' }, at(1))
      await database.db.collection(store.collectionNames.claims).insertOne({ _id: `device:${record.deviceCodeHash}` as never, expiresAt: record.expiresAt })
      expect(await store.redeemDeviceCode(record.deviceCodeHash, at(2))).toBeNull()
    })

    it('keeps a decision made while polls of the same device code run, in every one of 6 rounds', async () => {
      // FerretDB v1 writes whole documents: a poll that read the document before a decision and
      // wrote after it would put `pending` back. The decision lives in its own document instead.
      for (let round = 0; round < 6; round++) {
        const record = deviceRecord()
        await store.saveDeviceCode(record)
        const poll = (i: number) => (i % 2 === 0 ? store : otherStore).pollDeviceCode(record.deviceCodeHash, at(10 + round))
        const [decided] = await Promise.all([
          store.decideDeviceCode(record.userCodeHash, { approved: true, userId: `user-${round}` }, at(10)),
          ...Array.from({ length: 8 }, (_, i) => poll(i)),
        ])
        expect(decided).toMatchObject({ status: 'approved' })
        expect(await store.findDeviceCodeByUserCode(record.userCodeHash, at(100))).toMatchObject({ status: 'approved', userId: `user-${round}` })
        expect((await store.pollDeviceCode(record.deviceCodeHash, at(200)))?.record).toMatchObject({ status: 'approved', userId: `user-${round}` })
      }
    })

    it('purges expired device documents with their decisions, counting each authorization once', async () => {
      const isolated = mongoStore(database.db, { collectionPrefix: 'purge_device_' })
      const record = deviceRecord({ expiresAt: at(10) })
      await isolated.saveDeviceCode(record)
      await isolated.decideDeviceCode(record.userCodeHash, { approved: false }, at(1))
      expect(await isolated.purgeExpired(at(10))).toBe(1)
      expect(await database.db.collection('purge_device_devices').countDocuments()).toBe(0)
      expect(await database.db.collection('purge_device_decisions').countDocuments()).toBe(0)
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

    it('decide one user code: exactly one decision is stored (RFC 8628 §3.3)', async () => {
      const record = deviceRecord()
      await store.saveDeviceCode(record)
      const results = await split((s) => s.decideDeviceCode(record.userCodeHash, { approved: true, userId: `user-${generateToken(6)}` }, at(1)))
      const winners = results.filter((r) => r !== null)
      expect(winners).toHaveLength(1)
      expect(await store.findDeviceCodeByUserCode(record.userCodeHash, at(2))).toEqual(winners[0])
    })

    it('redeem one approved device code: exactly one gets the record (RFC 8628 §3.5)', async () => {
      const record = deviceRecord()
      await store.saveDeviceCode(record)
      await store.decideDeviceCode(record.userCodeHash, { approved: true, userId: 'user-1' }, at(1))
      const results = await split((s) => s.redeemDeviceCode(record.deviceCodeHash, at(2)))
      expect(results.filter((r) => r !== null)).toHaveLength(1)
      expect((await store.findDeviceCodeByUserCode(record.userCodeHash, at(3)))?.status).toBe('redeemed')
    })

    it('poll one device code too soon: every poll answers slow_down, and on MongoDB none of the +5 is lost (RFC 8628 §3.5)', async () => {
      const record = deviceRecord()
      await store.saveDeviceCode(record)
      await store.pollDeviceCode(record.deviceCodeHash, at(10))
      const results = await split((s) => s.pollDeviceCode(record.deviceCodeHash, at(11)))
      expect(results.every((r) => r?.slowDown === true && r.record.lastPolledAt?.getTime() === at(11).getTime())).toBe(true)
      const interval = (await store.findDeviceCodeByUserCode(record.userCodeHash, at(12)))?.interval
      // FerretDB v1: a compare-and-set that two polls pass at once loses one increment (README).
      if (await isFerretDB(database.db)) expect(interval).toBeGreaterThanOrEqual(10)
      else expect(interval).toBe(5 + 5 * RACERS)
    })

    it('save one new client: every upsert succeeds and one document remains (processes seeding a new database at once)', async () => {
      const clientId = `client-${generateToken(6)}`
      const client = (name: string) => ({
        clientId,
        clientName: name,
        clientSecretHash: null,
        redirectUris: ['https://app.example/cb'],
        grantTypes: ['authorization_code'],
        responseTypes: ['code'],
        scope: 'read',
        tokenEndpointAuthMethod: 'none',
      })
      await split((s) => s.saveClient(client('seeded')))
      expect(await database.db.collection(store.collectionNames.clients).countDocuments({ _id: clientId as never })).toBe(1)
      expect((await store.findClient(clientId))?.clientName).toBe('seeded')
    })

    it('save one new user under one id: every upsert succeeds and one document remains', async () => {
      const user = { id: `user-${generateToken(6)}`, username: `name-${generateToken(6)}`, passwordHash: 'unused' }
      await split((s) => s.saveUser(user))
      expect(await database.db.collection(store.collectionNames.users).countDocuments({ username: user.username })).toBe(1)
      expect(await store.findUserByUsername(user.username)).toEqual(user)
    })

    it('save one new username under several ids: exactly one wins, the others are refused', async () => {
      const username = `name-${generateToken(6)}`
      const results = await Promise.allSettled(Array.from({ length: RACERS }, (_, i) => (i % 2 === 0 ? store : otherStore).saveUser({ id: `user-${i}-${generateToken(6)}`, username, passwordHash: 'unused' })))
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      expect(await database.db.collection(store.collectionNames.users).countDocuments({ username })).toBe(1)
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
