import { describe, expect, it } from 'vitest'
import { memoryStore } from './memory-store.js'
import { purgeExpiredInBatches, schedulePurge } from './purge.js'
import type { PurgeableStore, TokenRecord } from './store.js'

const T0 = Date.UTC(2030, 0, 1)

function token(i: number, expiresAt: number): TokenRecord {
  return {
    tokenHash: `hash-${i}`,
    type: 'access_token',
    clientId: 'c',
    userId: null,
    scope: '',
    familyId: `f-${i}`,
    issuedAt: new Date(T0 - 7_200_000),
    expiresAt: new Date(expiresAt),
    revokedAt: null,
    rotatedAt: null,
  }
}

async function storeWith(expired: number, live: number) {
  const store = memoryStore()
  const records = [...Array.from({ length: expired }, (_, i) => token(i, T0 - 1000)), ...Array.from({ length: live }, (_, i) => token(expired + i, T0 + 3_600_000))]
  await store.saveTokens(records)
  return store
}

/** Records the limit of every purgeExpired call. */
function counting(store: PurgeableStore) {
  const limits: Array<number | undefined> = []
  return {
    limits,
    store: {
      purgeExpired: (now: Date, options?: { limit?: number }) => {
        limits.push(options?.limit)
        return store.purgeExpired(now, options)
      },
    },
  }
}

describe('purgeExpiredInBatches', () => {
  it('deletes every expired record in batches of batchSize, and keeps the live ones', async () => {
    const store = await storeWith(25, 3)
    const { store: spy, limits } = counting(store)
    expect(await purgeExpiredInBatches(spy, { now: new Date(T0), batchSize: 10 })).toBe(25)
    // 10 + 10 + 5, then a call that finds nothing.
    expect(limits).toEqual([10, 10, 10, 10])
    expect(store.snapshot().tokens).toHaveLength(3)
  })

  it('stops after maxBatches (the next run goes on)', async () => {
    const store = await storeWith(25, 0)
    expect(await purgeExpiredInBatches(store, { now: new Date(T0), batchSize: 10, maxBatches: 1 })).toBe(10)
    expect(store.snapshot().tokens).toHaveLength(15)
  })

  it('refuses a batch size that is not a positive integer', async () => {
    await expect(purgeExpiredInBatches(memoryStore(), { batchSize: 0 })).rejects.toThrow(/batchSize/)
  })
})

describe('schedulePurge', () => {
  it('purges on demand and at start, never two runs at once, and stops', async () => {
    const store = await storeWith(7, 1)
    const counts: number[] = []
    const schedule = schedulePurge(store, { clock: () => T0, batchSize: 3, onPurged: (n) => counts.push(n) })
    const [a, b] = await Promise.all([schedule.runNow(), schedule.runNow()])
    expect(a).toBe(7)
    // The second call joined the first run.
    expect(b).toBe(7)
    expect(counts).toEqual([7])
    expect(store.snapshot().tokens).toHaveLength(1)
    await schedule.stop()
  })

  it('reports a failing run to onError and keeps going', async () => {
    const errors: unknown[] = []
    let fail = true
    const store: PurgeableStore = {
      purgeExpired: async () => {
        if (fail) throw new Error('database down')
        return 0
      },
    }
    const schedule = schedulePurge(store, { onError: (e) => errors.push(e) })
    expect(await schedule.runNow()).toBe(0)
    expect(errors).toHaveLength(1)
    fail = false
    expect(await schedule.runNow()).toBe(0)
    expect(errors).toHaveLength(1)
    await schedule.stop()
  })

  it('refuses a store without purgeExpired and bad options at once', () => {
    expect(() => schedulePurge({} as PurgeableStore)).toThrow(/purgeExpired/)
    expect(() => schedulePurge(memoryStore(), { intervalSeconds: 0 })).toThrow(/intervalSeconds/)
    expect(() => schedulePurge(memoryStore(), { batchSize: -1 })).toThrow(/batchSize/)
  })
})
