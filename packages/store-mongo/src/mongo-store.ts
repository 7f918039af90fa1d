import { randomUUID } from 'node:crypto'
import type { Collection, Db, Filter, WithoutId } from 'mongodb'
import { codeDates, deviceCodeDates, purgeLimit, refuseInvalidDates, tokenDates, type DeviceCodeRecord, type FullStore } from '@grantkit/core'
import { claim } from './internal/claims.js'
import {
  clientFromDocument,
  clientToDocument,
  codeFromDocument,
  codeToDocument,
  deviceFromDocuments,
  deviceToDocument,
  tokenFromDocument,
  tokenToDocument,
  userFromDocument,
  userToDocument,
  type ClaimDocument,
  type ClientDocument,
  type CodeDocument,
  type DeviceDecisionDocument,
  type DeviceDocument,
  type ReplayDocument,
  type TokenDocument,
  type UserDocument,
} from './internal/documents.js'
import { isDuplicateKeyError } from './internal/errors.js'
import { ensureExpiryIndex } from './internal/indexes.js'

/**
 * The collections a {@link MongoStore} uses. `claims` holds the one-time
 * claims that make consumption, rotation and replay marking atomic on servers
 * whose conditional updates are not (FerretDB v1). `devices` holds the RFC
 * 8628 device authorizations as saved and polled, `decisions` what the user
 * decided (and whether the device code was redeemed). `throttle` holds the
 * counts of {@link mongoThrottle} and `pushedRequests` the RFC 9126 requests
 * of {@link mongoPushedRequestStore}, which take the same collection options.
 */
export type MongoCollectionName = 'clients' | 'codes' | 'tokens' | 'replay' | 'users' | 'claims' | 'devices' | 'decisions' | 'throttle' | 'pushedRequests'

const collectionNames: readonly MongoCollectionName[] = ['clients', 'codes', 'tokens', 'replay', 'users', 'claims', 'devices', 'decisions', 'throttle', 'pushedRequests']

/** RFC 8628 §3.5: each `slow_down` adds 5 seconds to the polling interval. */
const SLOW_DOWN_SECONDS = 5
/** Compare-and-set rounds of a poll before it takes a concurrent poll's write as proof that it came too soon. */
const POLL_ROUNDS = 2

/** Options of {@link mongoStore}. */
export interface MongoStoreOptions {
  /** Prefix of every default collection name. Default `grantkit_` (so `grantkit_clients`, `grantkit_tokens`, …). */
  collectionPrefix?: string | undefined
  /** Full collection names, overriding `collectionPrefix` + name for the collections given. */
  collections?: Partial<Record<MongoCollectionName, string>> | undefined
  /**
   * Let {@link MongoStore.ensureIndexes} make the `expiresAt` indexes TTL
   * indexes (`expireAfterSeconds: 0`), so that the server deletes expired
   * codes, tokens, replay keys, device authorizations and their claims and
   * decisions, throttle slots and pushed requests by itself. Cleanup only: expiry is always checked in queries,
   * and nothing is needed past its expiry (a rotated refresh token or a
   * consumed code is refused once expired whether or not it is still
   * stored, so reuse detection is not weakened). Servers without TTL indexes
   * (FerretDB v1) get plain indexes instead: schedule `purgeExpired` there.
   * A plain index made earlier is turned into a TTL index in place where the
   * server allows it (MongoDB 5.1+, with the `collMod` privilege); a TTL
   * index is never turned back, so `false` keeps one made before (drop
   * the TTL `expiresAt` indexes by hand to stop it). Default `true`.
   */
  ttlIndexes?: boolean | undefined
}

/** What {@link MongoStore.ensureIndexes} did. */
export interface EnsureIndexesResult {
  /** Whether every `expiresAt` index is a TTL index (`false` when not asked for, or not supported or allowed by the server). */
  readonly ttlIndexes: boolean
}

/** A {@link FullStore} in MongoDB, with its collections and index set-up. */
export interface MongoStore extends FullStore {
  /** The collection name used for each kind of document. */
  readonly collectionNames: Readonly<Record<MongoCollectionName, string>>
  /**
   * Creates the indexes the store relies on; idempotent, run it at start-up
   * (or from a migration). `_id` carries the unique keys (client id, code
   * hash, token hash, replay key, user id, device code hash); this adds
   * unique indexes on `username` and on the devices' `userCodeHash`, an index
   * on the tokens' `familyId` and on the throttle slots' `key`, and one on
   * `expiresAt` of codes, tokens, replay keys, claims, devices, decisions,
   * throttle slots and pushed requests (TTL indexes unless `ttlIndexes` is
   * `false` or the server has none).
   */
  ensureIndexes(): Promise<EnsureIndexesResult>
}

