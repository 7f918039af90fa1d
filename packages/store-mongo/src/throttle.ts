import { randomInt, randomUUID } from 'node:crypto'
import type { Collection, Db } from 'mongodb'
import {
  storableThrottleKey,
  throttleDecision,
  throttleLimitOf,
  throttleLimits,
  throttleNow,
  type Throttle,
  type ThrottleDecision,
  type ThrottleLimits,
} from '@grantkit/core'
import { claim } from './internal/claims.js'
import type { ClaimDocument, ThrottleSlotDocument } from './internal/documents.js'
import { isDuplicateKeyError } from './internal/errors.js'
import { resolveCollectionNames, type MongoStoreOptions } from './mongo-store.js'

/** Options of {@link mongoThrottle}: the limits, and the collection names as given to `mongoStore`. */
export interface MongoThrottleOptions extends ThrottleLimits, Pick<MongoStoreOptions, 'collectionPrefix' | 'collections'> {}

/**
 * The failed-credential {@link Throttle} (RFC 6819 §4.4.3.6, §5.1.4.2.3) in
 * MongoDB (FerretDB v1 included), shared by every process and client on the
 * database: pass it as the `AuthorizationServer`'s `throttle`. Same limits,
 * defaults and sliding window as core's `memoryThrottle` (10 per
 * `client:`/`user:` key, 100 per `ip:` key, 600 s): no `window` seconds ever
 * hold more than the limit of allowed hits, across any boundary.
 *
 * A key has as many slots as its limit, one document each in the `throttle`
 * collection (`_id` `<slot>:<key>`), and an allowed hit holds one slot until
 * it leaves the window. A hit is allowed only when it takes a free slot by a
 * unique insert, or an expired one by winning the claim on that slot's
 * generation (the `claims` collection, as the store's one-time transitions
 * do): both are atomic on every MongoDB-compatible server, so of any number
 * of concurrent hits exactly the limit are allowed, and a refused hit writes
 * nothing. Usually one read and one insert; concurrent hits start at random
 * free slots.
 *
 * Expired slots go with the store's `purgeExpired` or its TTL indexes
 * (`ensureIndexes` creates the collection's indexes: run it once, as for the
 * store).
 *
 * @example
 * ```ts
 * const { db, store } = await connectMongo(process.env.MONGODB_URI!)
 * const server = new AuthorizationServer({ issuer, store, throttle: mongoThrottle(db) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.4.2.3
 */
export function mongoThrottle(db: Db, options: MongoThrottleOptions = {}): Throttle {
  if (db === null || typeof db !== 'object' || typeof (db as Partial<Db>).collection !== 'function') {
    throw new TypeError('mongoThrottle: "db" must be a mongodb Db (client.db(name))')
  }
  const limits = throttleLimits('mongoThrottle', options)
  const names = resolveCollectionNames(options, 'mongoThrottle')
  const { windowMs } = limits
  const slots: Collection<ThrottleSlotDocument> = db.collection(names.throttle)
  const claims: Collection<ClaimDocument> = db.collection(names.claims)

  /** The hit times of the key's live slots (a slot's time is its expiry less the window). */
  const liveTimes = (docs: readonly ThrottleSlotDocument[], now: number): number[] =>
    docs.map((doc) => doc.expiresAt.getTime() - windowMs).filter((t) => t > now - windowMs)

  /**
   * Takes one slot: a free one (`seen` undefined) by inserting it, an
   * expired one by winning the claim on its generation and replacing it.
   * Answers whether this call holds it now.
   */
  async function take(id: string, key: string, slot: number, seen: ThrottleSlotDocument | undefined, now: Date, expiresAt: Date): Promise<boolean> {
    if (seen !== undefined) {
      if (!(await claim(claims, `throttle:${seen.nonce}`, expiresAt, now))) return false
      const replaced = await slots.findOneAndUpdate(
        { _id: id, nonce: seen.nonce, expiresAt: { $lte: now } },
        { $set: { expiresAt, nonce: randomUUID() } },
        { returnDocument: 'before', includeResultMetadata: false },
      )
      if (replaced !== null) return true
      // Deleted meanwhile (a reset, a purge, a TTL monitor): the slot is free, whoever inserts it first holds it.
    }
    try {
      await slots.insertOne({ _id: id, key, slot, expiresAt, nonce: randomUUID() })
      return true
    } catch (error) {
      if (isDuplicateKeyError(error)) return false
      throw error
    }
  }

  return {
    async hit(key, now): Promise<ThrottleDecision> {
      const k = storableThrottleKey(key, 'mongoThrottle.hit')
      const at = throttleNow('mongoThrottle.hit', now)
      const limit = throttleLimitOf(limits, k)
      const docs = await slots.find({ key: k }).toArray()
      const live = liveTimes(docs, at)
      if (live.length >= limit) return throttleDecision(live, 0, windowMs, at)
      const bySlot = new Map(docs.map((doc) => [doc.slot, doc]))
      const free: number[] = []
      for (let slot = 0; slot < limit; slot++) {
        const doc = bySlot.get(slot)
        if (doc === undefined || doc.expiresAt.getTime() <= at) free.push(slot)
      }
      const nowDate = new Date(at)
      const expiresAt = new Date(at + windowMs)
      // Concurrent hits start at different free slots, so that they rarely meet.
      const start = free.length === 0 ? 0 : randomInt(free.length)
      for (let i = 0; i < free.length; i++) {
        const slot = free[(start + i) % free.length] as number
        if (await take(`${slot}:${k}`, k, slot, bySlot.get(slot), nowDate, expiresAt)) return { allowed: true, retryAfter: 0 }
      }
      // Every free slot went to a concurrent hit: the limit is reached.
      return throttleDecision(live.length > 0 ? live : [at], 0, windowMs, at)
    },
    async peek(key, now) {
      const k = storableThrottleKey(key, 'mongoThrottle.peek')
      const at = throttleNow('mongoThrottle.peek', now)
      return throttleDecision(liveTimes(await slots.find({ key: k }).toArray(), at), throttleLimitOf(limits, k), windowMs, at)
    },
    async reset(key) {
      await slots.deleteMany({ key: storableThrottleKey(key, 'mongoThrottle.reset') })
    },
  }
}
