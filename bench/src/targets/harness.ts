import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { PoolKind, Scenario } from '../fixture.js'

/** One benchmark target: an HTTP handler over a library, and how it pre-mints credentials through that library's own API. */
export interface TargetDefinition {
  handler: RequestListener
  /** Mints one refresh token through the library (e.g. a password grant request). */
  mintRefreshToken?: () => Promise<string>
  /** Mints one authorization code through the library's authorization endpoint logic. */
  mintAuthorizationCode?: () => Promise<string>
  /** Scenarios the library cannot serve, with the reason shown in RESULTS.md. */
  unsupported?: Partial<Record<Scenario, string>>
  /** Facts RESULTS.md prints beside the figures (e.g. `'PostgreSQL pool': '10 connections (…)'`). */
  details?: Record<string, string>
  /** Releases what the target holds (a database pool, a schema) before the process exits. */
  close?: () => Promise<void>
}

/** Messages from the runner. */
export type ToTarget = { type: 'mint'; id: number; kind: PoolKind; count: number }
/** Messages to the runner. */
export type FromTarget =
  | { type: 'ready'; port: number; pools: Record<PoolKind, string[]>; unsupported: Partial<Record<Scenario, string>>; details: Record<string, string> }
  | { type: 'minted'; id: number; values: string[] }
  | { type: 'error'; id: number; message: string }

const BATCH = 64

let stopping = false
/**
 * Whether the runner has stopped this target: requests still in flight then were cut off by the load
 * generator, and errors from their queries on a closing pool are expected (not worth a log line).
 */
export const isStopping = () => stopping

async function mintMany(mint: (() => Promise<string>) | undefined, count: number): Promise<string[]> {
  const values: string[] = []
  if (mint === undefined || count <= 0) return values
  while (values.length < count) {
    const n = Math.min(BATCH, count - values.length)
    values.push(...(await Promise.all(Array.from({ length: n }, () => mint()))))
  }
  return values
}

function send(message: FromTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      resolve()
      return
    }
    process.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()))
  })
}

/**
 * Pre-mints the pools sized by `BENCH_PREMINT_REFRESH_TOKEN` and
 * `BENCH_PREMINT_AUTHORIZATION_CODE`, then listens on 127.0.0.1:`PORT` (0 = any)
 * and hands port and pools to the runner over IPC. Later `mint` messages top
 * the pools up between measured runs, never during one.
 */
export async function serveTarget(definition: TargetDefinition): Promise<void> {
  const mints: Record<PoolKind, (() => Promise<string>) | undefined> = {
    refresh_token: definition.mintRefreshToken,
    authorization_code: definition.mintAuthorizationCode,
  }
  const pools: Record<PoolKind, string[]> = {
    refresh_token: await mintMany(mints.refresh_token, Number(process.env['BENCH_PREMINT_REFRESH_TOKEN'] ?? 0)),
    authorization_code: await mintMany(mints.authorization_code, Number(process.env['BENCH_PREMINT_AUTHORIZATION_CODE'] ?? 0)),
  }
  const server = createServer({ keepAliveTimeout: 60_000 }, definition.handler)
  await new Promise<void>((resolve) => server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  process.on('message', (message: ToTarget) => {
    if (message.type !== 'mint') return
    mintMany(mints[message.kind], message.count).then(
      (values) => send({ type: 'minted', id: message.id, values }),
      (error: unknown) => send({ type: 'error', id: message.id, message: String((error as Error)?.stack ?? error) }),
    )
  })
  // The runner disconnects to stop a target: let the requests in flight finish (the load generator has
  // hung up), then release the store (its pool, its PostgreSQL schema).
  process.on('disconnect', () => {
    stopping = true
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    closed.then(() => definition.close?.()).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  })
  await send({ type: 'ready', port, pools, unsupported: definition.unsupported ?? {}, details: definition.details ?? {} })
  if (process.send === undefined) console.log(`listening on http://127.0.0.1:${port}`)
}