/**
 * Replaces the document `_id`, inserting it when missing, again once when
 * the upsert fails on a duplicate key: of concurrent upserts of one new
 * document (processes seeding a new database at once), the server may let
 * several try the insert (FerretDB does, MongoDB may), and a loser's E11000
 * on `_id` only means the document now exists, which the second attempt
 * replaces. A second E11000 is another unique key (a username taken by
 * another user), thrown.
 */
async function upsertById<T extends { _id: string }>(collection: Collection<T>, id: string, document: T): Promise<void> {
  const filter = { _id: id } as Filter<T>
  try {
    await collection.replaceOne(filter, document as WithoutId<T>, { upsert: true })
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error
    await collection.replaceOne(filter, document as WithoutId<T>, { upsert: true })
  }
}

/** The collection name of each kind, from the store's options (also read by mongoThrottle and mongoPushedRequestStore). */
export function resolveCollectionNames(options: Pick<MongoStoreOptions, 'collectionPrefix' | 'collections'>, where = 'mongoStore'): Record<MongoCollectionName, string> {
  const prefix = options.collectionPrefix ?? 'grantkit_'
  if (typeof prefix !== 'string') throw new TypeError(`${where}: "collectionPrefix" must be a string`)
  const names = {} as Record<MongoCollectionName, string>
  for (const name of collectionNames) {
    const given = options.collections?.[name]
    if (given !== undefined && (typeof given !== 'string' || given === '')) {
      throw new TypeError(`${where}: "collections.${name}" must be a non-empty string`)
    }
    names[name] = given ?? `${prefix}${name}`
  }
  for (const key of Object.keys(options.collections ?? {})) {
    if (!(collectionNames as readonly string[]).includes(key)) {
      throw new TypeError(`${where}: unknown collection "${key}" in "collections" (expected one of ${collectionNames.join(', ')})`)
    }
  }
  if (new Set(Object.values(names)).size !== collectionNames.length) {
    throw new TypeError(`${where}: every collection needs its own name`)
  }
  return names
}

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * A grantkit store on MongoDB (official `mongodb` driver v6), also tested on
 * FerretDB v1. Stores only hashes of codes and tokens (they are the `_id`s),
 * keeps dates as BSON dates, checks expiry in every query, and uses no
 * multi-document transactions. An invalid `Date` (argument or record field)
 * is refused with a `TypeError` before anything is written, never stored as
 * 1970.
 *
 * Every "exactly one winner" operation is a compare-and-set:
 * `findOneAndUpdate` with the full condition in the filter (atomic on
 * MongoDB), arbitrated by a unique insert into the `claims` collection, which
 * is atomic on every MongoDB-compatible server, FerretDB v1 included.
 *
 * Run {@link MongoStore.ensureIndexes} once before use: the unique `username`
 * index is what makes a taken username fail.
 *
 * @example
 * ```ts
 * const client = await new MongoClient(process.env.MONGODB_URI!).connect()
 * const store = mongoStore(client.db('oauth'))
 * await store.ensureIndexes()
 * const server = new AuthorizationServer({ store, grants: [...] })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2 (one-time codes)
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2 (refresh token rotation)
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (`jti` replay)
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5 (device authorizations, `slow_down`)
 */
export function mongoStore(db: Db, options: MongoStoreOptions = {}): MongoStore {
  if (db === null || typeof db !== 'object' || typeof (db as Partial<Db>).collection !== 'function') {
    throw new TypeError('mongoStore: "db" must be a mongodb Db (client.db(name))')
  }
  const names = resolveCollectionNames(options)
  if (options.ttlIndexes !== undefined && typeof options.ttlIndexes !== 'boolean') throw new TypeError('mongoStore: "ttlIndexes" must be a boolean')
  const ttl = options.ttlIndexes !== false
  const clients: Collection<ClientDocument> = db.collection(names.clients)
  const codes: Collection<CodeDocument> = db.collection(names.codes)
  const tokens: Collection<TokenDocument> = db.collection(names.tokens)
  const replay: Collection<ReplayDocument> = db.collection(names.replay)
  const users: Collection<UserDocument> = db.collection(names.users)
  const claims: Collection<ClaimDocument> = db.collection(names.claims)
  const devices: Collection<DeviceDocument> = db.collection(names.devices)
  const decisions: Collection<DeviceDecisionDocument> = db.collection(names.decisions)
  /** The record of a device document, with its decision when there is one. */
  const deviceRecord = async (doc: DeviceDocument): Promise<DeviceCodeRecord> => deviceFromDocuments(doc, await decisions.findOne({ _id: doc._id }))

  return {
    collectionNames: Object.freeze({ ...names }),

    async ensureIndexes() {
      await users.createIndex({ username: 1 }, { name: 'username_unique', unique: true })
      await tokens.createIndex({ familyId: 1 }, { name: 'familyId' })
      await devices.createIndex({ userCodeHash: 1 }, { name: 'userCodeHash_unique', unique: true })
      await db.collection(names.throttle).createIndex({ key: 1 }, { name: 'key' })
      let ttlIndexes = true
      for (const name of [names.codes, names.tokens, names.replay, names.claims, names.devices, names.decisions, names.throttle, names.pushedRequests]) {
        ttlIndexes = (await ensureExpiryIndex(db.collection(name), ttl)) && ttlIndexes
      }
      return { ttlIndexes }
    },

    async findClient(clientId) {
      const doc = await clients.findOne({ _id: clientId })
      return doc === null ? null : clientFromDocument(doc)
    },
    async saveClient(client) {
      await upsertById(clients, client.clientId, clientToDocument(client))
    },
    async deleteClient(clientId) {
      // RFC 7592 §2.3: the client's tokens and codes go with it (first, so that a failure leaves the client to delete again).
      await tokens.deleteMany({ clientId })
      await codes.deleteMany({ clientId })
      return (await clients.deleteOne({ _id: clientId })).deletedCount === 1
    },
    async listClients() {
      const docs = await clients.find({}).sort({ _id: 1 }).toArray()
      // Sorted again in JavaScript: the server compares UTF-8 bytes, the contract (and memoryStore) UTF-16 code units.
      return docs.map(clientFromDocument).sort((a, b) => compareIds(a.clientId, b.clientId))
    },

    async saveAuthorizationCode(code) {
      refuseInvalidDates('mongoStore.saveAuthorizationCode', codeDates(code).required, codeDates(code).nullable)
      await codes.insertOne(codeToDocument(code))
    },
    async findAuthorizationCode(codeHash, now) {
      // Read-only, in any consumed state (store contract): the token endpoint checks the request
      // against the code, saves the tokens and only then consumes it. Expiry is checked in the query.
      refuseInvalidDates('mongoStore.findAuthorizationCode', { now })
      const doc = await codes.findOne({ _id: codeHash, expiresAt: { $gt: now } })
      return doc === null ? null : codeFromDocument(doc)
    },
    async consumeAuthorizationCode(codeHash, now) {
      refuseInvalidDates('mongoStore.consumeAuthorizationCode', { now })
      // RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more than once."
      const before = await codes.findOneAndUpdate(
        { _id: codeHash, consumedAt: null, expiresAt: { $gt: now } },
        { $set: { consumedAt: now } },
        { returnDocument: 'before', includeResultMetadata: false },
      )
      if (before !== null && (await claim(claims, `code:${codeHash}`, before.expiresAt, now))) {
        return { consumed: true, code: codeFromDocument(before) }
      }
      // No match (unknown, expired or consumed), or a lost claim: read what is there now.
      const current = await codes.findOne({ _id: codeHash })
      if (current === null || current.expiresAt.getTime() <= now.getTime()) return null
      return { consumed: false, code: codeFromDocument(current) }
    },

    async saveTokens(records) {
      // Every record is checked before the insert: the contract writes nothing when one date is invalid.
      records.forEach((t, i) =>
        refuseInvalidDates(`mongoStore.saveTokens (tokens[${i}])`, tokenDates(t).required, tokenDates(t).nullable),
      )
      if (records.length === 0) return
      await tokens.insertMany(records.map(tokenToDocument), { ordered: true })
    },
    async findToken(tokenHash) {
      const doc = await tokens.findOne({ _id: tokenHash })
      return doc === null ? null : tokenFromDocument(doc)
    },
    async rotateRefreshToken(tokenHash, now) {
      refuseInvalidDates('mongoStore.rotateRefreshToken', { now })
      // RFC 9700 §4.14.2: a rotated refresh token is invalidated; the first use wins, a second is a replay.
      const before = await tokens.findOneAndUpdate(
        { _id: tokenHash, type: 'refresh_token', revokedAt: null, rotatedAt: null, expiresAt: { $gt: now } },
        { $set: { rotatedAt: now } },
        { returnDocument: 'before', includeResultMetadata: false },
      )
      if (before !== null && (await claim(claims, `refresh:${tokenHash}`, before.expiresAt, now))) {
        return { rotated: true, token: tokenFromDocument(before) }
      }
      const current = await tokens.findOne({ _id: tokenHash })
      if (current === null || current.type !== 'refresh_token') return null
      return { rotated: false, token: tokenFromDocument(current) }
    },
    async revokeToken(tokenHash, now) {
      refuseInvalidDates('mongoStore.revokeToken', { now })
      const result = await tokens.updateOne({ _id: tokenHash, revokedAt: null }, { $set: { revokedAt: now } })
      if (result.matchedCount > 0) return true
      return (await tokens.countDocuments({ _id: tokenHash }, { limit: 1 })) > 0
    },
    async revokeTokenFamily(familyId, now) {
      refuseInvalidDates('mongoStore.revokeTokenFamily', { now })
      const result = await tokens.updateMany({ familyId, revokedAt: null }, { $set: { revokedAt: now } })
      return result.modifiedCount
    },

    async markUsed(key, expiresAt, now) {
      // An invalid expiresAt would be stored as 1970 (an expired key, so the jti could be replayed at once).
      refuseInvalidDates('mongoStore.markUsed', { expiresAt, now })
      // RFC 7523 §3: the server "MAY ensure that JWTs are not replayed by maintaining the set of used jti values".
      // Two rounds at most: the second only when the record vanished (purged) between our insert and our read.
      for (let round = 0; round < 2; round++) {
        try {
          await replay.insertOne({ _id: key, expiresAt, nonce: randomUUID() })
          return true
        } catch (error) {
          if (!isDuplicateKeyError(error)) throw error
        }
        const current = await replay.findOne({ _id: key })
        if (current === null) continue
        if (current.expiresAt.getTime() > now.getTime()) return false
        // Expired: exactly one caller may replace this generation of the record (named by its nonce).
        if (!(await claim(claims, `replay:${current.nonce}:${key}`, expiresAt, now))) return false
        const replaced = await replay.findOneAndUpdate(
          { _id: key, nonce: current.nonce, expiresAt: { $lte: now } },
          { $set: { expiresAt, nonce: randomUUID() } },
          { returnDocument: 'before', includeResultMetadata: false },
        )
        if (replaced !== null) return true
        // Purged meanwhile: whoever inserts the key first wins.
      }
      return false
    },

    async findUserById(id) {
      const doc = await users.findOne({ _id: id })
      return doc === null ? null : userFromDocument(doc)
    },
    async findUserByUsername(username) {
      const doc = await users.findOne({ username })
      return doc === null ? null : userFromDocument(doc)
    },
    async saveUser(user) {
      try {
        await upsertById(users, user.id, userToDocument(user))
      } catch (error) {
        if (isDuplicateKeyError(error)) {
          throw new Error(`mongoStore: username "${user.username}" is taken by another user`, { cause: error })
        }
        throw error
      }
    },

    async saveDeviceCode(record) {
      refuseInvalidDates('mongoStore.saveDeviceCode', deviceCodeDates(record).required, deviceCodeDates(record).nullable)
      // `_id` and the unique userCodeHash index (ensureIndexes) refuse a code already stored.
      await devices.insertOne(deviceToDocument(record))
    },
    async findDeviceCodeByUserCode(userCodeHash, now) {
      refuseInvalidDates('mongoStore.findDeviceCodeByUserCode', { now })
      const doc = await devices.findOne({ userCodeHash, expiresAt: { $gt: now } })
      return doc === null ? null : deviceRecord(doc)
    },
    async decideDeviceCode(userCodeHash, decision, now) {
      refuseInvalidDates('mongoStore.decideDeviceCode', { now })
      const doc = await devices.findOne({ userCodeHash, expiresAt: { $gt: now } })
      if (doc === null || doc.status !== 'pending') return null
      // The decision is inserted under the device code hash: of concurrent decisions exactly one
      // insert succeeds (E11000 for the others), on MongoDB and FerretDB alike. A user code is single use.
      const decided: DeviceDecisionDocument = decision.approved
        ? { _id: doc._id, status: 'approved', userId: decision.userId, scope: decision.scope ?? doc.scope, expiresAt: doc.expiresAt, decidedAt: now }
        : { _id: doc._id, status: 'denied', userId: null, scope: doc.scope, expiresAt: doc.expiresAt, decidedAt: now }
      try {
        await decisions.insertOne(decided)
      } catch (error) {
        if (isDuplicateKeyError(error)) return null
        throw error
      }
      return deviceFromDocuments(doc, decided)
    },
    async pollDeviceCode(deviceCodeHash, now) {
      refuseInvalidDates('mongoStore.pollDeviceCode', { now })
      const live = { _id: deviceCodeHash, expiresAt: { $gt: now } }
      // A compare-and-set on the poll state as read: atomic on MongoDB. On FerretDB v1 two concurrent
      // polls may both pass it, and one of their slow_down increments is lost (see the README).
      for (let round = 0; round < POLL_ROUNDS; round++) {
        const doc = await devices.findOne(live)
        if (doc === null) return null
        const last = doc.lastPolledAt ?? null
        // RFC 8628 §3.5: sooner than `interval` seconds after the previous poll.
        const slowDown = last !== null && now.getTime() - last.getTime() < doc.interval * 1000
        const interval = slowDown ? doc.interval + SLOW_DOWN_SECONDS : doc.interval
        const { matchedCount } = await devices.updateOne({ ...live, lastPolledAt: last, interval: doc.interval }, { $set: { lastPolledAt: now, interval } })
        if (matchedCount === 1) return { record: await deviceRecord({ ...doc, lastPolledAt: now, interval }), slowDown }
      }
      // Other polls kept writing between our read and our write: they came just now, so this one is too soon.
      const polled = await devices.findOneAndUpdate(
        live,
        { $set: { lastPolledAt: now }, $inc: { interval: SLOW_DOWN_SECONDS } },
        { returnDocument: 'after', includeResultMetadata: false },
      )
      return polled === null ? null : { record: await deviceRecord(polled), slowDown: true }
    },
    async redeemDeviceCode(deviceCodeHash, now) {
      refuseInvalidDates('mongoStore.redeemDeviceCode', { now })
      const doc = await devices.findOne({ _id: deviceCodeHash, expiresAt: { $gt: now } })
      if (doc === null) return null
      const decided = await decisions.findOne({ _id: deviceCodeHash })
      const record = deviceFromDocuments(doc, decided)
      // Exactly one caller wins the claim and marks the authorization redeemed; a caller that dies
      // in between leaves it claimed, and every later redemption fails (closed).
      if (record.status !== 'approved' || !(await claim(claims, `device:${deviceCodeHash}`, doc.expiresAt, now))) return null
      if (decided === null) {
        // Saved as approved, never decided here: the redemption is its first decision document.
        await decisions.insertOne({ _id: doc._id, status: 'redeemed', userId: record.userId, scope: record.scope, expiresAt: doc.expiresAt, decidedAt: now })
      } else {
        await decisions.updateOne({ _id: deviceCodeHash }, { $set: { status: 'redeemed' } })
      }
      return record
    },

    async purgeExpired(now, options) {
      refuseInvalidDates('mongoStore.purgeExpired', { now })
      const limit = purgeLimit('mongoStore.purgeExpired', options)
      const expired = { expiresAt: { $lte: now } }
      // A bounded batch: the ids of at most `limit` expired documents, then
      // one delete by id (deleteMany itself has no limit).
      const purge = async (name: string): Promise<number> => {
        const collection = db.collection<{ _id: unknown }>(name)
        if (limit === Number.POSITIVE_INFINITY) return (await collection.deleteMany(expired)).deletedCount
        const ids = (await collection.find(expired, { projection: { _id: 1 } }).limit(limit).toArray()).map((doc) => doc._id)
        return ids.length === 0 ? 0 : (await collection.deleteMany({ _id: { $in: ids }, ...expired })).deletedCount
      }
      let count = 0
      for (const name of [names.codes, names.tokens, names.replay, names.devices, names.throttle, names.pushedRequests]) count += await purge(name)
      // Claims and decisions are bookkeeping, not records: removed (with what they belong to), not counted.
      await purge(names.claims)
      await purge(names.decisions)
      return count
    },
  }
}
