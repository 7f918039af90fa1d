// Real driver failures through the drizzle stores, as core sees them: a
// passing outage is recognised by core's isTransientError (answered 503 with
// Retry-After), a statement's own failure is not, and the log line names the
// driver's code under drizzle's wrapper (never the SQL or its parameters).
import { describeError, hashToken, isTransientError, type AuthorizationCodeRecord } from '@grantkit/core'
import { sql } from 'drizzle-orm'
import { join } from 'node:path'
import { createServer } from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectPostgres } from './connect-postgres.js'
import { PgConnectionError } from './internal/pg-errors.js'
import { databaseUrl, pgHarness, pgSkipReason, tempDir } from './internal/testing.js'
import { openSqlite } from './open-sqlite.js'
import { pgStore } from './pg-store.js'
import { sqliteStore } from './sqlite-store.js'

const now = new Date('2030-01-01T00:00:00.000Z')

function code(secret: string): AuthorizationCodeRecord {
  return {
    codeHash: hashToken(secret),
    clientId: 'c',
    userId: 'u',
    redirectUri: null,
    scope: '',
    familyId: 'f',
    codeChallenge: null,
    codeChallengeMethod: null,
    createdAt: now,
    expiresAt: new Date(now.getTime() + 60_000),
    consumedAt: null,
  }
}

/** What a store call rejected with. */
async function failure(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => {
      throw new Error('expected the store call to fail')
    },
    (error: unknown) => error,
  )
}

describe('SQLite (better-sqlite3): a database another connection holds', () => {
  const tmp = tempDir()
  afterAll(() => tmp.remove())

  it('is transient: SQLITE_BUSY once the store ran out of retries, while another connection holds BEGIN IMMEDIATE', async () => {
    const file = join(tmp.dir, 'busy.sqlite')
    const holder = await openSqlite(file)
    const other = await openSqlite(file, { requestBusyTimeout: 0 })
    try {
      holder.$client.prepare('BEGIN IMMEDIATE').run()
      const error = await failure(sqliteStore(other, { busyRetryMillis: 0 }).saveAuthorizationCode(code('busy')))
      holder.$client.prepare('ROLLBACK').run()
      expect(describeError(error)).toMatch(/SQLITE_BUSY/)
      expect(isTransientError(error)).toBe(true)
    } finally {
      other.$client.close()
      holder.$client.close()
    }
  })

  it('is not transient: a primary key violation is the statement’s own failure', async () => {
    const db = await openSqlite(join(tmp.dir, 'constraint.sqlite'))
    try {
      const store = sqliteStore(db)
      await store.saveAuthorizationCode(code('twice'))
      const error = await failure(store.saveAuthorizationCode(code('twice')))
      expect(describeError(error)).toMatch(/SQLITE_CONSTRAINT/)
      expect(isTransientError(error)).toBe(false)
    } finally {
      db.$client.close()
    }
  })
})

describe('PostgreSQL (node-postgres) with nothing listening', () => {
  it('is transient: ECONNREFUSED through drizzle, named in the log line', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const { db, close } = await connectPostgres(`postgres://nobody:secret@127.0.0.1:${port}/none`, { migrate: false })
    try {
      const error = await failure(pgStore(db).findClient('app'))
      expect(isTransientError(error)).toBe(true)
      expect(describeError(error)).toMatch(/ECONNREFUSED/)
      expect(describeError(error)).not.toContain('secret')
    } finally {
      await close()
    }
  })
})

const describePg = pgSkipReason === undefined || process.env['CI'] ? describe : describe.skip

describePg('PostgreSQL (node-postgres) outages on a real server', () => {
  let h: Awaited<ReturnType<typeof pgHarness>>
  let admin: pg.Client
  beforeAll(async () => {
    h = await pgHarness(2)
    admin = new pg.Client({ connectionString: databaseUrl })
    await admin.connect()
  })
  afterAll(async () => {
    await admin?.end()
    await h?.close()
  })

  /** A second store on this schema, with its own pool settings. */
  async function storeWith(options: Parameters<typeof connectPostgres>[1]) {
    const connection = await connectPostgres(databaseUrl!, { migrate: false, ...options, pool: { options: `-c search_path=${h.schema}`, ...options?.pool } })
    return { ...connection, store: pgStore(connection.db) }
  }

  /** Holds an ACCESS EXCLUSIVE lock on the tokens table until `release` (a long migration, a backup, a VACUUM FULL). */
  async function lockTokens(): Promise<{ release(): Promise<void> }> {
    const holder = new pg.Client({ connectionString: databaseUrl })
    await holder.connect()
    await holder.query('BEGIN')
    await holder.query(`LOCK TABLE "${h.schema}"."grantkit_tokens" IN ACCESS EXCLUSIVE MODE`)
    let released: Promise<void> | undefined
    return {
      release: () => (released ??= holder.query('ROLLBACK').then(() => holder.end())),
    }
  }

  /** Waits until backend `pid` waits on a lock (read from pg_stat_activity, not timed). */
  async function waitingOnLock(pid: number): Promise<void> {
    for (;;) {
      const { rows } = await admin.query<{ wait_event_type: string | null }>('SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', [pid])
      if (rows[0]?.wait_event_type === 'Lock') return
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  it('is transient: a statement cancelled by statement_timeout (57014) behind a held lock, with the SQLSTATE in the log line', async () => {
    const { store, close } = await storeWith({ statementTimeoutMillis: 100 })
    const lock = await lockTokens()
    try {
      const error = await failure(store.findToken(hashToken('x')))
      expect(isTransientError(error)).toBe(true)
      expect(describeError(error)).toBe('DrizzleQueryError caused by DatabaseError[57014]')
    } finally {
      await lock.release()
      await close()
    }
  })

  it('is transient: the connection terminated by the server (57P01, as in a restart), and the pool recovers on a new one', async () => {
    const { db, store, close } = await storeWith({ poolSize: 1, statementTimeoutMillis: 0 })
    const lock = await lockTokens()
    try {
      const { rows } = await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)
      const pid = rows[0]!.pid
      const pending = failure(store.findToken(hashToken('x')))
      await waitingOnLock(pid)
      await admin.query('SELECT pg_terminate_backend($1)', [pid])
      const error = await pending
      expect(isTransientError(error)).toBe(true)
      expect(describeError(error)).toBe('DrizzleQueryError caused by DatabaseError[57P01]')
      await lock.release()
      expect(await store.findToken(hashToken('x'))).toBeNull()
    } finally {
      await lock.release()
      await close()
    }
  })

  it('is transient: a pool with no free connection (a code-less pg-pool timeout, surfaced as PgConnectionError[pool_timeout])', async () => {
    const { db, store, close } = await storeWith({ poolSize: 1, connectionTimeoutMillis: 100 })
    const held = await db.$client.connect()
    try {
      const error = await failure(store.findClient('app'))
      expect(error).toBeInstanceOf(PgConnectionError)
      expect(isTransientError(error)).toBe(true)
      expect(describeError(error)).toBe('PgConnectionError[pool_timeout] caused by DrizzleQueryError caused by Error')
    } finally {
      held.release()
      await close()
    }
  })

  it('is not transient: a unique violation (23505) is the statement’s own failure, and keeps drizzle’s error as thrown', async () => {
    await h.store.saveAuthorizationCode(code('pg-twice'))
    const error = await failure(h.store.saveAuthorizationCode(code('pg-twice')))
    expect(isTransientError(error)).toBe(false)
    expect(describeError(error)).toBe('DrizzleQueryError caused by DatabaseError[23505]')
    expect(error).not.toBeInstanceOf(PgConnectionError)
  })
})
