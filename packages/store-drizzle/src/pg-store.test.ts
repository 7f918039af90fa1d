import { generateToken, hashToken } from '@grantkit/core'
import { runStoreContractSuite } from '@grantkit/store-test-suite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connectPostgres } from './connect-postgres.js'
import { migrationsFolder } from './migrate.js'
import { describeGroupCommit } from './internal/group-commit-tests.js'
import { pgHarness, pgSkipReason } from './internal/testing.js'

runStoreContractSuite('drizzle PostgreSQL (node-postgres pool, own schema)', () => pgHarness(), { skip: pgSkipReason })

const describePg = pgSkipReason === undefined || process.env['CI'] ? describe : describe.skip

// pgStore's default groupCommit: true (pg-store.ts).
describeGroupCommit('pgStore', () => pgHarness(), describePg)

describePg('pgStore through a pool of several connections (RFC 6749 §4.1.2, RFC 9700 §4.14.2)', () => {
  let h: Awaited<ReturnType<typeof pgHarness>>
  beforeAll(async () => {
    h = await pgHarness(8)
  })
  afterAll(async () => {
    await h?.close()
  })

  const now = new Date('2030-01-01T00:00:00.000Z')
  const later = new Date(now.getTime() + 60_000)

  it('gives exactly one of 50 concurrent consumes of one code the record, over several connections', async () => {
    const codeHash = hashToken(generateToken())
    await h.store.saveAuthorizationCode({
      codeHash,
      clientId: 'c',
      userId: 'u',
      redirectUri: null,
      scope: '',
      familyId: 'f',
      codeChallenge: null,
      codeChallengeMethod: null,
      createdAt: now,
      expiresAt: later,
      consumedAt: null,
    })
    const results = await Promise.all(Array.from({ length: 50 }, () => h.store.consumeAuthorizationCode(codeHash, now)))
    expect(results.filter((r) => r?.consumed === true)).toHaveLength(1)
    expect(results.filter((r) => r?.consumed === false)).toHaveLength(49)
    expect(h.db.$client.totalCount).toBeGreaterThan(1)
  })

  it('gives exactly one of 50 concurrent rotations of one refresh token rotated:true, over several connections', async () => {
    const tokenHash = hashToken(generateToken())
    await h.store.saveTokens([
      { tokenHash, type: 'refresh_token', clientId: 'c', userId: 'u', scope: '', familyId: 'f', issuedAt: now, expiresAt: later, revokedAt: null, rotatedAt: null },
    ])
    const results = await Promise.all(Array.from({ length: 50 }, () => h.store.rotateRefreshToken(tokenHash, now)))
    expect(results.filter((r) => r?.rotated === true)).toHaveLength(1)
    expect(h.db.$client.totalCount).toBeGreaterThan(1)
  })

  it('revokes a whole family in one statement and counts the newly revoked tokens', async () => {
    const familyId = `family-${generateToken()}`
    const token = (type: 'access_token' | 'refresh_token') => ({
      tokenHash: hashToken(generateToken()),
      type,
      clientId: 'c',
      userId: 'u',
      scope: '',
      familyId,
      issuedAt: now,
      expiresAt: later,
      revokedAt: null,
      rotatedAt: null,
    })
    await h.store.saveTokens([token('access_token'), token('refresh_token'), token('access_token'), token('refresh_token'), token('access_token')])
    const counts = await Promise.all([h.store.revokeTokenFamily(familyId, now), h.store.revokeTokenFamily(familyId, now)])
    expect(counts.reduce((a, b) => a + b, 0)).toBe(5)
  })

  it('stores timestamps as timestamp(3) with time zone, to the millisecond', async () => {
    const tokenHash = hashToken(generateToken())
    const issuedAt = new Date('2031-02-03T04:05:06.789Z')
    await h.store.saveTokens([
      { tokenHash, type: 'access_token', clientId: 'c', userId: null, scope: '', familyId: 'f', issuedAt, expiresAt: later, revokedAt: null, rotatedAt: null },
    ])
    const { rows } = await h.db.$client.query(
      `SELECT to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') AS iso, pg_typeof(issued_at)::text AS type FROM grantkit_tokens WHERE token_hash = $1`,
      [tokenHash],
    )
    expect(rows[0]).toEqual({ iso: '2031-02-03T04:05:06.789', type: 'timestamp with time zone' })
  })
  it('migrates one new schema from 6 processes starting at once: the advisory lock lets one migrate and the others find it done', async () => {
    const { default: pg } = await import('pg')
    const url = process.env['DATABASE_URL'] as string
    const schema = `grantkit_race_${generateToken(6).replace(/[^a-zA-Z0-9]/g, '').toLowerCase()}`
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query(`CREATE SCHEMA "${schema}"`)
    try {
      // Each "process" has its own pool, as separate processes would.
      const connections = await Promise.all(Array.from({ length: 6 }, () => connectPostgres(url, { pool: { max: 2, options: `-c search_path=${schema}` } })))
      await Promise.all(connections.map((c) => c.close()))
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".__grantkit_migrations`)
      const shipped = (await admin.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'grantkit_%'`, [schema])).rows
      // clients, users, tokens, authorization_codes, device_codes, replay_keys, throttle, pushed_requests.
      expect(shipped[0].n).toBe(8)
      // One row per shipped migration, never one per process.
      const journal = JSON.parse(readFileSync(join(migrationsFolder('pg'), 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
      expect(rows[0].n).toBe(journal.entries.length)
    } finally {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
      await admin.end()
    }
  })

  it('bounds every statement by default (statement_timeout 5 s, pool wait 3 s), and takes the options', async () => {
    const defaults = await connectPostgres(process.env['DATABASE_URL'] as string, { migrate: false })
    try {
      expect((await defaults.db.$client.query('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: '5s' }])
      expect(defaults.db.$client.options).toMatchObject({ max: 10, connectionTimeoutMillis: 3000, query_timeout: 6000 })
    } finally {
      await defaults.close()
    }
    const off = await connectPostgres(process.env['DATABASE_URL'] as string, { migrate: false, statementTimeoutMillis: 0, poolSize: 2 })
    try {
      expect((await off.db.$client.query('SHOW statement_timeout')).rows).toEqual([{ statement_timeout: '0' }])
      expect(off.db.$client.options.max).toBe(2)
    } finally {
      await off.close()
    }
    await expect(connectPostgres(process.env['DATABASE_URL'] as string, { poolSize: 0 })).rejects.toThrow(TypeError)
  })

  it('cancels a statement blocked by a lock with SQLSTATE 57014, freeing its connection, instead of waiting for the lock', async () => {
    const { db, close } = await connectPostgres(process.env['DATABASE_URL'] as string, { migrate: false, statementTimeoutMillis: 200, poolSize: 1 })
    const { default: pg } = await import('pg')
    const locker = new pg.Client({ connectionString: process.env['DATABASE_URL'] })
    await locker.connect()
    const table = `grantkit_lock_${generateToken(6).replace(/[^a-zA-Z0-9]/g, '').toLowerCase()}`
    await locker.query(`CREATE TABLE ${table} (id int)`)
    try {
      await locker.query('BEGIN')
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
      const blocked = await db.$client.query(`SELECT count(*) FROM ${table}`).then(
        () => null,
        (error: { code?: string }) => error.code,
      )
      expect(blocked).toBe('57014')
      // The one pooled connection is free again for a query that needs no lock.
      expect((await db.$client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await locker.query('ROLLBACK')
      await locker.query(`DROP TABLE ${table}`)
      await locker.end()
      await close()
    }
  })

  it('fails a query that waits too long for a pooled connection instead of queueing it forever', async () => {
    const { db, close } = await connectPostgres(process.env['DATABASE_URL'] as string, { migrate: false, poolSize: 1, connectionTimeoutMillis: 2000 })
    const held = await db.$client.connect()
    try {
      await expect(db.$client.query('SELECT 1')).rejects.toThrow(/timeout/i)
    } finally {
      held.release()
      await close()
    }
  })

  it('survives idle pooled connections being terminated, and reconnects for the next query', async () => {
    const applicationName = `grantkit_idle_${generateToken(6).replace(/[^a-zA-Z0-9]/g, '')}`
    const idleErrors: Error[] = []
    const { db, close } = await connectPostgres(process.env['DATABASE_URL'] as string, {
      migrate: false,
      pool: { max: 4, application_name: applicationName },
      onIdleError: (error) => idleErrors.push(error),
    })
    const { default: pg } = await import('pg')
    const killer = new pg.Client({ connectionString: process.env['DATABASE_URL'] })
    await killer.connect()
    try {
      await Promise.all(Array.from({ length: 4 }, () => db.$client.query('SELECT pg_sleep(0.05)')))
      expect(db.$client.idleCount).toBeGreaterThan(1)
      // Another connection kills every backend of this pool, as a database restart or failover would.
      const killed = (await killer.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName])).rowCount ?? 0
      expect(killed).toBeGreaterThan(1)
      for (let i = 0; i < 100 && idleErrors.length < killed; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      // Without the pool's 'error' listener the process would have crashed at the first one.
      expect(idleErrors).toHaveLength(killed)
      expect((await db.$client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await killer.end()
      await close()
    }
  })
})
