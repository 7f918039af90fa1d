import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { BASIC_AUTHORIZATION, poolOf, tokenRequestBody, type PoolKind, type Scenario } from './fixture.js'
import type { FromTarget, ToTarget } from './targets/harness.js'
import type { TargetSpec } from './targets.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TARGETS_DIR = fileURLToPath(new URL('./targets/', import.meta.url))

export interface BenchOptions {
  targets: readonly TargetSpec[]
  scenarios: readonly Scenario[]
  /** Measured seconds per run. */
  duration: number
  /** Warm-up seconds before each measured run (not recorded). */
  warmup: number
  rounds: number
  connections: number
  /** Pin the runner to CPU 0 and targets to CPU 1 with taskset. */
  pin: boolean
  /**
   * refresh_token requests each present the refresh token that a previous response returned, as a client
   * does (`connections` chains), instead of one pre-minted token per request. Default false.
   */
  chainRefresh?: boolean
  /** `poolSize` of the PostgreSQL target's `connectPostgres` (default: the store's own default). */
  pgPool?: number
  /** Extra `node` arguments for target processes (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[]
  log?: (line: string) => void
}

export interface RunResult {
  target: string
  scenario: Scenario
  round: number
  status: 'ok' | 'invalid' | 'n/a'
  reason?: string
  requestsPerSecond: number
  p50: number
  p99: number
  rssBytes: number
  /** CPU time of the target process (every thread) per response of the measured run, in microseconds. */
  cpuMicrosPerRequest: number
  /** CPU time of the target and of the runner (autocannon) over the measured run, as a share of one core. */
  targetCpu: number
  runnerCpu: number
  total: number
  non2xx: number
  errors: number
  badBodies: number
  /** Facts the target reported (e.g. its PostgreSQL pool). */
  details?: Record<string, string>
}

const has = (command: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export const canPin = () => process.platform === 'linux' && has('taskset')

let ticksPerSecond: number | undefined
/** User + system CPU seconds of a process and all its threads, from /proc (0 when unavailable). */
function readCpuSeconds(pid: number): number {
  try {
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
  } catch {
    return 0
  }
}

function readRss(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** A running target process and its pools of pre-minted credentials. */
class TargetProcess {
  readonly pools: Record<PoolKind, string[]> = { refresh_token: [], authorization_code: [] }
  unsupported: Partial<Record<Scenario, string>> = {}
  details: Record<string, string> = {}
  port = 0
  #nextId = 0
  #pending = new Map<number, { resolve: (values: string[]) => void; reject: (error: Error) => void }>()
  #exited: Promise<void>

  private constructor(readonly child: ChildProcess) {
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    child.on('message', (message: FromTarget) => {
      if (message.type === 'ready') return
      const pending = this.#pending.get(message.id)
      this.#pending.delete(message.id)
      if (message.type === 'minted') pending?.resolve(message.values)
      else pending?.reject(new Error(message.message))
    })
  }

  static async start(spec: TargetSpec, premint: Record<PoolKind, number>, options: BenchOptions): Promise<TargetProcess> {
    const nodeArgs = [...(options.nodeArgs ?? []), '--import', 'tsx', TARGETS_DIR + spec.file]
    const [command, args] = options.pin ? ['taskset', ['-c', '1', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs]
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ...spec.env,
        ...(options.pgPool === undefined ? {} : { BENCH_PG_POOL: String(options.pgPool) }),
        PORT: '0',
        NODE_ENV: 'production',
        BENCH_PREMINT_REFRESH_TOKEN: String(premint.refresh_token),
        BENCH_PREMINT_AUTHORIZATION_CODE: String(premint.authorization_code),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const target = new TargetProcess(child)
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`target ${spec.name} exited (${code}) before it was ready`))
      child.once('exit', onExit)
      child.on('message', (message: FromTarget) => {
        if (message.type !== 'ready') return
        child.off('exit', onExit)
        target.port = message.port
        target.unsupported = message.unsupported
        target.details = message.details
        target.pools.refresh_token = message.pools.refresh_token
        target.pools.authorization_code = message.pools.authorization_code
        resolve()
      })
    })
    return target
  }

  /** Tops a pool up to `count` credentials, minted by the target between measured runs. */
  async fill(kind: PoolKind, count: number): Promise<void> {
    const missing = count - this.pools[kind].length
    if (missing <= 0) return
    const id = this.#nextId++
    const values = await new Promise<string[]>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.child.send({ type: 'mint', id, kind, count: missing } satisfies ToTarget)
    })
    // Not push(...values): a pool can hold more values than a call's arguments.
    this.pools[kind] = this.pools[kind].concat(values)
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      if (this.child.connected) this.child.disconnect()
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
      await this.#exited
      clearTimeout(timer)
    }
  }
}

