import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashToken } from '@grantkit/core'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from '../support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, POST_CLIENT, PUBLIC_CLIENT, USER, seed } from '../support/fixtures.js'
import { obtainCode, post } from '../support/oauth-http.js'

/** Everything stored, read with the database's own driver (not through the store), as one string. */
async function dumpDatabase(spec: string): Promise<string> {
  if (spec.startsWith('sqlite:')) {
    const { default: Database } = await import('better-sqlite3')
    const db = new Database(spec.slice('sqlite:'.length), { readonly: true })
    try {
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]
      return JSON.stringify(tables.map(({ name }) => [name, db.prepare(`SELECT * FROM "${name}"`).all()]))
    } finally {
      db.close()
    }
  }
  if (spec.startsWith('postgres')) {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: spec })
    await client.connect()
    try {
      const tables = await client.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
      const rows: unknown[] = []
      for (const { table_name } of tables.rows) rows.push(table_name, (await client.query(`SELECT row_to_json(t)::text AS row FROM "${table_name}" t`)).rows)
      return JSON.stringify(rows)
    } finally {
      await client.end()
    }
  }
  const { MongoClient } = await import('mongodb')
  const client = await new MongoClient(spec).connect()
  try {
    const rows: unknown[] = []
    for (const { name } of await client.db().listCollections().toArray()) rows.push(name, await client.db().collection(name).find().toArray())
    return JSON.stringify(rows)
  } finally {
    await client.close()
  }
}

// Only the stores with a database to read.
const databases = serverCases((c) => c.name !== 'memory')

describe.each(databases)('secrets at rest and in logs on $adapter with the $store store (RFC 6819 §5.1.4.1.3, §5.2.3.1; RFC 9700 §4.14)', ({ adapter, setup }) => {
  let demo: DemoServer
  let spec: string
  let removeDir: () => Promise<void>
  let cleanupStore: () => Promise<void>
  /** Every raw credential the flows saw. */
  const raw: { name: string; value: string }[] = []
  let accessToken = ''

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    const store = await setup(tmp.dir)
    spec = store.spec
    cleanupStore = store.cleanup
    // The request log is on: it is one of the places searched.
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: spec, OAUTH_SEED: await writeSeed(tmp.dir, seed()) }, tmp.dir)

    const confidential = { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] as [string, string] }
    const publicClient = { clientId: PUBLIC_CLIENT.client_id }
    const keep = (name: string, body: Record<string, unknown>) => {
      for (const field of ['access_token', 'refresh_token']) if (typeof body[field] === 'string') raw.push({ name: `${name} ${field}`, value: body[field] as string })
    }
    const json = async (res: Response) => {
      expect(res.status).toBe(200)
      return (await res.json()) as Record<string, unknown>
    }

    // Authorization code + PKCE (public client), then a refresh.
    const pkceCode = await obtainCode(demo.issuer, PUBLIC_CLIENT.client_id)
    raw.push({ name: 'code (public)', value: pkceCode.code }, { name: 'code_verifier', value: pkceCode.verifier })
    const first = await json(await post(demo.issuer, '/token', { grant_type: 'authorization_code', code: pkceCode.code, redirect_uri: CALLBACK, code_verifier: pkceCode.verifier }, publicClient))
    keep('code grant', first)
    accessToken = first['access_token'] as string
    keep('refresh grant', await json(await post(demo.issuer, '/token', { grant_type: 'refresh_token', refresh_token: first['refresh_token'] as string }, publicClient)))
    // Authorization code (confidential client).
    const confCode = await obtainCode(demo.issuer, CONFIDENTIAL.client_id)
    raw.push({ name: 'code (confidential)', value: confCode.code })
    keep('confidential code grant', await json(await post(demo.issuer, '/token', { grant_type: 'authorization_code', code: confCode.code, redirect_uri: CALLBACK, code_verifier: confCode.verifier }, confidential)))
    // Client credentials, basic and post.
    keep('client credentials', await json(await post(demo.issuer, '/token', { grant_type: 'client_credentials' }, confidential)))
    keep('client credentials (post)', await json(await post(demo.issuer, '/token', { grant_type: 'client_credentials', client_id: POST_CLIENT.client_id, client_secret: POST_CLIENT.client_secret }, { clientId: POST_CLIENT.client_id })))
    // Password grant.
    keep('password grant', await json(await post(demo.issuer, '/token', { grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile' }, confidential)))
    raw.push(
      { name: 'confidential client secret', value: CONFIDENTIAL.client_secret },
      { name: 'post client secret', value: POST_CLIENT.client_secret },
      { name: 'user password', value: USER.password },
    )
  })

  afterAll(async () => {
    await demo?.stop()
    await cleanupStore?.()
    await removeDir?.()
  })

  it('stores no token, code, verifier, client secret or password in clear, only their hashes', async () => {
    const dump = await dumpDatabase(spec)
    // The dump covers the token table: the hash of a live access token is in it.
    expect(dump).toContain(hashToken(accessToken))
    expect(raw.length).toBeGreaterThanOrEqual(14)
    for (const { name, value } of raw) expect(dump, name).not.toContain(value)
    // Client secrets and passwords are stored as salted, self-describing hashes.
    // Chosen secrets and passwords: scrypt at the OWASP floor core defaults to (N=2^14, r=8, p=5).
    expect(dump).toMatch(/scrypt\$16384\$8\$5\$/)
  })

  it('writes none of them to its log (stdout and stderr)', () => {
    const output = demo.output()
    expect(output).toMatch(/POST \/token 200/)
    expect(output).toMatch(/POST \/authorize 303/)
    for (const { name, value } of raw) expect(output, name).not.toContain(value)
    // Nor their hashes: a leaked log must not help an offline search either.
    expect(output).not.toContain(hashToken(accessToken))
  })
})
