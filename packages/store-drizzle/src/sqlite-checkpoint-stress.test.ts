import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { createClient, hashToken, type FullStore, type TokenRecord } from '@grantkit/core'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from './internal/testing.js'
import { openSqlite, type OpenSqliteOptions, type SqliteDatabase } from './open-sqlite.js'
import { sqliteStore } from './sqlite-store.js'

const KiB = 1024
/** The better-sqlite3 the store uses, for the other processes. */
const DRIVER = createRequire(import.meta.url).resolve('better-sqlite3')

/** A token row of client `stress`. */
function token(key: string): TokenRecord {
  return {
    tokenHash: hashToken(key),
    type: 'access_token',
    clientId: 'stress',
    userId: null,
    scope: 'read',
    familyId: key,
    issuedAt: new Date('2030-01-01T00:00:00.000Z'),
    expiresAt: new Date('2030-01-01T01:00:00.000Z'),
    revokedAt: null,
    rotatedAt: null,
  }
}

/** A process running `source` (CommonJS) with `DRIVER` and the database file as its arguments; ends when its standard input does. */
function otherProcess(source: string, file: string): { child: ChildProcessWithoutNullStreams; lines: string[]; next(): Promise<string>; end(): Promise<string> } {
  const child = spawn(process.execPath, ['-e', source, DRIVER, file], { stdio: ['pipe', 'pipe', 'pipe'] })
  const lines: string[] = []
  const waiters: ((line: string) => void)[] = []
  let buffered = ''
  let errors = ''
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()))
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
      const line = buffered.slice(0, at)
      buffered = buffered.slice(at + 1)
      const waiter = waiters.shift()
      if (waiter === undefined) lines.push(line)
      else waiter(line)
    }
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const next = () =>
    lines.length > 0
      ? Promise.resolve(lines.shift() as string)
      : new Promise<string>((resolve, reject) => {
          waiters.push(resolve)
          void exited.then((code) => reject(new Error(`the other process exited (${code}): ${errors}`)))
        })
  return {
    child,
    lines,
    next,
    async end() {
      const last = next()
      child.stdin.end()
      return last
    },
  }
}

/**
 * The store calls of a token request, `n` of them at once (client and user
 * look-ups, token saves and reads, a replay key), each caught: what every
 * rejection was, by operation and SQLite code. `round` keeps the keys apart.
 */
async function requests(store: FullStore, round: number, n: number): Promise<Map<string, number>> {
  const failures = new Map<string, number>()
  const caught = (operation: string) => (error: unknown) => {
    const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } }
    const key = `${operation}: ${String(code ?? cause?.code ?? (error as Error).message)}`
    failures.set(key, (failures.get(key) ?? 0) + 1)
  }
  const now = new Date('2030-01-01T00:10:00.000Z')
  const calls: Promise<unknown>[] = []
  for (let i = 0; i < n; i++) {
    const key = `r${round}-${i}`
    calls.push(
      store.findClient('stress').catch(caught('findClient')),
      store.findUserByUsername('alice').catch(caught('findUserByUsername')),
      store.saveTokens([token(key)]).then(() => store.findToken(hashToken(key))).catch(caught('saveTokens+findToken')),
      store.findToken(hashToken(`r${Math.max(0, round - 1)}-${i}`)).catch(caught('findToken')),
      store.markUsed(`jti-${key}`, new Date('2030-01-01T00:20:00.000Z'), now).catch(caught('markUsed')),
    )
  }
  await Promise.all(calls)
  return failures
}

function add(into: Map<string, number>, from: Map<string, number>): void {
  for (const [key, count] of from) into.set(key, (into.get(key) ?? 0) + count)
}

/** `PRAGMA integrity_check` and the tokens saved, so that a test also proves nothing was lost or broken. */
function tokenCount(db: SqliteDatabase): number {
  expect(db.$client.pragma('integrity_check', { simple: true })).toBe('ok')
  return (db.$client.prepare('SELECT count(*) AS n FROM grantkit_tokens').get() as { n: number }).n
}

