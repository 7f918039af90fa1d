import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memoryStore, type FullStore } from '@grantkit/core'
import { createApp } from '../../src/app.js'
import { createAuthorizationServer, DEFAULT_SCOPES } from '../../src/authorization-server.js'
import { applySeed } from '../../src/seed.js'
import { adapterCases, startDemoServer, tempDir, writeSeed, type DemoServer } from '../support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, USER, seed } from '../support/fixtures.js'
import { openLoginForm, submitLoginForm } from '../support/login-form.js'
import { FORM, basic, post } from '../support/oauth-http.js'
import { isAlive } from '../support/raw-http.js'

/** What a failing driver might say: none of it may reach a client. */
const INTERNALS = 'SELECT client_secret_hash FROM grantkit_clients WHERE id = $1 -- password=hunter2 at PgClient.query (/srv/node_modules/pg/lib/client.js:526:17)'
const LEAKS = [/hunter2/, /SELECT/i, /grantkit_clients/, /node_modules/, /\bat [A-Za-z.]+ \(/, /client\.js/]
// Long enough for two scrypt checks (client secret and password) on a loaded 2-core machine,
// short enough to keep the hang cases quick.
const TIMEOUT_MS = 1500

type Mode = 'ok' | 'throw' | 'hang'

/** A store whose every method can be switched to throw or to never settle. */
function faultyStore(inner: FullStore): { store: FullStore; set(mode: Mode): void } {
  let mode: Mode = 'ok'
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (mode === 'throw') return Promise.reject(new Error(INTERNALS))
        if (mode === 'hang') return new Promise(() => {})
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store, set: (next) => void (mode = next) }
}

describe.each(adapterCases())('store failures in-process on $adapter (RFC 6749 §5.2 server_error)', ({ adapter }) => {
  let http: Server
  let issuer: string
  let faults: ReturnType<typeof faultyStore>
  const log: string[] = []

  beforeAll(async () => {
    const inner = memoryStore()
    await applySeed(inner, seed())
    faults = faultyStore(inner)
    http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
    const server = createAuthorizationServer({ issuer, store: faults.store, scopesSupported: DEFAULT_SCOPES, onError: () => {} })
    http.on('request', await createApp(adapter, { server, store: faults.store, csrfKey: randomBytes(32), log: (line) => log.push(line), requestTimeout: TIMEOUT_MS }))
  })

  afterAll(async () => {
    http?.closeAllConnections()
    await new Promise((resolve) => http?.close(resolve))
  })

  const confidential = { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] as [string, string] }
  const jsonEndpoints: [string, () => Promise<Response>][] = [
    ['the token endpoint (client_credentials)', () => post(issuer, '/token', { grant_type: 'client_credentials' }, confidential)],
    ['the token endpoint (password)', () => post(issuer, '/token', { grant_type: 'password', username: USER.username, password: USER.password }, confidential)],
    ['the revocation endpoint', () => post(issuer, '/revoke', { token: 'x'.repeat(43) }, confidential)],
    ['the introspection endpoint', () => post(issuer, '/introspect', { token: 'x'.repeat(43) }, confidential)],
    ['/api/me', () => fetch(`${issuer}/api/me`, { headers: { authorization: `Bearer ${'x'.repeat(43)}` } })],
  ]

  /** A store that throws an unknown error is a 500; one that hangs past the request timeout is a passing outage: 503 with Retry-After (RFC 9110 §15.6.4). */
  const statusOf = (mode: Mode): number => (mode === 'hang' ? 503 : 500)

  async function expectServerError(res: Response, started: number, mode: Mode): Promise<void> {
    // Bounded by the request timeout rather than hanging; the margin is wide
    // because scrypt client and password checks run first on a shared, slow
    // machine (a hang would take the whole test timeout instead).
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 20_000)
    expect(res.status).toBe(statusOf(mode))
    if (mode === 'hang') expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: expect.any(String) })
    for (const leak of LEAKS) expect(text).not.toMatch(leak)
  }

  describe.each(['throw', 'hang'] as const)('when the store methods %s', (mode) => {
    it.each(jsonEndpoints)(`%s answers ${statusOf(mode)} server_error with no internals, then recovers`, async (_name, send) => {
      faults.set(mode)
      try {
        await expectServerError(await send(), Date.now(), mode)
      } finally {
        faults.set('ok')
      }
      expect((await send()).status).toBeLessThan(500)
    })

    it(`the authorization endpoint shows the ${statusOf(mode)} error page (never a redirect) with no internals, then recovers`, async () => {
      const url = new URL(`${issuer}/authorize?${new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 's' })}`)
      faults.set(mode)
      let res: Response
      try {
        res = await fetch(url, { redirect: 'manual' })
      } finally {
        faults.set('ok')
      }
      expect(res.status).toBe(statusOf(mode))
      expect(res.headers.get('location')).toBeNull()
      const html = await res.text()
      // RFC 6749 §4.1.2.1: temporarily_unavailable for a passing outage.
      expect(html).toContain(mode === 'hang' ? 'temporarily_unavailable' : 'server_error')
      for (const leak of LEAKS) expect(html).not.toMatch(leak)
      expect((await fetch(url, { redirect: 'manual' })).status).toBe(200)
    })

    it(`the consent form POST (login) shows the ${statusOf(mode)} error page with no internals, then logs in`, async () => {
      const url = new URL(`${issuer}/authorize?${new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 's' })}`)
      const form = await openLoginForm(url)
      faults.set(mode)
      let res: Response
      try {
        res = await submitLoginForm(form, { username: USER.username, password: USER.password, decision: 'approve' })
      } finally {
        faults.set('ok')
      }
      expect(res.status).toBe(statusOf(mode))
      expect(res.headers.get('location')).toBeNull()
      const html = await res.text()
      for (const leak of LEAKS) expect(html).not.toMatch(leak)
      expect((await submitLoginForm(form, { username: USER.username, password: USER.password, decision: 'approve' })).status).toBe(303)
    })
  })

  it('logs each failure as one line, without the stack', () => {
    const errors = log.filter((line) => line.startsWith('[error]'))
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.some((line) => line.includes('RequestTimeoutError'))).toBe(true)
    for (const line of errors) expect(line).not.toMatch(/\n|node_modules/)
  })
})

