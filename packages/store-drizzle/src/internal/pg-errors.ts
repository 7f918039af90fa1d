/**
 * What node-postgres says, without a SQLSTATE, when the pool or the
 * connection failed rather than the statement: it throws a bare `Error`
 * whose message is the only clue. These are turned into a
 * {@link PgConnectionError} so that the failure has a code for the log line
 * and is recognised as transient (core's `isTransientError`: 503 with
 * `Retry-After`, not 500).
 */
const CONNECTION_FAILURES: ReadonlyArray<readonly [message: string, code: PgConnectionFailure]> = [
  // pg-pool: no connection became free within connectionTimeoutMillis.
  ['timeout exceeded when trying to connect', 'pool_timeout'],
  // pg-pool / pg: a new connection did not open within connectionTimeoutMillis.
  ['Connection terminated due to connection timeout', 'connect_timeout'],
  ['timeout expired', 'connect_timeout'],
  // pg: the server closed the connection (a restart, pg_terminate_backend, the network).
  ['Connection terminated unexpectedly', 'connection_lost'],
  ['Client has encountered a connection error and is not queryable', 'connection_lost'],
  // pg: no answer within query_timeout (the server stopped answering).
  ['Query read timeout', 'query_timeout'],
]

/** Why {@link PgConnectionError} was raised. */
export type PgConnectionFailure = 'pool_timeout' | 'connect_timeout' | 'connection_lost' | 'query_timeout'

/**
 * A PostgreSQL failure of the pool or the connection that node-postgres
 * reports without a SQLSTATE. Transient (`transient: true`); its `code`
 * says which failure, its `cause` is drizzle's error as thrown. Its message
 * is fixed: the driver's error (with the SQL and its parameters) stays in
 * `cause`.
 */
export class PgConnectionError extends Error {
  override readonly name = 'PgConnectionError'
  /** Core's `isTransientError` reads this: retrying later may succeed. */
  readonly transient = true
  readonly code: PgConnectionFailure
  constructor(code: PgConnectionFailure, cause: unknown) {
    super(`PostgreSQL connection failure: ${code}`, { cause })
    this.code = code
  }
}

/**
 * The error a PostgreSQL store call throws for `error`: a
 * {@link PgConnectionError} around it when its cause chain holds one of
 * node-postgres' code-less connection failures, else `error` itself (a
 * SQLSTATE or an errno already says what happened, through drizzle's
 * `DrizzleQueryError` as its `cause`).
 */
export function surfacePgError(error: unknown): unknown {
  let current: unknown = error
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown }
    if (code !== undefined) return error
    if (typeof message === 'string') {
      const failure = CONNECTION_FAILURES.find(([text]) => text === message)
      if (failure !== undefined) return new PgConnectionError(failure[1], error)
    }
    current = cause
  }
  return error
}

/** Runs a store call, surfacing node-postgres' code-less connection failures (see {@link surfacePgError}). */
export async function surfacingPgErrors<T>(run: () => PromiseLike<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw surfacePgError(error)
  }
}
