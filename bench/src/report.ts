import { readFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { SCENARIOS, type Scenario } from './fixture.js'
import { REPO_ROOT, type BenchOptions, type RunResult } from './runner.js'
import { ADAPTER_PAIRS, type TargetSpec } from './targets.js'

export interface Summary {
  target: string
  scenario: Scenario
  status: 'ok' | 'invalid' | 'n/a'
  reason?: string
  requestsPerSecond: number
  p50: number
  p99: number
  rssBytes: number
  cpuMicrosPerRequest: number
  targetCpu: number
  runnerCpu: number
  rounds: number
  /** What the target reported about itself (the last round's). */
  details?: Record<string, string>
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length === 0 ? 0 : sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Medians over rounds; a cell with any invalid round is invalid (errors are never averaged away). */
export function summarize(results: readonly RunResult[]): Summary[] {
  const cells = new Map<string, RunResult[]>()
  for (const result of results) {
    const key = `${result.target}\u0000${result.scenario}`
    cells.set(key, [...(cells.get(key) ?? []), result])
  }
  return [...cells.values()].map((runs) => {
    const first = runs[0] as RunResult
    const invalid = runs.filter((r) => r.status === 'invalid')
    const na = runs.find((r) => r.status === 'n/a')
    const ok = runs.filter((r) => r.status === 'ok')
    const status = invalid.length > 0 ? 'invalid' : na !== undefined ? 'n/a' : 'ok'
    const details = [...runs].reverse().find((r) => r.details !== undefined)?.details
    const reason = invalid.length > 0 ? `${invalid.length}/${runs.length} rounds invalid: ${invalid.map((r) => r.reason).join('; ')}` : na?.reason
    return {
      target: first.target,
      scenario: first.scenario,
      status,
      ...(reason !== undefined ? { reason } : {}),
      requestsPerSecond: median(ok.map((r) => r.requestsPerSecond)),
      p50: median(ok.map((r) => r.p50)),
      p99: median(ok.map((r) => r.p99)),
      rssBytes: median(ok.map((r) => r.rssBytes)),
      cpuMicrosPerRequest: median(ok.map((r) => r.cpuMicrosPerRequest)),
      targetCpu: median(ok.map((r) => r.targetCpu)),
      runnerCpu: median(ok.map((r) => r.runnerCpu)),
      rounds: ok.length,
      ...(details === undefined ? {} : { details }),
    }
  })
}

function version(name: string): string {
  try {
    // Read from node_modules directly: some packages' exports maps hide package.json.
    const json = JSON.parse(readFileSync(`${REPO_ROOT}node_modules/${name}/package.json`, 'utf8')) as { version: string }
    return json.version
  } catch {
    return '?'
  }
}

function cpuModel(): string {
  try {
    const match = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (match) return (match[1] as string).trim()
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown'
}

/**
 * Issue 18's goals, checked against the summaries of one run. A ratio is of
 * req/s; the CPU ratio (the other's CPU µs per request ÷ grantkit's) is shown
 * beside it, since on a busy machine req/s measures the scheduler as much as
 * the code (bench/README.md "Why another harness measures another ratio").
 */
export function goals(summaries: readonly Summary[]): { goal: string; value: string; met: boolean | null }[] {
  const get = (target: string, scenario: Scenario) => summaries.find((s) => s.target === target && s.scenario === scenario && s.status === 'ok')
  const ratio = (a: string, b: string, scenario: Scenario, min: number, label: string) => {
    const x = get(a, scenario)
    const y = get(b, scenario)
    if (x === undefined || y === undefined || y.requestsPerSecond === 0) return { goal: label, value: 'not measured', met: null }
    const r = x.requestsPerSecond / y.requestsPerSecond
    const cpu = x.cpuMicrosPerRequest > 0 && y.cpuMicrosPerRequest > 0 ? ` (CPU ${(y.cpuMicrosPerRequest / x.cpuMicrosPerRequest).toFixed(2)}×)` : ''
    return { goal: label, value: `${r.toFixed(2)}×${cpu}`, met: r >= min }
  }
  const worstP99 = (targets: readonly string[], label: string) => {
    const cells = summaries.filter((s) => targets.includes(s.target) && s.status === 'ok')
    if (cells.length === 0) return { goal: label, value: 'not measured', met: null }
    const worst = cells.reduce((w, s) => (s.p99 > w.p99 ? s : w))
    return { goal: label, value: `${worst.p99.toFixed(2)} ms (${worst.scenario})`, met: worst.p99 <= 5 }
  }
  const rows = [
    ratio('grantkit-sqlite', 'node-oauth', 'client_credentials', 1.0, 'SQLite store (the default), client_credentials ≥ 1.0× @node-oauth (memory)'),
    worstP99(['grantkit-sqlite'], 'SQLite store, p99 ≤ 5 ms at 20 connections in every scenario (worst cell)'),
    ratio('grantkit-memory', 'koa-floor', 'client_credentials', 0.75, 'memory store, client_credentials ≥ 0.75× Koa floor'),
    ratio('grantkit-memory', 'node-oauth', 'client_credentials', 1.5, 'memory store, client_credentials ≥ 1.5× @node-oauth'),
    ratio('grantkit-memory', 'node-oauth', 'refresh_token', 1.5, 'memory store, refresh_token ≥ 1.5× @node-oauth'),
  ]
  // The same ratios on the other adapters, against their own floors.
  for (const { framework, adapter, floor } of [
    { framework: 'Express', adapter: 'grantkit-express', floor: 'express-floor' },
    { framework: 'Fetch API', adapter: 'grantkit-fetch', floor: 'fetch-floor' },
  ]) {
    rows.push(ratio(adapter, floor, 'client_credentials', 0.75, `${framework} adapter, client_credentials ≥ 0.75× its floor`))
    rows.push(ratio(adapter, 'node-oauth', 'client_credentials', 1.5, `${framework} adapter, client_credentials ≥ 1.5× @node-oauth`))
    rows.push(ratio(adapter, 'node-oauth', 'refresh_token', 1.5, `${framework} adapter, refresh_token ≥ 1.5× @node-oauth`))
  }
  return rows
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2))
const micros = (n: number) => (n > 0 ? n.toFixed(0) : '—')
const share = (n: number) => (n > 0 ? `${(n * 100).toFixed(0)}%` : '—')

/** Below this share of a core, a pinned target was not the bottleneck of its run (see saturationLine). */
export const SATURATED = 0.9

/**
 * A warning when pinned targets got less than {@link SATURATED} of their core: the machine was busy, so
 * req/s measured how the OS shared the core, and ratios of req/s are not ratios of work (bench/README.md,
 * "Why another harness measures another ratio"); CPU µs/req is then the figure to compare.
 */
export function saturationLine(summaries: readonly Summary[], options: BenchOptions): string | undefined {
  const measured = summaries.filter((s) => s.status === 'ok' && s.targetCpu > 0)
  const starved = measured.filter((s) => s.targetCpu < SATURATED)
  if (!options.pin || starved.length === 0) return undefined
  const low = Math.min(...starved.map((s) => s.targetCpu))
  const high = Math.max(...measured.map((s) => s.targetCpu))
  return (
    `**Busy machine:** ${starved.length} of ${measured.length} cells got less than ${share(SATURATED)} of their core ` +
    `(target CPU ${share(low)}–${share(high)}): something else ran on the target's CPU, and the share each target got depends on how ` +
    'it uses threads, so req/s ratios here are not ratios of work. Compare CPU µs/req, or run again on a quiet machine.'
  )
}

/** The PostgreSQL pool a target reported, as a label suffix: `pool of 10, the store's default`. */
function poolLabel(details: Record<string, string> | undefined): string {
  const pool = details?.['PostgreSQL pool']
  if (pool === undefined) return ''
  const size = /^\d+/.exec(pool)?.[0] ?? '?'
  return `, pool of ${size}${pool.includes('default') ? ", the store's default" : ', set with --pg-pool'}`
}

/** How the load was generated, for the method line: what an outside harness must match to compare figures. */
export function methodLine(options: BenchOptions): string {
  return (
    `Method: autocannon (keep-alive connections, pipelining 1, client_secret_basic), ${options.connections} connections, ` +
    `${options.warmup} s warm-up + ${options.duration} s measured, ` +
    `${options.rounds} round(s) with the target order rotated each round; ` +
    (options.pin ? 'runner pinned to CPU 0, target to CPU 1 (taskset)' : 'no CPU pinning (runner and target share every core)') +
    '; refresh_token requests ' +
    (options.chainRefresh
      ? 'chained: each presents the refresh token a previous response returned (3 per connection minted first)'
      : 'each use one refresh token pre-minted before the run') +
    '. Every response is checked (2xx and an `access_token` in the body); a cell with any non-2xx, error or bad body is invalid. ' +
    "Figures are medians over rounds; RSS is the target's VmRSS at the end of the measured period (it includes the pre-minted pools); " +
    'CPU µs/req is the target process\'s CPU time (all threads; not the PostgreSQL server\'s) over the measured period divided by its responses, ' +
    'and target CPU that time as a share of one core (a saturated pinned target is near 100%).'
  )
}

/** The scaling run of `--prefill`: the pre-filled variants of the SQL targets (src/targets.ts `prefillTargets`). */
export interface ScalingRun {
  results: readonly RunResult[]
  options: BenchOptions
}

export interface RenderExtras {
  /** Free lines added to the method section. */
  notes?: readonly string[]
  scaling?: ScalingRun
}

export function renderMarkdown(results: readonly RunResult[], options: BenchOptions, extras: RenderExtras | readonly string[] = {}): string {
  const { notes = [], scaling } = Array.isArray(extras) ? { notes: extras as readonly string[] } : (extras as RenderExtras)
  const summaries = summarize(results)
  const labels = new Map(options.targets.map((t: TargetSpec) => [t.name, t.label]))
  const lines: string[] = []
  lines.push('# grantkit token-endpoint benchmark', '')
  lines.push(`Generated by \`npm run bench\` on ${new Date().toISOString()}.`, '')
  lines.push('## Machine and versions', '')
  lines.push(`- CPU: ${cpuModel()}, ${cpus().length} cores; Linux ${release()}; Node ${process.version}`)
  lines.push(
    `- ${[
      ['@grantkit/core', version('@grantkit/core')],
      ['@grantkit/adapter-koa', version('@grantkit/adapter-koa')],
      ['@grantkit/adapter-express', version('@grantkit/adapter-express')],
      ['@grantkit/adapter-fastify', version('@grantkit/adapter-fastify')],
      ['@grantkit/adapter-fetch', version('@grantkit/adapter-fetch')],
      ['@grantkit/store-drizzle', version('@grantkit/store-drizzle')],
      ['@node-oauth/oauth2-server', version('@node-oauth/oauth2-server')],
      ['@jmondi/oauth2-server', version('@jmondi/oauth2-server')],
      ['oidc-provider', version('oidc-provider')],
      ['koa', version('koa')],
      ['@koa/bodyparser', version('@koa/bodyparser')],
      ['express', version('express')],
      ['fastify', version('fastify')],
      ['autocannon', version('autocannon')],
    ]
      .map(([n, v]) => `${n} ${v}`)
      .join(', ')}`,
  )
  lines.push(`- ${methodLine(options)}`)
  lines.push(...storeLines([...summaries, ...(scaling ? summarize(scaling.results) : [])]))
  for (const note of notes) lines.push(`- ${note}`)
  const busy = saturationLine(summaries, options)
  if (busy !== undefined) lines.push(`- ${busy}`)
  lines.push('')
  lines.push('## Goals of issue 18', '', '| goal | measured | reached |', '|---|---|---|')
  for (const g of goals(summaries)) lines.push(`| ${g.goal} | ${g.value} | ${g.met === null ? '—' : g.met ? 'yes' : '**no**'} |`)
  lines.push('')
  for (const scenario of SCENARIOS.filter((s) => summaries.some((x) => x.scenario === s))) {
    const rows = options.targets.map((t) => summaries.find((s) => s.target === t.name && s.scenario === scenario)).filter((s): s is Summary => s !== undefined)
    const gk = rows.find((s) => s.target === 'grantkit-memory' && s.status === 'ok')
    lines.push(`## ${scenario}`, '')
    lines.push('| target | req/s | p50 ms | p99 ms | CPU µs/req | target CPU | RSS MB | grantkit (memory) ÷ target |', '|---|---:|---:|---:|---:|---:|---:|---:|')
    for (const s of rows) {
      const label = (labels.get(s.target) ?? s.target) + poolLabel(s.details)
      if (s.status !== 'ok') {
        lines.push(`| ${label} | ${s.status}${s.reason ? `: ${s.reason}` : ''} | | | | | | |`)
        continue
      }
      const r = gk === undefined || s.target === 'grantkit-memory' ? '' : `${(gk.requestsPerSecond / s.requestsPerSecond).toFixed(2)}×`
      lines.push(
        `| ${label} | ${fmt(s.requestsPerSecond)} | ${ms(s.p50)} | ${ms(s.p99)} | ${micros(s.cpuMicrosPerRequest)} | ${share(s.targetCpu)} | ${(s.rssBytes / 2 ** 20).toFixed(0)} | ${r} |`,
      )
    }
    lines.push('')
  }
  lines.push(...adapterTable(summaries))
  if (scaling !== undefined) lines.push(...scalingTable(scaling))
  return lines.join('\n')
}

/** The stores' facts the targets reported (the PostgreSQL pool and server settings), once each. */
function storeLines(summaries: readonly Summary[]): string[] {
  const seen = new Map<string, string>()
  for (const s of summaries) {
    for (const [name, value] of Object.entries(s.details ?? {})) {
      if (name === 'PostgreSQL pool' || name === 'PostgreSQL') seen.set(name, value)
    }
  }
  const lines: string[] = []
  if (seen.has('PostgreSQL pool')) {
    lines.push(
      `- PostgreSQL target: \`connectPostgres\` pool of ${seen.get('PostgreSQL pool')}; ${seen.get('PostgreSQL') ?? 'server settings unknown'}; ` +
        'a new schema per target start (empty tables, like the SQLite target\'s new file), dropped when it stops.',
    )
  }
  return lines
}

/**
 * "Scaling with rows already stored": each pre-filled SQL target (`--prefill`) per scenario and row count,
 * with its req/s and p99 beside the same store's 0-row figure of the same run.
 */
export function scalingTable({ results, options }: ScalingRun): string[] {
  const summaries = summarize(results)
  const specs = options.targets.filter((t) => t.base !== undefined && t.prefill !== undefined)
  const bases = [...new Set(specs.map((t) => t.base as string))]
  const rows: string[] = []
  for (const scenario of options.scenarios) {
    for (const base of bases) {
      const variants = specs.filter((t) => t.base === base).sort((a, b) => (a.prefill as number) - (b.prefill as number))
      const zero = summaries.find((s) => s.target === `${base}@0` && s.scenario === scenario && s.status === 'ok')
      for (const spec of variants) {
        const s = summaries.find((x) => x.target === spec.name && x.scenario === scenario)
        const store = spec.label + poolLabel(s?.details)
        const stored = s?.details?.['tokens stored before minting']
        const count = `${fmt(spec.prefill as number)}${stored !== undefined ? ` (${fmt(Number(stored))})` : ''}`
        if (s === undefined || s.status !== 'ok') {
          rows.push(`| ${scenario} | ${store} | ${count} | ${s === undefined ? 'not run' : s.status}${s?.reason ? `: ${s.reason}` : ''} | | | | | |`)
          continue
        }
        const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? '' : `${(a / b).toFixed(2)}×`)
        rows.push(
          `| ${[
            scenario,
            store,
            count,
            fmt(s.requestsPerSecond),
            ms(s.p99),
            micros(s.cpuMicrosPerRequest),
            s.details?.['prefill seconds'] ?? '—',
            ratio(s.requestsPerSecond, zero?.requestsPerSecond),
            ratio(s.p99, zero?.p99),
          ].join(' | ')} |`,
        )
      }
    }
  }
  if (rows.length === 0) return []
  return [
    '## Scaling with rows already stored',
    '',
    `Each SQL store started with N unexpired tokens of 1,000 other clients and 100,000 other users already in its tokens table` +
      `${options.targets.some((t) => t.env?.['BENCH_PREFILL_CODES'] === '1') ? ' (and N codes in its codes table)' : ''}, ` +
      'inserted by one SQL statement (prefill s: its time) before the pools were minted; in brackets, the rows the tokens table ' +
      'held then (the pre-minted pools add two per refresh token, the run two per response). Same method as above, ' +
      `${options.rounds} round(s), 0 rows measured in the same run; req/s and p99 are also given as a multiple of the 0-row figure.`,
    '',
    '| scenario | store | rows stored | req/s | p99 ms | CPU µs/req | prefill s | req/s ÷ 0 rows | p99 ÷ 0 rows |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ]
}

/**
 * Each adapter (memory store) beside the floor of its framework, for every scenario either of them ran: the
 * adapter's req/s as a share of the floor's, and its p99 as a multiple of the floor's. A pair neither of
 * whose targets ran is left out; a cell that is not ok shows its status.
 */
export function adapterTable(summaries: readonly Summary[]): string[] {
  const rows: string[] = []
  // req/s and p99 of a cell, or its status (the scenario tables above give the reason).
  const show = (s: Summary | undefined) => (s === undefined ? ['not run', ''] : s.status === 'ok' ? [fmt(s.requestsPerSecond), ms(s.p99)] : [s.status, ''])
  const times = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '')
  for (const scenario of SCENARIOS) {
    for (const pair of ADAPTER_PAIRS) {
      const adapter = summaries.find((s) => s.target === pair.adapter && s.scenario === scenario)
      const floor = summaries.find((s) => s.target === pair.floor && s.scenario === scenario)
      if (adapter === undefined && floor === undefined) continue
      const measured = adapter?.status === 'ok' && floor?.status === 'ok'
      const ratios = measured ? [times(adapter.requestsPerSecond, floor.requestsPerSecond), times(adapter.p99, floor.p99)] : ['', '']
      rows.push(`| ${[scenario, pair.framework, ...show(adapter), ...show(floor), ...ratios].join(' | ')} |`)
    }
  }
  if (rows.length === 0) return []
  return [
    '## Adapters beside their framework\'s floor',
    '',
    'grantkit (memory store) on each adapter, and a fixed token JSON on the same framework parsing the form as that framework ' +
      'usually does (the floor). Koa is `grantkit-memory`; the Fetch API targets run on node:http through the same small bridge.',
    '',
    '| scenario | framework | grantkit req/s | grantkit p99 ms | floor req/s | floor p99 ms | req/s ÷ floor | p99 ÷ floor |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ]
}
