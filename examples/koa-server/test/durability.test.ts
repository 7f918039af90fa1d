import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { startDemoServer, tempDir, type DemoServer } from './support/demo-server.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** Token requests in flight at any time, all on loopback. */
const CONCURRENCY = 16
/** The kill comes once this many tokens were acknowledged, or at LOAD_DEADLINE_MS, whichever is first. */
const TARGET_TOKENS = 3000
const LOAD_DEADLINE_MS = 12_000
/** Fewer acknowledged tokens than this and the test proves nothing: it fails. */
const MIN_TOKENS = 500
/** Workers sending password grants (access + refresh token; the user's password costs a scrypt); the others send client_credentials. */
const PASSWORD_WORKERS = 1

interface Issued {
  readonly token: string
  readonly kind: 'access_token' | 'refresh_token'
  readonly grant: 'client_credentials' | 'password'
}

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight. */
async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++)
    }),
  )
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('the demo server on SQLite survives SIGKILL (issue 5 "Durability"; RFC 6749 §5.1, RFC 7662 §2.2)', () => {
  it(
    'keeps every token whose 200 response was received before the crash: all introspect as active after a restart',
    async () => {
      const tmp = await tempDir()
      cleanups.push(tmp.remove)
      const file = join(tmp.dir, 'durability.sqlite')
      // No OAUTH_SEED: the first start creates the demo clients and user and prints their
      // credentials. Its confidential client has a generated secret kept as a salted SHA-256
      // hash, so the load measures the store; an OAUTH_SEED secret is hashed with scrypt
      // (tens of ms of CPU per request), which would cap the load at a few dozen requests/s.
      const env = { OAUTH_STORE: `sqlite:${file}`, OAUTH_LOG: 'off' }
      const first: DemoServer = await startDemoServer(env, tmp.dir)
      cleanups.push(() => first.stop())
      const client = /client_id=(demo-confidential)\s+client_secret=(\S+)/.exec(first.output())
      const user = /username=(demo)\s+password=(\S+)/.exec(first.output())
      if (client === null || user === null) throw new Error(`no demo credentials printed:\n${first.output()}`)
      const [, clientId, clientSecret] = client as unknown as [string, string, string]
      const [, username, password] = user as unknown as [string, string, string]
      const AUTH = 'Basic ' + Buffer.from(`${clientId}:${clientSecret}`).toString('base64')

      // Load: CONCURRENCY workers until the kill, PASSWORD_WORKERS of them on the password grant.
      const issued: Issued[] = []
      let killing = false
      let inFlight = 0
      let inFlightAtKill = 0
      let failedAfterKill = 0
      const failuresBeforeKill: string[] = []
      const started = Date.now()
      let requests = 0
      const worker = async (grant: Issued['grant']) => {
        while (!killing) {
          requests++
          const body =
            grant === 'password'
              ? new URLSearchParams({ grant_type: 'password', username, password, scope: 'profile read' })
              : new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' })
          inFlight++
          try {
            const res = await fetch(`${first.issuer}/token`, { method: 'POST', headers: { ...FORM, authorization: AUTH }, body })
            // Only a 200 whose body arrived in full counts as "issued".
            const json = (await res.json()) as { access_token?: string; refresh_token?: string }
            if (res.status !== 200 || typeof json.access_token !== 'string') {
              if (!killing) failuresBeforeKill.push(`${res.status} ${JSON.stringify(json)}`)
              continue
            }
            issued.push({ token: json.access_token, kind: 'access_token', grant })
            if (typeof json.refresh_token === 'string') issued.push({ token: json.refresh_token, kind: 'refresh_token', grant })
          } catch (error) {
            // A connection cut by the kill; anything before it is a defect.
            if (killing) failedAfterKill++
            else failuresBeforeKill.push(String((error as Error).cause ?? error))
          } finally {
            inFlight--
          }
        }
      }
      const workers = Array.from({ length: CONCURRENCY }, (_, i) => worker(i < PASSWORD_WORKERS ? 'password' : 'client_credentials'))

      while (issued.length < TARGET_TOKENS && Date.now() - started < LOAD_DEADLINE_MS && failuresBeforeKill.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }

      // SIGKILL the node process itself (spawned directly, not through npm) with requests still in flight.
      killing = true
      inFlightAtKill = inFlight
      const acknowledged = issued.slice()
      const { signal } = await first.kill('SIGKILL')
      await Promise.all(workers)
      const loadMs = Date.now() - started

      expect(failuresBeforeKill).toEqual([])
      expect(signal).toBe('SIGKILL')
      expect(isAlive(first.pid)).toBe(false)
      expect(inFlightAtKill).toBeGreaterThan(0)
      // No clean close: the write-ahead log is left behind for the next start to recover.
      expect(existsSync(`${file}-wal`)).toBe(true)
      const walBytes = statSync(`${file}-wal`).size
      // A response can still complete in the instant between the snapshot and the kill; those count too.
      const recorded = issued.slice()
      expect(recorded.length).toBeGreaterThanOrEqual(acknowledged.length)
      expect(recorded.length).toBeGreaterThanOrEqual(MIN_TOKENS)
      const refreshTokens = recorded.filter((t) => t.kind === 'refresh_token').length
      expect(refreshTokens).toBeGreaterThan(0)

      // Restart on the same file and introspect every recorded token with the client's credentials.
      const second = await startDemoServer(env, tmp.dir)
      cleanups.push(() => second.stop())
      const introspectStarted = Date.now()
      const inactive: { token: Issued; body: unknown }[] = []
      await pool(recorded.length, CONCURRENCY, async (i) => {
        const token = recorded[i]!
        const res = await fetch(`${second.issuer}/introspect`, {
          method: 'POST',
          headers: { ...FORM, authorization: AUTH },
          body: new URLSearchParams({ token: token.token, token_type_hint: token.kind }),
        })
        const body = (await res.json()) as { active?: boolean; client_id?: string }
        if (res.status !== 200 || body.active !== true || body.client_id !== clientId) inactive.push({ token, body })
      })
      const introspectMs = Date.now() - introspectStarted
      expect(inactive.slice(0, 5), `${inactive.length} of ${recorded.length} acknowledged tokens are not active after the restart`).toEqual([])

      // The restarted server still issues tokens, and they introspect as active.
      const res = await fetch(`${second.issuer}/token`, {
        method: 'POST',
        headers: { ...FORM, authorization: AUTH },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }),
      })
      expect(res.status).toBe(200)
      const { access_token } = (await res.json()) as { access_token: string }
      const fresh = await fetch(`${second.issuer}/introspect`, { method: 'POST', headers: { ...FORM, authorization: AUTH }, body: new URLSearchParams({ token: access_token }) })
      expect(await fresh.json()).toMatchObject({ active: true, client_id: clientId, scope: 'read' })

      // And the crash left no corruption behind.
      const check = new Database(file)
      try {
        expect(check.pragma('integrity_check', { simple: true })).toBe('ok')
      } finally {
        check.close()
      }

      console.info(
        `[durability] ${recorded.length} tokens acknowledged (${refreshTokens} refresh) from ${requests} requests in ${loadMs} ms; ` +
          `${inFlightAtKill} in flight at SIGKILL, ${failedAfterKill} cut; WAL ${walBytes} bytes; ` +
          `all ${recorded.length} active after restart (introspected in ${introspectMs} ms)`,
      )
    },
    60_000,
  )
})
