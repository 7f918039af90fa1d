import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SCENARIOS } from '../src/fixture.js'
import { renderMarkdown } from '../src/report.js'
import { runBench, type BenchOptions, type RunResult } from '../src/runner.js'
import { ADAPTER_PAIRS, TARGETS } from '../src/targets.js'

// A smoke run proves every target still serves every scenario with valid
// token responses. It asserts correctness only, never speed: the numbers of a
// one-second run on a shared CI machine mean nothing.
describe('the token-endpoint benchmark (smoke run, RFC 6749 §5.1 responses)', () => {
  const options: BenchOptions = {
    targets: TARGETS,
    scenarios: SCENARIOS,
    duration: 1,
    warmup: 0,
    rounds: 1,
    connections: 4,
    pin: false,
  }
  let results: RunResult[] = []
  const dir = mkdtempSync(join(tmpdir(), 'grantkit-bench-smoke-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  // Every target (the adapters and their floors too), each started afresh and pre-minting its pools: a few minutes on a shared two-core machine.
  beforeAll(async () => {
    results = await runBench(options)
  }, 600_000)

  const cells = TARGETS.flatMap((target) => SCENARIOS.map((scenario) => ({ target: target.name, scenario })))

  it.each(cells)('$target answers $scenario with 2xx access tokens and no errors (or is n/a with a reason)', ({ target, scenario }) => {
    const result = results.find((r) => r.target === target && r.scenario === scenario)
    expect(result).toBeDefined()
    if (result!.status === 'n/a') {
      expect(result!.reason).toMatch(/\w/)
      return
    }
    expect(result).toMatchObject({ status: 'ok', non2xx: 0, errors: 0, badBodies: 0 })
    expect(result!.total).toBeGreaterThan(0)
  })

  it('renders the results table to a file of its own, not bench/RESULTS.md', () => {
    const file = join(dir, 'RESULTS.md')
    writeFileSync(file, renderMarkdown(results, options))
    const text = readFileSync(file, 'utf8')
    expect(text).toContain('| grantkit (memory store) |')
    expect(text).toContain('## client_credentials')
  })

  it.each(ADAPTER_PAIRS)('sets grantkit on $framework beside its floor with the req/s and p99 ratios', ({ framework }) => {
    const text = renderMarkdown(results, options)
    const table = text.slice(text.indexOf("## Adapters beside their framework's floor"))
    // scenario | framework | req/s | p99 | floor req/s | floor p99 | req/s ÷ floor | p99 ÷ floor: every cell measured.
    const number = '[\\d,.]+'
    const ratio = '\\d+\\.\\d\\d×'
    const cells = [number, number, number, number, ratio, ratio].join(' \\| ')
    for (const scenario of SCENARIOS) expect(table).toMatch(new RegExp(`\\| ${scenario} \\| ${framework} \\| ${cells} \\|`))
  })
})
