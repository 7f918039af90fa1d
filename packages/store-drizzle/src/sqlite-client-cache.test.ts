import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createClient, type Client, type FullStore } from '@grantkit/core'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from './internal/testing.js'
import { openSqlite, type SqliteDatabase } from './open-sqlite.js'
import { sqliteStore } from './sqlite-store.js'

const run = promisify(execFile)
const packageDir = fileURLToPath(new URL('..', import.meta.url))

/**
 * Counts the statements that read the clients table on `db`'s connection (an
 * observer on better-sqlite3's Statement: every call still runs as before).
 */
function countClientReads(db: SqliteDatabase): { readonly count: number; restore(): void } {
  const proto = Object.getPrototypeOf(db.$client.prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown>
  const counter = { count: 0 }
  const originals = new Map<string, (...args: unknown[]) => unknown>()
  for (const method of ['all', 'get', 'iterate']) {
    const original = proto[method] as (...args: unknown[]) => unknown
    originals.set(method, original)
    proto[method] = function (this: { source: string; database: unknown }, ...args: unknown[]) {
      if (this.database === db.$client && /from "grantkit_clients"/i.test(this.source)) counter.count++
      return original.apply(this, args)
    }
  }
  return {
    get count() {
      return counter.count
    },
    restore: () => {
      for (const [method, original] of originals) proto[method] = original
    },
  }
}

describe('sqliteStore client cache: never serves a deleted or changed client (RFC 7592 section 2.3)', () => {
  const cleanups: (() => void)[] = []
  afterEach(() => {
    while (cleanups.length > 0) cleanups.pop()?.()
  })
  async function setup(): Promise<{ file: string; db: SqliteDatabase; store: FullStore; client: Client; open(): Promise<{ db: SqliteDatabase; store: FullStore }> }> {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'grantkit.sqlite')
    const open = async () => {
      const db = await openSqlite(file)
      cleanups.push(() => db.$client.close())
      return { db, store: sqliteStore(db) }
    }
    const { db, store } = await open()
    const { client } = await createClient({
      clientId: 'cached',
      grantTypes: ['client_credentials'],
      redirectUris: ['https://client.example/cb'],
      scope: 'read write',
      secretHash: 'sha256',
      metadata: { jwks: { keys: [{ kty: 'EC' }] } },
    })
    await store.saveClient(client)
    return { file, db, store, client, open }
  }

  it('reads the clients table once for repeated lookups while nothing changes, and hands out copies', async () => {
    const { db, store, client } = await setup()
    const reads = countClientReads(db)
    cleanups.push(reads.restore)
    const first = await store.findClient(client.clientId)
    for (let i = 0; i < 10; i++) expect(await store.findClient(client.clientId)).toEqual(first)
    expect(reads.count).toBe(1)
    ;(first?.redirectUris as string[]).push('https://evil.example/cb')
    ;((first?.metadata?.['jwks'] as { keys: unknown[] }).keys as unknown[]).push({})
    const again = await store.findClient(client.clientId)
    expect(again?.redirectUris).toEqual(['https://client.example/cb'])
    expect(again?.metadata).toEqual({ jwks: { keys: [{ kty: 'EC' }] } })
  })

  it('reads every time with clientCache: false', async () => {
    const { db, client } = await setup()
    const store = sqliteStore(db, { clientCache: false })
    const reads = countClientReads(db)
    cleanups.push(reads.restore)
    for (let i = 0; i < 3; i++) await store.findClient(client.clientId)
    expect(reads.count).toBe(3)
  })

  it('never serves a client deleted through another connection to the file (a second openSqlite)', async () => {
    const { store, client, open } = await setup()
    const other = await open()
    expect(await store.findClient(client.clientId)).not.toBeNull()
    expect(await store.findClient(client.clientId)).not.toBeNull()
    expect(await other.store.deleteClient(client.clientId)).toBe(true)
    expect(await store.findClient(client.clientId)).toBeNull()
  })

  it('never serves a client changed through another connection, however often it was read before', async () => {
    const { store, client, open } = await setup()
    const other = await open()
    for (let round = 1; round <= 5; round++) {
      for (let i = 0; i < 3; i++) await store.findClient(client.clientId)
      const scope = `scope-${round}`
      await other.store.saveClient({ ...client, scope, redirectUris: [`https://client.example/${round}`] })
      expect(await store.findClient(client.clientId)).toMatchObject({ scope, redirectUris: [`https://client.example/${round}`] })
    }
  })

  it('never serves a client changed or deleted by another process (plain SQL, as an operator or the clients CLI would)', async () => {
    const { file, store, client } = await setup()
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'read write' })
    const sql = (statement: string) =>
      run(process.execPath, ['-e', `const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.pragma('busy_timeout = 5000'); db.exec(process.argv[2]); db.close()`, file, statement], {
        cwd: packageDir,
      })
    await sql(`UPDATE grantkit_clients SET scope = 'read' WHERE client_id = 'cached'`)
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'read' })
    await sql(`DELETE FROM grantkit_clients WHERE client_id = 'cached'`)
    expect(await store.findClient(client.clientId)).toBeNull()
  })

  it('never serves a client changed by plain SQL or another store on the same connection (they leave data_version alone)', async () => {
    const { db, store, client } = await setup()
    // SQLite's data_version counts other connections' commits only: this connection's own writes leave it alone.
    const version = db.$client.pragma('data_version', { simple: true })
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'read write' })
    db.$client.prepare(`UPDATE grantkit_clients SET scope = 'read' WHERE client_id = ?`).run(client.clientId)
    expect(db.$client.pragma('data_version', { simple: true })).toBe(version)
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'read' })
    await sqliteStore(db).saveClient({ ...client, scope: 'write' })
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'write' })
    expect(await sqliteStore(db).deleteClient(client.clientId)).toBe(true)
    expect(await store.findClient(client.clientId)).toBeNull()
  })

  it('keeps nothing inside a transaction of the connection: a rolled-back change is never served', async () => {
    const { db, store, client } = await setup()
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'read write' })
    db.$client.exec('BEGIN')
    db.$client.prepare(`UPDATE grantkit_clients SET scope = 'uncommitted' WHERE client_id = ?`).run(client.clientId)
    // The connection sees its own uncommitted write, as it would without a cache.
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'uncommitted' })
    db.$client.exec('ROLLBACK')
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'read write' })
  })

  it('serves a client saved, then deleted by this store at once', async () => {
    const { store, client } = await setup()
    await store.findClient(client.clientId)
    await store.saveClient({ ...client, clientName: 'Renamed' })
    expect(await store.findClient(client.clientId)).toMatchObject({ clientName: 'Renamed' })
    expect(await store.deleteClient(client.clientId)).toBe(true)
    expect(await store.findClient(client.clientId)).toBeNull()
  })

  it('does not break writes to the clients table when the connection distrusts its schema (trusted_schema=OFF)', async () => {
    const { db, store, client } = await setup()
    db.$client.pragma('trusted_schema = OFF')
    await store.findClient(client.clientId)
    await store.saveClient({ ...client, scope: 'read' })
    expect(await store.findClient(client.clientId)).toMatchObject({ scope: 'read' })
  })

  it('works on a connection opened without openSqlite and migrated later (no clients table at first)', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'late.sqlite')
    const raw = new Database(file)
    cleanups.push(() => raw.close())
    const { drizzle } = await import('drizzle-orm/better-sqlite3')
    const store = sqliteStore(drizzle({ client: raw }))
    await expect(store.findClient('x')).rejects.toThrow()
    const migrated = await openSqlite(file)
    migrated.$client.close()
    const { client } = await createClient({ clientId: 'x', grantTypes: ['client_credentials'], redirectUris: [], scope: '' })
    await store.saveClient(client)
    expect(await store.findClient('x')).toMatchObject({ clientId: 'x' })
    raw.prepare(`DELETE FROM grantkit_clients`).run()
    expect(await store.findClient('x')).toBeNull()
  })
})
