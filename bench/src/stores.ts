// The stores the grantkit targets run on, opened afresh for each target process, and how their tables are
// pre-filled with rows of other clients before a measured run (issue 18: "tokens already in the store").
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { memoryStore, type FullStore } from '@grantkit/core'
import { connectPostgres, openSqlite, pgStore, sqliteStore, type SqliteDatabase } from '@grantkit/store-drizzle'

/** The part of a `pg.Pool` the bench uses (so that the bench needs no `pg` types of its own). */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

/** What is pre-filled: `rows` tokens (and as many codes with `codes`), all unexpired, of other clients and users. */
export interface PrefillOptions {
  readonly rows: number
  /** Authorization codes too (the authorization_code scenario reads that table). */
  readonly codes?: boolean
  readonly now: Date
}

/** Row counts of the two tables the token endpoint reads and writes. */
export interface RowCounts {
  tokens: number
  codes: number
}

/** A store of a target process, with its facts for RESULTS.md and its bulk pre-fill. */
export interface BenchStore {
  store: FullStore
  /** Facts the report prints beside the figures (e.g. the PostgreSQL pool size), as `name: value`. */
  details: Record<string, string>
  /** Inserts the pre-filled rows in one statement per table; absent for the memory store. */
  prefill?: (options: PrefillOptions) => Promise<void>
  /** Counts the rows (for the report: what was really in the tables). */
  count?: () => Promise<RowCounts>
  close(): Promise<void>
}

// Access tokens live a day and refresh tokens 30 days from `now`, codes an hour: all outlive any bench run,
// so a purge (`purgeExpired` deletes expired rows only) never removes them while the bench measures.
const ACCESS_LIFETIME_MS = 86_400_000
const REFRESH_LIFETIME_MS = 30 * 86_400_000
const CODE_LIFETIME_MS = 3_600_000
// Rows belong to 1,000 other clients and 100,000 other users; an access and a refresh token share each family.
const OTHER_CLIENTS = 1000
const OTHER_USERS = 100_000

function checkRows(rows: number): void {
  if (!Number.isSafeInteger(rows) || rows < 0) throw new TypeError(`prefill: rows must be a non-negative integer, got ${rows}`)
}

/**
 * The hash the store keeps for the `i`-th pre-filled value of a kind: base64url SHA-256, as core's
 * `hashToken`, so a row's key is the hash of the token `bench-prefill-<kind>:<i>` (43 characters, unique,
 * in random order like real keys). PostgreSQL computes it in SQL, SQLite with {@link prefillHash} as a function.
 */
export function prefillHash(kind: 'token' | 'code' | 'challenge', i: number | bigint): string {
  return createHash('sha256').update(`bench-prefill-${kind}:${i}`).digest('base64url')
}

/**
 * Pre-fills a SQLite database with one `INSERT … SELECT` over a recursive CTE per table (no store calls),
 * then checkpoints and truncates the WAL and analyzes the tables, so the measured run starts from a settled file.
 */
export function prefillSqlite(client: SqliteDatabase['$client'], { rows, codes = false, now }: PrefillOptions): void {
  checkRows(rows)
  if (rows === 0) return
  const t = now.getTime()
  // A 256 MB page cache while inserting (random keys into indexes larger than the default 2 MB cache
  // would re-read pages all along), the default again for the measured run.
  const cacheSize = client.pragma('cache_size', { simple: true }) as number
  client.pragma('cache_size = -262144')
  client.function('bench_prefill_hash', { deterministic: true }, (kind, i) => prefillHash(kind as 'token', i as number))
  const series = 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @rows)'
  client
    .prepare(
      `${series} INSERT INTO grantkit_tokens (token_hash, type, client_id, user_id, scope, family_id, issued_at, expires_at, revoked_at, rotated_at, extra)
       SELECT bench_prefill_hash('token', i),
              CASE i % 2 WHEN 0 THEN 'access_token' ELSE 'refresh_token' END,
              'prefill-client-' || (i % ${OTHER_CLIENTS}), 'prefill-user-' || (i % ${OTHER_USERS}), 'read write',
              'prefill-family-' || ((i + 1) / 2), @now,
              @now + CASE i % 2 WHEN 0 THEN ${ACCESS_LIFETIME_MS} ELSE ${REFRESH_LIFETIME_MS} END, NULL, NULL, NULL
       FROM n`,
    )
    .run({ rows, now: t })
  if (codes) {
    client
      .prepare(
        `${series} INSERT INTO grantkit_authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, family_id, code_challenge, code_challenge_method, created_at, expires_at, consumed_at, extra)
         SELECT bench_prefill_hash('code', i), 'prefill-client-' || (i % ${OTHER_CLIENTS}), 'prefill-user-' || (i % ${OTHER_USERS}),
                'http://127.0.0.1/cb', 'read write', 'prefill-code-family-' || i, bench_prefill_hash('challenge', i), 'S256',
                @now, @now + ${CODE_LIFETIME_MS}, NULL, NULL
         FROM n`,
      )
      .run({ rows, now: t })
  }
  client.pragma('wal_checkpoint(TRUNCATE)')
  client.exec('ANALYZE')
  client.pragma(`cache_size = ${cacheSize}`)
}

