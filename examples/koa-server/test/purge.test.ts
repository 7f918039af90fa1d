// OAUTH_PURGE_INTERVAL (docs/demo-server.md "Environment variables"): the demo
// deletes expired codes, tokens and replay keys on a schedule, in batches.
import { join } from 'node:path'
import { hashToken, type TokenRecord } from '@grantkit/core'
import { openSqlite, sqliteStore } from '@grantkit/store-drizzle'
import { afterAll, describe, expect, it } from 'vitest'
import { startDemoServer, tempDir } from './support/demo-server.js'

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

describe('OAUTH_PURGE_INTERVAL', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('purges expired tokens on its schedule and keeps the live ones', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'purge.sqlite')
    const db = await openSqlite(file)
    const store = sqliteStore(db)
    await store.saveTokens([token('expired', new Date(Date.now() - 60_000)), token('live', new Date(Date.now() + 3_600_000))])
    const demo = await startDemoServer({ OAUTH_STORE: `sqlite:${file}`, OAUTH_LOG: 'off', OAUTH_PURGE_INTERVAL: '1' }, tmp.dir)
    cleanups.push(() => demo.stop())
    // Wait for the first scheduled run (one second in), however slow the machine.
    let expired = await store.findToken(hashToken('expired'))
    for (let i = 0; i < 300 && expired !== null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      expired = await store.findToken(hashToken('expired'))
    }
    expect(expired).toBeNull()
    expect(await store.findToken(hashToken('live'))).not.toBeNull()
    db.$client.close()
    expect(await demo.stop()).toBe(0)
  })

  it.each(['-1', '1.5', '604801', 'hourly'])('refuses to start with OAUTH_PURGE_INTERVAL=%j, naming the variable', async (value) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    await expect(startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_PURGE_INTERVAL: value }, tmp.dir)).rejects.toThrow(/failed to start: OAUTH_PURGE_INTERVAL must be a whole number of seconds from 0 to 604800/)
  })
})
