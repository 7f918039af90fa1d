// Liveness and readiness for container platforms (issue 18; docs/demo-server.md
// "Health and readiness"): /healthz never touches the store, /readyz makes one
// round trip to it and answers 503 with Retry-After while the store cannot serve.
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, serverCases, startDemoServer, storeCases, tempDir, type DemoServer, type ServerCase } from './support/demo-server.js'
import { httpGet, storeAddress, tcpProxy, waitFor, type HttpAnswer } from './support/operations.js'

const JSON_TYPE = 'application/json; charset=utf-8'

/** The readiness answer, read on a connection of its own. */
const readiness = (demo: DemoServer): Promise<HttpAnswer> => httpGet(`${demo.issuer}/readyz`, false)

describe.each(serverCases())('/healthz and /readyz on $adapter with the $store store (docs/demo-server.md "Health and readiness")', ({ adapter, setup }: ServerCase) => {
  let demo: DemoServer
  const cleanups: (() => Promise<unknown>)[] = []
  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const { spec, cleanup } = await setup(tmp.dir)
    cleanups.push(cleanup)
    demo = await startDemoServer({ OAUTH_STORE: spec, OAUTH_ADAPTER: adapter }, tmp.dir)
    cleanups.push(() => demo.stop())
  })
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('answers /healthz 200 {"status":"ok"} and, after a round trip to the store, /readyz 200 {"status":"ready"}, never cached', async () => {
    const health = await httpGet(`${demo.issuer}/healthz`, false)
    expect(health).toMatchObject({ status: 200, body: '{"status":"ok"}' })
    expect(health.headers).toMatchObject({ 'content-type': JSON_TYPE, 'cache-control': 'no-store' })
    const ready = await readiness(demo)
    expect(ready).toMatchObject({ status: 200, body: '{"status":"ready"}' })
    expect(ready.headers).toMatchObject({ 'content-type': JSON_TYPE, 'cache-control': 'no-store' })
    expect(ready.headers['retry-after']).toBeUndefined()
    // The query is ignored (probes may add one to defeat caches).
    expect((await httpGet(`${demo.issuer}/readyz?probe=1`, false)).status).toBe(200)
  })

  it('answers HEAD with the headers alone, OPTIONS 204 and any other method 405, each with Allow: GET, HEAD (RFC 9110 section 15.5.6)', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const head = await httpGet(demo.issuer + path, false, 'HEAD')
      expect(head.status, path).toBe(200)
      expect(head.body, path).toBe('')
      expect(head.headers['content-type'], path).toBe(JSON_TYPE)
      const options = await httpGet(demo.issuer + path, false, 'OPTIONS')
      expect(options.status, path).toBe(204)
      expect(options.headers['allow'], path).toBe('GET, HEAD')
      for (const method of ['POST', 'DELETE', 'PUT']) {
        const refused = await httpGet(demo.issuer + path, false, method)
        expect(refused.status, `${method} ${path}`).toBe(405)
        expect(refused.headers['allow'], `${method} ${path}`).toBe('GET, HEAD')
        expect(JSON.parse(refused.body), `${method} ${path}`).toEqual({ error: 'invalid_request', error_description: 'use GET or HEAD' })
      }
    }
  })

  it('serves exactly /healthz and /readyz: another case or a trailing slash is the framework\'s 404, and probes stay out of the request log', async () => {
    for (const path of ['/HEALTHZ', '/healthz/', '/readyz/x', '/ready']) {
      expect((await httpGet(demo.issuer + path, false)).status, path).toBe(404)
    }
    await httpGet(`${demo.issuer}/healthz`, false)
    expect(demo.output()).not.toMatch(/^GET \/(healthz|readyz) /m)
    // The other requests are logged as ever.
    expect(demo.output()).toMatch(/^GET \/HEALTHZ 404 /m)
  })
})

describe('/healthz and /readyz with an issuer that has a path (docs/demo-server.md "Health and readiness")', () => {
  it('serves them at the root, not under the issuer path', async () => {
    const tmp = await tempDir()
    try {
      const port = await freePort()
      const demo = await startDemoServer({ OAUTH_STORE: 'memory:', PORT: String(port), OAUTH_ISSUER: `http://127.0.0.1:${port}/tenant` }, tmp.dir)
      try {
        expect((await httpGet(`http://127.0.0.1:${port}/healthz`, false)).status).toBe(200)
        expect((await httpGet(`http://127.0.0.1:${port}/readyz`, false)).status).toBe(200)
        expect((await httpGet(`http://127.0.0.1:${port}/tenant/healthz`, false)).status).toBe(404)
      } finally {
        expect(await demo.stop()).toBe(0)
      }
    } finally {
      await tmp.remove()
    }
  })
})

