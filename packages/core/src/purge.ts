import { configError } from './config-error.js'
import type { PurgeableStore } from './store.js'

/** Options of {@link purgeExpiredInBatches}. */
export interface PurgeBatchesOptions {
  /** Records that expired at or before this instant go. Default: now. */
  readonly now?: Date | undefined
  /** Records of each kind deleted per statement (`purgeExpired`'s `limit`). Default 500. */
  readonly batchSize?: number | undefined
  /** Stop after this many batches even if more remain (the next run goes on). Default 1000. */
  readonly maxBatches?: number | undefined
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

function positiveInteger(where: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 1) throw configError(`${where}: "${name}" must be a positive integer`)
  return value
}

/**
 * Deletes what expired, in bounded batches: each `purgeExpired(now, { limit })`
 * call is a short statement, and the event loop runs between batches, so a
 * backlog of a million rows never blocks other requests or holds a lock for
 * long. Several processes may run it at once. Returns how many records went.
 */
export async function purgeExpiredInBatches(store: PurgeableStore, options: PurgeBatchesOptions = {}): Promise<number> {
  const where = 'purgeExpiredInBatches'
  const limit = positiveInteger(where, 'batchSize', options.batchSize, 500)
  const maxBatches = positiveInteger(where, 'maxBatches', options.maxBatches, 1000)
  const now = options.now ?? new Date()
  let total = 0
  for (let batch = 0; batch < maxBatches; batch++) {
    const deleted = await store.purgeExpired(now, { limit })
    total += deleted
    if (deleted === 0) break
    await yieldToEventLoop()
  }
  return total
}

/** Options of {@link schedulePurge}. */
export interface PurgeScheduleOptions {
  /** Seconds between runs. Default 3600. */
  readonly intervalSeconds?: number | undefined
  /** Also run once right away. Default `false`. */
  readonly runAtStart?: boolean | undefined
  /** See {@link PurgeBatchesOptions.batchSize}. */
  readonly batchSize?: number | undefined
  /** See {@link PurgeBatchesOptions.maxBatches}. */
  readonly maxBatches?: number | undefined
  /** The clock (milliseconds since the epoch). Default `Date.now`. */
  readonly clock?: (() => number) | undefined
  /** Called after each run with the number of records deleted. */
  readonly onPurged?: ((count: number) => void) | undefined
  /** Called when a run fails (the schedule goes on). Default: ignore. */
  readonly onError?: ((error: unknown) => void) | undefined
}

/** A running {@link schedulePurge}. */
export interface PurgeSchedule {
  /** Runs a purge now (or joins the one in progress); resolves with its count. */
  runNow(): Promise<number>
  /** Stops the schedule and waits for a run in progress. */
  stop(): Promise<void>
}

/**
 * Purges expired codes, tokens, replay keys and device authorizations on a
 * schedule, with {@link purgeExpiredInBatches}. Runs never overlap in one
 * process; several processes on one database may each run a schedule. The
 * timer does not keep the process alive.
 *
 * @example
 * ```ts
 * const purge = schedulePurge(store, { intervalSeconds: 600 })
 * // on shutdown:
 * await purge.stop()
 * ```
 */
export function schedulePurge(store: PurgeableStore, options: PurgeScheduleOptions = {}): PurgeSchedule {
  if (typeof store?.purgeExpired !== 'function') throw configError('schedulePurge: the store has no purgeExpired')
  const intervalSeconds = positiveInteger('schedulePurge', 'intervalSeconds', options.intervalSeconds, 3600)
  const batchOptions = {
    batchSize: positiveInteger('schedulePurge', 'batchSize', options.batchSize, 500),
    maxBatches: positiveInteger('schedulePurge', 'maxBatches', options.maxBatches, 1000),
  }
  const clock = options.clock ?? Date.now
  let running: Promise<number> | null = null
  let stopped = false
  const run = (): Promise<number> => {
    if (running !== null) return running
    running = purgeExpiredInBatches(store, { ...batchOptions, now: new Date(clock()) })
      .then(
        (count) => {
          options.onPurged?.(count)
          return count
        },
        (error: unknown) => {
          options.onError?.(error)
          return 0
        },
      )
      .finally(() => {
        running = null
      })
    return running
  }
  const timer = setInterval(() => {
    if (!stopped) void run()
  }, intervalSeconds * 1000)
  ;(timer as { unref?: () => void }).unref?.()
  if (options.runAtStart === true) void run()
  return {
    runNow: run,
    async stop() {
      stopped = true
      clearInterval(timer)
      if (running !== null) await running
    },
  }
}
