// `npm run bench`: runs every target and scenario and writes bench/RESULTS.md.
// Flags (or env): --duration=10 (BENCH_DURATION), --warmup=2, --rounds=3, --connections=20,
// --targets=a,b (names from targets.ts), --scenarios=x,y, --smoke (1 round, 1.5 s, no warm-up),
// --out=path (default bench/RESULTS.md), --no-pin, --node-arg=--cpu-prof (repeatable; passed to target processes),
// --chain-refresh (each refresh_token request presents the token a previous response returned),
// --pg-pool=N (the PostgreSQL target's pool; default connectPostgres's), --json=path (raw results),
// --prefill=10000,1000000 (then the SQL targets again with that many rows already stored, and 0, for
// --prefill-scenarios=client_credentials,refresh_token), --prefill-only (no main tables), --no-footprint.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { SCENARIOS, type Scenario } from './fixture.js'
import { renderMarkdown, summarize, type ScalingRun } from './report.js'
import { measureFootprint, renderFootprint } from './footprint.js'
import { REPO_ROOT, canPin, runBench, type BenchOptions, type RunResult } from './runner.js'
import { TARGETS, prefillTargets } from './targets.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    connections: { type: 'string' },
    targets: { type: 'string' },
    scenarios: { type: 'string' },
    smoke: { type: 'boolean' },
    out: { type: 'string' },
    'no-pin': { type: 'boolean' },
    'chain-refresh': { type: 'boolean' },
    'pg-pool': { type: 'string' },
    prefill: { type: 'string' },
    'prefill-scenarios': { type: 'string' },
    'prefill-only': { type: 'boolean' },
    'no-footprint': { type: 'boolean' },
    json: { type: 'string' },
    note: { type: 'string', multiple: true },
    'node-arg': { type: 'string', multiple: true },
  },
})
const env = process.env
const smoke = values.smoke ?? env['BENCH_SMOKE'] === '1'
const num = (flag: string | undefined, name: string, fallback: number) => {
  const raw = flag ?? env[name]
  const n = raw === undefined ? fallback : Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new TypeError(`${name}: expected a number, got "${raw}"`)
  return n
}
const list = <T extends string>(raw: string | undefined, all: readonly T[], what: string): T[] => {
  if (raw === undefined || raw === '') return [...all]
  const names = raw.split(',').map((s) => s.trim()) as T[]
  for (const name of names) if (!all.includes(name)) throw new TypeError(`unknown ${what} "${name}"; known: ${all.join(', ')}`)
  return names
}
const targetNames = list(values.targets ?? env['BENCH_TARGETS'], TARGETS.map((t) => t.name), 'target')
const options: BenchOptions = {
  targets: TARGETS.filter((t) => targetNames.includes(t.name)),
  scenarios: list<Scenario>(values.scenarios ?? env['BENCH_SCENARIOS'], SCENARIOS, 'scenario'),
  duration: num(values.duration, 'BENCH_DURATION', smoke ? 1.5 : 10),
  warmup: num(values.warmup, 'BENCH_WARMUP', smoke ? 0 : 2),
  rounds: num(values.rounds, 'BENCH_ROUNDS', smoke ? 1 : 3),
  connections: num(values.connections, 'BENCH_CONNECTIONS', 20),
  pin: !values['no-pin'] && canPin(),
  chainRefresh: values['chain-refresh'] ?? env['BENCH_CHAIN_REFRESH'] === '1',
  ...(values['pg-pool'] ?? env['BENCH_PG_POOL'] ? { pgPool: positive(values['pg-pool'] ?? env['BENCH_PG_POOL'], 'BENCH_PG_POOL') } : {}),
  nodeArgs: values['node-arg'] ?? [],
  log: (line) => console.log(line),
}
function positive(raw: string | undefined, name: string): number {
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`${name}: expected a positive integer, got "${raw}"`)
  return n
}
// --prefill: the prefillable targets (SQLite, PostgreSQL) among --targets, once per row count and with 0.
const prefillRaw = values.prefill ?? env['BENCH_PREFILL_ROWS']
const prefillRows = prefillRaw === undefined || prefillRaw === '' ? [] : prefillRaw.split(',').map((s) => positive(s.trim(), 'BENCH_PREFILL_ROWS'))
let scalingOptions: BenchOptions | undefined
if (prefillRows.length > 0) {
  const raw = values['prefill-scenarios']
  const chosen = raw === undefined ? (['client_credentials', 'refresh_token'] as Scenario[]) : list<Scenario>(raw, SCENARIOS, 'scenario')
  const targets = prefillTargets(options.targets, prefillRows, chosen.includes('authorization_code'))
  if (targets.length === 0) throw new TypeError('--prefill: none of --targets can be pre-filled (grantkit-sqlite, grantkit-postgres)')
  scalingOptions = { ...options, targets, scenarios: chosen }
}
if (values['prefill-only'] && scalingOptions === undefined) throw new TypeError('--prefill-only needs --prefill')
const out = values.out ?? env['BENCH_OUT'] ?? `${REPO_ROOT}bench/RESULTS.md`
const results = values['prefill-only'] ? [] : await runBench(options)
const scaling: ScalingRun | undefined = scalingOptions && { results: await runBench(scalingOptions), options: scalingOptions }
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ options: { ...options, log: undefined }, results, scaling: scaling?.results ?? [] }, null, 1))
// The memory footprint (issue 18): bytes per token of the memory store and the demo's idle RSS; not in smoke runs.
const footprint = smoke || values['no-footprint'] ? [] : renderFootprint(await measureFootprint((line) => console.log(line)))
const report = renderMarkdown(results, options, { notes: values.note ?? [], ...(scaling ? { scaling } : {}) })
writeFileSync(out, [report, ...(footprint.length > 0 ? ['', ...footprint] : [])].join('\n') + '\n')
console.log(`wrote ${out}`)
const all: RunResult[] = [...results, ...(scaling?.results ?? [])]
const invalid = summarize(all).filter((s) => s.status === 'invalid')
for (const s of invalid) console.error(`INVALID ${s.target} ${s.scenario}: ${s.reason}`)
process.exitCode = invalid.length > 0 ? 1 : 0
