import { OAuthError } from './errors.js'

/**
 * The `Retry-After` (RFC 9110 §10.2.3), in seconds, of a 503 answered for a
 * passing outage: long enough for a pool to reconnect or a primary to be
 * elected, short enough that a client retrying once gets through.
 */
export const RETRY_AFTER_SECONDS = 5

/** Node.js and undici error codes of a network failure that retrying later can fix. */
const TRANSIENT_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  // A DNS lookup that may succeed later (not ENOTFOUND: a wrong host name stays wrong).
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
])

/**
 * PostgreSQL SQLSTATEs (Appendix A of its manual) of a failure that is not
 * the statement's fault: class 08 (connection exception) and class 53
 * (insufficient resources: disk full, out of memory, too many connections)
 * are matched by class; these individually.
 */
const TRANSIENT_SQLSTATE = new Set([
  // admin_shutdown, crash_shutdown, cannot_connect_now (a restart, a failover, recovery)
  '57P01',
  '57P02',
  '57P03',
  // query_canceled: the statement_timeout fired (a lock, a slow disk)
  '57014',
  // serialization_failure, deadlock_detected: the transaction may succeed when run again
  '40001',
  '40P01',
  // lock_not_available: the lock_timeout fired
  '55P03',
])
const SQLSTATE = /^[0-9A-Z]{5}$/

/**
 * SQLite result codes (better-sqlite3's `SqliteError.code`, extended codes
 * included) of a database another connection holds: `SQLITE_BUSY` and
 * `SQLITE_LOCKED` reach the server only after the store's own retries ran
 * out; `SQLITE_FULL` is the disk, as PostgreSQL's 53100.
 */
const TRANSIENT_SQLITE = /^SQLITE_(?:BUSY|LOCKED|FULL)(?:_|$)/

/** Error classes of the MongoDB Node.js driver for a network, pool or server-selection failure. */
const TRANSIENT_MONGO_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoWaitQueueTimeoutError',
  'MongoPoolClearedError',
  'MongoOperationTimeoutError',
  'MongoServerClosedError',
])

/**
 * MongoDB server error codes the drivers' retryable-reads list names (a
 * primary stepping down, a shutdown, a network timeout between members),
 * plus MaxTimeMSExpired (50), WriteConflict (112) and LockTimeout (24).
 */
const TRANSIENT_MONGO_CODES = new Set([6, 7, 24, 50, 89, 91, 112, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436])

/** Labels a MongoDB server or driver puts on an error that is safe to retry. */
const TRANSIENT_MONGO_LABELS = ['RetryableWriteError', 'TransientTransactionError', 'ResetPool', 'PoolRequstedRetry']

/** Whether one error object (not its causes) says it is transient: `undefined` when it does not say. */
function classify(error: object): boolean | undefined {
  const { transient, code, name, errorLabels } = error as { transient?: unknown; code?: unknown; name?: unknown; errorLabels?: unknown }
  // An explicit mark (core's RequestTimeoutError, a store's own error, an app's) wins either way.
  if (typeof transient === 'boolean') return transient
  if (typeof code === 'string') {
    if (TRANSIENT_ERRNO.has(code) || TRANSIENT_SQLITE.test(code)) return true
    if (SQLSTATE.test(code) && (code.startsWith('08') || code.startsWith('53') || TRANSIENT_SQLSTATE.has(code))) return true
  }
  if (typeof name === 'string' && name.startsWith('Mongo')) {
    if (TRANSIENT_MONGO_NAMES.has(name)) return true
    if (typeof code === 'number' && TRANSIENT_MONGO_CODES.has(code)) return true
    if (Array.isArray(errorLabels) && TRANSIENT_MONGO_LABELS.some((label) => errorLabels.includes(label))) return true
  }
  return undefined
}

