import type { Collection } from 'mongodb'
import type { ClaimDocument } from './documents.js'
import { isDuplicateKeyError } from './errors.js'

/**
 * Claims: the arbiter of every "exactly one winner" transition.
 *
 * On MongoDB a filtered `findOneAndUpdate` is an atomic compare-and-set, but
 * FerretDB v1 runs it as a read followed by a write by `_id`, without
 * isolation: of 50 concurrent calls several "win". What both servers do
 * atomically is reject a second insert of one `_id` (E11000). So a store
 * that must pick one winner (code consumption, refresh rotation, replacing
 * an expired replay record) also inserts a claim whose `_id` names the
 * transition; the one insert that succeeds wins. On MongoDB the claim never
 * changes an outcome; on FerretDB it is what makes the outcome right.
 *
 * A claim lives until `expiresAt` (when the thing it protects can no longer
 * be used) and is then removed by `purgeExpired` or a TTL index. A caller
 * that dies between its claim and its write leaves the transition claimed:
 * later callers lose, which fails closed (a replay), never open.
 */
export async function claim(claims: Collection<ClaimDocument>, id: string, expiresAt: Date, now: Date): Promise<boolean> {
  try {
    await claims.insertOne({ _id: id, expiresAt, claimedAt: now })
    return true
  } catch (error) {
    if (isDuplicateKeyError(error)) return false
    throw error
  }
}
