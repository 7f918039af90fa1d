// The stores every grant package's tests run against (issue 3: "the error
// matrix against a real store — memory store and SQLite"). Test-only: imported
// by relative path from *.test.ts files, never from a package's source.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { memoryStore, type AuthorizationCodeRecord, type Client, type DeviceCodeRecord, type FullStore, type MemoryStore, type TokenRecord } from '@grantkit/core'
import { openSqlite, sqliteStore, sqliteTables } from '@grantkit/store-drizzle'
import Database from 'better-sqlite3'
import { sql } from 'drizzle-orm'
import { onTestFinished } from 'vitest'

/** Everything a store holds, in the shape of the memory store's `snapshot()`. */
export type StoreSnapshot = ReturnType<MemoryStore['snapshot']>

/**
 * A store under test. `snapshot()` reads what was really stored, not through
 * the store's own methods: the memory store's maps, or the SQLite tables.
 */
export interface TestStore extends FullStore {
  snapshot(): StoreSnapshot
  /** The SQLite file, for the SQLite store. */
  readonly file?: string
}

/** Opens a fresh, empty store for one test. */
export type OpenTestStore = () => Promise<TestStore>

/** The `describe.each` table: every grant test runs once per store. */
export const TEST_STORES: ReadonlyArray<readonly [name: string, open: OpenTestStore]> = [
  ['memory store', async () => memoryStore()],
  ['SQLite store', () => openTempSqliteStore()],
]

// Migrating takes ~40 ms per file, so migrate once in memory and write the
// bytes to each new file; openSqlite then finds the migrations already applied.
let migrated: Promise<Buffer> | undefined
function migratedImage(): Promise<Buffer> {
  migrated ??= openSqlite(':memory:').then((db) => {
    const image = db.$client.serialize()
    db.$client.close()
    return image
  })
  return migrated
}

/** A row without the optional columns that are SQL NULL (the store reads those back as absent). */
function withoutNull<T>(row: object, optional: readonly string[]): T {
  return Object.fromEntries(Object.entries(row).filter(([key, value]) => !(value === null && optional.includes(key)))) as T
}

/**
 * The SQLite store over a new temp file in os.tmpdir(), opened with
 * `openSqlite` (WAL) — closed and deleted when the current test finishes.
 */
export async function openTempSqliteStore(): Promise<TestStore & { file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'grantkit-grant-test-'))
  const file = join(dir, 'grantkit.sqlite')
  writeFileSync(file, await migratedImage())
  const db = await openSqlite(file)
  onTestFinished(() => {
    db.$client.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const { clients, authorizationCodes, tokens, replayKeys, users, deviceCodes } = sqliteTables
  const byRowid = sql`rowid`
  return {
    ...sqliteStore(db),
    file,
    snapshot: () => ({
      clients: db.select().from(clients).orderBy(byRowid).all().map((row) => withoutNull<Client>(row, ['clientName', 'metadata'])),
      codes: db.select().from(authorizationCodes).orderBy(byRowid).all().map((row) => withoutNull<AuthorizationCodeRecord>(row, ['extra'])),
      tokens: db.select().from(tokens).orderBy(byRowid).all().map((row) => withoutNull<TokenRecord>(row, ['extra'])),
      replay: db.select().from(replayKeys).orderBy(byRowid).all(),
      users: db.select().from(users).orderBy(byRowid).all(),
      // `lastPollSlowDown` is the SQL store's own bookkeeping, not part of the record.
      deviceCodes: db.select().from(deviceCodes).orderBy(byRowid).all().map(({ lastPollSlowDown: _, ...row }) => withoutNull<DeviceCodeRecord>(row, ['extra'])),
    }),
  }
}

/**
 * Every row of a table of the store's SQLite file, read with plain SQL over a
 * separate read-only better-sqlite3 connection: proof that the store really
 * wrote to the file (a committed WAL write is visible to a new connection).
 */
export function readSqliteRows(store: TestStore, table: string): Record<string, unknown>[] {
  if (store.file === undefined) throw new Error('readSqliteRows: not a SQLite store')
  const connection = new Database(store.file, { readonly: true, fileMustExist: true })
  try {
    return connection.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[]
  } finally {
    connection.close()
  }
}
