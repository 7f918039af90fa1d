import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { FullStore, TokenRecord } from '@grantkit/core'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { Checkpointer, writeHoldOf } from './internal/checkpointer.js'
import { tempDir } from './internal/testing.js'
import { openSqlite, type OpenSqliteOptions, type SqliteDatabase } from './open-sqlite.js'
import { sqliteStore } from './sqlite-store.js'

const KiB = 1024
const MiB = 1024 * KiB

/** Size of the `-wal` file (0 when there is none). */
const walBytes = (file: string) => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0)

/** `n` small token rows from `start` on, with increasing keys (each batch appends to the indexes: a small WAL per row). */
function tokens(start: number, n: number): TokenRecord[] {
  const issuedAt = new Date('2030-01-01T00:00:00.000Z')
  const expiresAt = new Date('2030-01-01T01:00:00.000Z')
  return Array.from({ length: n }, (_, i) => {
    const key = String(start + i).padStart(9, '0')
    return { tokenHash: `t${key}`, type: 'access_token', clientId: 'c', userId: null, scope: '', familyId: `f${key}`, issuedAt, expiresAt, revokedAt: null, rotatedAt: null }
  })
}

describe('openSqlite checkpoint thread (WAL checkpoints off the event loop, bounded WAL)', () => {
  const cleanups: (() => void)[] = []
  afterEach(() => {
    while (cleanups.length > 0) cleanups.pop()?.()
  })
  async function open(options: OpenSqliteOptions = {}): Promise<{ db: SqliteDatabase; store: FullStore; file: string }> {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'grantkit.sqlite')
    const db = await openSqlite(file, options)
    cleanups.push(() => {
      if (db.$client.open) db.$client.close()
    })
    return { db, store: sqliteStore(db), file }
  }
  /** Saves rows from `start` on, 500 per statement, until the WAL file holds at least `bytes`; gives the next start. */
  async function writeUntil(store: FullStore, file: string, start: number, bytes: number): Promise<number> {
    while (walBytes(file) < bytes) {
      await store.saveTokens(tokens(start, 500))
      start += 500
    }
    return start
  }

  it('keeps the -wal file under a bound while 200,000 rows are written in batches as fast as they go, and without checkpoints it grows past it', async () => {
    const limit = 8 * MiB
    // The thread truncates the WAL once the file is past the limit, checked after each PASSIVE checkpoint
    // (every 20 ms here): it overshoots by what is written meanwhile. Writes as fast as these (about a
    // limit's worth every 150 ms) outrun the copy, more so when the threads share busy cores, so the
    // bound is generous: without checkpoints the same writes grow the WAL past it within a quarter of them.
    const bound = 8 * limit
    const { db, store, file } = await open({ checkpoint: { intervalMillis: 20, walSizeLimit: limit } })
    let largest = 0
    for (let start = 0; start < 200_000; start += 500) {
      // As requests do: one saveTokens call per token, grouped into multi-row inserts by the store.
      await Promise.all(tokens(start, 500).map((token) => store.saveTokens([token])))
      largest = Math.max(largest, walBytes(file))
    }
    expect(db.$client.prepare('SELECT count(*) AS n FROM grantkit_tokens').get()).toEqual({ n: 200_000 })
    expect(largest).toBeGreaterThan(0)
    expect(largest).toBeLessThanOrEqual(bound)

    // The same writes with no checkpoint at all (what turning auto-checkpoint off without a thread would do).
    const control = await open({ checkpoint: false })
    control.db.$client.pragma('wal_autocheckpoint = 0')
    let rows = 0
    for (let start = 0; start < 200_000 && walBytes(control.file) <= bound; start += 500, rows += 500) {
      await Promise.all(tokens(start, 500).map((token) => control.store.saveTokens([token])))
    }
    expect(walBytes(control.file)).toBeGreaterThan(bound)
    expect(rows).toBeLessThan(200_000 / 4)
  })

  it('copies every frame into the database file while nothing is written, so that the next write starts the WAL over from its beginning', async () => {
    // No interval checkpoint during the test: only the ones asked for.
    const { db, store, file } = await open({ checkpoint: { intervalMillis: 3_600_000, walSizeLimit: 4 * MiB } })
    const checkpointer = db.$checkpointer
    if (checkpointer === undefined) throw new Error('no checkpoint thread')
    const next = await writeUntil(store, file, 0, 0.8 * MiB)
    const size = walBytes(file)
    const result = await checkpointer.checkpoint()
    expect(result).toMatchObject({ truncated: false, walBytes: size })
    expect(result.walFrames).toBeGreaterThan(0)
    expect(result.checkpointedFrames).toBe(result.walFrames)
    // The next batch overwrites the start of the file: it does not grow, and the WAL holds only that batch.
    await store.saveTokens(tokens(next, 500))
    expect(walBytes(file)).toBe(size)
    const after = await checkpointer.checkpoint()
    expect(after.walFrames).toBeGreaterThan(0)
    expect(after.walFrames).toBeLessThan(result.walFrames / 2)
  })

  it('holds the store writes of its connection, asynchronously, while a TRUNCATE waits for a reader of another connection; reads go on', async () => {
    // A long busy timeout, so that the TRUNCATE waits for the reader below until it ends.
    const { db, store, file } = await open({ checkpoint: { intervalMillis: 3_600_000, walSizeLimit: 256 * KiB, busyTimeout: 10_000 } })
    const hold = writeHoldOf(db.$client)
    if (hold === undefined || db.$checkpointer === undefined) throw new Error('no checkpoint thread')
    const rows = await writeUntil(store, file, 0, 300 * KiB)
    // Another connection (a backup, a report) reads on an old snapshot: the WAL cannot start over meanwhile.
    const reader = new Database(file)
    cleanups.push(() => reader.close())
    reader.exec('BEGIN')
    expect(reader.prepare('SELECT count(*) AS n FROM grantkit_tokens').get()).toEqual({ n: rows })
    // Counts the writes that run on the request connection while the thread holds writes.
    const proto = Object.getPrototypeOf(db.$client.prepare('SELECT 1')) as Record<'run' | 'all', (...args: unknown[]) => unknown>
    const originals = { run: proto.run, all: proto.all }
    let writesWhileHeld = 0
    for (const method of ['run', 'all'] as const) {
      proto[method] = function (this: { source: string; database: unknown }, ...args: unknown[]) {
        if (this.database === db.$client && hold.held && /^\s*insert/i.test(this.source)) writesWhileHeld++
        return originals[method].apply(this, args)
      }
    }
    cleanups.push(() => Object.assign(proto, originals))
    const truncating = db.$checkpointer.checkpoint()
    while (!hold.held) await new Promise((resolve) => setImmediate(resolve))
    const order: string[] = []
    const saving = store.saveTokens(tokens(rows, 1)).then(() => order.push('write'))
    // A read does not wait for the thread.
    expect(await store.findToken('t000000000')).toMatchObject({ clientId: 'c' })
    order.push('read')
    expect(hold.held).toBe(true)
    reader.exec('COMMIT')
    order.push('reader done')
    await saving
    expect(await truncating).toMatchObject({ truncated: true })
    expect(order).toEqual(['read', 'reader done', 'write'])
    // The write waited for the thread instead of trying (and blocking the event loop on) the writer lock.
    expect(writesWhileHeld).toBe(0)
    expect(hold.held).toBe(false)
    expect(db.$client.prepare('SELECT count(*) AS n FROM grantkit_tokens').get()).toEqual({ n: rows + 1 })
  })

  it('truncates the -wal file to zero bytes once it passes the limit', async () => {
    const { db, store, file } = await open({ checkpoint: { intervalMillis: 3_600_000, walSizeLimit: 512 * KiB } })
    const rows = await writeUntil(store, file, 0, 600 * KiB)
    expect(walBytes(file)).toBeLessThan(MiB)
    const result = await db.$checkpointer?.checkpoint()
    expect(result).toMatchObject({ truncated: true, walBytes: 0, walFrames: 0 })
    expect(walBytes(file)).toBe(0)
    // Nothing was lost.
    expect(db.$client.prepare('SELECT count(*) AS n FROM grantkit_tokens').get()).toEqual({ n: rows })
    expect(await store.findToken('t000000000')).toMatchObject({ clientId: 'c' })
  })

  it('turns the request connection auto-checkpoint off while the thread checkpoints', async () => {
    const { db } = await open({ checkpoint: { walSizeLimit: 4 * MiB } })
    expect(db.$checkpointer?.running).toBe(true)
    expect(db.$client.pragma('wal_autocheckpoint', { simple: true })).toBe(0)
  })

  it('closes with the connection: the thread closes its connection first, exits, and the last connection removes the WAL', async () => {
    const { db, store, file } = await open()
    await store.saveTokens(tokens(0, 100))
    expect(existsSync(`${file}-wal`)).toBe(true)
    const checkpointer = db.$checkpointer
    if (!(checkpointer instanceof Checkpointer)) throw new Error('no checkpoint thread')
    const exited = new Promise((resolve) => checkpointer.worker.once('exit', resolve))
    db.$client.close()
    expect(checkpointer.running).toBe(false)
    expect(await exited).toBe(0)
    expect(existsSync(`${file}-wal`)).toBe(false)
    await expect(checkpointer.checkpoint()).rejects.toThrow(/not running/)
  })

  it('leaves SQLite auto-checkpoint on, with no thread, for :memory: and for checkpoint: false', async () => {
    const memory = await openSqlite(':memory:')
    cleanups.push(() => memory.$client.close())
    expect(memory.$checkpointer).toBeUndefined()
    const { db } = await open({ checkpoint: false })
    expect(db.$checkpointer).toBeUndefined()
    expect(db.$client.pragma('wal_autocheckpoint', { simple: true })).toBe(1000)
  })

  it('when the thread dies, the request connection checkpoints on its own again and a warning says so', async () => {
    const { db } = await open()
    const checkpointer = db.$checkpointer
    if (!(checkpointer instanceof Checkpointer)) throw new Error('no checkpoint thread')
    const warned = new Promise<Error>((resolve) => {
      const listener = (warning: Error) => {
        if (warning.name !== 'GrantkitSqliteCheckpoint') return
        process.off('warning', listener)
        resolve(warning)
      }
      process.on('warning', listener)
    })
    await checkpointer.worker.terminate()
    expect((await warned).message).toMatch(/checkpoints the WAL itself again/)
    expect(checkpointer.running).toBe(false)
    expect(db.$client.pragma('wal_autocheckpoint', { simple: true })).toBe(1000)
  })

  it('refuses checkpoint options that are not positive integers', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    for (const checkpoint of [{ intervalMillis: 0 }, { walSizeLimit: 1.5 }, { busyTimeout: -1 }]) {
      await expect(openSqlite(join(tmp.dir, 'bad.sqlite'), { checkpoint })).rejects.toThrow(TypeError)
    }
  })
})
