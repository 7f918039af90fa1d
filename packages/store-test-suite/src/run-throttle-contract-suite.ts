import { randomUUID } from 'node:crypto'
import type { PurgeOptions, Throttle } from '@grantkit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerSkipped } from './internal/skip.js'

/** The limits a throttle is made with, as core's `memoryThrottle` takes them. */
export interface ThrottleLimitOptions {
  limit?: number
  ipLimit?: number
  window?: number
}

/** What a throttle implementation gives {@link runThrottleContractSuite}. */
export interface ThrottleHarness {
  /** A throttle with these limits over the storage under test; limits out of range throw a `TypeError` here. */
  throttle(options: ThrottleLimitOptions): Throttle
  /**
   * Shared storage only: a throttle with these limits over the same storage
   * through another connection, pool or client, as another process reaches it.
   */
  otherConnection?(options: ThrottleLimitOptions): Throttle
  /** Shared storage only: what the deployment runs to delete expired entries (the store's or the throttle's `purgeExpired`). */
  purgeExpired?(now: Date, options?: PurgeOptions): Promise<number>
  /** Shared storage only: whether anything is stored for `key`, read from the database directly, NOT through the throttle. */
  stored?(key: string): Promise<boolean>
  /** Releases connections (and may drop the test data). */
  close(): Promise<void>
}

/** Options of {@link runThrottleContractSuite}. */
export interface ThrottleContractOptions {
  /**
   * Whether the throttle keeps its counts where several processes share them
   * (a database). `true` runs the checks across two connections and of the
   * purge, and needs `otherConnection`, `purgeExpired` and `stored`;
   * `false` is a per-process throttle such as `memoryThrottle`.
   */
  shared: boolean
  /** Skip the suite with this reason (no database outside CI); in CI the suite fails instead. */
  skip?: string | undefined
  /** Concurrent hits in the race tests (default 40). */
  raceConcurrency?: number
}

// Far from any real clock, so that only the times the tests pass matter.
const T0 = Date.UTC(2030, 0, 1)

const key = (prefix: string): string => `${prefix}:${randomUUID()}`

/** Runs `n` hits at once (alternating over `throttles`) and answers how many were allowed. */
async function allowedOf(throttles: readonly Throttle[], n: number, k: string, now: number): Promise<number> {
  const results = await Promise.all(Array.from({ length: n }, (_, i) => throttles[i % throttles.length]!.hit(k, now)))
  for (const r of results) expect(r.allowed ? r.retryAfter === 0 : Number.isInteger(r.retryAfter) && r.retryAfter >= 1).toBe(true)
  return results.filter((r) => r.allowed).length
}

/**
 * Registers the contract suite of core's `Throttle` (the limiter of failed
 * credential attempts, RFC 6819 §4.4.3.6, §5.1.4.2.3) for one
 * implementation: the sliding window of `memoryThrottle` (at most `limit`
 * allowed hits in any `window` seconds, `retryAfter` the whole seconds until
 * the oldest leaves it), refused hits not recorded, the larger `ip:` limit,
 * `peek` and `reset`, the defaults, keys of any length or characters, and
 * exactly `limit` of many concurrent hits. With `shared: true` also that two
 * connections count together, that of many concurrent hits over two
 * connections exactly `limit` are allowed, and that the purge removes
 * expired keys and keeps live ones.
 *
 * @example
 * ```ts
 * runThrottleContractSuite('memoryThrottle', async () => ({ throttle: (o) => memoryThrottle(o), close: async () => {} }), { shared: false })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6819#section-5.1.4.2.3
 */