interface Load {
  requestsPerSecond: number
  p50: number
  p99: number
  total: number
  non2xx: number
  errors: number
  badBodies: number
  exhausted: boolean
}

function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0
  const sorted = Float64Array.from(values).sort()
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) * 100) / 100
}

/**
 * Runs autocannon against /token for `seconds`; every response is checked (2xx and an access_token in the
 * body). With `chain`, each response's refresh_token goes back into the pool for a later request, so the
 * pool only needs a few tokens per connection.
 */
async function load(port: number, scenario: Scenario, seconds: number, connections: number, pool: string[] | null, chain = false): Promise<Load> {
  let badBodies = 0
  let exhausted = false
  // autocannon's histogram keeps whole milliseconds; latencies here are timed per connection in
  // microseconds, from building a request (right before it is written) to its response.
  const latencies: number[] = []
  const headers = { authorization: BASIC_AUTHORIZATION, 'content-type': 'application/x-www-form-urlencoded' }
  const request: autocannon.Request = {
    method: 'POST',
    path: '/token',
    headers,
    body: tokenRequestBody(scenario),
    setupRequest(req, context) {
      context['start'] = performance.now()
      if (pool === null) return req
      // One pre-minted credential per request, never reused.
      const credential = pool.pop()
      if (credential === undefined) exhausted = true
      return { ...req, body: tokenRequestBody(scenario, credential ?? 'pool-exhausted') }
    },
    onResponse(status: number, body: string, context) {
      const start = context['start'] as number | undefined
      // (The first request of each connection is built before it connects, so its sample includes
      // the connect: 20 samples of the tens of thousands of a measured run.)
      if (start !== undefined) latencies.push(performance.now() - start)
      if (status < 200 || status > 299 || !body.includes('"access_token"')) badBodies++
      else if (chain && pool !== null) {
        const next = (JSON.parse(body) as { refresh_token?: unknown }).refresh_token
        if (typeof next === 'string') pool.push(next)
        else badBodies++
      }
    },
  }
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    pipelining: 1,
    duration: seconds,
    timeout: 10,
    requests: [request],
  })
  return {
    requestsPerSecond: result.requests.average,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    badBodies,
    exhausted,
  }
}

/**
 * Runs every scenario against every target for `rounds` rounds. Each round
 * starts each target afresh, in an order rotated by the round, so that no
 * target always runs first (or last) on a warm or tired machine.
 */
export async function runBench(options: BenchOptions): Promise<RunResult[]> {
  const log = options.log ?? (() => {})
  const results: RunResult[] = []
  // Expected req/s per target, to size the pools; refined as runs finish.
  const expected = new Map<string, number>()
  const poolSize = (target: string) => Math.ceil((expected.get(target) ?? 4000) * (options.warmup + options.duration) * 1.2) + 500
  if (options.pin) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' })

  for (let round = 1; round <= options.rounds; round++) {
    const order = options.targets.map((_, i) => options.targets[(i + round - 1) % options.targets.length] as TargetSpec)
    for (const spec of order) {
      const skip = spec.skip?.()
      if (skip !== undefined) {
        for (const scenario of options.scenarios) results.push(empty(spec.name, scenario, round, 'n/a', skip))
        continue
      }
      const needsPool = (kind: PoolKind) => !spec.floor && options.scenarios.some((s) => poolOf(s) === kind)
      const premint = {
        refresh_token: needsPool('refresh_token') ? (options.chainRefresh ? chainPoolSize(options) : poolSize(spec.name)) : 0,
        authorization_code: needsPool('authorization_code') ? poolSize(spec.name) : 0,
      }
      log(`round ${round}: starting ${spec.name} (pre-minting ${premint.refresh_token} refresh tokens, ${premint.authorization_code} codes)`)
      let target: TargetProcess
      try {
        target = await TargetProcess.start(spec, premint, options)
      } catch (error) {
        for (const scenario of options.scenarios) results.push(empty(spec.name, scenario, round, 'invalid', `did not start: ${(error as Error).message}`))
        continue
      }
      try {
        for (const scenario of options.scenarios) {
          const reason = spec.unsupported?.[scenario] ?? target.unsupported[scenario]
          if (reason !== undefined) {
            results.push(empty(spec.name, scenario, round, 'n/a', reason))
            continue
          }
          const result = await measure(target, spec, scenario, round, options, poolSize)
          if (result.status === 'ok') expected.set(spec.name, Math.max(expected.get(spec.name) ?? 0, result.requestsPerSecond))
          log(
            `round ${round}: ${spec.name} ${scenario}: ${result.status}${result.reason ? ` (${result.reason})` : ''} ` +
              `${Math.round(result.requestsPerSecond)} req/s p50 ${result.p50} ms p99 ${result.p99} ms rss ${(result.rssBytes / 2 ** 20).toFixed(0)} MB ` +
              `cpu ${result.cpuMicrosPerRequest.toFixed(0)} µs/req (target ${(result.targetCpu * 100).toFixed(0)}%, runner ${(result.runnerCpu * 100).toFixed(0)}% of a core)`,
          )
          results.push(result)
        }
      } finally {
        await target.stop()
      }
    }
  }
  return results
}

