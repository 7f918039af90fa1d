import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import type { Pool, PoolConfig } from 'pg'
import { migratePg, type MigratePgOptions } from './migrate.js'

/** Options of {@link connectPostgres}. */
export interface ConnectPostgresOptions extends MigratePgOptions {
  /** Run the shipped migrations (default `true`). */
  migrate?: boolean
  /** More `pg.Pool` settings (`max`, `ssl`, `options: '-c search_path=…'`, …). */
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
 * returns the drizzle database with a `close()`.
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
  const pool = new pg.Pool({ ...options.pool, connectionString: url })
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