/**
 * Pre-fills PostgreSQL with one `INSERT … SELECT … generate_series` per table (no store calls), keys as
 * {@link prefillHash}; the tables are analyzed afterwards, as autovacuum would do in a live database.
 */
export async function prefillPostgres(pool: PgQueryable, { rows, codes = false, now }: PrefillOptions): Promise<void> {
  checkRows(rows)
  if (rows === 0) return
  const hash = (kind: string) => `translate(rtrim(encode(sha256(convert_to('bench-prefill-${kind}:' || i, 'UTF8')), 'base64'), '='), '+/', '-_')`
  await pool.query(
    `INSERT INTO grantkit_tokens (token_hash, type, client_id, user_id, scope, family_id, issued_at, expires_at, revoked_at, rotated_at, extra)
     SELECT ${hash('token')},
            CASE WHEN i % 2 = 0 THEN 'access_token' ELSE 'refresh_token' END,
            'prefill-client-' || (i % ${OTHER_CLIENTS}), 'prefill-user-' || (i % ${OTHER_USERS}), 'read write',
            'prefill-family-' || ((i + 1) / 2), $1::timestamptz,
            $1::timestamptz + CASE WHEN i % 2 = 0 THEN ${ACCESS_LIFETIME_MS} ELSE ${REFRESH_LIFETIME_MS} END * interval '1 millisecond', NULL, NULL, NULL
     FROM generate_series(1, $2::integer) AS i`,
    [now, rows],
  )
  if (codes) {
    await pool.query(
      `INSERT INTO grantkit_authorization_codes (code_hash, client_id, user_id, redirect_uri, scope, family_id, code_challenge, code_challenge_method, created_at, expires_at, consumed_at, extra)
       SELECT ${hash('code')}, 'prefill-client-' || (i % ${OTHER_CLIENTS}), 'prefill-user-' || (i % ${OTHER_USERS}),
              'http://127.0.0.1/cb', 'read write', 'prefill-code-family-' || i, ${hash('challenge')}, 'S256',
              $1::timestamptz, $1::timestamptz + ${CODE_LIFETIME_MS} * interval '1 millisecond', NULL, NULL
       FROM generate_series(1, $2::integer) AS i`,
      [now, rows],
    )
  }
  await pool.query('ANALYZE grantkit_tokens')
  await pool.query('ANALYZE grantkit_authorization_codes')
}

