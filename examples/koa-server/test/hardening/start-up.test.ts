import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { MAIN, startDemoServer, storeCases, tempDir, writeSeed, type DemoServer } from '../support/demo-server.js'
import { CALLBACK, USER } from '../support/fixtures.js'

// Issue 17, finding 13: several processes started at once on an empty
// database must all start, and a start-up failure is logged by name and code
// only (a driver's message can hold the SQL parameters: a password hash).

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')

/** The OpenID client of the race: the password grant with `openid profile`, so UserInfo shows which id each process gave a user's claims. */
const APP = { client_id: 'race-app', client_secret: 'race-app-secret' }
const USERS = [
  { ...USER, name: 'Alice Liddell' },
  { username: 'bob', password: 'bob-password-1', name: 'Bob Builder' },
  { username: 'carol', password: 'carol-password-1', name: 'Carol Danvers' },
]
const RACE_SEED = {
  clients: [
    {
      ...APP,
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'password', 'client_credentials'],
      scope: 'openid profile read',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    { client_id: 'race-public', redirect_uris: [CALLBACK], grant_types: ['authorization_code'], scope: 'openid profile', token_endpoint_auth_method: 'none' },
  ],
  users: USERS,
}
const PROCESSES = 4

/** The `(id, username)` of every stored user, read with the database's own driver, not through the store. */
async function storedUsers(spec: string): Promise<{ id: string; username: string }[]> {
  if (spec.startsWith('sqlite:')) {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(spec.slice('sqlite:'.length), { readonly: true })
    try {
      return db.prepare('SELECT id, username FROM grantkit_users').all() as { id: string; username: string }[]
    } finally {
      db.close()
    }
  }
  if (spec.startsWith('postgres')) {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: spec })
    await client.connect()
    try {
      return (await client.query<{ id: string; username: string }>('SELECT id, username FROM grantkit_users')).rows
    } finally {
      await client.end()
    }
  }
  const { MongoClient } = await import('mongodb')
  const client = await new MongoClient(spec).connect()
  try {
    const docs = await client.db().collection<{ _id: string; username: string }>('grantkit_users').find().toArray()
    return docs.map((doc) => ({ id: doc._id, username: doc.username }))
  } finally {
    await client.close()
  }
}

/** Signs `user` in with the password grant (RFC 6749 §4.3) and answers what UserInfo (OpenID Connect Core section 5.3) says of them. */
async function userInfo(demo: DemoServer, user: { username: string; password: string }): Promise<Record<string, unknown>> {
  const token = await fetch(`${demo.issuer}/token`, {
    method: 'POST',
    headers: { ...FORM, authorization: basic(APP.client_id, APP.client_secret) },
    body: new URLSearchParams({ grant_type: 'password', username: user.username, password: user.password, scope: 'openid profile' }),
  })
  expect(token.status).toBe(200)
  const { access_token } = (await token.json()) as { access_token: string }
  const info = await fetch(`${demo.issuer}/userinfo`, { headers: { authorization: `Bearer ${access_token}` } })
  expect(info.status).toBe(200)
  return (await info.json()) as Record<string, unknown>
}

/** Runs the demo with `env` until it exits (killed after 60 s, should it start after all); answers its exit code and output. */
function runUntilExit(env: Record<string, string>, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], { cwd, env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', OAUTH_LOG: 'off', ...env } })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

// The memory store lives in one process: nothing to race on.
const databases = storeCases().filter((c) => c.name !== 'memory')

describe.each(databases)('$name: processes started at once on a new database (issue 17 finding 13)', ({ setup }) => {
  it(`starts ${PROCESSES} processes with one seed at once: all become ready, with exactly one user per username whose id every process uses`, { timeout: 120_000 }, async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const store = await setup(tmp.dir)
    cleanups.push(store.cleanup)
    const seedFile = await writeSeed(tmp.dir, RACE_SEED)

    const started = await Promise.allSettled(
      Array.from({ length: PROCESSES }, () => startDemoServer({ OAUTH_STORE: store.spec, OAUTH_SEED: seedFile, OAUTH_LOG: 'off' }, tmp.dir)),
    )
    const demos = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
    for (const demo of demos) cleanups.push(() => demo.stop())
    expect(started.flatMap((result) => (result.status === 'rejected' ? [String((result.reason as Error).message)] : []))).toEqual([])

    // One row per username, read from the database itself.
    const rows = await storedUsers(store.spec)
    expect(rows.map((row) => row.username).sort()).toEqual(USERS.map((user) => user.username).sort())
    // Every process signs each user in under that row's id, and knows the seed's claims by it.
    for (const demo of demos) {
      for (const user of USERS) {
        const row = rows.find((r) => r.username === user.username)
        expect(await userInfo(demo, user)).toMatchObject({ sub: row?.id, name: user.name, preferred_username: user.username })
      }
    }
  })
})

/** The failure line a start-up failure prints: only names and codes (core's `describeError`), e.g. `DrizzleQueryError caused by SqliteError[SQLITE_CONSTRAINT_TRIGGER]`. */
const NAME_AND_CODE_LINE = /^\[grantkit\] failed to start: [\w.$-]+(?:\[[\w.-]+\])?(?: caused by [\w.$-]+(?:\[[\w.-]+\])?)*$/m

