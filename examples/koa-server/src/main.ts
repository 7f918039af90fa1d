import { randomBytes, createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { errorLogger, loadApp } from './app.js'
import { DEFAULT_SCOPES, createAuthorizationServer } from './authorization-server.js'
import { defaultIssuer, loadConfig } from './config.js'
import { openStore } from './open-store.js'
import { healthProbes, lookupProbe, readinessLine } from './health.js'
import { gracefulShutdown } from './shutdown.js'
import { shareKeysAcrossProcesses } from './high-security.js'
import { describeError, schedulePurge } from '@grantkit/core'
import type { OpenIDKeySet } from '@grantkit/openid'
import { loginSessions } from './login-session.js'
import { loadKeySet, type UserClaims } from './openid.js'
import { applySeed, readSeed, seedDemo } from './seed.js'

const out = (line: string) => process.stdout.write(`${line}\n`)

async function main(): Promise<void> {
  const config = loadConfig(process.env)
  // The framework is loaded before the port is bound, so the app is in place as soon as it listens.
  const createApp = await loadApp(config.adapter)
  const csrfKey = config.csrfSecret === undefined ? randomBytes(32) : createHash('sha256').update(config.csrfSecret).digest()
  // Several processes of one issuer share OAUTH_CSRF_SECRET: derive the other shared keys from it (docs/deployment.md).
  if (config.csrfSecret !== undefined) shareKeysAcrossProcesses(csrfKey)
  const opened = await openStore(config.store, { postgres: config.postgres })
  const { store } = opened
  let openidKeys: OpenIDKeySet
  let userClaims = new Map<string, UserClaims>()
  try {
    openidKeys = await loadKeySet(config.oidcKeyFile)
    if (config.seed !== undefined) {
      userClaims = await applySeed(store, await readSeed(config.seed, openidKeys.algorithms()))
      out(`[grantkit] seeded clients and users from ${config.seed}`)
    } else {
      const demo = await seedDemo(store)
      if (demo !== null) {
        out('[grantkit] first start: created demo credentials (shown once, store them now):')
        out(`  confidential client  client_id=${demo.confidentialClient.clientId}  client_secret=${demo.confidentialClient.clientSecret}`)
        out(`  public client        client_id=${demo.publicClient.clientId}`)
        out(`  user                 username=${demo.user.username}  password=${demo.user.password}`)
      }
    }
  } catch (error) {
    await opened.close()
    throw error
  }

  const scopes = new Set(DEFAULT_SCOPES)
  for (const client of await store.listClients()) for (const scope of client.scope.split(' ')) if (scope !== '') scopes.add(scope)
  // The app answers a missing Host itself, with an RFC body (demo-http.ts).
  const http = createServer({ requireHostHeader: false })
  // A slow client must not hold a connection forever.
  http.requestTimeout = 30_000
  http.headersTimeout = 20_000
  // A request Node's parser rejects (bad bytes in the request line or headers,
  // headers too large) never reaches the app: answer it with an RFC 6749 §5.2 body
  // too, instead of Node's bare 400.
  http.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    const pending = (socket as { _httpMessage?: import('node:http').ServerResponse | null })._httpMessage
    // A broken request body (e.g. a bad chunk) can never be read to its end: drop the connection.
    if (!socket.writable || (pending != null && !pending.req.complete)) {
      socket.destroy()
      return
    }
    // Garbage after a complete request whose response is still being
    // produced: let that response finish, then close.
    if (pending != null) {
      if (pending.writableFinished) socket.end()
      else pending.once('finish', () => socket.end())
      setTimeout(() => socket.destroy(), 30_000).unref()
      return
    }
    const [status, reason] =
      error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request']
    const body = JSON.stringify({ error: 'invalid_request', error_description: status === 408 ? 'the request took too long' : 'the HTTP request is malformed' })
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json;charset=UTF-8\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(config.port, config.host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  const { port } = http.address() as AddressInfo
  const issuer = config.issuer ?? defaultIssuer(config.host, port)
  const log = config.log ? out : undefined
  const server = createAuthorizationServer({
    issuer,
    store,
    scopesSupported: [...scopes],
    deviceCodeTtl: config.deviceCodeTtl,
    parTtl: config.parTtl,
    throttle: config.throttle,
    allowInsecureFetch: config.allowInsecureFetch,
    openidKeys,
    userClaims,
    // The logout endpoint clears the consent page's login session cookie (same key and path as app.ts's).
    endSessionCookie: (secure) => loginSessions({ csrfKey, cookiePath: new URL(issuer).pathname.replace(/\/$/, '') + server.options.endpoints.authorization }).clear(secure),
    onError: errorLogger((line) => (log ?? console.error)(line)),
    // Attack signals, always logged (ids only, never a token or code).
    onSecurityEvent: (event) => console.error(`[security] ${event.type} client=${event.clientId} user=${event.userId ?? '-'} family=${event.familyId}`),
  })
  const app = createApp({ server, store, csrfKey, log })
  let started = false
  let purge: ReturnType<typeof schedulePurge> | null = null
  // SIGTERM: readiness 503 and `Connection: close` at once, then drain; the store closes last (shutdown.ts).
  const shutdown = gracefulShutdown({
    http,
    delay: config.shutdownDelay,
    close: async () => {
      await purge?.stop()
      await opened.close()
    },
    exit: (code) => process.exit(code),
    log: out,
    logError: (error) => console.error(`[grantkit] closing the store failed: ${describeError(error)}`),
  })
  // /healthz and /readyz, in front of the framework: the same on every one (health.ts).
  const probes = healthProbes({
    check: opened.probe ?? lookupProbe(store),
    started: () => started,
    stopping: shutdown.stopping,
    onChange: (ready, error) => (log ?? console.error)(readinessLine(ready, error)),
  })
  http.on(
    'request',
    shutdown.wrap((req, res) => {
      if (!probes(req, res)) app(req, res)
    }),
  )
  await app.ready
  started = true
  out(`[grantkit] adapter: ${config.adapter}`)
  out(`[grantkit] store: ${opened.description}`)
  out(`[grantkit] listening on ${defaultIssuer(config.host, port)} (issuer ${issuer})`)
  // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
  const issuerUrl = new URL(issuer)
  out(`[grantkit] metadata: ${issuerUrl.origin}/.well-known/oauth-authorization-server${issuerUrl.pathname.replace(/\/$/, '')}`)

  // Expired rows never pile up (RFC 6749 §4.1.2 codes, RFC 6749 §1.4 tokens, RFC 7523 replay keys): short batches, off the request path.
  // On SQLite and PostgreSQL the throttle's and the pushed requests' tables too (open-store.ts).
  purge = config.purgeInterval === 0 ? null : schedulePurge(opened.purgeable ?? store, { intervalSeconds: config.purgeInterval, onError: (error) => console.error(`[error] purge failed: ${describeError(error)}`) })

  process.on('SIGTERM', () => shutdown.stop('SIGTERM'))
  process.on('SIGINT', () => shutdown.stop('SIGINT'))
}

main().catch((error: unknown) => {
  console.error(`[grantkit] failed to start: ${startFailure(error)}`)
  process.exit(1)
})

/**
 * What a start-up failure may print. A configuration mistake (core's
 * `configError`: a bad variable, a bad seed file, a bad client; the demo's
 * own text) is printed as it is, to be fixed. Anything else (a driver's
 * error, an errno) is printed by name and code only, as core's
 * `describeError` does: a driver's message can hold the SQL parameters (a
 * password hash), the server's own words or a connection string.
 */
function startFailure(error: unknown): string {
  return isConfigError(error) ? error.message : describeError(error)
}

/** A `TypeError` with one of core's `ERR_GRANTKIT_*` codes (`ConfigErrorCode`). */
function isConfigError(error: unknown): error is TypeError {
  const code = (error as { code?: unknown } | null)?.code
  return error instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_GRANTKIT_')
}