/** Waits for readiness to answer `status`, however slow the machine (a failing check takes its 2 s timeout at most). */
async function readinessBecomes(demo: DemoServer, status: number): Promise<HttpAnswer> {
  let last: HttpAnswer | undefined
  await waitFor(`/readyz ${status}`, async () => (last = await readiness(demo)).status === status, 60)
  return last as HttpAnswer
}

/** What a 503 of the readiness check holds while the store cannot serve. */
function expectStoreUnavailable(answer: HttpAnswer): void {
  expect(answer.status).toBe(503)
  expect(JSON.parse(answer.body)).toEqual({ status: 'unavailable', reason: 'store_unavailable' })
  // RFC 9110 section 10.2.3: when to ask again.
  expect(answer.headers['retry-after']).toBe('5')
  expect(answer.headers['cache-control']).toBe('no-store')
}

const networkStores = storeCases().filter((c) => c.name === 'postgres' || c.name === 'mongodb')

describe.each(networkStores)('readiness while the $name server is unreachable (docs/demo-server.md "Health and readiness")', ({ name, setup }) => {
  it('answers /readyz 503 with Retry-After while every connection to the database fails, /healthz 200 all along, logs the change once each way, and is ready again once the database is back', async () => {
    const tmp = await tempDir()
    const { spec, cleanup } = await setup(tmp.dir)
    const address = storeAddress(spec)
    // The demo reaches the database through a relay the test can cut, as a network failure or a stopped server would.
    const proxy = await tcpProxy(address.host, address.port)
    try {
      const demo = await startDemoServer({ OAUTH_STORE: address.via(proxy.port) }, tmp.dir)
      try {
        expect((await readiness(demo)).status).toBe(200)
        proxy.down()
        expectStoreUnavailable(await readinessBecomes(demo, 503))
        // Liveness never asks the store: the process is fine, a restart would not help.
        expect(await httpGet(`${demo.issuer}/healthz`, false)).toMatchObject({ status: 200, body: '{"status":"ok"}' })
        expectStoreUnavailable(await readiness(demo))
        expect(demo.output()).toMatch(/^\[grantkit\] not ready: the store did not answer \(.+\)$/m)
        proxy.up()
        expect((await readinessBecomes(demo, 200)).body).toBe('{"status":"ready"}')
        expect(demo.output()).toContain('[grantkit] ready again: the store answers\n')
        // One line per change, not one per probe.
        expect(demo.output().match(/\[grantkit\] not ready:/g)).toHaveLength(1)
      } finally {
        proxy.up()
        expect(await demo.stop(), name).toBe(0)
      }
    } finally {
      await proxy.close()
      await cleanup()
      await tmp.remove()
    }
  })
})

describe('readiness while another process holds the SQLite write lock (docs/demo-server.md "Health and readiness")', () => {
  it('answers /readyz 503 while no write could start, keeps serving /healthz and reads meanwhile, and 200 once the lock is given back', async () => {
    const tmp = await tempDir()
    const file = join(tmp.dir, 'locked.sqlite')
    const demo = await startDemoServer({ OAUTH_STORE: `sqlite:${file}`, OAUTH_PURGE_INTERVAL: '0' }, tmp.dir)
    // Another process's write transaction (a backup, the clients CLI, a second demo): BEGIN IMMEDIATE holds the lock.
    const other = new Database(file)
    try {
      expect((await readiness(demo)).status).toBe(200)
      other.exec('BEGIN IMMEDIATE')
      expectStoreUnavailable(await readiness(demo))
      // The check never blocks the event loop: the process answers while the lock is held, reads included (WAL).
      expect((await httpGet(`${demo.issuer}/healthz`, false)).status).toBe(200)
      expect((await httpGet(`${demo.issuer}/.well-known/oauth-authorization-server`, false)).status).toBe(200)
      other.exec('ROLLBACK')
      expect((await readinessBecomes(demo, 200)).body).toBe('{"status":"ready"}')
      expect(demo.output()).toMatch(/^\[grantkit\] not ready: the store did not answer \(.+\)$/m)
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK')
      other.close()
      expect(await demo.stop()).toBe(0)
      await tmp.remove()
    }
  })
})