describe('start-up failures are logged by name and code only (issue 17 finding 13; RFC 6819 section 5.1.6)', () => {
  const MARKER_USER = 'marker-user-5f3a'
  const MARKER_PASSWORD = 'marker-password-9c1e'
  const markerSeed = { clients: [], users: [{ username: MARKER_USER, password: MARKER_PASSWORD }] }

  /** Asserts the process stopped with 1 and a failure line of names and codes, holding `code` and none of `secrets`. */
  const expectNameAndCode = (run: { code: number | null; output: string }, code: string, secrets: readonly string[]) => {
    expect(run.code).toBe(1)
    const line = NAME_AND_CODE_LINE.exec(run.output)?.[0]
    expect(line, run.output).toBeDefined()
    expect(line).toContain(`[${code}]`)
    for (const secret of secrets) expect(run.output).not.toContain(secret)
  }

  it('SQLite: a driver error while seeding (a trigger refusing the user) prints the names and codes, never the failed query, its parameters or the password hash', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'store.sqlite')
    // A first start creates the tables; a trigger then refuses every new user with a message of its own.
    const first = await startDemoServer({ OAUTH_STORE: `sqlite:${file}`, OAUTH_LOG: 'off', OAUTH_SEED: await writeSeed(tmp.dir, { clients: [] }) }, tmp.dir)
    expect(await first.stop()).toBe(0)
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(file)
    db.exec(`CREATE TRIGGER refuse_users BEFORE INSERT ON grantkit_users BEGIN SELECT RAISE(ABORT, 'trigger-message-marker'); END`)
    db.close()

    const run = await runUntilExit({ OAUTH_STORE: `sqlite:${file}`, OAUTH_SEED: await writeSeed(tmp.dir, markerSeed) }, tmp.dir)
    // The driver's message holds the statement and its parameters: the username and the scrypt hash of the password.
    expectNameAndCode(run, 'SQLITE_CONSTRAINT_TRIGGER', [MARKER_USER, MARKER_PASSWORD, 'trigger-message-marker', 'insert into', 'params', '$scrypt', 'scrypt$'])
  })

  it('keeps its own configuration errors readable: they are its own text', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const run = await runUntilExit({ OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(tmp.dir, { users: [{ username: 'x' }] }) }, tmp.dir)
    expect(run.code).toBe(1)
    expect(run.output).toContain('[grantkit] failed to start: OAUTH_SEED: users[0].password must be a string\n')
  })

  it.each(['javascript:alert(1)', 'data:text/html,hi', 'not a url'])(
    'refuses a seed client with the redirect URI %j, in its own words (issue 17 finding 9; RFC 6749 section 3.1.2)',
    async (uri) => {
      const tmp = await tempDir()
      cleanups.push(tmp.remove)
      const client = { client_id: 'bad-redirect', redirect_uris: [uri], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none' }
      const run = await runUntilExit({ OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(tmp.dir, { clients: [client] }) }, tmp.dir)
      expect(run.code).toBe(1)
      expect(run.output).toMatch(/^\[grantkit\] failed to start: createClient: the redirect URI .+$/m)
    },
  )

  it('never prints the seed file text a JSON syntax error quotes (a password in it)', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const file = join(tmp.dir, 'broken.json')
    await writeFile(file, `{"users": [{"username": "u", "password": ${MARKER_PASSWORD}}]}`)
    const run = await runUntilExit({ OAUTH_STORE: 'memory:', OAUTH_SEED: file }, tmp.dir)
    expect(run.code).toBe(1)
    expect(run.output).toMatch(/\[grantkit\] failed to start: OAUTH_SEED: \S+broken\.json is not valid JSON/)
    expect(run.output).not.toContain(MARKER_PASSWORD)
  })

  const postgres = databases.find((c) => c.name === 'postgres')
  describe.runIf(postgres !== undefined)('PostgreSQL', () => {
    it('a wrong password in OAUTH_STORE prints the SQLSTATE (28P01), never the server message or the password', async () => {
      const tmp = await tempDir()
      cleanups.push(tmp.remove)
      const url = new URL(process.env['DATABASE_URL'] as string)
      url.password = MARKER_PASSWORD
      const run = await runUntilExit({ OAUTH_STORE: url.toString() }, tmp.dir)
      expectNameAndCode(run, '28P01', [MARKER_PASSWORD, 'password authentication failed', `user "${url.username}"`])
    })

    it('a constraint error while seeding prints the SQLSTATE (23514), never the failed query, its parameters or the password hash', async () => {
      const tmp = await tempDir()
      cleanups.push(tmp.remove)
      const store = await (postgres as NonNullable<typeof postgres>).setup(tmp.dir)
      cleanups.push(store.cleanup)
      const first = await startDemoServer({ OAUTH_STORE: store.spec, OAUTH_LOG: 'off', OAUTH_SEED: await writeSeed(tmp.dir, { clients: [] }) }, tmp.dir)
      expect(await first.stop()).toBe(0)
      const { default: pg } = await import('pg')
      const client = new pg.Client({ connectionString: store.spec })
      await client.connect()
      try {
        await client.query(`ALTER TABLE grantkit_users ADD CONSTRAINT check_marker_constraint CHECK (username <> '${MARKER_USER}')`)
      } finally {
        await client.end()
      }
      const run = await runUntilExit({ OAUTH_STORE: store.spec, OAUTH_SEED: await writeSeed(tmp.dir, markerSeed) }, tmp.dir)
      expectNameAndCode(run, '23514', [MARKER_USER, MARKER_PASSWORD, 'check_marker_constraint', 'insert into', 'params', '$scrypt', 'scrypt$'])
    })
  })
})
