import { configError } from '@grantkit/core'

/**
 * Bounds how many wrong user codes may be entered per key (RFC 8628 §5.1:
 * "the authorization server SHOULD rate-limit user code attempts"), for
 * {@link deviceVerification}. The key is what the app passes: a session id,
 * an IP address, or both.
 *
 * Every entry first takes an attempt ({@link consume}), atomically, so that
 * concurrent guesses cannot all slip in before the first is counted; a code
 * that turns out right is given back ({@link refund}): only wrong codes count.
 * Back it with Redis or a database to share the count between processes.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-5.1
 */
export interface AttemptLimiter {
  /** Takes one attempt for `key` and answers `true`; answers `false` when `key` has none left now (that entry is never refunded). */
  consume(key: string, now: Date): boolean | Promise<boolean>
  /** Gives back the attempt last taken for `key` (the code was right). */
  refund(key: string, now: Date): void | Promise<void>
}

/** Options of {@link memoryAttemptLimiter}. */
export interface MemoryAttemptLimiterOptions {
  /** Wrong entries allowed per key within `windowSeconds`. Default 5. */
  maxAttempts?: number
  /** The sliding window, in seconds. Default 60. */
  windowSeconds?: number
  /** Keys remembered at most; the oldest are forgotten first. Default 10 000. */
  maxKeys?: number
}

function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw configError(`memoryAttemptLimiter: "${name}" must be a positive integer`)
  return value
}

/**
 * An {@link AttemptLimiter} in process memory: at most `maxAttempts` wrong
 * entries per key in any `windowSeconds` (default 5 per minute), over at
 * most `maxKeys` keys. One process only; time is the caller's `now` (the
 * server's clock).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-5.1
 */
export function memoryAttemptLimiter(options: MemoryAttemptLimiterOptions = {}): AttemptLimiter {
  if (typeof options !== 'object' || options === null) throw configError('memoryAttemptLimiter: options must be an object')
  const maxAttempts = positiveInteger(options.maxAttempts ?? 5, 'maxAttempts')
  const windowMs = positiveInteger(options.windowSeconds ?? 60, 'windowSeconds') * 1000
  const maxKeys = positiveInteger(options.maxKeys ?? 10_000, 'maxKeys')
  // key → times (ms) of the attempts taken within the window, oldest first.
  const attempts = new Map<string, number[]>()

  const recent = (key: string, now: number): number[] => {
    const times = attempts.get(key)
    if (times === undefined) return []
    const kept = times.filter((t) => t > now - windowMs)
    if (kept.length === 0) attempts.delete(key)
    else attempts.set(key, kept)
    return kept
  }

  const makeRoom = (now: number) => {
    for (const key of [...attempts.keys()]) recent(key, now)
    // Still full: forget the key least recently added.
    for (const key of attempts.keys()) {
      if (attempts.size < maxKeys) break
      attempts.delete(key)
    }
  }

  return {
    consume(key, now) {
      const t = now.getTime()
      const times = recent(key, t)
      if (times.length >= maxAttempts) return false
      if (times.length === 0) {
        if (attempts.size >= maxKeys) makeRoom(t)
        attempts.set(key, [t])
      } else {
        times.push(t)
      }
      return true
    },
    refund(key) {
      const times = attempts.get(key)
      if (times === undefined) return
      times.pop()
      if (times.length === 0) attempts.delete(key)
    },
  }
}
