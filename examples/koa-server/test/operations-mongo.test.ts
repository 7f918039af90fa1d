// Expired documents on MongoDB (issue 18 "Mongo TTL indexes where the server has
// them"; docs/demo-server.md "Environment variables", OAUTH_STORE and
// OAUTH_PURGE_INTERVAL): the demo asks for TTL indexes, says at start whether
// the server has them, and purges on its schedule either way (FerretDB v1 has none).
import { hashToken, type TokenRecord } from '@grantkit/core'
import { mongoStore } from '@grantkit/store-mongo'
import { MongoClient, type Db } from 'mongodb'
import { afterEach, describe, expect, it } from 'vitest'
import { startDemoServer, storeCases, tempDir } from './support/demo-server.js'
import { waitFor } from './support/operations.js'

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

const token = (name: string, expiresAt: Date): TokenRecord => ({
  tokenHash: hashToken(name),
  type: 'access_token',
  clientId: 'someone',
  userId: null,
  scope: '',
  familyId: `family-${name}`,
  issuedAt: new Date(expiresAt.getTime() - 3_600_000),
  expiresAt,
  revokedAt: null,
  rotatedAt: null,
})

/** The `expireAfterSeconds` of the index on exactly `{ expiresAt: 1 }` of every expiring collection (`undefined`: a plain index). */
async function expiryIndexes(db: Db): Promise<Record<string, unknown>> {
  const found: Record<string, unknown> = {}
  for (const name of ['codes', 'tokens', 'replay', 'devices', 'decisions', 'claims']) {
    const indexes = await db.collection(`grantkit_${name}`).listIndexes().toArray()
    const expiry = indexes.filter((index) => JSON.stringify(index['key']) === '{"expiresAt":1}')
    expect(expiry, name).toHaveLength(1)
    found[name] = expiry[0]?.['expireAfterSeconds']
  }
  return found
}

const mongo = storeCases().filter((c) => c.name === 'mongodb')

describe.each(mongo)('expired documents on the $name store', ({ setup }) => {
  /** A database of the test's own, with a driver connection to it. */
  async function database(): Promise<{ spec: string; dir: string; db: Db; ferret: boolean }> {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const { spec, cleanup } = await setup(tmp.dir)
    cleanups.push(cleanup)
    const client = await new MongoClient(spec).connect()
    cleanups.push(() => client.close())
    const db = client.db()
    const ferret = typeof (await db.admin().command({ buildInfo: 1 }))['ferretdbVersion'] === 'string'
    return { spec, dir: tmp.dir, db, ferret }
  }

  it('makes TTL indexes where the server has them and says so at start; where it has none (FerretDB v1), plain indexes, and the scheduled purge deletes expired tokens', async () => {
    const { spec, dir, db, ferret } = await database()
    const demo = await startDemoServer({ OAUTH_STORE: spec, OAUTH_LOG: 'off', OAUTH_PURGE_INTERVAL: '1' }, dir)
    cleanups.push(() => demo.stop())
    expect(demo.output()).toMatch(ferret ? /^\[grantkit\] store: mongodb \S+ \(no TTL indexes on this server\)$/m : /^\[grantkit\] store: mongodb \S+ \(TTL indexes\)$/m)
    const ttl = ferret ? undefined : 0
    expect(await expiryIndexes(db)).toEqual({ codes: ttl, tokens: ttl, replay: ttl, devices: ttl, decisions: ttl, claims: ttl })

    // Whichever deletes it (the server's TTL monitor, or the demo's purge every second), an expired token goes, a live one stays.
    const store = mongoStore(db)
    await store.saveTokens([token('expired', new Date(Date.now() - 60_000)), token('live', new Date(Date.now() + 3_600_000))])
    await waitFor('the expired token to be deleted', async () => (await store.findToken(hashToken('expired'))) === null, 90)
    expect(await store.findToken(hashToken('live'))).not.toBeNull()
    expect(await demo.stop()).toBe(0)
  })

  it('starts on a database whose plain expiresAt indexes an earlier version made, turning them into TTL indexes where the server allows it', async () => {
    const { spec, dir, db, ferret } = await database()
    // What the demo made before it asked for TTL indexes.
    await mongoStore(db, { ttlIndexes: false }).ensureIndexes()
    expect(Object.values(await expiryIndexes(db)).every((value) => value === undefined)).toBe(true)
    const demo = await startDemoServer({ OAUTH_STORE: spec, OAUTH_LOG: 'off' }, dir)
    cleanups.push(() => demo.stop())
    expect((await fetch(`${demo.issuer}/readyz`)).status).toBe(200)
    const ttl = ferret ? undefined : 0
    expect(await expiryIndexes(db)).toEqual({ codes: ttl, tokens: ttl, replay: ttl, devices: ttl, decisions: ttl, claims: ttl })
    expect(await demo.stop()).toBe(0)
  })
})