// Each PostgreSQL target runs in a schema of its own, `gkbench_<host>_<pid>`, so that every start begins
// with empty tables like the SQLite target's new file, and runs never see each other's (or the tests') rows.
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8)

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Drops the schemas of bench processes of this host that died before dropping their own (killed, crashed). */
async function dropStaleSchemas(pool: PgQueryable): Promise<void> {
  const { rows } = await pool.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'gkbench\\_${HOST}\\_%'`)
  for (const { nspname } of rows) {
    const pid = Number(/_(\d+)_[0-9a-f]+$/.exec(String(nspname))?.[1])
    if (Number.isSafeInteger(pid) && !alive(pid)) await pool.query(`DROP SCHEMA IF EXISTS "${String(nspname)}" CASCADE`)
  }
}

/** `connectPostgres`'s default `poolSize` (packages/store-drizzle/src/connect-postgres.ts). */
export const STORE_DEFAULT_PG_POOL = 10

async function openPostgres(url: string, poolSize: number | undefined): Promise<BenchStore> {
  const schema = `gkbench_${HOST}_${process.pid}_${randomBytes(3).toString('hex')}`
  const admin = await connectPostgres(url, { migrate: false, poolSize: 1 })
  try {
    await dropStaleSchemas(admin.db.$client)
    await admin.db.$client.query(`CREATE SCHEMA "${schema}"`)
  } finally {
    await admin.close()
  }
  // The pool as an application opens it: connectPostgres's own default unless --pg-pool sets poolSize.
  const { db, close } = await connectPostgres(url, { ...(poolSize === undefined ? {} : { poolSize }), pool: { options: `-c search_path=${schema}` } })
  const pool = db.$client
  const settings = await pool.query(
    "SELECT current_setting('server_version') AS version, current_setting('shared_buffers') AS shared_buffers, " +
      "current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit",
  )
  const s = settings.rows[0] as Record<string, string>
  const max = pool.options.max ?? STORE_DEFAULT_PG_POOL
  // BENCH_PG_GROUP_COMMIT=0: pgStore without its group commit (on by default), for an A/B of it (bench/README.md).
  const groupCommit = process.env['BENCH_PG_GROUP_COMMIT'] !== '0'
  return {
    store: pgStore(db, { groupCommit }),
    details: {
      'PostgreSQL pool': `${max} connections (${poolSize === undefined ? "connectPostgres's default poolSize" : 'set with --pg-pool'})${groupCommit ? '' : ', group commit off'}`,
      PostgreSQL: `${s['version']}, shared_buffers ${s['shared_buffers']}, fsync ${s['fsync']}, synchronous_commit ${s['synchronous_commit']}`,
    },
    // On a connection of its own without the pool's statement timeout (5 s): a million rows take longer.
    async prefill(options) {
      const bulk = await connectPostgres(url, { migrate: false, poolSize: 1, statementTimeoutMillis: 0, pool: { options: `-c search_path=${schema}` } })
      try {
        await prefillPostgres(bulk.db.$client, options)
      } finally {
        await bulk.close()
      }
    },
    async count() {
      const { rows } = await pool.query('SELECT (SELECT count(*) FROM grantkit_tokens) AS tokens, (SELECT count(*) FROM grantkit_authorization_codes) AS codes')
      return { tokens: Number(rows[0]?.['tokens']), codes: Number(rows[0]?.['codes']) }
    },
    async close() {
      await close()
      const cleanup = await connectPostgres(url, { migrate: false, poolSize: 1 })
      try {
        await cleanup.db.$client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      } finally {
        await cleanup.close()
      }
    },
  }
}

async function openSqliteFile(): Promise<BenchStore> {
  const dir = mkdtempSync(join(tmpdir(), 'grantkit-bench-'))
  const remove = () => rmSync(dir, { recursive: true, force: true })
  process.on('exit', remove)
  const db = await openSqlite(join(dir, 'grantkit.sqlite'))
  const client = db.$client
  return {
    store: sqliteStore(db),
    details: {},
    prefill: async (options) => prefillSqlite(client, options),
    async count() {
      const row = client.prepare('SELECT (SELECT count(*) FROM grantkit_tokens) AS tokens, (SELECT count(*) FROM grantkit_authorization_codes) AS codes').get() as RowCounts
      return { tokens: Number(row.tokens), codes: Number(row.codes) }
    },
    async close() {
      client.close()
      remove()
    },
  }
}

/**
 * Opens the store named by `kind`: `memory`, `sqlite` (a new temp file, WAL) or `postgres` (a new schema
 * in `DATABASE_URL`, dropped on close; `BENCH_PG_POOL` connections, else connectPostgres's default).
 */
export async function openBenchStore(kind: string, env: NodeJS.ProcessEnv = process.env): Promise<BenchStore> {
  if (kind === 'memory') return { store: memoryStore(), details: {}, close: async () => {} }
  if (kind === 'sqlite') return openSqliteFile()
  if (kind === 'postgres') {
    const url = env['DATABASE_URL']
    if (url === undefined) throw new Error('BENCH_STORE=postgres needs DATABASE_URL')
    const raw = env['BENCH_PG_POOL']
    const poolSize = raw === undefined || raw === '' ? undefined : Number(raw)
    if (poolSize !== undefined && (!Number.isSafeInteger(poolSize) || poolSize < 1)) throw new TypeError(`BENCH_PG_POOL: expected a positive integer, got "${raw}"`)
    return openPostgres(url, poolSize)
  }
  throw new Error(`unknown BENCH_STORE "${kind}"`)
}
