import { configError, memoryStore, type FullStore, type PurgeableStore, type Throttle } from '@grantkit/core'
import type { PushedRequestStore } from '@grantkit/par'
import type { PostgresPoolConfig } from './config.js'
import { sqliteWriteProbe } from './health.js'

/**
 * What the processes on one database share besides the store itself
 * (docs/deployment.md): the counts of failed credentials (`OAUTH_THROTTLE=on`)
 * and the pushed authorization requests (RFC 9126), kept in the store's
 * database so that a load balancer may send each request to any process.
 */
export interface SharedState {
  /** The store's throttle with core's default limits (10 per identity, 100 per address, 10 minutes). */
  throttle(): Throttle
  /** The store's pushed requests. */
  readonly pushedRequests: PushedRequestStore
}

/** The shared state of each store {@link openStore} opened, by store (the memory store has none: it is one process's). */
const sharedStates = new WeakMap<FullStore, SharedState>()

/**
 * The {@link SharedState} of a store opened by {@link openStore}, or
 * `undefined` for the memory store (and any other), which then uses core's
 * `memoryThrottle` and the PAR package's memory store.
 */
export function sharedStateOf(store: FullStore): SharedState | undefined {
  return sharedStates.get(store)
}

/** Records the shared state of an opened store (see {@link sharedStateOf}). */
function withSharedState(opened: OpenStore, shared: SharedState): OpenStore {
  sharedStates.set(opened.store, shared)
  return { ...opened, shared }
}

/**
 * One purge target for the store's records and the shared tables beside them
 * (SQLite, PostgreSQL: the throttle's and the pushed requests' tables have a
 * purge of their own; MongoDB's store purges its collections itself). Each
 * batch deletes at most `limit` rows from each; the batches go on while any
 * deletes something.
 */
function purgingAll(...targets: readonly PurgeableStore[]): PurgeableStore {
  return {
    async purgeExpired(now, options) {
      let count = 0
      for (const target of targets) count += await target.purgeExpired(now, options)
      return count
    },
  }
}

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
  /** The throttle and pushed requests in the store's database; absent for the memory store. */
  readonly shared?: SharedState | undefined
  /** What the scheduled purge (`OAUTH_PURGE_INTERVAL`) runs on; default `store`. */
  readonly purgeable?: PurgeableStore | undefined
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
    const { drizzlePushedRequestStore, drizzleStore, drizzleThrottle, openSqlite } = await import('@grantkit/store-drizzle')
    const db = await openSqlite(file)
    const store = drizzleStore(db)
    const shared = { throttle: () => drizzleThrottle(db), pushedRequests: drizzlePushedRequestStore(db) }
    return withSharedState(
      {
        store,
        purgeable: purgingAll(store, shared.throttle(), shared.pushedRequests),
        description: `sqlite ${file}`,
        // Reads never wait in WAL mode: readiness checks that a write could start (no other process holds the lock).
        probe: (timeout) => sqliteWriteProbe(db.$client, timeout),
        close: async () => {
          db.$client.close()
        },
      },
      shared,
    )
  }
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    const { connectPostgres, drizzlePushedRequestStore, drizzleStore, drizzleThrottle } = await import('@grantkit/store-drizzle')
    const { db, close } = await connectPostgres(spec, poolOptions(options.postgres))
    const store = drizzleStore(db)
    const shared = { throttle: () => drizzleThrottle(db), pushedRequests: drizzlePushedRequestStore(db) }
    return withSharedState({ store, purgeable: purgingAll(store, shared.throttle(), shared.pushedRequests), description: `postgres ${redact(spec)}`, close }, shared)
  }
  if (spec.startsWith('mongodb://') || spec.startsWith('mongodb+srv://')) {
    const { connectMongo, mongoPushedRequestStore, mongoThrottle } = await import('@grantkit/store-mongo')
    // TTL indexes where the server has them (not FerretDB v1): it deletes expired documents itself.
    // ensureIndexes (run by connectMongo) also indexes the throttle and pushed request collections.
    const { db, store, indexes, close } = await connectMongo(spec, { ttlIndexes: true })
    const expiry = indexes.ttlIndexes ? 'TTL indexes' : 'no TTL indexes on this server'
    return withSharedState(
      { store, description: `mongodb ${redact(spec)} (${expiry})`, close },
      { throttle: () => mongoThrottle(db), pushedRequests: mongoPushedRequestStore(db) },
    )
  }
  throw configError(`OAUTH_STORE must be sqlite:<file>, postgres://…, mongodb://…/<db> or memory:, not "${redact(spec)}"`)
}
