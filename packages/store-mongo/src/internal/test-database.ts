import { randomBytes } from 'node:crypto'
import { BSON, MongoClient, type Db, type MongoClientOptions } from 'mongodb'
import { describe, it } from 'vitest'
import { databaseNameFromUri } from '../connect-mongo.js'

/*
 * Test support (not exported by the package): a fresh database per test file
 * on the server named by MONGODB_URI (FerretDB from scripts/services.sh, or a
 * real MongoDB), dropped again by `close()`.
 */

/** `MONGODB_URI`, or `undefined` when no server is configured. */
export const mongoUri: string | undefined = process.env['MONGODB_URI'] || undefined

/** Why the MongoDB tests cannot run, or `undefined` when they can. */
export const skipReason: string | undefined =
  mongoUri === undefined ? 'MONGODB_URI is not set (source scripts/services.sh to start FerretDB)' : undefined

/**
 * `describe` that needs a MongoDB server: skipped with a reason outside CI,
 * and failing in CI (where a missing database is a broken set-up), like the
 * contract suite's `skip` option.
 */
export function describeWithMongo(title: string, body: () => void): void {
  if (skipReason === undefined) {
    describe(title, body)
  } else if (process.env['CI']) {
    describe(title, () => {
      it(`cannot run in CI: ${skipReason}`, () => {
        throw new Error(`${title}: ${skipReason}`)
      })
    })
  } else {
    describe.skip(`${title} (skipped: ${skipReason})`, () => {
      it('needs a MongoDB server', () => {})
    })
  }
}

/** A URI naming a new database: the URI's own database name plus a random suffix. */
export function freshDatabaseUri(uri: string): string {
  const base = (databaseNameFromUri(uri) ?? 'grantkit_test').replace(/[^a-zA-Z0-9_]/g, '_').slice(0, 40)
  const name = `${base}_${randomBytes(6).toString('hex')}`
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?#]*)(?:\/[^?#]*)?(.*)$/i.exec(uri)
  if (match === null) throw new TypeError(`not a MongoDB URI: ${uri}`)
  return `${match[1]}/${name}${match[2] ?? ''}`
}

export interface TestDatabase {
  readonly uri: string
  readonly client: MongoClient
  readonly db: Db
  /** Another client on the same database, with its own connection pool. */
  secondClient(): Promise<MongoClient>
  /** Every document of every collection, read with the driver, as canonical EJSON. */
  dumpRaw(): Promise<string>
  /** Drops the database and closes every client. */
  close(): Promise<void>
}

/** Options every test client uses: a pool of several connections, so that races really run in parallel. */
export const poolOptions: MongoClientOptions = { maxPoolSize: 8, minPoolSize: 2 }

export async function openTestDatabase(): Promise<TestDatabase> {
  if (mongoUri === undefined) throw new Error(skipReason)
  const uri = freshDatabaseUri(mongoUri)
  const dbName = databaseNameFromUri(uri) as string
  const clients: MongoClient[] = []
  const connect = async (): Promise<MongoClient> => {
    const client = new MongoClient(uri, poolOptions)
    clients.push(client)
    return client.connect()
  }
  const client = await connect()
  const db = client.db(dbName)
  return {
    uri,
    client,
    db,
    secondClient: connect,
    async dumpRaw() {
      const dump: Record<string, unknown[]> = {}
      for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
        dump[name] = await db.collection(name).find({}).toArray()
      }
      return BSON.EJSON.stringify(dump, { relaxed: false })
    },
    async close() {
      try {
        await db.dropDatabase()
      } finally {
        await Promise.all(clients.map((c) => c.close()))
      }
    },
  }
}