async function measure(
  target: TargetProcess,
  spec: TargetSpec,
  scenario: Scenario,
  round: number,
  options: BenchOptions,
  poolSize: (target: string) => number,
): Promise<RunResult> {
  const kind = spec.floor ? null : poolOf(scenario)
  const chain = kind === 'refresh_token' && options.chainRefresh === true
  let size = chain ? chainPoolSize(options) : poolSize(spec.name)
  const pid = target.child.pid ?? 0
  for (let attempt = 1; ; attempt++) {
    if (kind !== null) await target.fill(kind, size)
    const pool = kind === null ? null : target.pools[kind]
    if (options.warmup > 0) await load(target.port, scenario, options.warmup, options.connections, pool, chain)
    const cpuBefore = readCpuSeconds(pid)
    const runnerBefore = process.cpuUsage()
    const started = performance.now()
    const run = await load(target.port, scenario, options.duration, options.connections, pool, chain)
    const wall = (performance.now() - started) / 1000
    const targetSeconds = readCpuSeconds(pid) - cpuBefore
    const runner = process.cpuUsage(runnerBefore)
    const rssBytes = readRss(pid)
    // Running out of credentials is the harness's fault, not the target's: mint more and run again
    // (not for chains: a chain only breaks on a bad response, which makes the run invalid anyway).
    if (run.exhausted && attempt < 3 && !chain) {
      size = Math.ceil(Math.max(size, run.total + 1) * 2.5)
      continue
    }
    const problems = [
      run.non2xx > 0 ? `${run.non2xx} non-2xx` : '',
      run.errors > 0 ? `${run.errors} errors/timeouts` : '',
      run.badBodies > 0 ? `${run.badBodies} responses without access_token` : '',
      run.exhausted ? 'credential pool exhausted' : '',
      run.total === 0 ? 'no responses' : '',
    ].filter(Boolean)
    return {
      target: spec.name,
      scenario,
      round,
      status: problems.length === 0 ? 'ok' : 'invalid',
      ...(problems.length > 0 ? { reason: problems.join(', ') } : {}),
      requestsPerSecond: run.requestsPerSecond,
      p50: run.p50,
      p99: run.p99,
      rssBytes,
      cpuMicrosPerRequest: run.total > 0 ? (targetSeconds * 1e6) / run.total : 0,
      targetCpu: wall > 0 ? targetSeconds / wall : 0,
      runnerCpu: wall > 0 ? (runner.user + runner.system) / 1e6 / wall : 0,
      total: run.total,
      non2xx: run.non2xx,
      errors: run.errors,
      badBodies: run.badBodies,
      ...(Object.keys(target.details).length > 0 ? { details: target.details } : {}),
    }
  }
}

/** Chained refresh tokens: three per connection (a run's last in-flight requests may take theirs with them). */
const chainPoolSize = (options: BenchOptions) => options.connections * 3

function empty(target: string, scenario: Scenario, round: number, status: 'n/a' | 'invalid', reason: string): RunResult {
  return { target, scenario, round, status, reason, requestsPerSecond: 0, p50: 0, p99: 0, rssBytes: 0, cpuMicrosPerRequest: 0, targetCpu: 0, runnerCpu: 0, total: 0, non2xx: 0, errors: 0, badBodies: 0 }
}
