// Several demo processes of one issuer on one database, as behind a load
// balancer (docs/deployment.md "The set-up"): the tests of what they share.
import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { freePort, startDemoServer, tempDir, writeSeed, type DemoServer, type StoreCase } from './demo-server.js'

/** One process: where it listens (the issuer is shared). */
export interface Process {
  readonly demo: DemoServer
  /** `http://127.0.0.1:<its port>`. */
  readonly base: string
}

/** The address a process printed that it listens on. */
export function listeningOn(demo: DemoServer): string {
  const match = /\[grantkit\] listening on (\S+) /.exec(demo.output())
  if (match === null) throw new Error(`no listening line:\n${demo.output()}`)
  return match[1] as string
}

/** Two processes and how to stop them and remove their files. */
export interface ProcessPair {
  readonly processes: readonly [Process, Process]
  stop(): Promise<void>
}

/**
 * Starts two demo processes on one fresh database of `store`, one after the
 * other (starting at once is tested with the seed, test/startup-race), with
 * what every process of one issuer shares: the store, the seed, the issuer
 * (the first one's address), the CSRF and login session key; `env` adds to
 * it. Both must answer `/readyz` 200 (the store answers each).
 */
export async function startProcessPair(store: StoreCase, seed: unknown, env: Record<string, string> = {}): Promise<ProcessPair> {
  const cleanups: (() => Promise<unknown>)[] = []
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  }
  try {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const { spec, cleanup } = await store.setup(tmp.dir)
    cleanups.push(cleanup)
    const port = await freePort()
    const shared = {
      OAUTH_STORE: spec,
      OAUTH_SEED: await writeSeed(tmp.dir, seed),
      OAUTH_ISSUER: `http://127.0.0.1:${port}`,
      OAUTH_CSRF_SECRET: randomBytes(32).toString('hex'),
      OAUTH_LOG: 'off',
      ...env,
    }
    const processes: Process[] = []
    for (const extra of [{ PORT: String(port) }, { PORT: '0' }]) {
      const demo = await startDemoServer({ ...shared, ...extra }, tmp.dir)
      cleanups.push(() => demo.stop())
      processes.push({ demo, base: listeningOn(demo) })
    }
    for (const { base } of processes) expect((await fetch(`${base}/readyz`)).status).toBe(200)
    return { processes: processes as [Process, Process], stop }
  } catch (error) {
    await stop()
    throw error
  }
}
