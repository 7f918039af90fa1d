import { generateToken, hashToken } from '@grantkit/core'
import { runStoreContractSuite } from '@grantkit/store-test-suite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeGroupCommit } from './internal/group-commit-tests.js'
import { sqliteHarness } from './internal/testing.js'
import { openSqlite, type SqliteDatabase } from './open-sqlite.js'
import { sqliteStore } from './sqlite-store.js'

runStoreContractSuite('drizzle SQLite (better-sqlite3, temp file, WAL)', sqliteHarness)

describe('sqliteStore with two connections to one WAL file (RFC 6749 §4.1.2, RFC 9700 §4.14.2)', () => {
  let a: Awaited<ReturnType<typeof sqliteHarness>>
  let b: SqliteDatabase
  beforeAll(async () => {
    a = await sqliteHarness()
    b = await openSqlite(a.file)
  })
  afterAll(async () => {
    b.$client.close()
    await a.close()
  })

  const now = new Date('2030-01-01T00:00:00.000Z')
  const later = new Date(now.getTime() + 60_000)

  it('lets only one connection consume a code, and the other sees the replay', async () => {
    const other = sqliteStore(b)
    const code = {
      codeHash: hashToken(generateToken()),
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
    }
    await a.store.saveAuthorizationCode(code)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a.store : other).consumeAuthorizationCode(code.codeHash, now)))
    expect(results.filter((r) => r?.consumed === true)).toHaveLength(1)
    expect(results.filter((r) => r?.consumed === false)).toHaveLength(49)
  })

  it('lets only one connection rotate a refresh token', async () => {
    const other = sqliteStore(b)
    const token = {
      tokenHash: hashToken(generateToken()),
      type: 'refresh_token' as const,
      clientId: 'c',
      userId: 'u',
      scope: '',
      familyId: 'f2',
      issuedAt: now,
      expiresAt: later,
      revokedAt: null,
      rotatedAt: null,
    }
    await other.saveTokens([token])
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a.store : other).rotateRefreshToken(token.tokenHash, now)))
    expect(results.filter((r) => r?.rotated === true)).toHaveLength(1)
    expect((await a.store.findToken(token.tokenHash))?.rotatedAt).toEqual(now)
  })

  it('sees a write of the other connection at once (no stale snapshot)', async () => {
    const key = `jti-${generateToken()}`
    expect(await sqliteStore(b).markUsed(key, later, now)).toBe(true)
    expect(await a.store.markUsed(key, later, now)).toBe(false)
  })
})

describeGroupCommit('sqliteStore', sqliteHarness)

describe('sqliteStore while another connection holds the write lock (a purge, a backup, another process)', () => {
  let a: Awaited<ReturnType<typeof sqliteHarness>>
  let b: SqliteDatabase
  beforeAll(async () => {
    a = await sqliteHarness()
    b = await openSqlite(a.file)
  })
  afterAll(async () => {
    b.$client.close()
    await a.close()
  })

  const record = () => ({
    codeHash: hashToken(generateToken()),
    clientId: 'c',
    userId: 'u',
    redirectUri: null,
    scope: '',
    familyId: generateToken(8),
    codeChallenge: null,
    codeChallengeMethod: null,
    createdAt: new Date('2030-01-01T00:00:00.000Z'),
    expiresAt: new Date('2030-01-01T00:01:00.000Z'),
    consumedAt: null,
  })

  it('waits for the lock with timers, so the event loop keeps running, and then writes once', async () => {
    const store = sqliteStore(a.db)
    b.$client.exec('BEGIN IMMEDIATE')
    let ticks = 0
    const ticker = setInterval(() => void ticks++, 5)
    try {
      const code = record()
      const saving = store.saveAuthorizationCode(code)
      // Hold the lock across several turns of the event loop, then let go.
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      const ticksWhileLocked = ticks
      b.$client.exec('COMMIT')
      await saving
      expect(ticksWhileLocked).toBeGreaterThan(0)
      expect(await store.findAuthorizationCode(code.codeHash, new Date('2030-01-01T00:00:10.000Z'))).toMatchObject({ codeHash: code.codeHash })
    } finally {
      clearInterval(ticker)
      if (b.$client.inTransaction) b.$client.exec('ROLLBACK')
    }
  })

  it('fails with SQLITE_BUSY once busyRetryMillis is spent, and wrote nothing', async () => {
    const store = sqliteStore(a.db, { busyRetryMillis: 100 })
    b.$client.exec('BEGIN IMMEDIATE')
    const code = record()
    try {
      await expect(store.saveAuthorizationCode(code)).rejects.toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) })
    } finally {
      b.$client.exec('ROLLBACK')
    }
    expect(await store.findAuthorizationCode(code.codeHash, new Date('2030-01-01T00:00:10.000Z'))).toBeNull()
    expect(() => sqliteStore(a.db, { busyRetryMillis: -1 })).toThrow(TypeError)
  })
})
