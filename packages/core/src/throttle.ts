import { assertInteger, configError } from './config-error.js'
import { OAuthError, isOAuthError, type OAuthErrorCode } from './errors.js'
import type { OAuthRequest } from './request.js'
import { hashToken } from './secrets.js'

/** What a {@link Throttle} answers for a key. */
export interface ThrottleDecision {
  /** Whether another attempt may be made now. */
  readonly allowed: boolean
  /** When not allowed: whole seconds until one may be (at least 1); 0 when allowed. */
  readonly retryAfter: number
}

/**
 * A limiter of failed credential attempts (RFC 6819 §4.4.3.6, §5.1.4.2.3:
 * bound the number of guesses), as an async contract a store can implement
 * so that several processes share the counts. {@link memoryThrottle} is the
 * per-process default.
 *
 * Keys name what is guessed at: `client:<client_id>` (client
 * authentication), `user:<username>` (the password grant), and
 * `ip:<address>` when the adapter passes the remote address; they are at
 * most {@link MAX_THROTTLE_KEY_LENGTH} characters (a longer identity, which
 * a request may send, is replaced by its prefix and a SHA-256). A key's
 * limit is the implementation's choice (e.g. more for `ip:` keys, which
 * many identities share).
 */
export interface Throttle {
  /**
   * Records one attempt at `key` at `now` (milliseconds) and tells whether
   * it is within the limit. Must be atomic: of many concurrent hits, only as
   * many as the limit allows are `allowed`. A refused hit is not recorded,
   * so a flood does not extend the wait.
   */
  hit(key: string, now: number): Promise<ThrottleDecision>
  /** Whether an attempt at `key` would be allowed now, recording nothing. */
  peek(key: string, now: number): Promise<ThrottleDecision>
  /** Forgets `key` (after a successful attempt). */
  reset(key: string): Promise<void>
}

/** The limits of a sliding-window {@link Throttle}: {@link memoryThrottle}'s and the stores' throttles take the same. */
export interface ThrottleLimits {
  /** Failed attempts allowed per `client:` or `user:` key within `window`. Default 10. */
  limit?: number | undefined
  /** Failed attempts allowed per `ip:` key within `window`. Default 100. */
  ipLimit?: number | undefined
  /** The sliding window, in seconds. Default 600 (10 minutes). */
  window?: number | undefined
}

/** Options of {@link memoryThrottle}. */
export interface MemoryThrottleOptions extends ThrottleLimits {
  /** Keys held at most; the least recently used is evicted first. Default 10 000. */
  maxKeys?: number | undefined
}

/** {@link ThrottleLimits} checked, with defaults applied and the window in milliseconds. */
export interface CheckedThrottleLimits {
  readonly limit: number
  readonly ipLimit: number
  readonly windowMs: number
}

/**
 * Checks a throttle's limits once, at construction, throwing a `TypeError`
 * (`ERR_GRANTKIT_CONFIG`) that names `name`; the defaults are 10 per
 * `client:`/`user:` key, 100 per `ip:` key, a window of 600 s. For
 * implementations of {@link Throttle} that keep the counts elsewhere.
 */
export function throttleLimits(name: string, options: ThrottleLimits): CheckedThrottleLimits {
  if (typeof options !== 'object' || options === null) throw configError(`${name}: options must be an object`)
  const { limit = 10, ipLimit = 100, window = 600 } = options
  assertInteger(limit, `${name}: "limit"`, 1, 10_000)
  assertInteger(ipLimit, `${name}: "ipLimit"`, 1, 10_000)
  assertInteger(window, `${name}: "window"`, 1, 7 * 24 * 3600)
  return { limit, ipLimit, windowMs: window * 1000 }
}

/** The limit of `key`: `ip:` keys, which many identities share, have their own. */
export function throttleLimitOf(limits: CheckedThrottleLimits, key: string): number {
  return key.startsWith('ip:') ? limits.ipLimit : limits.limit
}

/**
 * The sliding-window rule every grantkit throttle follows: a key keeps the
 * times of its allowed hits; a hit is allowed while fewer than `limit` of
 * them are inside the window (a time `t` is inside at `now` while
 * `t > now - windowMs`), so no window ever holds more than `limit` allowed
 * hits, across any boundary. A refusal waits whole seconds until the oldest
 * live hit leaves the window, at least 1. `limit` 0 always refuses (an
 * implementation that lost a race for the last room).
 */
