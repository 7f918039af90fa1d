import type { Scenario } from './fixture.js'

/** A benchmark target: a server process started from `file` (in src/targets) with `env`. */
export interface TargetSpec {
  readonly name: string
  /** Shown in RESULTS.md. */
  readonly label: string
  readonly file: string
  readonly env?: Readonly<Record<string, string>>
  /** Runs only when this returns a reason-free `undefined`; else skipped with the reason. */
  readonly skip?: () => string | undefined
  /** The npm package whose version RESULTS.md lists. */
  readonly packageName?: string
  /** A floor answers a fixed body whatever the grant: a reference, not an OAuth server. */
  readonly floor?: boolean
  readonly unsupported?: Partial<Record<Scenario, string>>
  /** The store's tables can be pre-filled with rows of other clients (`--prefill`, src/stores.ts). */
  readonly prefillable?: boolean
  /** A pre-filled variant: the target it runs (`name` is `<base>@<rows>`) and the rows pre-filled. */
  readonly base?: string
  readonly prefill?: number
}

export const TARGETS: readonly TargetSpec[] = [
  { name: 'grantkit-memory', label: 'grantkit (memory store)', file: 'grantkit.ts', env: { BENCH_STORE: 'memory' }, packageName: '@grantkit/core' },
  {
    name: 'grantkit-sqlite',
    label: 'grantkit (SQLite, WAL)',
    file: 'grantkit.ts',
    env: { BENCH_STORE: 'sqlite' },
    packageName: '@grantkit/store-drizzle',
    prefillable: true,
  },
  {
    name: 'grantkit-postgres',
    label: 'grantkit (PostgreSQL)',
    file: 'grantkit.ts',
    env: { BENCH_STORE: 'postgres' },
    skip: () => (process.env['DATABASE_URL'] ? undefined : 'DATABASE_URL is not set'),
    prefillable: true,
  },
  { name: 'node-oauth', label: '@node-oauth/oauth2-server (Koa, memory)', file: 'node-oauth.ts', packageName: '@node-oauth/oauth2-server' },
  { name: 'jmondi', label: '@jmondi/oauth2-server (Koa, memory)', file: 'jmondi.ts', packageName: '@jmondi/oauth2-server' },
  { name: 'oidc-provider', label: 'oidc-provider (memory adapter)', file: 'oidc-provider.ts', packageName: 'oidc-provider' },
  { name: 'koa-floor', label: 'Koa + @koa/bodyparser, fixed JSON (floor)', file: 'koa-floor.ts', packageName: 'koa', floor: true },
  { name: 'http-floor', label: 'node:http, fixed JSON (floor)', file: 'http-floor.ts', floor: true },
  // Each adapter on its framework (memory store), beside that framework's floor.
  {
    name: 'grantkit-express',
    label: 'grantkit on Express (memory store)',
    file: 'grantkit-express.ts',
    env: { BENCH_STORE: 'memory' },
    packageName: '@grantkit/adapter-express',
  },
  { name: 'express-floor', label: 'Express + express.urlencoded, fixed JSON (floor)', file: 'express-floor.ts', packageName: 'express', floor: true },
  {
    name: 'grantkit-fastify',
    label: 'grantkit on Fastify (memory store)',
    file: 'grantkit-fastify.ts',
    env: { BENCH_STORE: 'memory' },
    packageName: '@grantkit/adapter-fastify',
  },
  { name: 'fastify-floor', label: 'Fastify + form content-type parser, fixed JSON (floor)', file: 'fastify-floor.ts', packageName: 'fastify', floor: true },
  {
    name: 'grantkit-fetch',
    label: 'grantkit on the Fetch API (node:http bridge, memory store)',
    file: 'grantkit-fetch.ts',
    env: { BENCH_STORE: 'memory' },
    packageName: '@grantkit/adapter-fetch',
  },
  { name: 'fetch-floor', label: 'Fetch API + request.text(), fixed JSON (floor, node:http bridge)', file: 'fetch-floor.ts', floor: true },
]

/**
 * Each grantkit adapter target (memory store) and the floor on the same framework: RESULTS.md sets them side
 * by side, with the adapter's share of its framework's floor. `grantkit-memory` is grantkit on the Koa adapter.
 */
export const ADAPTER_PAIRS: readonly { readonly framework: string; readonly adapter: string; readonly floor: string }[] = [
  { framework: 'Koa', adapter: 'grantkit-memory', floor: 'koa-floor' },
  { framework: 'Express', adapter: 'grantkit-express', floor: 'express-floor' },
  { framework: 'Fastify', adapter: 'grantkit-fastify', floor: 'fastify-floor' },
  { framework: 'Fetch API', adapter: 'grantkit-fetch', floor: 'fetch-floor' },
]

/**
 * The pre-filled variants of the prefillable targets among `targets`: one per row count, 0 included (the
 * baseline of the same run), named `<target>@<rows>`. `codes` pre-fills the authorization codes table too.
 */
export function prefillTargets(targets: readonly TargetSpec[], rows: readonly number[], codes: boolean): TargetSpec[] {
  const counts = [...new Set([0, ...rows])].sort((a, b) => a - b)
  return targets
    .filter((t) => t.prefillable === true)
    .flatMap((t) =>
      counts.map((n) => ({
        ...t,
        name: `${t.name}@${n}`,
        base: t.name,
        prefill: n,
        env: { ...t.env, BENCH_PREFILL: String(n), BENCH_PREFILL_CODES: codes ? '1' : '0' },
      })),
    )
}
