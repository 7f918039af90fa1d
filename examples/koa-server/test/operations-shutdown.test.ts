// Graceful shutdown (issue 18; docs/demo-server.md "Starting and stopping"):
// on SIGTERM readiness turns 503 at once, responses say Connection: close
// (RFC 9112 section 9.6), the requests in flight finish, then the store
// closes and the process exits 0. Keep-alive clients never get a reset.
import { once } from 'node:events'
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { adapterCases, startDemoServer, storeCases, tempDir, writeSeed, type DemoServer, type StoreCase } from './support/demo-server.js'
import { CONFIDENTIAL, seed } from './support/fixtures.js'
import { basic } from './support/oauth-http.js'
import { httpGet, readAnswer, waitFor } from './support/operations.js'

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

/** Whether `socket` closed, and whether with an error (a reset) rather than the server's orderly close. */
function closeOf(socket: Socket): Promise<{ hadError: boolean }> {
  if (socket.destroyed) return Promise.resolve({ hadError: socket.errored !== null })
  return new Promise((resolve) => socket.once('close', (hadError: boolean) => resolve({ hadError })))
}

/** What a request that could not be sent failed with. */
async function failureOf(url: string, agent: Agent): Promise<string> {
  try {
    const answer = await httpGet(url, agent)
    return `answered ${answer.status}`
  } catch (error) {
    return String((error as NodeJS.ErrnoException).code)
  }
}

// Every store (the store closes last); the frameworks differ only in how they write the header, which the
// OAUTH_SHUTDOWN_DELAY suite below checks on each.
describe.each(storeCases())('SIGTERM with a request in flight on the $name store', ({ setup }: StoreCase) => {
  it('answers the request in flight with Connection: close using the still-open store, closes idle keep-alive connections cleanly, stops accepting, and exits 0', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const { spec, cleanup } = await setup(tmp.dir)
    cleanups.push(cleanup)
    const demo: DemoServer = await startDemoServer({ OAUTH_STORE: spec, OAUTH_SEED: await writeSeed(tmp.dir, seed()) }, tmp.dir)
    cleanups.push(() => demo.stop())
    const busy = new Agent({ keepAlive: true, maxSockets: 1 })
    const idle = new Agent({ keepAlive: true, maxSockets: 1 })
    cleanups.push(async () => {
      busy.destroy()
      idle.destroy()
    })
    // Both agents hold a keep-alive connection that has served a request already.
    const metadata = `${demo.issuer}/.well-known/oauth-authorization-server`
    expect((await httpGet(metadata, busy)).headers.connection).toBe('keep-alive')
    const idleSocket = (await httpGet(metadata, idle)).socket

    // A real slow request: a token request whose client is slow to send its body. The 100
    // (RFC 9110 section 10.1.1) says the server has the request and is waiting for the body.
    const body = 'grant_type=client_credentials&scope=read'
    const slow: ClientRequest = request(`${demo.issuer}/token`, {
      method: 'POST',
      agent: busy,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), authorization: basic(CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret), expect: '100-continue' },
    })
    const answered = once(slow, 'response') as Promise<[IncomingMessage]>
    // Awaited below; a failure before that must not go unhandled.
    answered.catch(() => {})
    slow.flushHeaders()
    await once(slow, 'continue')

    process.kill(demo.pid, 'SIGTERM')
    await waitFor('the shutdown line', () => demo.output().includes('[grantkit] SIGTERM: shutting down\n'))
    // The idle keep-alive connection is closed by the server, in order (no reset)…
    expect(await closeOf(idleSocket)).toEqual({ hadError: false })
    // …and nothing listens any more: a new connection is refused before anything is sent, never reset after.
    expect(await failureOf(metadata, idle)).toBe('ECONNREFUSED')

    // The request in flight still gets its answer, from the store, which closes only after it.
    slow.end(body)
    const [res] = await answered
    const answer = await readAnswer(res)
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) })
    // RFC 9112 section 9.6: the server says it closes the connection, and does so in order.
    expect(answer.headers.connection).toBe('close')
    expect(await closeOf(answer.socket)).toEqual({ hadError: false })
    // So the client never writes another request on that connection: its next one needs a new connection, refused.
    expect(await failureOf(metadata, busy)).toBe('ECONNREFUSED')
    expect(await demo.stop()).toBe(0)
    expect(demo.output()).not.toMatch(/closing the store failed|\[error\]/)
  })
})

describe.each(adapterCases())('OAUTH_SHUTDOWN_DELAY on $adapter (docs/demo-server.md "Health and readiness")', ({ adapter }) => {
  it('goes on serving after SIGTERM with /readyz 503 at once and Connection: close on every response, including on keep-alive connections opened before; a second signal drains at once', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    // Long enough that the test never races its end: the second SIGTERM ends it.
    const demo = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_ADAPTER: adapter, OAUTH_SHUTDOWN_DELAY: '60' }, tmp.dir)
    cleanups.push(() => demo.stop())
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    cleanups.push(async () => agent.destroy())
    const metadata = `${demo.issuer}/.well-known/oauth-authorization-server`
    const before = await httpGet(metadata, agent)
    expect(before.headers.connection).toBe('keep-alive')

    process.kill(demo.pid, 'SIGTERM')
    await waitFor('the shutdown line', () => demo.output().includes('[grantkit] SIGTERM: shutting down in 60 s (readiness answers 503 meanwhile)\n'))
    // Readiness turns 503 at once, without asking the store, and without Retry-After: this process is going away.
    const ready = await httpGet(`${demo.issuer}/readyz`, false)
    expect(ready.status).toBe(503)
    expect(JSON.parse(ready.body)).toEqual({ status: 'unavailable', reason: 'shutting_down' })
    expect(ready.headers['retry-after']).toBeUndefined()
    expect(ready.headers.connection).toBe('close')
    // Liveness stays 200: the process is draining, not stuck.
    expect((await httpGet(`${demo.issuer}/healthz`, false)).status).toBe(200)
    // The keep-alive connection opened before SIGTERM is still served, told to close after this answer.
    const after = await httpGet(metadata, agent)
    expect(after.socket).toBe(before.socket)
    expect(after.status).toBe(200)
    expect(after.headers.connection).toBe('close')
    expect(await closeOf(after.socket)).toEqual({ hadError: false })
    // A new connection is served too, with Connection: close.
    const fresh = await httpGet(metadata, false)
    expect(fresh.status).toBe(200)
    expect(fresh.headers.connection).toBe('close')

    // A second signal ends the delay: drained (nothing in flight), store closed, exit 0.
    expect(await demo.stop()).toBe(0)
    expect(demo.output()).not.toMatch(/closing the store failed|\[error\]/)
  })
})
