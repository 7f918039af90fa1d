import type { Client } from '@grantkit/core'

/*
 * The client cache of the SQLite store. `findClient` runs on every token
 * request; a cached client must never outlive a change to its row, made by
 * anyone. Two counters say whether anything may have changed since a row was
 * read, and a row is served from the cache only while both are what they were
 * when it was read:
 *
 * - `PRAGMA data_version`, read on every lookup (about a microsecond, no
 *   table is touched): SQLite changes it whenever ANOTHER connection commits
 *   (another process, the clients CLI, a second connection in this process).
 *   It changes for their token writes too, so with several processes writing
 *   the cache mostly misses; it is never wrong.
 * - A counter of this process for THIS connection's writes to the clients
 *   table, which leave `data_version` alone: TEMP triggers (this connection
 *   only, nothing stored in the database) call a function that counts every
 *   inserted, updated or deleted client row, whoever issued the statement
 *   (this store, another store or raw SQL on the same connection). The
 *   store's own `saveClient`/`deleteClient` count too.
 *
 * Inside a transaction of the connection nothing is served or kept (a
 * rollback changes neither counter).
 */

/** The better-sqlite3 connection calls the cache needs. */
export interface CacheConnection {
  prepare(sql: string): { pluck(): { get(): unknown } }
  function(name: string, options: { deterministic: boolean }, fn: () => null): unknown
  exec(sql: string): unknown
  readonly inTransaction: boolean
}

/** Whether `client` is a better-sqlite3 connection (the one driver whose calls the cache uses). */
export function isCacheConnection(client: unknown): client is CacheConnection {
  const c = client as Partial<Record<keyof CacheConnection, unknown>> | null
  return typeof c === 'object' && c !== null && typeof c.prepare === 'function' && typeof c.function === 'function' && typeof c.exec === 'function' && typeof c.inTransaction === 'boolean'
}

/** What one connection's caches share: the counter of its client writes and the tables that have triggers. */
interface ConnectionState {
  writes: number
  readonly triggered: Set<string>
  readonly dataVersion: { get(): unknown }
}

const connections = new WeakMap<CacheConnection, ConnectionState>()
const CHANGED_FUNCTION = 'grantkit_clients_changed'

function stateOf(connection: CacheConnection): ConnectionState {
  let state = connections.get(connection)
  if (state === undefined) {
    const created: ConnectionState = { writes: 0, triggered: new Set(), dataVersion: connection.prepare('PRAGMA data_version').pluck() }
    connection.function(CHANGED_FUNCTION, { deterministic: false }, () => {
      created.writes++
      return null
    })
    connections.set(connection, (state = created))
  }
  return state
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`

/** A copy of a JSON value (arrays and plain objects), so that no caller shares the cached one. */
function copyJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copyJson) as T
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) out[key] = copyJson(item)
  return out as T
}

/** A copy of a client record that shares nothing with `client`. */
function copyClient(client: Client): Client {
  const copy: Client = { ...client, redirectUris: [...client.redirectUris], grantTypes: [...client.grantTypes], responseTypes: [...client.responseTypes] }
  if (client.metadata !== undefined) return { ...copy, metadata: copyJson(client.metadata) }
  return copy
}

/** When a row was read: both counters. */
export interface CacheTag {
  readonly dataVersion: unknown
  readonly writes: number
}

/** A lookup: the cached client, or the tag to keep the row read from the database under. */
export type CacheLookup = { readonly hit: true; readonly client: Client } | { readonly hit: false; readonly tag: CacheTag | undefined }

/** The clients cache of one store (see the comment at the top of this file). */
export class ClientCache {
  readonly #connection: CacheConnection
  readonly #table: string
  readonly #max: number
  #state: ConnectionState | undefined
  #tag: CacheTag | undefined
  #clients = new Map<string, Client>()

  /** `table`: the clients table's name; `max`: most clients kept (all are dropped when one more comes). */
  constructor(connection: CacheConnection, table: string, max = 1000) {
    this.#connection = connection
    this.#table = table
    this.#max = max
  }

  /** The triggers on the clients table, once it exists; `undefined` (nothing cached) until then. */
  #ready(): ConnectionState | undefined {
    if (this.#state !== undefined) return this.#state
    const state = stateOf(this.#connection)
    if (!state.triggered.has(this.#table)) {
      try {
        for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
          this.#connection.exec(
            `CREATE TEMP TRIGGER IF NOT EXISTS ${quote(`${this.#table}_grantkit_cache_${event.toLowerCase()}`)} AFTER ${event} ON main.${quote(this.#table)} BEGIN SELECT ${CHANGED_FUNCTION}(); END`,
          )
        }
      } catch {
        // No clients table yet (migrations not run): read from the database, and try again next time.
        return undefined
      }
      state.triggered.add(this.#table)
    }
    return (this.#state = state)
  }

  /**
   * The cached client when nothing changed since it was read; else the tag
   * under which to keep what is read now. Never throws: when the version
   * cannot be read (the statement found the database locked, say while
   * another process rebuilds the WAL index: `SQLITE_BUSY_RECOVERY`), nothing
   * is served or kept, and the caller reads the row, with the store's busy
   * retries, as it would without a cache.
   */
  lookup(clientId: string): CacheLookup {
    if (this.#connection.inTransaction) return { hit: false, tag: undefined }
    let tag: CacheTag
    try {
      const state = this.#ready()
      if (state === undefined) return { hit: false, tag: undefined }
      tag = { dataVersion: state.dataVersion.get(), writes: state.writes }
    } catch {
      this.#tag = undefined
      this.#clients = new Map()
      return { hit: false, tag: undefined }
    }
    const current = this.#tag
    if (current === undefined || current.dataVersion !== tag.dataVersion || current.writes !== tag.writes) {
      this.#tag = tag
      this.#clients = new Map()
      return { hit: false, tag }
    }
    const client = this.#clients.get(clientId)
    return client === undefined ? { hit: false, tag } : { hit: true, client: copyClient(client) }
  }

  /**
   * Keeps `client`, read after `lookup` gave `tag`, while the counters are
   * still those of `tag`. A row read later than its tag is no older than the
   * tag says, so it is never served after a change.
   */
  keep(tag: CacheTag | undefined, clientId: string, client: Client): void {
    const current = this.#tag
    if (tag === undefined || this.#connection.inTransaction || current === undefined) return
    if (current.dataVersion !== tag.dataVersion || current.writes !== tag.writes || this.#state?.writes !== tag.writes) return
    if (this.#clients.size >= this.#max) this.#clients.clear()
    this.#clients.set(clientId, copyClient(client))
  }

  /** Forgets every client (the store's own writes to the clients table call this, before and after). */
  invalidate(): void {
    if (this.#state !== undefined) this.#state.writes++
    this.#tag = undefined
    this.#clients = new Map()
  }
}
