import { randomBytes, createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createApp } from './app.js'
import { DEFAULT_SCOPES, createAuthorizationServer } from './authorization-server.js'
import { defaultIssuer, loadConfig } from './config.js'
import { openStore } from './open-store.js'
import { applySeed, readSeed, seedDemo } from './seed.js'

const out = (line: string) => process.stdout.write(`${line}\n`)

async function main(): Promise<void> {
  const config = loadConfig(process.env)
  const opened = await openStore(config.store)
  const { store } = opened
  try {
    if (config.seed !== undefined) {
      await applySeed(store, await readSeed(config.seed))
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
  const csrfKey = config.csrfSecret === undefined ? randomBytes(32) : createHash('sha256').update(config.csrfSecret).digest()

  const http = createServer()
  // A slow client must not hold a connection forever.
  http.requestTimeout = 30_000
  http.headersTimeout = 20_000
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(config.port, config.host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  const { port } = http.address() as AddressInfo
  const issuer = config.issuer ?? defaultIssuer(config.host, port)
  const server = createAuthorizationServer({ issuer, store, scopesSupported: [...scopes] })
  const app = createApp({ server, store, csrfKey, log: config.log ? out : undefined })
  http.on('request', app.callback())
  out(`[grantkit] store: ${opened.description}`)
  out(`[grantkit] listening on ${defaultIssuer(config.host, port)} (issuer ${issuer})`)
  out(`[grantkit] metadata: ${issuer}/.well-known/oauth-authorization-server`)

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    out(`[grantkit] ${signal}: shutting down`)
    const force = setTimeout(() => http.closeAllConnections(), 5000)
    force.unref()
    http.close(() => {
      clearTimeout(force)
      opened.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('[grantkit] closing the store failed:', error instanceof Error ? error.message : error)
          process.exit(1)
        },
      )
    })
    http.closeIdleConnections()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((error: unknown) => {
  console.error('[grantkit] failed to start:', error instanceof Error ? error.message : error)
  process.exit(1)
})
