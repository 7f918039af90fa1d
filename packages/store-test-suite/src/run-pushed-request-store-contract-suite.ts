import { generateToken, hashToken, type PurgeOptions } from '@grantkit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerSkipped } from './internal/skip.js'

/** A pushed authorization request as `@grantkit/par`'s `PushedRequestStore` keeps it (its `PushedRequestRecord`). */
export interface PushedRequestRecordShape {
  readonly clientId: string
  readonly params: string
  readonly expiresAt: Date
}

/** `@grantkit/par`'s `PushedRequestStore` contract, as the suite calls it. */
export interface PushedRequestStoreShape {
  savePushedRequest(uriHash: string, record: PushedRequestRecordShape, now: Date): Promise<void>
  findPushedRequest(uriHash: string, now: Date): Promise<PushedRequestRecordShape | null>
  deletePushedRequest(uriHash: string): Promise<void>
}

/** What a pushed request store gives {@link runPushedRequestStoreContractSuite}. */
export interface PushedRequestStoreHarness {
  /** The store under test. */
  store: PushedRequestStoreShape
  /** Shared storage only: the same storage through another connection, pool or client, as another process reaches it. */
  otherConnection?: PushedRequestStoreShape
  /** Shared storage only: what the deployment runs to delete expired requests (the store's or the request store's `purgeExpired`). */
  purgeExpired?(now: Date, options?: PurgeOptions): Promise<number>
  /** Shared storage only: whether a request is stored under `uriHash`, read from the database directly, NOT through the store. */
  stored?(uriHash: string): Promise<boolean>
  /** Releases connections (and may drop the test data). */
  close(): Promise<void>
}

/** Options of {@link runPushedRequestStoreContractSuite}. */
export interface PushedRequestStoreContractOptions {
  /**
   * Whether the requests are kept where several processes share them (a
   * database). `true` runs the checks across two connections and of the
   * purge, and needs `otherConnection`, `purgeExpired` and `stored`;
   * `false` is a per-process store such as `memoryPushedRequestStore`.
   */
  shared: boolean
  /** Skip the suite with this reason (no database outside CI); in CI the suite fails instead. */
  skip?: string | undefined
  /** Concurrent calls in the race tests (default 30). */
  raceConcurrency?: number
}

const T0 = new Date('2030-01-01T00:00:00.123Z')
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000)
const uriHash = (): string => hashToken(`urn:ietf:params:oauth:request_uri:${generateToken(32)}`)

function record(overrides: Partial<PushedRequestRecordShape> = {}): PushedRequestRecordShape {
  return {
    clientId: `client-${generateToken(8)}`,
    params: new URLSearchParams({ response_type: 'code', client_id: 'c', redirect_uri: 'https://client.example/cb', scope: 'read write', state: generateToken(8) }).toString(),
    expiresAt: at(300),
    ...overrides,
  }
}

/**
 * Registers the contract suite of `@grantkit/par`'s `PushedRequestStore`
 * (RFC 9126 §2.2) for one implementation: a saved request is found with
 * every field until `expiresAt` (and `null` from then on, §4: "An expired
 * request_uri MUST be rejected"), finding is read-only, deleting is
 * idempotent, saving again replaces, and long parameters round-trip. With
 * `shared: true` also that a request saved through one connection is found
 * and deleted through another (a request pushed to one process is used at
 * another), that concurrent deletes never fail, and that the purge removes
 * expired requests and keeps live ones.
 *
 * @example
 * ```ts
 * runPushedRequestStoreContractSuite('memory', async () => ({ store: memoryPushedRequestStore(), close: async () => {} }), { shared: false })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-2.2
 */
