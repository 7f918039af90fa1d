import { configError, type OAuthRequest } from '@grantkit/core'

/** Options of {@link registrationRateLimit}. */
export interface RegistrationRateLimitOptions {
  /** Registrations allowed per window and key. Default 20. */
  limit?: number
  /** The window, in seconds. Default 60. */
  windowSeconds?: number
  /**
   * The key a request counts against, e.g. the client's IP address as the
   * app's framework knows it, or the initial access token. Default: one key
   * for every request (a bound on the whole server).
   */
  key?: (request: OAuthRequest) => string
  /** Milliseconds since the epoch; default `Date.now`. */
  clock?: () => number
}

/** A `rateLimit` hook: `true` lets the registration through. */
export type RegistrationRateLimit = (request: OAuthRequest) => boolean

/** The most keys remembered at once; the oldest window is forgotten first beyond it. */
const MAX_KEYS = 10_000

/**
 * A fixed-window limit on registrations (RFC 7591 §5: registration may be
 * abused to exhaust the server's resources), kept in memory: at most
 * `limit` registrations per `windowSeconds` and key. In a cluster each
 * process counts its own; put a shared limiter in `rateLimit` instead.
 */
export function registrationRateLimit(options: RegistrationRateLimitOptions = {}): RegistrationRateLimit {
  const { limit = 20, windowSeconds = 60, key = () => '', clock = Date.now } = options
  if (!Number.isInteger(limit) || limit < 1) throw configError('registrationRateLimit: "limit" must be a positive integer')
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1) throw configError('registrationRateLimit: "windowSeconds" must be a positive integer')
  if (typeof key !== 'function' || typeof clock !== 'function') throw configError('registrationRateLimit: "key" and "clock" must be functions')
  const windows = new Map<string, { start: number; count: number }>()
  return (request) => {
    const now = clock()
    const id = key(request)
    let window = windows.get(id)
    if (window === undefined || now - window.start >= windowSeconds * 1000) {
      windows.delete(id)
      if (windows.size >= MAX_KEYS) windows.delete(windows.keys().next().value as string)
      window = { start: now, count: 0 }
      windows.set(id, window)
    }
    if (window.count >= limit) return false
    window.count++
    return true
  }
}