/**
 * Whether an unexpected error is a passing outage of something the server
 * depends on — the database restarting, unreachable or overloaded, a pool
 * with no free connection, a lock held too long, the request deadline of
 * the HTTP layer — rather than a bug: retrying the same request later may
 * succeed. grantkit answers such errors 503 with `Retry-After` instead of
 * 500 (see the core README, "Outages").
 *
 * It walks the error, its `cause` chain and the `errors` of an
 * `AggregateError` (drizzle wraps the driver's error in a
 * `DrizzleQueryError`, Node.js reports a failed dual-stack connect as an
 * `AggregateError`), and recognises:
 *
 * - an own `transient: true` (or `false`, which ends the walk: not
 *   transient) — how a store or an app marks its own errors;
 * - Node.js network codes: `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`,
 *   `EPIPE`, `EHOSTUNREACH`, `ENETUNREACH`, `EAI_AGAIN`, undici's
 *   connect, header and socket failures;
 * - PostgreSQL SQLSTATEs: classes 08 (connection) and 53 (insufficient
 *   resources), 57P01–57P03 (shutdown, cannot connect now), 57014 (statement
 *   timeout), 40001 and 40P01 (serialization failure, deadlock), 55P03 (lock
 *   timeout);
 * - SQLite `SQLITE_BUSY`, `SQLITE_LOCKED` and `SQLITE_FULL` (and their
 *   extended codes);
 * - MongoDB driver network, timeout, pool and server-selection errors, the
 *   retryable server codes (not primary, shutting down, …) and the
 *   `RetryableWriteError` / `TransientTransactionError` labels.
 *
 * Anything else — a constraint violation, a syntax error, a `TypeError` —
 * is not transient. An {@link OAuthError} is never transient: it is an
 * answer already.
 *
 * @example
 * ```ts
 * try {
 *   await store.saveClient(client)
 * } catch (error) {
 *   if (isTransientError(error)) return retryLater()
 *   throw error
 * }
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4 (503 Service Unavailable)
 */
export function isTransientError(error: unknown): boolean {
  if (error instanceof OAuthError) return false
  const seen = new Set<object>()
  const queue: unknown[] = [error]
  // Bounded: a cause chain is a few links; a cycle or a huge AggregateError must not loop.
  while (queue.length > 0 && seen.size < 16) {
    const current = queue.shift()
    if ((typeof current !== 'object' && typeof current !== 'function') || current === null || seen.has(current)) continue
    seen.add(current)
    let verdict: boolean | undefined
    try {
      verdict = classify(current)
    } catch {
      // A getter that throws says nothing.
      verdict = undefined
    }
    if (verdict !== undefined) return verdict
    try {
      const { cause, errors } = current as { cause?: unknown; errors?: unknown }
      queue.push(cause)
      if (Array.isArray(errors)) queue.push(...errors.slice(0, 8))
    } catch {
      // As above.
    }
  }
  return false
}

/**
 * The `OAuthError` answered for an unexpected error, never with its details:
 * 500 `server_error`, or, when {@link isTransientError}, 503 with
 * `Retry-After` and `code` (`server_error` at the token, revocation,
 * introspection and other JSON endpoints — the codes RFC 6749 §5.2 lists —
 * `temporarily_unavailable` at the authorization endpoint, RFC 6749
 * §4.1.2.1).
 */
export function unexpectedError(error: unknown, options: { readonly code?: 'server_error' | 'temporarily_unavailable'; readonly redirect?: OAuthError['redirect'] } = {}): OAuthError {
  const redirect = options.redirect === undefined ? {} : { redirect: options.redirect }
  if (!isTransientError(error)) return new OAuthError('server_error', 'the server failed to process the request', { cause: error, ...redirect })
  return new OAuthError(options.code ?? 'server_error', 'the server is temporarily unavailable, retry later', {
    status: 503,
    headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
    cause: error,
    ...redirect,
  })
}

/**
 * The error to answer at the authorization endpoint: a transient
 * `server_error` (503) becomes `temporarily_unavailable`, the code RFC 6749
 * §4.1.2.1 defines "because a 503 Service Unavailable HTTP status code
 * cannot be returned to the client via an HTTP redirect". Anything else is
 * returned as it is.
 */
export function forAuthorizationEndpoint(error: OAuthError): OAuthError {
  if (error.code !== 'server_error' || error.status !== 503) return error
  return new OAuthError('temporarily_unavailable', error.description, { status: 503, headers: error.headers, cause: error.cause, ...(error.redirect === undefined ? {} : { redirect: error.redirect }) })
}
