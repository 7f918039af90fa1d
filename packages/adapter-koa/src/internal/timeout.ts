/** The default time an endpoint may take before it answers `server_error`: 10 s. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000

/** Raised when an endpoint's work (usually the store) does not finish in time. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError'
  constructor(ms: number) {
    super(`the request did not complete within ${ms} ms`)
  }
}

/** Checks a `requestTimeout` / `timeout` option at setup. */
export function assertTimeout(value: unknown, where: string): void {
  if (value === undefined || value === false) return
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${where} must be a positive number of milliseconds or false`)
  }
}

/**
 * A per-request deadline: `within(promise)` settles like `promise`, or rejects
 * with {@link RequestTimeoutError} once `ms` have passed since the deadline was
 * made. A promise that loses the race is left to settle on its own (its
 * rejection is handled by the race), so a hanging store cannot hold a request
 * open, and nothing is written for the request after the timeout.
 */
export function deadline(ms: number | false): <T>(promise: Promise<T> | T) => Promise<T> {
  if (ms === false) return async (promise) => promise
  const end = Date.now() + ms
  return (promise) => {
    const remaining = end - Date.now()
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new RequestTimeoutError(ms)), Math.max(0, remaining))
    })
    return Promise.race([Promise.resolve(promise), expired]).finally(() => clearTimeout(timer))
  }
}
