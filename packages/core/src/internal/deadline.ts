import { configError } from '../config-error.js'

/** The default time an endpoint (reading the body included) may take before it answers `server_error`: 10 s. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000

/** What a deadline was waiting for: the server's work (the store, a hook), or the client's body. */
export type DeadlineStage = 'work' | 'body'

/**
 * Raised when an endpoint's work (usually the store) does not finish in
 * time, or its body does not arrive in time. `transient` says which (see
 * `isTransientError`): a store or hook that outlived the deadline is a
 * passing outage (503), a client that stopped sending its body is not.
 */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError'
  /** `true` for the server's work (answered 503), `false` for a body that stopped arriving. */
  readonly transient: boolean
  constructor(ms: number, stage: DeadlineStage = 'work') {
    super(stage === 'body' ? `the request body did not arrive within ${ms} ms` : `the request did not complete within ${ms} ms`)
    this.transient = stage === 'work'
  }
}

/** Checks a `requestTimeout` / `timeout` option at setup. */
export function assertTimeout(value: unknown, where: string): void {
  if (value === undefined || value === false) return
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw configError(`${where} must be a positive number of milliseconds or false`)
  }
}

interface Watched {
  readonly end: number
  readonly ms: number
  readonly stage: DeadlineStage
  readonly reject: (error: RequestTimeoutError) => void
}

// One shared sweeper instead of a timer per request: on the token endpoint a
// setTimeout/clearTimeout pair and a Promise.race per request cost more than
// the work they guard. The sweeper runs only while deadlines are pending.
const pending = new Set<Watched>()
let sweeper: ReturnType<typeof setInterval> | undefined
let sweepEvery = 0

function sweep(): void {
  const now = Date.now()
  for (const watched of pending) {
    if (watched.end <= now) {
      pending.delete(watched)
      watched.reject(new RequestTimeoutError(watched.ms, watched.stage))
    }
  }
  if (pending.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper)
    sweeper = undefined
  }
}

function watch(watched: Watched): void {
  pending.add(watched)
  // Resolution: a quarter of the shortest timeout in use, at most 100 ms.
  const every = Math.max(5, Math.min(100, Math.floor(watched.ms / 4)))
  if (sweeper === undefined || every < sweepEvery) {
    if (sweeper !== undefined) clearInterval(sweeper)
    sweepEvery = every
    sweeper = setInterval(sweep, every)
    ;(sweeper as { unref?: () => void }).unref?.()
  }
}

/**
 * A per-request deadline: `within(promise)` settles like `promise`, or rejects
 * with {@link RequestTimeoutError} once `ms` have passed since the deadline was
 * made (`within(promise, 'body')` while reading the client's body: a timeout
 * there is not transient) (checked by a shared sweeper, to within a quarter of `ms`, at most
 * 100 ms). A promise that loses is left to settle on its own (its rejection is
 * handled), so a hanging store cannot hold a request open, and nothing is
 * written for the request after the timeout.
 */
export function deadline(ms: number | false): <T>(promise: Promise<T> | T, stage?: DeadlineStage) => Promise<T> {
  if (ms === false) return async (promise) => promise
  const end = Date.now() + ms
  return <T>(promise: Promise<T> | T, stage: DeadlineStage = 'work') =>
    new Promise<T>((resolve, reject) => {
      const watched: Watched = { end, ms, stage, reject }
      watch(watched)
      Promise.resolve(promise).then(
        (value) => {
          pending.delete(watched)
          resolve(value)
        },
        (error: unknown) => {
          pending.delete(watched)
          reject(error)
        },
      )
    })
}
