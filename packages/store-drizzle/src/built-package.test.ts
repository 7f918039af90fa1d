// Checks the package as published: dist/ ESM and CJS entries (through the
// package's exports map), the shipped migrations and the bin. Needs a build
// (`npm test` builds first; locally: npx turbo run build --filter=@grantkit/store-drizzle).
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'
import { generateToken, hashToken } from '@grantkit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from './internal/testing.js'

const run = promisify(execFile)
const packageDir = fileURLToPath(new URL('..', import.meta.url))
const dist = (file: string) => join(packageDir, 'dist', file)

describe('the built package', () => {
  let tmp: ReturnType<typeof tempDir>
  beforeAll(() => {
    expect(existsSync(dist('index.js')) && existsSync(dist('index.cjs')) && existsSync(dist('cli.js')), 'dist/ is missing: build the package first').toBe(true)
    tmp = tempDir()
  })
  afterAll(() => tmp?.remove())

  const probe = (load: string) => `
    const { openSqlite, migrationsFolder } = ${load}
    const db = await openSqlite(process.argv.at(-1))
    const tables = db.$client.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name)
    console.log(JSON.stringify({ folder: migrationsFolder('sqlite'), pg: migrationsFolder('pg'), tables, journal: db.$client.pragma('journal_mode', { simple: true }) }))
    db.$client.close()`

  it.each([
    ['ESM (import)', ['--input-type=module', '-e', probe(`await import('@grantkit/store-drizzle')`)]],
    ['CJS (require)', ['-e', `(async () => { ${probe(`require('@grantkit/store-drizzle')`)} })()`]],
  ])('runs the shipped migrations when loaded as %s', async (_, args) => {
    const file = join(tmp.dir, `${generateToken(6)}.sqlite`)
    const { stdout } = await run(process.execPath, [...args, file], { cwd: packageDir })
    const out = JSON.parse(stdout) as { folder: string; pg: string; tables: string[]; journal: string }
    expect(out.folder).toBe(join(packageDir, 'migrations', 'sqlite'))
    expect(existsSync(join(out.pg, 'meta', '_journal.json'))).toBe(true)
    expect(out.tables).toEqual([
      '__grantkit_migrations',
      'grantkit_authorization_codes',
      'grantkit_clients',
      'grantkit_device_codes',
      'grantkit_pushed_requests',
      'grantkit_replay_keys',
      'grantkit_throttle',
      'grantkit_tokens',
      'grantkit_users',
    ])
    expect(out.journal).toBe('wal')
  })

  it('ships a grantkit-clients bin that runs with node', async () => {
    const store = `sqlite:${join(tmp.dir, 'bin.sqlite')}`
    const { stdout } = await run(process.execPath, [dist('cli.js'), '--store', store, 'create', '--client-id', 'bin', '--grant-type', 'client_credentials'])
    expect(stdout).toMatch(/^client_id: bin\nclient_secret: \S{43}\n$/)
    expect((await run(dist('cli.js'), ['--store', store, 'list'])).stdout).toBe('bin\t-\tclient_secret_basic\tclient_credentials\t-\t-\n')
  })

  it('opens one new file from 4 threads at once: every one migrates or finds the migrations done, none fails', async () => {
    const file = join(tmp.dir, `race-${generateToken(6)}.sqlite`)
    const gate = new Int32Array(new SharedArrayBuffer(4))
    const workers = Array.from(
      { length: 4 },
      () =>
        new Worker(
          `const { workerData, parentPort } = require('node:worker_threads')
          const { openSqlite } = require('node:module').createRequire(workerData.entry)(workerData.entry)
          parentPort.postMessage('ready')
          Atomics.wait(workerData.gate, 0, 0)
          openSqlite(workerData.file).then(
            (db) => {
              const n = db.$client.prepare('SELECT count(*) AS n FROM __grantkit_migrations').get().n
              db.$client.close()
              parentPort.postMessage({ ok: true, n })
            },
            (error) => parentPort.postMessage({ ok: false, code: error.code, name: error.name }),
          )`,
          { eval: true, workerData: { entry: dist('index.cjs'), file, gate } },
        ),
    )
    const results = workers.map((w) => new Promise<unknown>((resolve, reject) => (w.on('message', (m) => m !== 'ready' && resolve(m)), w.on('error', reject))))
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))))
    Atomics.store(gate, 0, 1)
    Atomics.notify(gate, 0)
    const outcomes = (await Promise.all(results)) as Array<{ ok: boolean; n?: number }>
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true])
    expect(new Set(outcomes.map((o) => o.n)).size).toBe(1)
  })

  it('lets exactly one of 4 threads, each with its own connection to one WAL file, consume each code (RFC 6749 §4.1.2)', async () => {
    const file = join(tmp.dir, 'threads.sqlite')
    const codes = Array.from({ length: 20 }, () => hashToken(generateToken()))
    const now = Date.UTC(2030, 0, 1)
    const setup = await run(
      process.execPath,
      [
        '-e',
        `(async () => {
          const { openSqlite, sqliteStore } = require('@grantkit/store-drizzle')
          const db = await openSqlite(${JSON.stringify(file)})
          const store = sqliteStore(db)
          for (const codeHash of ${JSON.stringify(codes)}) await store.saveAuthorizationCode({ codeHash, clientId: 'c', userId: 'u', redirectUri: null, scope: '', familyId: 'f', codeChallenge: null, codeChallengeMethod: null, createdAt: new Date(${now}), expiresAt: new Date(${now + 60_000}), consumedAt: null })
          db.$client.close()
        })()`,
      ],
      { cwd: packageDir },
    )
    expect(setup.stderr).toBe('')

    const gate = new Int32Array(new SharedArrayBuffer(4))
    const worker = () =>
      new Worker(
        `const { workerData, parentPort } = require('node:worker_threads')
        const req = require('node:module').createRequire(workerData.entry)
        const { sqliteStore } = req(workerData.entry)
        const Database = req('better-sqlite3')
        const { drizzle } = req('drizzle-orm/better-sqlite3')
        const client = new Database(workerData.file)
        client.pragma('busy_timeout = 5000')
        const store = sqliteStore(drizzle({ client }))
        parentPort.postMessage('ready')
        Atomics.wait(workerData.gate, 0, 0)
        ;(async () => {
          const wins = []
          for (const hash of workerData.codes) wins.push((await store.consumeAuthorizationCode(hash, new Date(workerData.now)))?.consumed === true)
          client.close()
          parentPort.postMessage(wins)
        })()`,
        { eval: true, workerData: { entry: dist('index.cjs'), file, codes, now, gate } },
      )
    const workers = Array.from({ length: 4 }, worker)
    const results = workers.map(
      (w) =>
        new Promise<boolean[]>((resolve, reject) => {
          w.on('message', (m) => m !== 'ready' && resolve(m as boolean[]))
          w.on('error', reject)
        }),
    )
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))))
    Atomics.store(gate, 0, 1)
    Atomics.notify(gate, 0)
    const wins = await Promise.all(results)
    for (let i = 0; i < codes.length; i++) expect(wins.filter((w) => w[i]).length, `code ${i}`).toBe(1)
  })
})
