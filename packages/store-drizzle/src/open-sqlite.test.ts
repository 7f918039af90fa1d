import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { getTableName } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import { MIGRATIONS_TABLE, migrationsFolder } from './migrate.js'
import { openSqlite, type SqliteDatabase } from './open-sqlite.js'
import { sqliteTables } from './sqlite-schema.js'
import { tempDir } from './internal/testing.js'

describe('openSqlite', () => {
  const cleanups: (() => void)[] = []
  afterEach(() => {
    while (cleanups.length > 0) cleanups.pop()?.()
  })
  async function open(file: string): Promise<SqliteDatabase> {
    const db = await openSqlite(file)
    cleanups.push(() => db.$client.close())
    return db
  }

  it('creates the missing folder and the file', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'nested', 'data', 'grantkit.sqlite')
    await open(file)
    expect(existsSync(file)).toBe(true)
  })

  it('sets journal_mode=WAL, a short busy_timeout once migrated (the store retries off the event loop), synchronous=NORMAL and foreign_keys=ON', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const { $client } = await open(join(tmp.dir, 'grantkit.sqlite'))
    expect($client.pragma('journal_mode', { simple: true })).toBe('wal')
    expect($client.pragma('busy_timeout', { simple: true })).toBe(50)
    expect($client.pragma('synchronous', { simple: true })).toBe(1)
    expect($client.pragma('foreign_keys', { simple: true })).toBe(1)
  })

  it('creates the database, its WAL and shared-memory files readable by the owner only (0600)', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'grantkit.sqlite')
    const db = await open(file)
    db.$client.exec("INSERT INTO grantkit_replay_keys (key, expires_at) VALUES ('k', 0)")
    for (const path of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(path).mode & 0o777, path).toBe(0o600)
  })

  it('runs the shipped migrations once, recording them in their own table', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'grantkit.sqlite')
    ;(await open(file)).$client.close()
    const { $client } = await open(file)
    const names = ($client.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name)
    expect(names).toEqual(expect.arrayContaining([...Object.values(sqliteTables).map((t) => getTableName(t)), MIGRATIONS_TABLE]))
    // One record per shipped migration, although the file was opened (and migrated) twice.
    const journal = JSON.parse(readFileSync(join(migrationsFolder('sqlite'), 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
    expect(journal.entries.length).toBeGreaterThanOrEqual(2)
    expect($client.prepare(`SELECT count(*) AS n FROM "${MIGRATIONS_TABLE}"`).get()).toEqual({ n: journal.entries.length })
  })

  it('indexes every lookup column (client_id, family_id, expires_at, user_code_hash)', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.remove)
    const { $client } = await open(join(tmp.dir, 'grantkit.sqlite'))
    const indexed = (table: string) =>
      ($client.prepare(`SELECT il.name FROM pragma_index_list(?) AS l, pragma_index_info(l.name) AS il`).all(table) as { name: string }[]).map(
        (r) => r.name,
      )
    expect(indexed('grantkit_tokens')).toEqual(expect.arrayContaining(['token_hash', 'client_id', 'family_id', 'expires_at']))
    expect(indexed('grantkit_authorization_codes')).toEqual(expect.arrayContaining(['code_hash', 'client_id', 'family_id', 'expires_at']))
    expect(indexed('grantkit_replay_keys')).toEqual(expect.arrayContaining(['key', 'expires_at']))
    expect(indexed('grantkit_users')).toEqual(expect.arrayContaining(['id', 'username']))
    expect(indexed('grantkit_device_codes')).toEqual(expect.arrayContaining(['device_code_hash', 'user_code_hash', 'expires_at']))
  })
})
