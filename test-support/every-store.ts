// Every store grantkit ships, for grant tests that must hold on each of them
// (issue 17, finding 12: a fault injected between two store steps, on every
// store): memory, SQLite, PostgreSQL (DATABASE_URL) and MongoDB / FerretDB
// (MONGODB_URI). Test-only: imported by relative path from *.test.ts files.
//
// A missing database is skipped with its reason outside CI, and fails in CI
// (process.env.CI set), as the store contract suite does: CI must never skip
// a store silently.
import { randomBytes } from 'node:crypto'
import { memoryStore, type FullStore } from '@grantkit/core'
import { connectPostgres, pgStore } from '@grantkit/store-drizzle'
import { connectMongo, databaseNameFromUri } from '@grantkit/store-mongo'
import { describe, it, onTestFinished } from 'vitest'
import { openTempSqliteStore } from './stores.js'

/** Opens a fresh, empty store for the current test; it is closed (and its database dropped) when the test finishes. */
export type OpenAnyStore = () => Promise<FullStore>

interface StoreEntry {
  readonly name: string
  /** Why the store cannot be opened here, or `undefined` when it can. */
  readonly missing: string | undefined
  readonly open: OpenAnyStore
}

const databaseUrl = process.env['DATABASE_URL'] || undefined
const mongoUri = process.env['MONGODB_URI'] || undefined

/** The PostgreSQL store in a schema of its own (random name, migrated, dropped when the test finishes). */
async function openPgStore(): Promise<FullStore> {
  const url = databaseUrl as string
  const schema = `grantkit_grant_test_${randomBytes(6).toString('hex')}`
  const admin = await connectPostgres(url, { migrate: false, poolSize: 1 })
  try {
    await admin.db.$client.query(`CREATE SCHEMA "${schema}"`)
  } finally {
    await admin.close()
  }
  const { db, close } = await connectPostgres(url, { pool: { options: `-c search_path=${schema}` } })
  onTestFinished(async () => {
    await close()
    const dropper = await connectPostgres(url, { migrate: false, poolSize: 1 })
    try {
      await dropper.db.$client.query(`DROP SCHEMA "${schema}" CASCADE`)
    } finally {
      await dropper.close()
    }
  })
  return pgStore(db)
}

/** The MongoDB store in a database of its own (the URI's name plus a random suffix, dropped when the test finishes). */
async function openMongoStore(): Promise<FullStore> {
  const uri = mongoUri as string
  const base = (databaseNameFromUri(uri) ?? 'grantkit_test').replace(/[^a-zA-Z0-9_]/g, '_').slice(0, 30)
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?#]*)(?:\/[^?#]*)?(.*)$/i.exec(uri)
  if (match === null) throw new TypeError('MONGODB_URI is not a MongoDB URI')
  const fresh = `${match[1]}/${base}_grant_${randomBytes(6).toString('hex')}${match[2] ?? ''}`
  // Plain indexes: a TTL monitor deleting records meanwhile would only add noise to these tests.
  const connection = await connectMongo(fresh, { ttlIndexes: false })
  onTestFinished(async () => {
    try {
      await connection.db.dropDatabase()
    } finally {
      await connection.close()
    }
  })
  return connection.store
}

/** The four stores, each with why it cannot run here (when it cannot). */
export const EVERY_STORE: readonly StoreEntry[] = [
  { name: 'memory store', missing: undefined, open: async () => memoryStore() },
  { name: 'SQLite store', missing: undefined, open: () => openTempSqliteStore() },
  { name: 'PostgreSQL store', missing: databaseUrl === undefined ? 'DATABASE_URL is not set (source scripts/services.sh)' : undefined, open: openPgStore },
  { name: 'MongoDB store', missing: mongoUri === undefined ? 'MONGODB_URI is not set (source scripts/services.sh)' : undefined, open: openMongoStore },
]

/**
 * `describe(`${title} on the ${store}`)` once per store of {@link EVERY_STORE},
 * `body` receiving the store's opener. A store whose database is not
 * configured is skipped with its reason, except in CI, where it is a failing
 * test instead.
 */
export function describeOnEveryStore(title: string, body: (open: OpenAnyStore, storeName: string) => void): void {
  for (const { name, missing, open } of EVERY_STORE) {
    const suite = `${title} on the ${name}`
    if (missing === undefined) {
      describe(suite, () => body(open, name))
    } else if (process.env['CI']) {
      describe(suite, () => {
        it(`cannot run in CI: ${missing}`, () => {
          throw new Error(`${suite}: ${missing}; CI must run every store`)
        })
      })
    } else {
      describe.skip(`${suite} (skipped: ${missing})`, () => body(open, name))
    }
  }
}
