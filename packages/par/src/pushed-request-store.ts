/** A pushed authorization request as stored (RFC 9126 §2.2): bound to its client, short-lived. */
export interface PushedRequestRecord {
  /** The client that pushed it; only this client may use its `request_uri` (RFC 9126 §2.2). */
  readonly clientId: string
  /** The authorization request parameters, `application/x-www-form-urlencoded`. */
  readonly params: string
  /** When the `request_uri` expires (`expires_in` after the push). */
  readonly expiresAt: Date
}

/**
 * Where pushed authorization requests are kept until they are used. Keys
 * are `hashToken(request_uri)`: the `request_uri` itself is never stored.
 * Single use is not this store's job: it is decided by the server store's
 * atomic `markUsed` (the ReplayStore) when the authorization is answered,
 * then the record is deleted.
 *
 * Several server instances need one shared implementation (a table, a
 * cache); {@link memoryPushedRequestStore} serves one process.
 */
export interface PushedRequestStore {
  /** Saves a new pushed request; `now` lets a store drop expired ones on the way. */
  savePushedRequest(uriHash: string, record: PushedRequestRecord, now: Date): Promise<void>
  /** The request with this hash, or `null` when unknown or when `expiresAt <= now`. Read-only. */
  findPushedRequest(uriHash: string, now: Date): Promise<PushedRequestRecord | null>
  /** Deletes the request with this hash (nothing when unknown). */
  deletePushedRequest(uriHash: string): Promise<void>
}

/**
 * A {@link PushedRequestStore} in this process's memory, for one server
 * instance and for tests. Expired requests are dropped as new ones are
 * pushed (the oldest first, which expire first).
 */
export function memoryPushedRequestStore(): PushedRequestStore {
  const records = new Map<string, PushedRequestRecord>()
  return {
    async savePushedRequest(uriHash, record, now) {
      // Insertion order is roughly expiry order (one lifetime for all): drop from the front.
      for (const [key, value] of records) {
        if (value.expiresAt.getTime() > now.getTime()) break
        records.delete(key)
      }
      records.set(uriHash, { ...record, expiresAt: new Date(record.expiresAt.getTime()) })
    },
    async findPushedRequest(uriHash, now) {
      const record = records.get(uriHash)
      return record === undefined || record.expiresAt.getTime() <= now.getTime() ? null : record
    },
    async deletePushedRequest(uriHash) {
      records.delete(uriHash)
    },
  }
}