describe('sqliteStore never lets SQLITE_BUSY reach a request (a 503): every statement, reads included, is retried within busyRetryMillis', () => {
  const cleanups: (() => void)[] = []
  afterEach(() => {
    while (cleanups.length > 0) cleanups.pop()?.()
  })

  async function open(options: OpenSqliteOptions): Promise<{ db: SqliteDatabase; store: FullStore; file: string }> {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'grantkit.sqlite')
    const db = await openSqlite(file, options)
    cleanups.push(() => {
      if (db.$client.open) db.$client.close()
    })
    const store = sqliteStore(db)
    const { client } = await createClient({ clientId: 'stress', grantTypes: ['client_credentials', 'password'], redirectUris: [], scope: 'read', secretHash: 'sha256' })
    await store.saveClient(client)
    await store.saveUser({ id: 'u-alice', username: 'alice', passwordHash: 'not-checked-here' })
    return { db, store, file }
  }

  it('while its checkpoint thread truncates a small WAL over and over, and another process writes and holds read transactions', async () => {
    // A TRUNCATE every few milliseconds: the WAL is past 64 KiB after a few requests.
    const { db, store, file } = await open({ checkpoint: { intervalMillis: 1, walSizeLimit: 64 * KiB } })
    // Another process (a second server, the clients CLI, a backup): its writes take the writer lock, and
    // its read transactions keep the WAL from starting over while they last.
    const other = otherProcess(
      `const Database = require(process.argv[1])
      const db = new Database(process.argv[2])
      db.pragma('busy_timeout = 50')
      const insert = db.prepare('INSERT INTO grantkit_replay_keys (key, expires_at) VALUES (?, 0)')
      const count = db.prepare('SELECT count(*) FROM grantkit_tokens').pluck()
      let writes = 0, failures = 0, i = 0, ending = false
      process.stdin.on('end', () => (ending = true)).resume()
      console.log('started')
      function slice() {
        if (ending) return console.log(JSON.stringify({ writes, failures }))
        for (const end = Date.now() + 10; Date.now() < end; i++) {
          try {
            if (i % 10 === 0) {
              db.exec('BEGIN')
              count.get()
              for (const until = Date.now() + 3; Date.now() < until; );
              db.exec('COMMIT')
            } else {
              insert.run('other-' + i)
              writes++
            }
          } catch {
            if (db.inTransaction) db.exec('ROLLBACK')
            failures++
          }
        }
        setImmediate(slice)
      }
      slice()`,
      file,
    )
    cleanups.push(() => other.child.kill())
    expect(await other.next()).toBe('started')
    const failures = new Map<string, number>()
    let truncations = 0
    const checkpointer = db.$checkpointer
    if (checkpointer === undefined) throw new Error('no checkpoint thread')
    for (let round = 0; round < 200; round++) {
      const [result] = await Promise.all([checkpointer.checkpoint(), requests(store, round, 20).then((found) => add(failures, found))])
      if (result.truncated) truncations++
    }
    const theirs = JSON.parse(await other.end()) as { writes: number; failures: number }
    expect(Object.fromEntries(failures)).toEqual({})
    // What the test is about did happen: the thread truncated the WAL, the other process wrote meanwhile.
    expect(truncations).toBeGreaterThan(0)
    expect(theirs.writes).toBeGreaterThan(0)
    expect(tokenCount(db)).toBe(200 * 20)
  }, 120_000)

  it('while another process rebuilds the WAL index (SQLITE_BUSY_RECOVERY for whoever reads meanwhile), the client cache included', async () => {
    // No busy wait on the connection: a statement that finds the database locked fails at once, so that
    // only the store's own retries stand between a recovery and a rejected request. No checkpoint during
    // the test either: the WAL stays large, and each recovery (reading all of it) lasts a while.
    const { db, store, file } = await open({ requestBusyTimeout: 0, checkpoint: { intervalMillis: 3_600_000 } })
    db.$client.exec('CREATE TABLE padding (bytes BLOB)')
    const pad = db.$client.prepare('INSERT INTO padding (bytes) VALUES (randomblob(?))')
    db.$client.transaction(() => {
      for (let i = 0; i < 4000; i++) pad.run(4000)
    })()
    // The client is read once, so later look-ups are served by the cache after its version check.
    expect(await store.findClient('stress')).toMatchObject({ clientId: 'stress' })
    // SQLite rebuilds the WAL index from the WAL when its header is not valid (as the first process to open
    // a database after a crash does). Zeroing the header in the -shm file makes the other process's next
    // read do it, holding the WAL's recovery and writer locks meanwhile; it says so just before.
    const other = otherProcess(
      `const fs = require('node:fs')
      const Database = require(process.argv[1])
      const file = process.argv[2]
      const db = new Database(file)
      const read = db.prepare('SELECT count(*) FROM grantkit_clients').pluck()
      read.get()
      const shm = fs.openSync(file + '-shm', 'r+')
      require('node:readline').createInterface({ input: process.stdin }).on('line', () => {
        fs.writeSync(shm, Buffer.alloc(96), 0, 96, 0)
        console.log('recovering')
        read.get()
        console.log('recovered')
      })
      console.log('started')`,
      file,
    )
    cleanups.push(() => other.child.kill())
    expect(await other.next()).toBe('started')
    const failures = new Map<string, number>()
    // A read with no retries, beside the store's: it shows the recoveries did lock readers out.
    const unretried = db.$client.prepare('SELECT count(*) FROM grantkit_clients').pluck()
    let lockedOut = 0
    for (let round = 0; round < 40; round++) {
      other.child.stdin.write('\n')
      expect(await other.next()).toBe('recovering')
      try {
        unretried.get()
      } catch (error) {
        if (!String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY')) throw error
        lockedOut++
      }
      const [found] = await Promise.all([requests(store, round, 5), other.next()])
      add(failures, found)
    }
    await other.end().catch(() => undefined)
    expect(Object.fromEntries(failures)).toEqual({})
    expect(lockedOut).toBeGreaterThan(0)
    expect(tokenCount(db)).toBe(40 * 5)
  }, 120_000)
})
