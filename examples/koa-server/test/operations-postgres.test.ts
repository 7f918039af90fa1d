// The PostgreSQL pool of the demo (issue 18 "A slow database starves every
// endpoint"; docs/demo-server.md "Environment variables", docs/deployment.md):
// OAUTH_PG_POOL_SIZE, OAUTH_PG_CONNECTION_TIMEOUT_MS and
// OAUTH_PG_STATEMENT_TIMEOUT_MS reach the pool, and a bad value stops the start.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { startDemoServer, storeCases, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CONFIDENTIAL, seed } from './support/fixtures.js'
import { post } from './support/oauth-http.js'
import { waitFor } from './support/operations.js'

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

describe('OAUTH_PG_* and OAUTH_SHUTDOWN_DELAY values (docs/demo-server.md "Environment variables")', () => {
  it.each([
    ['OAUTH_PG_POOL_SIZE', '0', /OAUTH_PG_POOL_SIZE must be a whole number from 1 to 1000, not "0"/],
    ['OAUTH_PG_POOL_SIZE', 'ten', /OAUTH_PG_POOL_SIZE must be a whole number from 1 to 1000, not "ten"/],
    ['OAUTH_PG_CONNECTION_TIMEOUT_MS', '-1', /OAUTH_PG_CONNECTION_TIMEOUT_MS must be a whole number of milliseconds from 0 to 600000, not "-1"/],
    ['OAUTH_PG_STATEMENT_TIMEOUT_MS', '1.5', /OAUTH_PG_STATEMENT_TIMEOUT_MS must be a whole number of milliseconds from 0 to 600000, not "1.5"/],
    ['OAUTH_SHUTDOWN_DELAY', '61', /OAUTH_SHUTDOWN_DELAY must be a whole number of seconds from 0 to 60, not "61"/],
  ])('refuses to start with %s=%j, naming the variable and its range, whatever the store', async (name, value, message) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    await expect(startDemoServer({ OAUTH_STORE: 'memory:', [name]: value }, tmp.dir)).rejects.toThrow(message)
  })
})

const postgres = storeCases().filter((c) => c.name === 'postgres')

describe.each(postgres)('the PostgreSQL pool settings ($name)', ({ setup }) => {
  /** A demo on its own schema, its connections named so that pg_stat_activity tells them apart; and an admin connection to the same schema. */
  async function started(env: Record<string, string>): Promise<{ demo: DemoServer; admin: pg.Client; application: string }> {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const { spec, cleanup } = await setup(tmp.dir)
    cleanups.push(cleanup)
    const application = `grantkit_pool_${randomBytes(4).toString('hex')}`
    const demo = await startDemoServer(
      { OAUTH_STORE: `${spec}&application_name=${application}`, OAUTH_SEED: await writeSeed(tmp.dir, seed()), OAUTH_PURGE_INTERVAL: '0', ...env },
      tmp.dir,
    )
    cleanups.push(() => demo.stop())
    const admin = new pg.Client({ connectionString: spec })
    await admin.connect()
    cleanups.push(() => admin.end())
    return { demo, admin, application }
  }

  /** A client credentials token request (RFC 6749 section 4.4.2): one INSERT into the tokens table. */
  const tokenRequest = (demo: DemoServer) =>
    post(demo.issuer, '/token', { grant_type: 'client_credentials', scope: 'read' }, { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] }).then(async (res) => ({ status: res.status, body: await res.text() }))

  /** The demo's backends waiting for a lock. */
  const waitingOnLock = async (admin: pg.Client, application: string): Promise<number> =>
    Number((await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [application])).rows[0].n)

  it('opens at most OAUTH_PG_POOL_SIZE connections, and a request waiting longer than OAUTH_PG_CONNECTION_TIMEOUT_MS for one fails instead of hanging', async () => {
    const { demo, admin, application } = await started({ OAUTH_PG_POOL_SIZE: '2', OAUTH_PG_CONNECTION_TIMEOUT_MS: '500', OAUTH_PG_STATEMENT_TIMEOUT_MS: '60000' })
    // Warm the client secret check, so that the four requests below differ only in their INSERT.
    expect((await tokenRequest(demo)).status).toBe(200)
    await admin.query('BEGIN')
    await admin.query('LOCK TABLE grantkit_tokens IN ACCESS EXCLUSIVE MODE')
    try {
      const requests = [1, 2, 3, 4].map(() => tokenRequest(demo))
      const settled: { status: number }[] = []
      for (const request of requests) void request.then((answer) => settled.push(answer))
      // Two INSERTs hold the pool's two connections, waiting on the lock; the two other requests wait
      // for a connection, give up after 500 ms and are answered, while the lock is still held.
      await waitFor('two answers', () => settled.length === 2)
      expect(settled.map((answer) => answer.status >= 500)).toEqual([true, true])
      expect(await waitingOnLock(admin, application)).toBe(2)
      const connections = await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1`, [application])
      expect(Number(connections.rows[0].n)).toBe(2)
    } finally {
      await admin.query('ROLLBACK')
    }
    // The lock is gone: the two waiting INSERTs complete, and their requests get their tokens.
    const answers = await Promise.all([1, 2, 3, 4].map(() => tokenRequest(demo)))
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200])
  })

  it('cancels a statement blocked longer than OAUTH_PG_STATEMENT_TIMEOUT_MS (SQLSTATE 57014) instead of letting it wait for the lock', async () => {
    const { demo, admin, application } = await started({ OAUTH_PG_STATEMENT_TIMEOUT_MS: '500' })
    expect((await tokenRequest(demo)).status).toBe(200)
    await admin.query('BEGIN')
    await admin.query('LOCK TABLE grantkit_tokens IN ACCESS EXCLUSIVE MODE')
    try {
      const refused = await tokenRequest(demo)
      expect(refused.status).toBeGreaterThanOrEqual(500)
      // PostgreSQL cancelled the INSERT (57014) although the lock is still held, after about the 500 ms asked:
      // the request log's duration, measured by the server, is far below the 5000 ms default.
      await waitFor('the request log line', () => /^POST \/token 5\d\d \d+ms$/m.test(demo.output()))
      expect(demo.output()).toMatch(/57014/)
      const [, took] = /^POST \/token 5\d\d (\d+)ms$/m.exec(demo.output()) ?? []
      expect(Number(took)).toBeGreaterThanOrEqual(500)
      expect(Number(took)).toBeLessThan(4000)
      expect(await waitingOnLock(admin, application)).toBe(0)
    } finally {
      await admin.query('ROLLBACK')
    }
    expect((await tokenRequest(demo)).status).toBe(200)
  })
})
