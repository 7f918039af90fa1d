import { configError } from '@grantkit/core'

/** The HTTP frameworks the demo can be served with (`OAUTH_ADAPTER`). */
export const ADAPTERS = ['koa', 'express', 'fastify', 'fetch'] as const

/** An `OAUTH_ADAPTER` value: which adapter package, and its framework, serves the demo. */
export type Adapter = (typeof ADAPTERS)[number]

/** The demo server's settings, read from the environment (see docs/demo-server.md). */
export interface Config {
  readonly host: string
  readonly port: number
  /** `OAUTH_ISSUER`; when absent the issuer is `http://HOST:PORT` with the port actually bound. */
  readonly issuer: string | undefined
  /** `OAUTH_STORE`: `sqlite:<file>`, `postgres://…`, `mongodb://…/<db>` or `memory:`. */
  readonly store: string
  /** `OAUTH_SEED`: a JSON file of clients and users to upsert at start. */
  readonly seed: string | undefined
  /** `OAUTH_CSRF_SECRET`: the key of the consent form's CSRF tokens; random per process when absent. */
  readonly csrfSecret: string | undefined
  /** `OAUTH_LOG=off` silences the request log. */
  readonly log: boolean
  /** `OAUTH_ADAPTER`: the framework serving the demo; the wire behaviour is the same with each. */
  readonly adapter: Adapter
  /** `OAUTH_DEVICE_CODE_TTL`: seconds a device code and its user code live (RFC 8628 §3.2 `expires_in`), 1–1800. */
  readonly deviceCodeTtl: number
  /** `OAUTH_PAR_TTL`: seconds a pushed authorization request's `request_uri` lives (RFC 9126 §2.2 `expires_in`), 1–600. */
  readonly parTtl: number
  /**
   * `OAUTH_THROTTLE=on`: bound failed client authentications and logins
   * (core's `memoryThrottle`: 10 per client id or username and 100 per
   * address in 10 minutes, answered 429). Off by default: test suites fail
   * logins as often as they like.
   */
  readonly throttle: boolean
  /** `OAUTH_OIDC_KEY_FILE`: the exported ID token key set, created (mode 0600) when missing; keys generated per process when absent. */
  readonly oidcKeyFile: string | undefined
  /** `OAUTH_ALLOW_INSECURE_FETCH=1`: outbound fetches (a client's `jwks_uri`) may also go to `http://` loopback URLs; for test suites only. */
  readonly allowInsecureFetch: boolean
  /**
   * `OAUTH_PURGE_INTERVAL`: seconds between purges of expired codes, tokens,
   * replay keys and device codes (core's `schedulePurge`, in batches);
   * `0` turns purging off. Default 3600.
   */
  readonly purgeInterval: number
  /**
   * `OAUTH_PG_POOL_SIZE`, `OAUTH_PG_CONNECTION_TIMEOUT_MS`,
   * `OAUTH_PG_STATEMENT_TIMEOUT_MS`: the PostgreSQL pool (store-drizzle's
   * `connectPostgres` options `poolSize`, `connectionTimeoutMillis`,
   * `statementTimeoutMillis`); unset, the package's defaults (10, 3000, 5000).
   * Read whatever the store; used only by a PostgreSQL one.
   */
  readonly postgres: PostgresPoolConfig
  /**
   * `OAUTH_SHUTDOWN_DELAY`: seconds the server keeps accepting and serving
   * after SIGTERM, with readiness answering 503 and every response
   * `Connection: close`, before it drains (for load balancers that take a
   * moment to stop sending). 0–60, default 0.
   */
  readonly shutdownDelay: number
}

/** The PostgreSQL pool settings of {@link Config.postgres}; `undefined` keeps the package's default. */
export interface PostgresPoolConfig {
  readonly poolSize: number | undefined
  readonly connectionTimeoutMillis: number | undefined
  readonly statementTimeoutMillis: number | undefined
}

/** Default of `OAUTH_DEVICE_CODE_TTL`, in seconds. */
export const DEFAULT_DEVICE_CODE_TTL = 600
/** The longest device code lifetime `@grantkit/grant-device-code` accepts, in seconds. */
const MAX_DEVICE_CODE_TTL = 1800
/** Default of `OAUTH_PAR_TTL`, in seconds (`@grantkit/par`'s default). */
export const DEFAULT_PAR_TTL = 300
/** The longest `request_uri` lifetime `@grantkit/par` accepts, in seconds. */
const MAX_PAR_TTL = 600

export const DEFAULT_STORE = 'sqlite:./data/grantkit.sqlite'

