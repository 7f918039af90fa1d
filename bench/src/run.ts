// `npm run bench`: runs every target and scenario and writes bench/RESULTS.md.
// Flags (or env): --duration=10 (BENCH_DURATION), --warmup=2, --rounds=3, --connections=20,
// --targets=a,b (names from targets.ts), --scenarios=x,y, --smoke (1 round, 1.5 s, no warm-up),
// --out=path (default bench/RESULTS.md), --no-pin, --node-arg=--cpu-prof (repeatable; passed to target processes).
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { SCENARIOS, type Scenario } from './fixture.js'
import { renderMarkdown, summarize } from './report.js'
import { measureFootprint, renderFootprint } from './footprint.js'
import { REPO_ROOT, canPin, runBench, type BenchOptions } from './runner.js'
import { TARGETS } from './targets.js'

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
  nodeArgs: values['node-arg'] ?? [],
  log: (line) => console.log(line),
}
const out = values.out ?? env['BENCH_OUT'] ?? `${REPO_ROOT}bench/RESULTS.md`
const results = await runBench(options)
// The memory footprint (issue 18): bytes per token of the memory store and the demo's idle RSS; not in smoke runs.
const footprint = smoke ? [] : renderFootprint(await measureFootprint((line) => console.log(line)))
writeFileSync(out, [renderMarkdown(results, options, values.note ?? []), ...(footprint.length > 0 ? ['', ...footprint] : [])].join('\n') + '\n')
console.log(`wrote ${out}`)
const invalid = summarize(results).filter((s) => s.status === 'invalid')
for (const s of invalid) console.error(`INVALID ${s.target} ${s.scenario}: ${s.reason}`)
process.exitCode = invalid.length > 0 ? 1 : 0
