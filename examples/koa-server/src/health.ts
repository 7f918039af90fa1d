import type { IncomingMessage, ServerResponse } from 'node:http'
import { describeError } from '@grantkit/core'
import { jsonAnswer, requestPath, within, writeAnswer, type Answer } from './demo-http.js'

/** Liveness: answers 200 while the process can answer at all, without touching the store. */
export const HEALTH_PATH = '/healthz'
/** Readiness: answers 200 when the store answered a round trip just now, else 503. */
export const READY_PATH = '/readyz'

/** Milliseconds a readiness check waits for the store before answering 503 (below a probe's usual 3 s timeout). */
export const READINESS_TIMEOUT = 2000

/** Seconds a client is asked to wait (`Retry-After`, RFC 9110 section 10.2.3) after a 503 from the readiness check. */
export const READINESS_RETRY_AFTER = 5

/** The client id the default round trip looks up. Whether a client has it does not matter: only the round trip does. */
const PROBE_CLIENT_ID = ' grantkit readiness probe '

/** Why the server is not ready, in the 503 body. */
type NotReady = 'starting' | 'store_unavailable' | 'shutting_down'

/** Options of {@link healthProbes}. */
export interface HealthProbesOptions {
  /** One round trip to the store; it throws (or does not settle in time) when the store cannot serve. */
  readonly check: (timeout: number) => Promise<unknown>
  /** Whether the app is ready to route (Fastify has booted). */
  readonly started: () => boolean
  /** Whether shutdown began: readiness then answers 503 without asking the store. */
  readonly stopping: () => boolean
  /** Told when the store's check starts failing, with its error, and when it succeeds again (once per change, not per probe). */
  readonly onChange?: ((ready: boolean, error?: unknown) => void) | undefined
  /** Milliseconds the store may take; default {@link READINESS_TIMEOUT}. */
  readonly timeout?: number | undefined
}

/**
 * The round trip of a store without its own probe: a look-up of one client
 * by id (one indexed read, nothing written).
 */
export function lookupProbe(store: { findClient(clientId: string): Promise<unknown> }): (timeout: number) => Promise<unknown> {
  return () => store.findClient(PROBE_CLIENT_ID)
}

/** What better-sqlite3's `Database` offers the SQLite probe. */
export interface SqliteConnection {
  readonly inTransaction: boolean
  pragma(source: string, options?: { simple?: boolean }): unknown
  exec(source: string): unknown
}

/**
 * The SQLite round trip: whether a write could start now. In WAL mode a
 * read never waits, whoever holds the write lock; but a token cannot be
 * issued while another process (a purge, a backup, the clients CLI, a
 * second demo process) holds it. Takes the lock and gives it back at once
 * (`BEGIN IMMEDIATE`, `ROLLBACK`, nothing written), without the
 * connection's busy wait, so the event loop is never blocked; a lock held
 * by someone else is retried every 25 ms for up to `timeout` milliseconds.
 */
export async function sqliteWriteProbe(client: SqliteConnection, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout
  for (;;) {
    // A statement of this connection is under way: it is working.
    if (client.inTransaction) return
    const busyTimeout = Number(client.pragma('busy_timeout', { simple: true }))
    try {
      client.pragma('busy_timeout = 0')
      client.exec('BEGIN IMMEDIATE')
      client.exec('ROLLBACK')
      return
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || Date.now() >= deadline) throw error
    } finally {
      client.pragma(`busy_timeout = ${Number.isSafeInteger(busyTimeout) ? busyTimeout : 0}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const HEADERS: readonly (readonly [string, string])[] = [['cache-control', 'no-store']]

function notReady(reason: NotReady): Answer {
  // RFC 9110 section 15.6.4: 503, and section 10.2.3: when to ask again (not for a process on its way out).
  const headers = reason === 'shutting_down' ? HEADERS : [...HEADERS, ['retry-after', String(reason === 'starting' ? 1 : READINESS_RETRY_AFTER)] as const]
  return jsonAnswer(503, { status: 'unavailable', reason }, headers)
}

/** RFC 9110 section 15.5.6: the probes answer GET and HEAD only. */
function methodNotAllowed(method: string | undefined): Answer {
  const allow = ['allow', 'GET, HEAD'] as const
  if (method === 'OPTIONS') return { status: 204, headers: [allow], body: null }
  return jsonAnswer(405, { error: 'invalid_request', error_description: 'use GET or HEAD' }, [allow, ...HEADERS])
}

/**
 * The liveness and readiness endpoints for container platforms (a
 * Kubernetes `livenessProbe` and `readinessProbe`, a load balancer's health
 * check), served in front of the framework, the same on every one: `/healthz`
 * answers 200 without touching anything; `/readyz` answers 200 once the app
 * is ready and one round trip to the store succeeded within
 * {@link READINESS_TIMEOUT}, and 503 with `Retry-After` otherwise, or at once
 * when shutdown began. Concurrent checks share one round trip. Paths match
 * exactly (at the root, whatever the issuer's path); the query is ignored.
 *
 * Answers whether it answered `req`: `false` hands it to the app.
 */
export function healthProbes(options: HealthProbesOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const timeout = options.timeout ?? READINESS_TIMEOUT
  let pending: Promise<boolean> | undefined
  // Assumed at start: the store was just opened. Only a change is reported.
  let ready = true
  const changed = (now: boolean, error?: unknown) => {
    if (ready === now) return
    ready = now
    options.onChange?.(now, error)
  }
  const checkStore = (): Promise<boolean> => {
    pending ??= within(timeout, Promise.resolve().then(() => options.check(timeout)))
      .then(
        () => (changed(true), true),
        (error: unknown) => (changed(false, error), false),
      )
      .finally(() => (pending = undefined))
    return pending
  }
  return (req, res) => {
    const path = requestPath(req.url ?? '/')
    if (path !== HEALTH_PATH && path !== READY_PATH) return false
    // RFC 9112 section 3.2: a request without Host is the framework's to refuse.
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      writeAnswer(res, methodNotAllowed(req.method))
      return true
    }
    if (path === HEALTH_PATH) {
      writeAnswer(res, jsonAnswer(200, { status: 'ok' }, HEADERS))
      return true
    }
    if (options.stopping()) writeAnswer(res, notReady('shutting_down'))
    else if (!options.started()) writeAnswer(res, notReady('starting'))
    else {
      void checkStore().then((ok) => {
        if (res.writableEnded || res.destroyed) return
        writeAnswer(res, options.stopping() ? notReady('shutting_down') : ok ? jsonAnswer(200, { status: 'ready' }, HEADERS) : notReady('store_unavailable'))
      })
    }
    return true
  }
}

/** The log line of a readiness change. */
export function readinessLine(ready: boolean, error?: unknown): string {
  return ready ? '[grantkit] ready again: the store answers' : `[grantkit] not ready: the store did not answer (${error === undefined ? 'no error' : describeError(error)})`
}
