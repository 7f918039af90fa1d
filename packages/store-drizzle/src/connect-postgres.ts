import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import type { Pool, PoolConfig } from 'pg'
import { migratePg, type MigratePgOptions } from './migrate.js'

/** Options of {@link connectPostgres}. */
export interface ConnectPostgresOptions extends MigratePgOptions {
  /** Run the shipped migrations (default `true`). */
  migrate?: boolean
  /** Most connections the pool opens (`pg.Pool`'s `max`). Default 10. */
  poolSize?: number
  /**
   * How long a query waits for a free pooled connection or for a new
   * connection to open, in milliseconds, before it fails (`pg.Pool`'s
   * `connectionTimeoutMillis`). Default 3000: below core's 10 s request
   * timeout, so a starved pool answers an error instead of hanging every
   * endpoint.
   */
  connectionTimeoutMillis?: number
  /**
   * PostgreSQL's `statement_timeout` for every pooled connection, in
   * milliseconds: a statement blocked longer (by a lock, a slow disk) is
   * cancelled with SQLSTATE 57014 and its connection is free again.
   * Default 5000. The client also gives up on a query 1 s after it
   * (`query_timeout`), for a server that stopped answering. `0` turns both
   * off.
   */
  statementTimeoutMillis?: number
  /** More `pg.Pool` settings (`ssl`, `options: '-c search_path=…'`, …); they win over the options above. */
  pool?: Omit<PoolConfig, 'connectionString'>
  /**
   * Called when an idle pooled connection dies (database restart,
   * `pg_terminate_backend`, network loss). The pool drops that connection and
   * the next query opens a new one. Default: ignore it — without a listener
   * `pg.Pool` would crash the process with an unhandled `'error'` event.
   */
  onIdleError?: (error: Error) => void
}

/** What {@link connectPostgres} returns. */
export interface PostgresConnection {
  /** The drizzle database over the pool (the pool is `db.$client`). */
  db: NodePgDatabase & { $client: Pool }
  /** Ends the pool. */
  close(): Promise<void>
}

/**
 * Connects to PostgreSQL with a `pg.Pool`, runs the shipped migrations and
 * returns the drizzle database with a `close()`. The pool is bounded in
 * time: a query waits at most `connectionTimeoutMillis` for a connection and
 * a statement runs at most `statementTimeoutMillis`, so one locked table or
 * a slow database cannot make every endpoint hang.
 *
 * `pg` is loaded only when this is called, so SQLite users need not install it.
 *
 * @example
 * ```ts
 * const { db, close } = await connectPostgres('postgres://user:pass@localhost:5432/app')
 * const store = pgStore(db)
 * ```
 */
export async function connectPostgres(url: string, options: ConnectPostgresOptions = {}): Promise<PostgresConnection> {
  const [{ default: pg }, { drizzle }] = await Promise.all([import('pg'), import('drizzle-orm/node-postgres')])
  const statementTimeout = timeoutOption('statementTimeoutMillis', options.statementTimeoutMillis, 5000)
  const pool = new pg.Pool({
    max: timeoutOption('poolSize', options.poolSize, 10, 1),
    connectionTimeoutMillis: timeoutOption('connectionTimeoutMillis', options.connectionTimeoutMillis, 3000),
    ...(statementTimeout === 0 ? {} : { statement_timeout: statementTimeout, query_timeout: statementTimeout + 1000 }),
    ...options.pool,
    connectionString: url,
  })
  pool.on('error', (error) => options.onIdleError?.(error))
  const close = () => pool.end()
  try {
    const db = drizzle({ client: pool })
    if (options.migrate !== false) await migratePg(db, options)
    return { db, close }
  } catch (error) {
    await close()
    throw error
  }
}

/** A non-negative integer option (at least `min`), or its default. */
function timeoutOption(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < min) throw new TypeError(`connectPostgres: "${name}" must be an integer of at least ${min}`)
  return value
}
