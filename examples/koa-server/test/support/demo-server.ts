import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The built demo server: tests drive it as outside clients do, over HTTP. */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url))

/** A running demo server. */
export interface DemoServer {
  /** The issuer, which is also the base URL. */
  readonly issuer: string
  /** Everything the process printed so far. */
  output(): string
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number | null>
  /** The pid of the node process running dist/main.js (spawned directly, no npm wrapper). */
  readonly pid: number
  /** Sends `signal` (e.g. SIGKILL, to simulate a crash) and waits for the exit code and signal. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** One way of storing, from `OAUTH_STORE`. */
export interface StoreCase {
  readonly name: string
  /** Prepares an isolated store and answers its `OAUTH_STORE` value and how to remove it. */
  readonly setup: (dir: string) => Promise<{ spec: string; cleanup: () => Promise<void> }>
}

const noCleanup = async () => {}

/** A PostgreSQL schema of its own (first on the search_path), dropped by cleanup. */
async function postgresCase(url: string, dir: string): Promise<{ spec: string; cleanup: () => Promise<void> }> {
  void dir
  const { default: pg } = await import('pg')
  const schema = `grantkit_demo_${randomBytes(6).toString('hex')}`
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }
  await admin(`CREATE SCHEMA "${schema}"`)
  const spec = `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
  return { spec, cleanup: () => admin(`DROP SCHEMA "${schema}" CASCADE`) }
}

/** A MongoDB database of its own, dropped by cleanup. */
async function mongoCase(uri: string): Promise<{ spec: string; cleanup: () => Promise<void> }> {
  const match = /^(mongodb(?:\+srv)?:\/\/[^/?#]*)(?:\/[^?#]*)?(.*)$/i.exec(uri)
  if (match === null) throw new Error(`MONGODB_URI is not a MongoDB URI`)
  const spec = `${match[1]}/grantkit_demo_${randomBytes(6).toString('hex')}${match[2] ?? ''}`
  return {
    spec,
    cleanup: async () => {
      const { MongoClient } = await import('mongodb')
      const client = await new MongoClient(spec).connect()
      try {
        await client.db().dropDatabase()
      } finally {
        await client.close()
      }
    },
  }
}

/**
 * The stores to run the flows against: memory and SQLite always; PostgreSQL
 * and MongoDB when DATABASE_URL / MONGODB_URI are set, each in a schema or
 * database of its own. In CI (`CI` set) a missing one is an error, not a skip.
 */
export function storeCases(): StoreCase[] {
  const cases: StoreCase[] = [
    { name: 'memory', setup: async () => ({ spec: 'memory:', cleanup: noCleanup }) },
    { name: 'sqlite', setup: async (dir) => ({ spec: `sqlite:${join(dir, 'grantkit.sqlite')}`, cleanup: noCleanup }) },
  ]
  const ci = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false'
  const postgres = process.env['DATABASE_URL']
  if (postgres) cases.push({ name: 'postgres', setup: (dir) => postgresCase(postgres, dir) })
  else if (ci) throw new Error('DATABASE_URL is required in CI to run the demo server against PostgreSQL')
  const mongo = process.env['MONGODB_URI']
  if (mongo) cases.push({ name: 'mongodb', setup: () => mongoCase(mongo) })
  else if (ci) throw new Error('MONGODB_URI is required in CI to run the demo server against MongoDB')
  return cases
}

/** The frameworks the demo runs on (`OAUTH_ADAPTER`), the default first. */
export const ADAPTERS = ['koa', 'express', 'fastify', 'fetch'] as const

/** An `OAUTH_ADAPTER` value. */
export type Adapter = (typeof ADAPTERS)[number]

/** Every adapter, for `describe.each`: the wire behaviour must not depend on it (docs/demo-server.md). */
export function adapterCases(): { readonly adapter: Adapter }[] {
  return ADAPTERS.map((adapter) => ({ adapter }))
}

/** One run of a store-dependent suite: a framework and a store. */
export interface ServerCase {
  readonly adapter: Adapter
  /** The store's name (`memory`, `sqlite`, `postgres`, `mongodb`). */
  readonly store: string
  readonly setup: StoreCase['setup']
}

/**
 * The matrix of the store-dependent suites: Koa (the default) on every
 * store of {@link storeCases}, and every other adapter on SQLite. The
 * adapters share the store code, so one store each proves the framework;
 * SQLite is the default store and a real database. `only` narrows the
 * stores (e.g. no `memory` where a database file is read).
 */
export function serverCases(only: (store: StoreCase) => boolean = () => true): ServerCase[] {
  const stores = storeCases().filter(only)
  const sqlite = stores.find((c) => c.name === 'sqlite')
  if (sqlite === undefined) throw new Error('serverCases: the SQLite store is always part of the matrix')
  return [
    ...stores.map((c) => ({ adapter: 'koa' as const, store: c.name, setup: c.setup })),
    ...ADAPTERS.filter((adapter) => adapter !== 'koa').map((adapter) => ({ adapter, store: sqlite.name, setup: sqlite.setup })),
  ]
}

/** A port of 127.0.0.1 free right now (bound, then released), for a test that must know the port before the server starts. */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** Makes a temporary directory, removed by the returned function. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'grantkit-demo-'))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** Writes an `OAUTH_SEED` file. */
export async function writeSeed(dir: string, seed: unknown): Promise<string> {
  const file = join(dir, 'seed.json')
  await writeFile(file, JSON.stringify(seed))
  return file
}

/**
 * Starts `node examples/koa-server/dist/main.js` on a free port and waits
 * until its metadata URL answers 200.
 */
export async function startDemoServer(env: Record<string, string>, cwd: string): Promise<DemoServer> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm test does; or npx turbo run build --filter=@grantkit/example-koa-server...)`)
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exitedWith = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const exited = exitedWith.then(({ code }) => code)
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return exitedWith
  }
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  const deadline = Date.now() + 30_000
  let issuer: string | undefined
  let metadata: string | undefined
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the demo server exited with ${child.exitCode}:\n${output}`)
    issuer ??= /issuer (\S+)\)/.exec(output)?.[1]
    // The metadata URL the server prints (RFC 8414 §3.1: under the issuer's path, when it has one).
    metadata ??= /\[grantkit\] metadata: (\S+)/.exec(output)?.[1]
    if (issuer !== undefined && metadata !== undefined) {
      try {
        const res = await fetch(metadata)
        if (res.status === 200) return { issuer, output: () => output, stop, pid: child.pid as number, kill }
      } catch {
        // not listening yet
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stop()
  throw new Error(`the demo server did not answer its metadata URL within 30 s:\n${output}`)
}
