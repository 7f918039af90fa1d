import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashToken } from '@grantkit/core'
import { renderMarkdown, scalingTable } from '../src/report.js'
import { runBench, type BenchOptions, type RunResult } from '../src/runner.js'
import { openBenchStore, prefillHash, type BenchStore } from '../src/stores.js'
import { TARGETS, prefillTargets } from '../src/targets.js'

// The bench's own machinery (issue 18), checked small: the pre-filled rows are valid, unexpired records a
// purge leaves alone, a pre-filled target really starts with them, and chained refresh tokens really chain.
// Correctness only, never speed.
const withPostgres = process.env['DATABASE_URL'] !== undefined || process.env['CI'] !== undefined
const KINDS = withPostgres ? ['sqlite', 'postgres'] : ['sqlite']

describe.each(KINDS)('pre-filling the %s store (bench --prefill)', (kind) => {
  const now = new Date('2026-12-01T00:00:00.000Z')
  let opened: BenchStore
  beforeAll(async () => {
    opened = await openBenchStore(kind)
    await opened.prefill!({ rows: 1000, codes: true, now })
  })
  afterAll(() => opened?.close())

  it('inserts exactly the rows asked for, tokens and codes', async () => {
    expect(await opened.count!()).toEqual({ tokens: 1000, codes: 1000 })
  })

  it('stores each token under the hash of its value, so the store finds it as any issued token (RFC 6749 §10.5: hashes only)', async () => {
    const refresh = await opened.store.findToken(hashToken('bench-prefill-token:1'))
    const access = await opened.store.findToken(prefillHash('token', 2))
    expect(refresh).toMatchObject({ type: 'refresh_token', clientId: 'prefill-client-1', scope: 'read write', revokedAt: null, rotatedAt: null })
    expect(access).toMatchObject({ type: 'access_token', clientId: 'prefill-client-2', familyId: refresh!.familyId })
    expect(refresh!.expiresAt.getTime()).toBeGreaterThan(now.getTime())
  })

  it('leaves refresh tokens that can be rotated and codes that can be consumed (RFC 6749 §6, §4.1.2)', async () => {
    await expect(opened.store.rotateRefreshToken(prefillHash('token', 3), now)).resolves.toMatchObject({ rotated: true })
    await expect(opened.store.consumeAuthorizationCode(prefillHash('code', 3), now)).resolves.toMatchObject({ consumed: true })
  })

  it('makes rows a purge keeps while the bench runs and deletes once they expire', async () => {
    const inAWeek = new Date(now.getTime() + 7 * 86_400_000)
    // Codes (an hour) and access tokens (a day) are past; refresh tokens (30 days) are not.
    expect(await opened.store.purgeExpired(now)).toBe(0)
    expect(await opened.count!()).toEqual({ tokens: 1000, codes: 1000 })
    expect(await opened.store.purgeExpired(inAWeek)).toBe(1000 + 500)
    expect(await opened.count!()).toEqual({ tokens: 500, codes: 0 })
  })
})

describe('the scaling run (bench --prefill=1000, correctness only)', () => {
  const targets = prefillTargets(TARGETS, [1000], false)
  const options: BenchOptions = { targets, scenarios: ['client_credentials', 'refresh_token'], duration: 1, warmup: 0, rounds: 1, connections: 4, pin: false }
  let results: RunResult[] = []
  beforeAll(async () => {
    results = await runBench(options)
  }, 300_000)

  it('pairs every SQL store with 0 and 1,000 rows', () => {
    expect(targets.map((t) => t.name)).toEqual(['grantkit-sqlite@0', 'grantkit-sqlite@1000', 'grantkit-postgres@0', 'grantkit-postgres@1000'])
  })

  it.each(targets.flatMap((t) => options.scenarios.map((scenario) => ({ target: t.name, rows: t.prefill, scenario }))))(
    '$target answers $scenario with 2xx access tokens after pre-filling $rows rows',
    ({ target, rows, scenario }) => {
      const result = results.find((r) => r.target === target && r.scenario === scenario)
      if (!withPostgres && target.startsWith('grantkit-postgres')) {
        expect(result).toMatchObject({ status: 'n/a', reason: 'DATABASE_URL is not set' })
        return
      }
      expect(result).toMatchObject({ status: 'ok', non2xx: 0, errors: 0, badBodies: 0 })
      expect(result!.details?.['tokens stored before minting']).toBe(String(rows))
    },
  )

  it('renders the table of each store and row count beside its 0-row figure', () => {
    const table = scalingTable({ results, options }).join('\n')
    expect(table).toContain('## Scaling with rows already stored')
    expect(table).toMatch(/\| client_credentials \| grantkit \(SQLite, WAL\) \| 1,000 \(1,000\) \| [\d,]+ \| [\d.]+ \| \d+ \| [\d.]+ \| \d+\.\d\d× \| \d+\.\d\d× \|/)
    if (withPostgres) expect(table).toMatch(/\| refresh_token \| grantkit \(PostgreSQL\), pool of 10, the store's default \| 1,000 \(1,000\) \|/)
  })

  it("states the PostgreSQL pool in the method section, with whether it is the store's default", () => {
    const text = renderMarkdown([], options, { scaling: { results, options } })
    if (withPostgres) expect(text).toContain("- PostgreSQL target: `connectPostgres` pool of 10 connections (connectPostgres's default poolSize)")
    else expect(text).not.toContain('PostgreSQL target')
  })
})

describe('chained refresh tokens (bench --chain-refresh, RFC 6749 §6 rotation)', () => {
  const chained = TARGETS.filter((t) => t.name === 'grantkit-memory' || t.name === 'node-oauth')
  const options: BenchOptions = { targets: chained, scenarios: ['refresh_token'], duration: 1, warmup: 0, rounds: 1, connections: 4, pin: false, chainRefresh: true }
  let results: RunResult[] = []
  beforeAll(async () => {
    results = await runBench(options)
  }, 120_000)

  it.each(chained.map((t) => t.name))('%s answers more refresh requests than tokens were minted: each used the token a response returned', (target) => {
    const result = results.find((r) => r.target === target)
    expect(result).toMatchObject({ status: 'ok', non2xx: 0, errors: 0, badBodies: 0 })
    // 3 tokens per connection were minted: every response past 12 presented a token a previous response issued.
    expect(result!.total).toBeGreaterThan(options.connections * 3)
  })

  it('says so in the method line', () => {
    expect(renderMarkdown(results, options)).toContain('refresh_token requests chained: each presents the refresh token a previous response returned')
  })
})
