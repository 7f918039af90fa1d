import { configError, memoryStore, type FullStore } from '@grantkit/core'
import type { PostgresPoolConfig } from './config.js'
import { sqliteWriteProbe } from './health.js'

/** An open store and how to close its connection. */
export interface OpenStore {
  readonly store: FullStore
  /** What the store is, without credentials, for the start-up log. */
  readonly description: string
  /**
   * The readiness check's round trip when the store has its own
   * (health.ts); without it, readiness looks a client up. Gives up, throwing,
   * within about `timeout` milliseconds.
   */
  readonly probe?: ((timeout: number) => Promise<void>) | undefined
  close(): Promise<void>
}

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** The PostgreSQL pool settings (`OAUTH_PG_*`); ignored by the other stores. */
  readonly postgres?: PostgresPoolConfig | undefined
}

/** The options of `connectPostgres` that are set. */
function poolOptions(config: PostgresPoolConfig | undefined): { poolSize?: number; connectionTimeoutMillis?: number; statementTimeoutMillis?: number } {
  const options: { poolSize?: number; connectionTimeoutMillis?: number; statementTimeoutMillis?: number } = {}
  if (config?.poolSize !== undefined) options.poolSize = config.poolSize
  if (config?.connectionTimeoutMillis !== undefined) options.connectionTimeoutMillis = config.connectionTimeoutMillis
  if (config?.statementTimeoutMillis !== undefined) options.statementTimeoutMillis = config.statementTimeoutMillis
  return options
}

/** Hides the password of a connection URL. */
function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

/**
 * Opens the store `OAUTH_STORE` names, creating tables and indexes when
 * missing: `memory:`, `sqlite:<file>` (relative to the working directory),
 * `postgres://…` / `postgresql://…`, or `mongodb://…/<db>` / `mongodb+srv://…`.
 * Only the package of that store (and its driver) is loaded: each start,
 * and each refusal to start, spends no time loading the others.
 */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<OpenStore> {
  if (spec === 'memory:' || spec === 'memory') {
    return { store: memoryStore(), description: 'memory', close: async () => {} }
  }
  if (spec.startsWith('sqlite:')) {
    const file = spec.slice('sqlite:'.length)
    if (file === '') throw configError('OAUTH_STORE=sqlite:<file> needs a file name')
    const { drizzleStore, openSqlite } = await import('@grantkit/store-drizzle')
    const db = await openSqlite(file)
    return {
      store: drizzleStore(db),
      description: `sqlite ${file}`,
      // Reads never wait in WAL mode: readiness checks that a write could start (no other process holds the lock).
      probe: (timeout) => sqliteWriteProbe(db.$client, timeout),
      close: async () => {
        db.$client.close()
      },
    }
  }
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    const { connectPostgres, drizzleStore } = await import('@grantkit/store-drizzle')
    const { db, close } = await connectPostgres(spec, poolOptions(options.postgres))
    return { store: drizzleStore(db), description: `postgres ${redact(spec)}`, close }
  }
  if (spec.startsWith('mongodb://') || spec.startsWith('mongodb+srv://')) {
    const { connectMongo } = await import('@grantkit/store-mongo')
    // TTL indexes where the server has them (not FerretDB v1): it deletes expired documents itself.
    const { store, indexes, close } = await connectMongo(spec, { ttlIndexes: true })
    const expiry = indexes.ttlIndexes ? 'TTL indexes' : 'no TTL indexes on this server'
    return { store, description: `mongodb ${redact(spec)} (${expiry})`, close }
  }
  throw configError(`OAUTH_STORE must be sqlite:<file>, postgres://…, mongodb://…/<db> or memory:, not "${redact(spec)}"`)
}
