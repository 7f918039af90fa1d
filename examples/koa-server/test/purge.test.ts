// OAUTH_PURGE_INTERVAL (docs/demo-server.md "Environment variables"): the demo
// deletes expired codes, tokens and replay keys on a schedule, in batches.
import { join } from 'node:path'
import { hashToken, type TokenRecord } from '@grantkit/core'
import { openSqlite, sqlitePushedRequestStore, sqliteStore, sqliteThrottle } from '@grantkit/store-drizzle'
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

  it('purges expired tokens on its schedule and keeps the live ones, and the throttle and pushed request tables beside them (RFC 6819 §5.1.4.2.3, RFC 9126 §2.2)', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'purge.sqlite')
    const db = await openSqlite(file)
    const store = sqliteStore(db)
    await store.saveTokens([token('expired', new Date(Date.now() - 60_000)), token('live', new Date(Date.now() + 3_600_000))])
    // A failure counted 20 minutes ago (out of the 10-minute window) and one now; a pushed request expired, one live.
    const throttle = sqliteThrottle(db)
    // (The new key first: a key's first hit deletes expired rows on its way, RFC 6819 §5.1.4.2.3 bounded memory.)
    await throttle.hit('client:new', Date.now())
    await throttle.hit('client:old', Date.now() - 20 * 60_000)
    const pushed = sqlitePushedRequestStore(db)
    const past = new Date(Date.now() - 3_600_000)
    await pushed.savePushedRequest(hashToken('old-uri'), { clientId: 'someone', params: 'a=1', expiresAt: new Date(Date.now() - 60_000) }, past)
    await pushed.savePushedRequest(hashToken('new-uri'), { clientId: 'someone', params: 'a=2', expiresAt: new Date(Date.now() + 600_000) }, past)
    const keys = (table: string) => (db.$client.prepare(`SELECT ${table === 'grantkit_throttle' ? 'key' : 'uri_hash'} AS k FROM ${table} ORDER BY 1`).all() as { k: string }[]).map((r) => r.k)
    expect(keys('grantkit_throttle')).toEqual(['client:new', 'client:old'])
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
    // The same run went on to the throttle and pushed request tables (after the tokens): wait for it too.
    for (let i = 0; i < 300 && keys('grantkit_throttle').length + keys('grantkit_pushed_requests').length > 2; i++) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(keys('grantkit_throttle')).toEqual(['client:new'])
    expect(keys('grantkit_pushed_requests')).toEqual([hashToken('new-uri')])
    db.$client.close()
    expect(await demo.stop()).toBe(0)
  })

  it.each(['-1', '1.5', '604801', 'hourly'])('refuses to start with OAUTH_PURGE_INTERVAL=%j, naming the variable', async (value) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    await expect(startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_PURGE_INTERVAL: value }, tmp.dir)).rejects.toThrow(/failed to start: OAUTH_PURGE_INTERVAL must be a whole number of seconds from 0 to 604800/)
  })
})