export function runPushedRequestStoreContractSuite(name: string, createHarness: () => Promise<PushedRequestStoreHarness>, options: PushedRequestStoreContractOptions): void {
  if (typeof options !== 'object' || options === null || typeof options.shared !== 'boolean') {
    throw new TypeError('runPushedRequestStoreContractSuite: options.shared must say whether the store is shared (true) or per process (false)')
  }
  const concurrency = options.raceConcurrency ?? 30
  if (!Number.isInteger(concurrency) || concurrency < 2) throw new TypeError('runPushedRequestStoreContractSuite: "raceConcurrency" must be an integer of at least 2')
  const title = `pushed request store contract: ${name}`
  if (registerSkipped(title, name, options.skip)) return

  describe(title, () => {
    let harness: PushedRequestStoreHarness | undefined
    const h = (): PushedRequestStoreHarness => {
      if (harness === undefined) throw new Error('the pushed request store harness was not created')
      return harness
    }
    const store = () => h().store
    beforeAll(async () => {
      harness = await createHarness()
    })
    afterAll(async () => {
      await harness?.close()
    })

    describe('RFC 9126 §2.2, §4: kept until used or expired', () => {
      it('finds a saved request with every field, the expiry to the millisecond, as often as asked (read-only)', async () => {
        const hash = uriHash()
        const saved = record()
        await store().savePushedRequest(hash, saved, T0)
        expect(await store().findPushedRequest(hash, at(1))).toEqual(saved)
        expect(await store().findPushedRequest(hash, at(2))).toEqual(saved)
      })

      it('answers null for an unknown request', async () => {
        expect(await store().findPushedRequest(uriHash(), T0)).toBeNull()
      })

      it('answers null from expiresAt on: "An expired request_uri MUST be rejected as invalid" (§4)', async () => {
        const hash = uriHash()
        const saved = record({ expiresAt: at(60) })
        await store().savePushedRequest(hash, saved, T0)
        expect(await store().findPushedRequest(hash, new Date(at(60).getTime() - 1))).toEqual(saved)
        expect(await store().findPushedRequest(hash, at(60))).toBeNull()
        expect(await store().findPushedRequest(hash, at(61))).toBeNull()
      })

      it('deletes a request; deleting it again, or an unknown one, is nothing', async () => {
        const hash = uriHash()
        const kept = uriHash()
        await store().savePushedRequest(hash, record(), T0)
        await store().savePushedRequest(kept, record(), T0)
        await store().deletePushedRequest(hash)
        expect(await store().findPushedRequest(hash, T0)).toBeNull()
        await store().deletePushedRequest(hash)
        await store().deletePushedRequest(uriHash())
        expect(await store().findPushedRequest(kept, T0)).not.toBeNull()
      })

      it('replaces a request saved again under the same hash', async () => {
        const hash = uriHash()
        await store().savePushedRequest(hash, record(), T0)
        const again = record({ clientId: 'other-client', expiresAt: at(120) })
        await store().savePushedRequest(hash, again, T0)
        expect(await store().findPushedRequest(hash, T0)).toEqual(again)
      })

      it('keeps its own copy of the expiry: changing the saved Date afterwards changes nothing stored', async () => {
        const hash = uriHash()
        const expiresAt = at(60)
        await store().savePushedRequest(hash, record({ expiresAt }), T0)
        expiresAt.setTime(at(6000).getTime())
        expect(await store().findPushedRequest(hash, at(61))).toBeNull()
      })

      it('round-trips long parameters with any characters (percent-encoded UTF-8, as URLSearchParams writes them)', async () => {
        const hash = uriHash()
        const params = new URLSearchParams({ scope: 'read write', claims: JSON.stringify({ userinfo: { name: null } }), state: 'zoë 日本 😀 "\\', x: 'y'.repeat(20_000) }).toString()
        const saved = record({ params })
        await store().savePushedRequest(hash, saved, T0)
        expect(await store().findPushedRequest(hash, T0)).toEqual(saved)
      })

      it(`survives ${concurrency} concurrent finds and deletes of one request`, async () => {
        const hash = uriHash()
        await store().savePushedRequest(hash, record(), T0)
        const results = await Promise.all(Array.from({ length: concurrency }, (_, i) => (i % 2 === 0 ? store().deletePushedRequest(hash) : store().findPushedRequest(hash, T0))))
        for (const r of results) expect(r === undefined || r === null || typeof r.clientId === 'string').toBe(true)
        expect(await store().findPushedRequest(hash, T0)).toBeNull()
      })
    })

    if (!options.shared) return

    describe('shared by every process on the storage', () => {
      const other = (): PushedRequestStoreShape => {
        const o = h().otherConnection
        if (o === undefined) throw new Error('a shared pushed request store harness needs otherConnection')
        return o
      }
      const purge = (now: Date, o?: PurgeOptions): Promise<number> => {
        const run = h().purgeExpired
        if (run === undefined) throw new Error('a shared pushed request store harness needs purgeExpired')
        return run(now, o)
      }
      const stored = (hash: string): Promise<boolean> => {
        const read = h().stored
        if (read === undefined) throw new Error('a shared pushed request store harness needs stored')
        return read(hash)
      }

      it('finds through another connection a request saved through one, and a delete through either is seen by both', async () => {
        const hash = uriHash()
        const saved = record()
        await store().savePushedRequest(hash, saved, T0)
        expect(await other().findPushedRequest(hash, at(1))).toEqual(saved)
        await other().deletePushedRequest(hash)
        expect(await store().findPushedRequest(hash, at(1))).toBeNull()
        expect(await stored(hash)).toBe(false)
      })

      it(`survives ${concurrency} concurrent deletes of one request from two connections`, async () => {
        const hash = uriHash()
        await other().savePushedRequest(hash, record(), T0)
        await Promise.all(Array.from({ length: concurrency }, (_, i) => (i % 2 === 0 ? store() : other()).deletePushedRequest(hash)))
        expect(await store().findPushedRequest(hash, T0)).toBeNull()
        expect(await other().findPushedRequest(hash, T0)).toBeNull()
      })

      it('purges expired requests in batches and keeps live ones', async () => {
        // Its own era, after every other test's times: the purge at its `now` deletes only what expired by then.
        const era = T0.getTime() + 1000 * 86_400_000
        const now = new Date(era + 60_000)
        const expired = Array.from({ length: 4 }, () => uriHash())
        const live = uriHash()
        for (const hash of expired) await store().savePushedRequest(hash, record({ expiresAt: new Date(era + 60_000) }), new Date(era))
        await store().savePushedRequest(live, record({ expiresAt: new Date(era + 60_001) }), new Date(era))
        for (const hash of [...expired, live]) expect(await stored(hash)).toBe(true)
        expect(await purge(now, { limit: 1 })).toBe(1)
        let total = 1
        for (let n = await purge(now, { limit: 2 }); n > 0; n = await purge(now, { limit: 2 })) total += n
        expect(total).toBeGreaterThanOrEqual(expired.length)
        for (const hash of expired) expect(await stored(hash)).toBe(false)
        expect(await stored(live)).toBe(true)
        expect(await other().findPushedRequest(live, now)).not.toBeNull()
        expect(await purge(now)).toBe(0)
      })
    })
  })
}