export function throttleDecision(hits: readonly number[], limit: number, windowMs: number, now: number): ThrottleDecision {
  let oldest = Number.POSITIVE_INFINITY
  let live = 0
  for (const t of hits) {
    if (t <= now - windowMs) continue
    live++
    if (t < oldest) oldest = t
  }
  if (live < limit) return { allowed: true, retryAfter: 0 }
  // No live hit any more (a reset meanwhile): one may try again at once, so the least wait.
  if (live === 0) return { allowed: false, retryAfter: 1 }
  return { allowed: false, retryAfter: Math.max(1, Math.ceil((oldest + windowMs - now) / 1000)) }
}

/** `now` as whole milliseconds; a non-finite `now` is a caller's bug, refused with a `TypeError` naming `name`. */
export function throttleNow(name: string, now: unknown): number {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new TypeError(`${name}: "now" must be a finite number of milliseconds`)
  return Math.floor(now)
}

/**
 * The default {@link Throttle}: a sliding window per key in this process's
 * memory. Each key keeps the times of its last failures (at most its limit),
 * and at most `maxKeys` keys are kept, so a flood of distinct keys costs
 * bounded memory (about `maxKeys · limit` numbers) instead of growing:
 * expired keys are dropped first, then the least recently used.
 *
 * Per process: behind a load balancer, each process counts on its own; back
 * the {@link Throttle} contract with a shared store to count together.
 */
export function memoryThrottle(options: MemoryThrottleOptions = {}): Throttle {
  const limits = throttleLimits('memoryThrottle', options)
  const maxKeys = options.maxKeys ?? 10_000
  assertInteger(maxKeys, 'memoryThrottle: "maxKeys"', 1, 10_000_000)
  const { windowMs } = limits
  // Insertion order is recency order: a touched key is moved to the end.
  const entries = new Map<string, number[]>()

  /** The key's failures still inside the window (older ones dropped). */
  const current = (key: string, now: number): number[] | undefined => {
    const times = entries.get(key)
    if (times === undefined) return undefined
    while (times.length > 0 && times[0]! <= now - windowMs) times.shift()
    if (times.length === 0) {
      entries.delete(key)
      return undefined
    }
    return times
  }

  const decide = (key: string, times: readonly number[] | undefined, now: number): ThrottleDecision =>
    times === undefined ? { allowed: true, retryAfter: 0 } : throttleDecision(times, throttleLimitOf(limits, key), windowMs, now)

  const evict = (now: number) => {
    for (const key of entries.keys()) {
      if (entries.size < maxKeys) return
      if (current(key, now) !== undefined) break
    }
    // Still full: drop the least recently used.
    while (entries.size >= maxKeys) entries.delete(entries.keys().next().value!)
  }

  return {
    async hit(key, now) {
      const times = current(key, now)
      const decision = decide(key, times, now)
      if (!decision.allowed) return decision
      if (times === undefined) {
        evict(now)
        entries.set(key, [now])
      } else {
        times.push(now)
        entries.delete(key)
        entries.set(key, times)
      }
      return decision
    },
    async peek(key, now) {
      return decide(key, current(key, now), now)
    },
    async reset(key) {
      entries.delete(key)
    },
  }
}

/** Whether a value has the {@link Throttle} shape. */
export function assertThrottle(value: unknown, name: string): asserts value is Throttle {
  const t = value as Partial<Throttle> | null
  if (typeof t !== 'object' || t === null || typeof t.hit !== 'function' || typeof t.peek !== 'function' || typeof t.reset !== 'function') {
    throw configError(`${name} must be false or an object with hit(key, now), peek(key, now) and reset(key) (see memoryThrottle)`)
  }
}

/** The longest key {@link throttledAttempt} hands a {@link Throttle}. */
export const MAX_THROTTLE_KEY_LENGTH = 128

/** Whether `text` has a character a column or an index may refuse or fold (NUL in PostgreSQL text, control characters, lone surrogates). */
function unstorable(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x7f || (c >= 0xd800 && c <= 0xdfff)) return true
  }
  return false
}

