import type { IncomingHttpHeaders } from 'node:http'
import { JSON_CONTENT_TYPES, SafeFetchError, fetchWithSettings, parseJsonBody, resolveSettings, type SafeFetchOptions } from './safe-fetch.js'

/** Options of {@link createJsonCache}: the fetch limits of {@link SafeFetchOptions} and the cache's own (times in seconds). */
export interface JsonCacheOptions extends SafeFetchOptions {
  /** The shortest time a document is kept, whatever `Cache-Control` says (`no-store`, `max-age=0`). Default 60. */
  minTtl?: number
  /** The longest time a document is kept, whatever `Cache-Control` says. Default 86400 (a day). */
  maxTtl?: number
  /** How long a document without `Cache-Control: max-age` is kept (then bounded by `minTtl`, `maxTtl`). Default 300. */
  defaultTtl?: number
  /** How long a failed fetch is remembered (and thrown again without a request). Default 30. */
  errorTtl?: number
  /** Forced refetches (`{ refetch: true }`) of one URL go out at most once per this interval. Default 60. */
  refetchInterval?: number
  /** The most URLs kept; the least recently used is dropped first. Default 1000. */
  maxEntries?: number
  /** The clock, in milliseconds (tests). Default `Date.now`. */
  now?: () => number
}

/** A cache of JSON documents fetched with {@link safeFetch}'s limits, from {@link createJsonCache}. */
export interface JsonCache {
  /**
   * The document at `url`: from the cache while fresh, else fetched
   * (concurrent calls share one fetch). With `refetch: true` (e.g. a JWT
   * names a key the cached JWK Set lacks) it is fetched again, unless it was
   * fetched less than `refetchInterval` ago: then the cached document (or
   * error) is answered, so a flood of such requests cannot make the server
   * hammer the URL. A failed refetch keeps the cached document. Throws a
   * {@link SafeFetchError}. The document is shared and deeply frozen.
   */
  get(url: string, options?: { readonly refetch?: boolean }): Promise<unknown>
  /** Forgets one URL. */
  delete(url: string): boolean
  /** Forgets everything. */
  clear(): void
  /** How many URLs are cached. */
  readonly size: number
}

interface Entry {
  readonly fetchedAt: number
  readonly expiresAt: number
  readonly value?: unknown
  readonly error?: SafeFetchError
}

function seconds(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 365 * 24 * 3600) {
    throw new TypeError(`createJsonCache: "${name}" must be an integer number of seconds, at least ${min}`)
  }
  return value
}

/** `max-age` of a `Cache-Control` header in seconds (0 for `no-store`, `no-cache`), or `undefined`. */
function maxAge(headers: IncomingHttpHeaders): number | undefined {
  const header = headers['cache-control']
  if (header === undefined) return undefined
  let age: number | undefined
  for (const directive of header.toLowerCase().split(',')) {
    const [name = '', value] = directive.trim().split('=', 2)
    if (name === 'no-store' || name === 'no-cache') return 0
    if (name === 'max-age' && value !== undefined && /^\d{1,10}$/.test(value.replace(/^"|"$/g, ''))) age = Number(value.replace(/^"|"$/g, ''))
  }
  return age
}

/** Freezes a parsed JSON value in depth: every caller gets the same cached object, none may change it for the others. */
function deepFreeze(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const member of Object.values(value)) deepFreeze(member)
  }
  return value
}

/** The cache key of a URL: its normalised form. */
function cacheKey(url: string): string {
  try {
    return new URL(url).href
  } catch {
    throw new SafeFetchError('bad_url', String(url), 'not an absolute URL')
  }
}

/**
 * A small cache of JSON documents keyed by URL (a client's `jwks_uri`,
 * metadata documents): each kept for its `Cache-Control: max-age` bounded
 * by `minTtl` and `maxTtl`, at most `maxEntries` URLs, failures remembered
 * for `errorTtl`, forced refetches rate-limited per URL. Fetches use
 * {@link safeFetch}'s limits; `contentTypes` defaults to JSON types.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.1 (max-age)
 */
export function createJsonCache(options: JsonCacheOptions = {}): JsonCache {
  if (typeof options !== 'object' || options === null) throw new TypeError('createJsonCache: options must be an object')
  const { minTtl: min, maxTtl: max, defaultTtl: def, errorTtl: err, refetchInterval: interval, maxEntries: entriesOption, now: clock, ...fetchOptions } = options
  const settings = resolveSettings({ contentTypes: JSON_CONTENT_TYPES, ...fetchOptions })
  const minTtl = seconds(min, 'minTtl', 60, 0)
  const maxTtl = seconds(max, 'maxTtl', 86_400, 1)
  if (minTtl > maxTtl) throw new TypeError('createJsonCache: "minTtl" must not exceed "maxTtl"')
  const defaultTtl = seconds(def, 'defaultTtl', 300, 0)
  const errorTtl = seconds(err, 'errorTtl', 30, 1)
  const refetchInterval = seconds(interval, 'refetchInterval', 60, 1)
  const maxEntries = seconds(entriesOption, 'maxEntries', 1000, 1)
  if (clock !== undefined && typeof clock !== 'function') throw new TypeError('createJsonCache: "now" must be a function')
  const now = clock ?? Date.now

  const entries = new Map<string, Entry>()
  const inFlight = new Map<string, Promise<unknown>>()

  const store = (key: string, entry: Entry) => {
    entries.delete(key)
    entries.set(key, entry)
    for (const oldest of entries.keys()) {
      if (entries.size <= maxEntries) break
      entries.delete(oldest)
    }
  }
  const answer = (entry: Entry): unknown => {
    if (entry.error !== undefined) throw entry.error
    return entry.value
  }

  async function load(key: string, previous: Entry | undefined): Promise<unknown> {
    try {
      const response = await fetchWithSettings(key, settings)
      const value = deepFreeze(parseJsonBody(response))
      const ttl = Math.min(maxTtl, Math.max(minTtl, maxAge(response.headers) ?? defaultTtl))
      const at = now()
      store(key, { fetchedAt: at, expiresAt: at + ttl * 1000, value })
      return value
    } catch (error) {
      if (!(error instanceof SafeFetchError)) throw error
      const at = now()
      if (previous !== undefined && previous.error === undefined && at < previous.expiresAt) {
        // A failed refetch keeps the document still fresh; the attempt still counts against the rate limit.
        store(key, { ...previous, fetchedAt: at })
        return previous.value
      }
      store(key, { fetchedAt: at, expiresAt: at + errorTtl * 1000, error })
      throw error
    }
  }

  return {
    async get(url, getOptions = {}) {
      const key = cacheKey(url)
      const entry = entries.get(key)
      const at = now()
      if (entry !== undefined && at < entry.expiresAt && (getOptions.refetch !== true || at < entry.fetchedAt + refetchInterval * 1000)) {
        store(key, entry)
        return answer(entry)
      }
      const pending = inFlight.get(key)
      if (pending !== undefined) return pending
      const loading = load(key, entry).finally(() => inFlight.delete(key))
      inFlight.set(key, loading)
      return loading
    },
    delete(url) {
      try {
        return entries.delete(cacheKey(url))
      } catch {
        return false
      }
    },
    clear: () => entries.clear(),
    get size() {
      return entries.size
    },
  }
}