const databaseUrl = process.env['DATABASE_URL']
const ci = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false'
if (!databaseUrl && ci) throw new Error('DATABASE_URL is required in CI for the PostgreSQL fault test')

describe.runIf(databaseUrl).each(adapterCases())('a real PostgreSQL fault on $adapter: the server’s connections are terminated (503 server_error, RFC 9110 §15.6.4)', ({ adapter }) => {
  let demo: DemoServer
  let removeDir: () => Promise<void>
  let dropSchema: () => Promise<void>
  let admin: import('pg').Client
  const schema = `grantkit_fault_${randomBytes(6).toString('hex')}`
  const appName = `grantkit_fault_${randomBytes(4).toString('hex')}`

  beforeAll(async () => {
    const { default: pg } = await import('pg')
    admin = new pg.Client({ connectionString: databaseUrl })
    await admin.connect()
    await admin.query(`CREATE SCHEMA "${schema}"`)
    dropSchema = async () => void (await admin.query(`DROP SCHEMA "${schema}" CASCADE`))
    const tmp = await tempDir()
    removeDir = tmp.remove
    const url = databaseUrl as string
    const spec = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}&application_name=${appName}`
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: spec, OAUTH_SEED: await writeSeed(tmp.dir, seed()), OAUTH_LOG: 'off' }, tmp.dir)
  })

  afterAll(async () => {
    await demo?.stop()
    await dropSchema?.()
    await admin?.end()
    await removeDir?.()
  })

  const clientCredentials = () =>
    fetch(`${demo.issuer}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret) }, body: 'grant_type=client_credentials' })

  it('answers 503 server_error with Retry-After while its query is killed (SQLSTATE 57P01), stays up, and succeeds again on a new connection', async () => {
    // Concurrent requests open pooled connections, idle when the fault hits (how many depends on how the store
    // groups its writes and on the machine's speed: at least one).
    for (const res of await Promise.all(Array.from({ length: 6 }, clientCredentials))) expect(res.status).toBe(200)
    const idle = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [appName])
    expect(idle.rows[0].n).toBeGreaterThan(0)
    // Hold the tokens table so that the next token request waits inside PostgreSQL…
    await admin.query('BEGIN')
    await admin.query(`LOCK TABLE "${schema}".grantkit_tokens IN ACCESS EXCLUSIVE MODE`)
    const pending = clientCredentials()
    try {
      for (let i = 0; i < 100; i++) {
        const waiting = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [appName])
        if (waiting.rows[0].n > 0) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      // …then kill every connection of the server: the waiting one and the idle ones.
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [appName])
      expect(killed.rowCount).toBeGreaterThan(0)
    } finally {
      await admin.query('ROLLBACK')
    }
    const res = await pending
    expect(res.status).toBe(503)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: expect.any(String) })
    expect(text).not.toMatch(/terminat|administrator|postgres|insert|tokens/i)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(isAlive(demo.pid)).toBe(true)
    expect((await clientCredentials()).status).toBe(200)
  })
})
