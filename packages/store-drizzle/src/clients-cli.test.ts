import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { verifySecret } from '@grantkit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runClientsCli } from './clients-cli.js'
import { pgHarness, pgSkipReason, tempDir } from './internal/testing.js'
import { openSqlite } from './open-sqlite.js'
import { sqliteStore } from './sqlite-store.js'

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await runClientsCli(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) })
  return { code, stdout, stderr }
}

describe('grantkit-clients (RFC 6749 §2 client registration)', () => {
  let tmp: ReturnType<typeof tempDir>
  let store: string
  let file: string
  beforeAll(() => {
    tmp = tempDir()
    file = join(tmp.dir, 'data', 'clients.sqlite')
    store = `sqlite:${file}`
  })
  afterAll(() => tmp.remove())

  async function stored(clientId: string) {
    const db = await openSqlite(file)
    try {
      return await sqliteStore(db).findClient(clientId)
    } finally {
      db.$client.close()
    }
  }

  it('creates a confidential client, prints its secret once and stores only its hash', async () => {
    const { code, stdout, stderr } = await cli(
      '--store', store, 'create', '--name', 'Demo app', '--redirect-uri', 'https://app.example/cb',
      '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--scope', 'read  write', '--auth-method', 'client_secret_post',
    )
    expect(code).toBe(0)
    expect(stderr).toContain('shown once')
    const clientId = /^client_id: (\S+)$/m.exec(stdout)?.[1] as string
    const secret = /^client_secret: (\S+)$/m.exec(stdout)?.[1] as string
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const client = await stored(clientId)
    expect(client).toMatchObject({
      clientName: 'Demo app',
      redirectUris: ['https://app.example/cb'],
      grantTypes: ['authorization_code', 'refresh_token'],
      responseTypes: ['code'],
      scope: 'read write',
      tokenEndpointAuthMethod: 'client_secret_post',
    })
    expect(client?.clientSecretHash).not.toContain(secret)
    expect(await verifySecret(secret, client?.clientSecretHash as string)).toBe(true)
  })

  it('creates a public client (auth method none) without a secret', async () => {
    const { code, stdout } = await cli('--store', store, 'create', '--client-id', 'spa', '--grant-type', 'authorization_code', '--redirect-uri', 'http://localhost:5173/cb', '--auth-method', 'none')
    expect(code).toBe(0)
    expect(stdout).toBe('client_id: spa\n')
    expect(await stored('spa')).toMatchObject({ clientSecretHash: null, tokenEndpointAuthMethod: 'none' })
  })

  it('refuses to overwrite an existing client id', async () => {
    const { code, stderr } = await cli('--store', store, 'create', '--client-id', 'spa', '--grant-type', 'client_credentials')
    expect(code).toBe(1)
    expect(stderr).toContain('already exists')
  })

  it('lists clients ordered by client_id, as text and as JSON without secret hashes', async () => {
    const text = await cli('--store', store, 'list')
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('spa\t-\tnone\tauthorization_code\t-\thttp://localhost:5173/cb\n')
    const json = await cli('--store', store, 'list', '--json')
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[]
    expect(listed.map((c) => c['clientId'])).toEqual([...listed.map((c) => c['clientId'] as string)].sort())
    expect(listed).toHaveLength(2)
    expect(json.stdout).not.toContain('clientSecretHash')
  })

  it('deletes a client, then answers exit code 1 for it', async () => {
    expect(await cli('--store', store, 'delete', 'spa')).toMatchObject({ code: 0, stdout: 'deleted spa\n' })
    expect(await cli('--store', store, 'delete', 'spa')).toMatchObject({ code: 1, stderr: 'no client "spa"\n' })
    expect(await stored('spa')).toBeNull()
  })

  it.each([
    ['no command', [], 'Usage'],
    ['an unknown command', ['frobnicate'], 'unknown command "frobnicate"'],
    ['an unknown option', ['list', '--colour'], "Unknown option '--colour'"],
    ['create without a grant type', ['create', '--name', 'x'], 'at least one --grant-type'],
    ['a relative redirect URI (RFC 6749 §3.1.2)', ['create', '--grant-type', 'authorization_code', '--redirect-uri', '/cb'], 'not an absolute URI'],
    ['a redirect URI with a fragment (RFC 6749 §3.1.2)', ['create', '--grant-type', 'implicit', '--redirect-uri', 'https://a.example/cb#x'], 'must not have a fragment'],
    ['delete without a client id', ['delete'], 'exactly one <client_id>'],
    ['an unsupported store URL', ['--store', 'mysql://localhost/db', 'list'], 'unsupported --store'],
  ])('exits with 2 and the usage on %s', async (_, argv, message) => {
    const { code, stderr } = await cli(...argv)
    expect(code).toBe(2)
    expect(stderr).toContain(message)
    expect(stderr).toContain('Usage: grantkit-clients')
  })

  it('prints the help on --help with exit code 0', async () => {
    expect(await cli('--help')).toMatchObject({ code: 0, stdout: expect.stringContaining('grantkit-clients [--store <url>]') })
  })

  it('runs as a program (tsx on src/cli.ts): create, list, delete against a temp SQLite file', async () => {
    const run = promisify(execFile)
    const cliPath = fileURLToPath(new URL('./cli.ts', import.meta.url))
    const other = `sqlite:${join(tmp.dir, 'program.sqlite')}`
    const tsx = ['--import', 'tsx', cliPath, '--store', other]
    const created = await run(process.execPath, [...tsx, 'create', '--client-id', 'svc', '--grant-type', 'client_credentials', '--scope', 'api'])
    expect(created.stdout).toMatch(/^client_id: svc\nclient_secret: \S{43}\n$/)
    expect((await run(process.execPath, [...tsx, 'list'])).stdout).toBe('svc\t-\tclient_secret_basic\tclient_credentials\tapi\t-\n')
    expect((await run(process.execPath, [...tsx, 'delete', 'svc'])).stdout).toBe('deleted svc\n')
    await expect(run(process.execPath, [...tsx, 'delete', 'svc'])).rejects.toMatchObject({ code: 1 })
  })

  describe.skipIf(pgSkipReason !== undefined && !process.env['CI'])('with --store postgres://…', () => {
    let h: Awaited<ReturnType<typeof pgHarness>>
    beforeAll(async () => {
      h = await pgHarness(2)
    })
    afterAll(async () => {
      await h?.close()
    })

    it('creates, lists and deletes a client in PostgreSQL', async () => {
      expect(await cli('--store', h.schemaUrl, 'create', '--client-id', 'pg-client', '--grant-type', 'client_credentials')).toMatchObject({ code: 0 })
      expect(await h.store.findClient('pg-client')).toMatchObject({ grantTypes: ['client_credentials'], responseTypes: [] })
      expect((await cli('--store', h.schemaUrl, 'list')).stdout).toContain('pg-client\t')
      expect(await cli('--store', h.schemaUrl, 'delete', 'pg-client')).toMatchObject({ code: 0 })
      expect(await h.store.findClient('pg-client')).toBeNull()
    })
  })
})