/** Reads the configuration; throws core's `configError` (a `TypeError` with code `ERR_GRANTKIT_CONFIG`) with a readable message for bad values. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const host = env['HOST'] || '127.0.0.1'
  const rawPort = env['PORT'] || '3000'
  const port = Number(rawPort)
  if (!/^\d+$/.test(rawPort) || port > 65535) throw configError(`PORT must be a port number, not "${rawPort}"`)
  const issuer = env['OAUTH_ISSUER'] || undefined
  if (issuer !== undefined) {
    let url: URL
    try {
      url = new URL(issuer)
    } catch {
      throw configError(`OAUTH_ISSUER must be an absolute URL, not "${issuer}"`)
    }
    if (!/^https?:$/.test(url.protocol) || url.search !== '' || url.hash !== '' || issuer.endsWith('/')) {
      throw configError('OAUTH_ISSUER must be an http(s) URL without query, fragment or trailing slash')
    }
  }
  const adapter = env['OAUTH_ADAPTER'] || 'koa'
  if (!isAdapter(adapter)) throw configError(`OAUTH_ADAPTER must be one of ${ADAPTERS.join(', ')}, not "${adapter}"`)
  const rawTtl = env['OAUTH_DEVICE_CODE_TTL'] || String(DEFAULT_DEVICE_CODE_TTL)
  const deviceCodeTtl = Number(rawTtl)
  if (!/^\d+$/.test(rawTtl) || deviceCodeTtl < 1 || deviceCodeTtl > MAX_DEVICE_CODE_TTL) {
    throw configError(`OAUTH_DEVICE_CODE_TTL must be a whole number of seconds from 1 to ${MAX_DEVICE_CODE_TTL}, not "${rawTtl}"`)
  }
  const rawParTtl = env['OAUTH_PAR_TTL'] || String(DEFAULT_PAR_TTL)
  const parTtl = Number(rawParTtl)
  if (!/^\d+$/.test(rawParTtl) || parTtl < 1 || parTtl > MAX_PAR_TTL) {
    throw configError(`OAUTH_PAR_TTL must be a whole number of seconds from 1 to ${MAX_PAR_TTL}, not "${rawParTtl}"`)
  }
  return {
    host,
    port,
    issuer,
    store: env['OAUTH_STORE'] || DEFAULT_STORE,
    seed: env['OAUTH_SEED'] || undefined,
    csrfSecret: env['OAUTH_CSRF_SECRET'] || undefined,
    log: env['OAUTH_LOG'] !== 'off',
    adapter,
    deviceCodeTtl,
    parTtl,
    throttle: parseSwitch(env, 'OAUTH_THROTTLE'),
    allowInsecureFetch: parseFlag(env, 'OAUTH_ALLOW_INSECURE_FETCH'),
    oidcKeyFile: env['OAUTH_OIDC_KEY_FILE'] || undefined,
    purgeInterval: parsePurgeInterval(env['OAUTH_PURGE_INTERVAL'] || '3600'),
    postgres: {
      poolSize: parseWhole(env, 'OAUTH_PG_POOL_SIZE', 1, 1000, 'a whole number'),
      connectionTimeoutMillis: parseWhole(env, 'OAUTH_PG_CONNECTION_TIMEOUT_MS', 0, 600_000, 'a whole number of milliseconds'),
      statementTimeoutMillis: parseWhole(env, 'OAUTH_PG_STATEMENT_TIMEOUT_MS', 0, 600_000, 'a whole number of milliseconds'),
    },
    shutdownDelay: parseWhole(env, 'OAUTH_SHUTDOWN_DELAY', 0, 60, 'a whole number of seconds') ?? 0,
  }
}

/** A whole-number variable from `min` to `max`; `undefined` when unset or empty. */
function parseWhole(env: Record<string, string | undefined>, name: string, min: number, max: number, what: string): number | undefined {
  const raw = env[name] || undefined
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < min || value > max) throw configError(`${name} must be ${what} from ${min} to ${max}, not "${raw}"`)
  return value
}

/** `OAUTH_PURGE_INTERVAL`: a whole number of seconds, at most a week; 0 is off. */
function parsePurgeInterval(raw: string): number {
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value > 7 * 24 * 3600) throw configError(`OAUTH_PURGE_INTERVAL must be a whole number of seconds from 0 to 604800, not "${raw}"`)
  return value
}

/** An `on`/`off` variable (unset or empty is off). */
function parseSwitch(env: Record<string, string | undefined>, name: string): boolean {
  const value = env[name] || 'off'
  if (value !== 'on' && value !== 'off') throw configError(`${name} must be "on" or "off", not "${value}"`)
  return value === 'on'
}

function parseFlag(env: Record<string, string | undefined>, name: string): boolean {
  const value = env[name] || '0'
  if (value !== '1' && value !== '0') throw configError(`${name} must be "1" or "0", not "${value}"`)
  return value === '1'
}

function isAdapter(value: string): value is Adapter {
  return (ADAPTERS as readonly string[]).includes(value)
}

/** The issuer for a bound address: `http://host:port`, IPv6 hosts in brackets. */
export function defaultIssuer(host: string, port: number): string {
  const name = host.includes(':') ? `[${host}]` : host
  return `http://${name}:${port}`
}