/**
 * A throttle key as it may be stored: as given when it is at most
 * {@link MAX_THROTTLE_KEY_LENGTH} characters and plain, else
 * `<prefix>:#<SHA-256>`, the prefix (`client`, `user`, `ip`) kept so that an
 * `ip:` key keeps its limit. So a flood of huge ids costs no more memory or
 * index space than short ones, every key fits a text column and index, and
 * one input always maps to one key. {@link throttledAttempt} hands a
 * {@link Throttle} only such keys; a store's throttle applies it again to
 * whatever its callers pass (a non-string is a `TypeError` naming `name`).
 */
export function storableThrottleKey(key: unknown, name = 'throttle'): string {
  if (typeof key !== 'string') throw new TypeError(`${name}: the key must be a string`)
  if (key.length <= MAX_THROTTLE_KEY_LENGTH && !unstorable(key)) return key
  const colon = key.indexOf(':')
  const prefix = colon > 0 && colon <= 16 && !unstorable(key.slice(0, colon)) ? key.slice(0, colon) : 'key'
  // Hashed as JSON, which spells out lone surrogates: two keys never share a hash (UTF-8 would fold them to U+FFFD).
  return `${prefix}:#${hashToken(JSON.stringify(key))}`
}

/**
 * The remote address an adapter passed with the request (`remoteAddress`,
 * the client's IP as the framework sees it behind trusted proxies), if any.
 */
export function remoteAddressOf(request: OAuthRequest): string | undefined {
  const address = (request as { readonly remoteAddress?: unknown }).remoteAddress
  return typeof address === 'string' && address !== '' ? address : undefined
}

/**
 * The answer to a throttled attempt: HTTP 429 with `Retry-After` (RFC 6585
 * §4, RFC 9110 §10.2.3) and the error code the failure itself would have
 * (`invalid_client`, `invalid_grant`), so that clients that switch on the
 * RFC 6749 §5.2 code keep working. Known and unknown identities are counted
 * alike and the credentials are not checked, so it tells nothing about
 * whether they exist or were right.
 */
export function throttledError(code: OAuthErrorCode, retryAfter: number): OAuthError {
  return new OAuthError(code, 'too many failed attempts; retry later', { status: 429, headers: { 'retry-after': String(retryAfter) } })
}

/** Options of {@link throttledAttempt}. */
export interface ThrottledAttemptOptions {
  /**
   * Count the attempt on `key` before checking it (`hit`, atomic), and
   * forget the key's failures after a success: of many concurrent guesses
   * exactly the limit are checked. Right for credentials a person chose and
   * uses one request at a time (a password). Without it only failures are
   * counted, so any number of concurrent honest requests (a busy
   * client_credentials client) is never throttled, and a burst of
   * concurrent guesses may pass the limit by at most its own size.
   */
  readonly strict?: boolean | undefined
}

/**
 * Runs one credential attempt under the throttle (`null`: unthrottled).
 *
 * - Before it: the `ip:` key (when the request has a remote address) and
 *   `key` (no identity key when `undefined`) must have room.
 * - A failure (an `OAuthError` with code `failure`) counts on both. In
 *   {@link ThrottledAttemptOptions.strict} mode the attempt is counted on
 *   `key` before it runs and a success resets `key`; otherwise successes
 *   neither count nor erase failures (they age out of the window).
 */
export async function throttledAttempt<T>(
  throttle: Throttle | null,
  request: OAuthRequest,
  key: string | undefined,
  now: number,
  failure: OAuthErrorCode,
  attempt: () => Promise<T>,
  options: ThrottledAttemptOptions = {},
): Promise<T> {
  if (throttle === null) return attempt()
  const strict = options.strict === true
  const address = remoteAddressOf(request)
  const ipKey = address === undefined ? undefined : storableThrottleKey(`ip:${address}`)
  key = key === undefined ? undefined : storableThrottleKey(key)
  if (ipKey !== undefined) {
    const ip = await throttle.peek(ipKey, now)
    if (!ip.allowed) throw throttledError(failure, ip.retryAfter)
  }
  if (key !== undefined) {
    const decision = strict ? await throttle.hit(key, now) : await throttle.peek(key, now)
    if (!decision.allowed) throw throttledError(failure, decision.retryAfter)
  }
  let result: T
  try {
    result = await attempt()
  } catch (error) {
    if (isOAuthError(error) && error.code === failure) {
      if (key !== undefined && !strict) await throttle.hit(key, now)
      if (ipKey !== undefined) await throttle.hit(ipKey, now)
    }
    throw error
  }
  if (key !== undefined && strict) await throttle.reset(key)
  return result
}
