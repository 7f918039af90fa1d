import { describe, expect, it } from 'vitest'
import { goals, renderMarkdown, saturationLine, summarize, type Summary } from '../src/report.js'
import type { BenchOptions, RunResult } from '../src/runner.js'
import { TARGETS } from '../src/targets.js'

// The report's reading of a run, on made-up results: no load is generated here.
const cell = (target: string, targetCpu: number): RunResult => ({
  target,
  scenario: 'refresh_token',
  round: 1,
  status: 'ok',
  requestsPerSecond: 5000,
  p50: 2,
  p99: 8,
  rssBytes: 150 * 2 ** 20,
  cpuMicrosPerRequest: 170,
  targetCpu,
  runnerCpu: 0.3,
  total: 50_000,
  non2xx: 0,
  errors: 0,
  badBodies: 0,
})
const options = (pin: boolean): BenchOptions => ({
  targets: TARGETS.filter((t) => t.name === 'grantkit-memory' || t.name === 'node-oauth'),
  scenarios: ['refresh_token'],
  duration: 10,
  warmup: 2,
  rounds: 1,
  connections: 20,
  pin,
})

describe('the report of a run', () => {
  it('warns that req/s ratios are not ratios of work when a pinned target did not get 90% of its core', () => {
    const line = saturationLine(summarize([cell('grantkit-memory', 0.62), cell('node-oauth', 0.88)]), options(true))
    expect(line).toContain('2 of 2 cells got less than 90% of their core (target CPU 62%–88%)')
  })

  it('gives no warning when every pinned target saturated its core, nor for an unpinned run (which shares every core by design)', () => {
    expect(saturationLine(summarize([cell('grantkit-memory', 0.97), cell('node-oauth', 0.99)]), options(true))).toBeUndefined()
    expect(saturationLine(summarize([cell('grantkit-memory', 0.6), cell('node-oauth', 0.7)]), options(false))).toBeUndefined()
  })

  it('shows CPU µs per request and the target CPU share beside req/s, and the warning in the method section', () => {
    const text = renderMarkdown([cell('grantkit-memory', 0.62), cell('node-oauth', 0.88)], options(true))
    expect(text).toContain('| grantkit (memory store) | 5,000 | 2 | 8 | 170 | 62% | 150 |  |')
    expect(text).toContain('| @node-oauth/oauth2-server (Koa, memory) | 5,000 | 2 | 8 | 170 | 88% | 150 | 1.00× |')
    expect(text).toContain('- **Busy machine:**')
  })

  it('says in the method line how refresh tokens were presented and whether the CPUs were pinned', () => {
    expect(renderMarkdown([], options(true))).toContain('runner pinned to CPU 0, target to CPU 1 (taskset); refresh_token requests each use one refresh token pre-minted')
    expect(renderMarkdown([], { ...options(false), chainRefresh: true })).toContain(
      'no CPU pinning (runner and target share every core); refresh_token requests chained',
    )
  })
})

describe("issue 18's goals", () => {
  const summary = (target: string, scenario: Summary['scenario'], requestsPerSecond: number, cpuMicrosPerRequest: number, p99 = 3): Summary => ({
    target,
    scenario,
    status: 'ok',
    requestsPerSecond,
    p50: 1,
    p99,
    rssBytes: 0,
    cpuMicrosPerRequest,
    targetCpu: 1,
    runnerCpu: 0.3,
    rounds: 3,
  })

  it('checks req/s ratios against their minimum, shows the CPU ratio beside them, and the worst SQLite p99 with its scenario', () => {
    const rows = goals([
      summary('grantkit-sqlite', 'client_credentials', 9000, 100, 4.2),
      summary('grantkit-sqlite', 'refresh_token', 5000, 180, 6.5),
      summary('node-oauth', 'client_credentials', 10_000, 90),
      summary('grantkit-memory', 'client_credentials', 16_000, 55),
      summary('koa-floor', 'client_credentials', 20_000, 45),
    ])
    const byGoal = new Map(rows.map((r) => [r.goal.split(',')[0] + (r.goal.includes('p99') ? ' p99' : '') + (r.goal.includes('floor') ? ' floor' : ''), r]))
    expect(byGoal.get('SQLite store (the default)')).toEqual({ goal: expect.stringContaining('≥ 1.0×'), value: '0.90× (CPU 0.90×)', met: false })
    expect(byGoal.get('SQLite store p99')).toMatchObject({ value: '6.50 ms (refresh_token)', met: false })
    expect(byGoal.get('memory store floor')).toMatchObject({ value: '0.80× (CPU 0.82×)', met: true })
    expect(rows.find((r) => r.goal === 'memory store, client_credentials ≥ 1.5× @node-oauth')).toMatchObject({ value: '1.60× (CPU 1.64×)', met: true })
    // Cells not run are not measured, never met.
    expect(rows.find((r) => r.goal === 'memory store, refresh_token ≥ 1.5× @node-oauth')).toEqual({ goal: expect.any(String), value: 'not measured', met: null })
    expect(rows.filter((r) => r.goal.startsWith('Express adapter') || r.goal.startsWith('Fetch API adapter'))).toHaveLength(6)
  })
})