export function runThrottleContractSuite(name: string, createHarness: () => Promise<ThrottleHarness>, options: ThrottleContractOptions): void {
  if (typeof options !== 'object' || options === null || typeof options.shared !== 'boolean') {
    throw new TypeError('runThrottleContractSuite: options.shared must say whether the throttle is shared (true) or per process (false)')
  }
  const concurrency = options.raceConcurrency ?? 40
  if (!Number.isInteger(concurrency) || concurrency < 2) throw new TypeError('runThrottleContractSuite: "raceConcurrency" must be an integer of at least 2')
  const title = `throttle contract: ${name}`
  if (registerSkipped(title, name, options.skip)) return

  describe(title, () => {
    let harness: ThrottleHarness | undefined
    const h = (): ThrottleHarness => {
      if (harness === undefined) throw new Error('the throttle harness was not created')
      return harness
    }
    beforeAll(async () => {
      harness = await createHarness()
    })
    afterAll(async () => {
      await harness?.close()
    })

    describe('the sliding window of memoryThrottle (RFC 6819 §5.1.4.2.3: bound the guesses)', () => {
      it('allows `limit` hits per key in the window, then refuses with the whole seconds until the oldest leaves it', async () => {
        const throttle = h().throttle({ limit: 3, window: 60 })
        const k = key('user')
        for (const at of [0, 10_000, 20_000]) expect(await throttle.hit(k, T0 + at)).toEqual({ allowed: true, retryAfter: 0 })
        expect(await throttle.hit(k, T0 + 30_000)).toEqual({ allowed: false, retryAfter: 30 })
        expect(await throttle.peek(k, T0 + 59_500)).toEqual({ allowed: false, retryAfter: 1 })
        // Sliding: at +60 s the first hit has left the window, the other two have not.
        expect(await throttle.hit(k, T0 + 60_000)).toEqual({ allowed: true, retryAfter: 0 })
        expect(await throttle.hit(k, T0 + 60_001)).toEqual({ allowed: false, retryAfter: 10 })
        // Another key is counted apart.
        expect(await throttle.hit(key('user'), T0 + 60_001)).toEqual({ allowed: true, retryAfter: 0 })
      })

      it('never lets more than `limit` hits into any window, across any boundary (not a fixed window)', async () => {
        const throttle = h().throttle({ limit: 4, window: 10 })
        const k = key('client')
        const allowed: number[] = []
        // A hit every 500 ms for a minute.
        for (let at = 0; at < 60_000; at += 500) if ((await throttle.hit(k, T0 + at)).allowed) allowed.push(at)
        for (const start of allowed) expect(allowed.filter((t) => t >= start && t < start + 10_000).length).toBeLessThanOrEqual(4)
        // And the window is used, not wasted: 4 hits in each 10 s.
        expect(allowed).toEqual([0, 500, 1000, 1500, 10_000, 10_500, 11_000, 11_500, 20_000, 20_500, 21_000, 21_500, 30_000, 30_500, 31_000, 31_500, 40_000, 40_500, 41_000, 41_500, 50_000, 50_500, 51_000, 51_500])
      })

      it('does not record refused hits, so a flood does not extend the wait', async () => {
        const throttle = h().throttle({ limit: 2, window: 60 })
        const k = key('client')
        await throttle.hit(k, T0)
        await throttle.hit(k, T0)
        for (let i = 1; i <= 30; i++) expect((await throttle.hit(k, T0 + i * 1000)).allowed).toBe(false)
        expect(await throttle.hit(k, T0 + 60_000)).toEqual({ allowed: true, retryAfter: 0 })
      })

      it('gives ip: keys their own, larger limit', async () => {
        const throttle = h().throttle({ limit: 1, ipLimit: 3 })
        const ip = `ip:192.0.2.${Math.floor(Math.random() * 250)}-${randomUUID()}`
        for (let i = 0; i < 3; i++) expect((await throttle.hit(ip, T0)).allowed).toBe(true)
        expect((await throttle.hit(ip, T0)).allowed).toBe(false)
        const user = key('user')
        expect((await throttle.hit(user, T0)).allowed).toBe(true)
        expect((await throttle.hit(user, T0)).allowed).toBe(false)
      })

      it('peek records nothing; reset forgets the key', async () => {
        const throttle = h().throttle({ limit: 1 })
        const k = key('user')
        for (let i = 0; i < 5; i++) expect(await throttle.peek(k, T0)).toEqual({ allowed: true, retryAfter: 0 })
        await throttle.hit(k, T0)
        expect(await throttle.peek(k, T0)).toEqual({ allowed: false, retryAfter: 600 })
        await throttle.reset(k)
        expect(await throttle.peek(k, T0)).toEqual({ allowed: true, retryAfter: 0 })
        expect((await throttle.hit(k, T0)).allowed).toBe(true)
        // Resetting an unknown key is nothing.
        await throttle.reset(key('user'))
      })

      it('defaults to 10 hits per identity and 100 per address in 10 minutes', async () => {
        const throttle = h().throttle({})
        const k = key('client')
        for (let i = 0; i < 10; i++) expect((await throttle.hit(k, T0)).allowed).toBe(true)
        expect(await throttle.hit(k, T0)).toEqual({ allowed: false, retryAfter: 600 })
        const ip = key('ip')
        for (let i = 0; i < 100; i++) expect((await throttle.hit(ip, T0)).allowed).toBe(true)
        expect(await throttle.hit(ip, T0 + 1000)).toEqual({ allowed: false, retryAfter: 599 })
        expect(await throttle.hit(k, T0 + 600_000)).toEqual({ allowed: true, retryAfter: 0 })
      })

      it.each([
        ['10 000 characters', 'client:' + 'x'.repeat(10_000), 'client:' + 'x'.repeat(9_999) + 'y'],
        ['NUL and control characters', 'client:a\u0000b\u0007', 'client:a\u0000b\u0008'],
        ['a lone surrogate', 'user:\ud800', 'user:\udc00'],
        ['non-ASCII', 'user:zoë-日本', 'user:zoe-日本'],
        ['no prefix', 'x'.repeat(500), 'y'.repeat(500)],
      ])('counts keys of %s apart, and never fails on them', async (_, a, b) => {
        const throttle = h().throttle({ limit: 1 })
        const suffix = randomUUID()
        expect((await throttle.hit(a + suffix, T0)).allowed).toBe(true)
        expect((await throttle.hit(a + suffix, T0)).allowed).toBe(false)
        expect((await throttle.peek(a + suffix, T0)).allowed).toBe(false)
        expect((await throttle.hit(b + suffix, T0)).allowed).toBe(true)
        await throttle.reset(a + suffix)
        expect((await throttle.hit(a + suffix, T0)).allowed).toBe(true)
      })

      it('keeps the larger ip: limit for an ip: key of any length', async () => {
        const throttle = h().throttle({ limit: 1, ipLimit: 2 })
        const ip = `ip:2001:db8::${'a'.repeat(300)}${randomUUID()}`
        expect((await throttle.hit(ip, T0)).allowed).toBe(true)
        expect((await throttle.hit(ip, T0)).allowed).toBe(true)
        expect((await throttle.hit(ip, T0)).allowed).toBe(false)
      })

      it(`lets exactly \`limit\` of ${concurrency} concurrent hits on one key through`, async () => {
        const throttle = h().throttle({ limit: 5 })
        const k = key('client')
        expect(await allowedOf([throttle], concurrency, k, T0)).toBe(5)
        expect((await throttle.peek(k, T0)).allowed).toBe(false)
      })

      it.each([
        ['limit 0', { limit: 0 }],
        ['a fractional window', { window: 1.5 }],
        ['a string ipLimit', { ipLimit: '100' }],
        ['limit above 10 000', { limit: 10_001 }],
      ])('refuses %s with a TypeError', (_, limits) => {
        expect(() => h().throttle(limits as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
      })
    })

    if (!options.shared) return

    describe('shared by every process on the storage', () => {
      const other = (limits: ThrottleLimitOptions): Throttle => {
        const make = h().otherConnection
        if (make === undefined) throw new Error('a shared throttle harness needs otherConnection')
        return make(limits)
      }
      const purge = (now: Date, o?: PurgeOptions): Promise<number> => {
        const run = h().purgeExpired
        if (run === undefined) throw new Error('a shared throttle harness needs purgeExpired')
        return run(now, o)
      }
      const stored = (k: string): Promise<boolean> => {
        const read = h().stored
        if (read === undefined) throw new Error('a shared throttle harness needs stored')
        return read(k)
      }

      it('counts the hits of two connections together; peek and reset act on both', async () => {
        const a = h().throttle({ limit: 3, window: 600 })
        const b = other({ limit: 3, window: 600 })
        const k = key('client')
        expect((await a.hit(k, T0)).allowed).toBe(true)
        expect((await b.hit(k, T0 + 1000)).allowed).toBe(true)
        expect((await a.hit(k, T0 + 2000)).allowed).toBe(true)
        expect(await b.hit(k, T0 + 3000)).toEqual({ allowed: false, retryAfter: 597 })
        expect(await a.peek(k, T0 + 3000)).toEqual({ allowed: false, retryAfter: 597 })
        await b.reset(k)
        expect(await a.peek(k, T0 + 3000)).toEqual({ allowed: true, retryAfter: 0 })
      })

      it(`lets exactly \`limit\` of ${concurrency} concurrent hits from two connections on one key through`, async () => {
        const a = h().throttle({ limit: 7 })
        const b = other({ limit: 7 })
        const k = key('user')
        expect(await allowedOf([a, b], concurrency, k, T0)).toBe(7)
        expect((await a.hit(k, T0)).allowed).toBe(false)
        expect((await b.peek(k, T0)).allowed).toBe(false)
        // The window slides for both.
        expect(await allowedOf([b, a], concurrency, k, T0 + 600_000)).toBe(7)
      })

      it(`keeps the limit when ${concurrency} concurrent hits from two connections retake expired entries`, async () => {
        const a = h().throttle({ limit: 3, window: 10 })
        const b = other({ limit: 3, window: 10 })
        const k = key('client')
        for (let round = 0; round < 3; round++) expect(await allowedOf([a, b], concurrency, k, T0 + round * 10_000)).toBe(3)
      })

      it('purges keys whose hits all left the window, in batches, and keeps live ones (and their counts)', async () => {
        // Its own era, after every other test's times: the purge at its `now` deletes only what expired by then.
        const era = T0 + 1000 * 86_400_000
        const throttle = h().throttle({ limit: 1, window: 60 })
        const expired = Array.from({ length: 5 }, () => key('client'))
        const live = key('client')
        for (const k of expired) await throttle.hit(k, era)
        await throttle.hit(live, era + 30_000)
        for (const k of [...expired, live]) expect(await stored(k)).toBe(true)
        const now = new Date(era + 60_000)
        expect(await purge(now, { limit: 1 })).toBe(1)
        let total = 1
        for (let n = await purge(now, { limit: 2 }); n > 0; n = await purge(now, { limit: 2 })) total += n
        expect(total).toBeGreaterThanOrEqual(expired.length)
        for (const k of expired) expect(await stored(k)).toBe(false)
        expect(await stored(live)).toBe(true)
        expect(await throttle.peek(live, era + 60_000)).toEqual({ allowed: false, retryAfter: 30 })
        expect(await purge(now)).toBe(0)
      })
    })
  })
}
