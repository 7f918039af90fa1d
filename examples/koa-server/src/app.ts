import type { RequestListener } from 'node:http'
import type { AuthorizationServer, FullStore } from '@grantkit/core'
import { deviceVerification } from '@grantkit/grant-device-code'
import { authenticateStoreUser } from '@grantkit/grant-password'
import { DEVICE_VERIFICATION_PATH } from './authorization-server.js'
import type { Adapter } from './config.js'
import { consentStep, type ConsentStep } from './consent-page.js'
import { findSessionUser } from './openid.js'
import { deviceStep, type DeviceStep } from './device-page.js'
import { demoRoutes, errorLine, errorLogger, type DemoRoute } from './demo-http.js'
import { meResource, type MeResource } from './protected-resource.js'
import { mcpEndpoint, type McpEndpoint } from './mcp.js'

export { errorLine, errorLogger }

/** Options of {@link createApp}. */
export interface AppOptions {
  server: AuthorizationServer
  store: FullStore
  csrfKey: Buffer
  /** Writes one line per request; `undefined` for no log. */
  log?: ((line: string) => void) | undefined
  /** Milliseconds the OAuth endpoints and `/api/me` may wait on the store before answering 500 `server_error`. Default 10 000. */
  requestTimeout?: number | undefined
}

/** What every framework's mount file shares: the app logic, which knows no framework. */
export interface DemoApp {
  readonly server: AuthorizationServer
  /** The login + consent step, for the adapter's `authorize` hook. */
  readonly consent: ConsentStep
  /** `/api/me` once the adapter's `requireToken` accepted the token. */
  readonly me: MeResource
  /** The device verification page (RFC 8628 §3.3), served at {@link DemoApp.devicePath}. */
  readonly device: DeviceStep
  /** Where the device verification page is: {@link DEVICE_VERIFICATION_PATH} under the issuer's path. */
  readonly devicePath: string
  /** The Model Context Protocol endpoint (at `mcp.path`) and its RFC 9728 metadata (at `mcp.metadata.path`). */
  readonly mcp: McpEndpoint
  /** Where a request path goes, matched as the Koa app's routes match. */
  readonly route: (path: string) => DemoRoute
  /** The request log, or `undefined` with `OAUTH_LOG=off`. */
  readonly log: ((line: string) => void) | undefined
  /** Unexpected errors, as one line (on the request log, or standard error without it). */
  readonly logError: (error: unknown) => void
  /** The adapters' `requestTimeout` and `requireToken` `timeout`, when not their default. */
  readonly requestTimeout: number | undefined
}

/** Default of the adapters' `requestTimeout` (core's). */
const DEFAULT_TIMEOUT = 10_000

function demoApp({ server, store, csrfKey, log, requestTimeout }: AppOptions): DemoApp {
  // Unexpected errors are logged as one line: never a stack, a request or a secret.
  const logError = errorLogger((line) => (log ?? console.error)(line))
  const base = new URL(server.issuer).pathname.replace(/\/$/, '')
  const devicePath = base + DEVICE_VERIFICATION_PATH
  const authenticate = (username: string, password: string) => authenticateStoreUser(store, username, password)
  const timeout = requestTimeout ?? DEFAULT_TIMEOUT
  const mcp = mcpEndpoint({ issuer: server.issuer })
  return {
    server,
    // CSRF tokens spent through the store's markUsed; failed passwords counted by the server's throttle (OAUTH_THROTTLE).
    consent: consentStep({ authenticate, findUser: findSessionUser(store), csrfKey, cookiePath: base + server.options.endpoints.authorization, issuer: server.issuer, replay: store, throttle: server }),
    me: meResource({ store, issuer: server.issuer, timeout, onError: logError }),
    // RFC 8628 §5.1: the package's limiter, 5 wrong user codes per minute per key (the client's address).
    device: deviceStep({ verification: deviceVerification(server), authenticate, csrfKey, issuer: server.issuer, replay: store, throttle: server, path: devicePath, timeout, onError: logError }),
    devicePath,
    mcp,
    route: demoRoutes(server, devicePath, mcp.path),
    log,
    logError,
    requestTimeout,
  }
}

/** Builds the demo's request listener on one framework. */
export type AppFactory = (options: AppOptions) => DemoListener

/**
 * A Node request listener for the `http.Server` main.ts owns (its
 * timeouts, its `clientError` answers). `ready` settles once the framework
 * is ready to route (Fastify boots its plugins asynchronously; requests
 * that come earlier wait for it).
 */
export type DemoListener = RequestListener & { readonly ready?: Promise<void> }

/**
 * Loads the framework `adapter` names (only that one) and answers the
 * factory of the demo's HTTP app on it: the OAuth endpoints of the
 * framework's grantkit adapter, with the login + consent page,
 * `/api/me`, and `/mcp` with its protected resource metadata. The wire behaviour is the same whichever framework serves it.
 */
export async function loadApp(adapter: Adapter): Promise<AppFactory> {
  const mount = await loadFramework(adapter)
  return (options) => mount(demoApp(options))
}

async function loadFramework(adapter: Adapter): Promise<(demo: DemoApp) => DemoListener> {
  switch (adapter) {
    case 'koa':
      return (await import('./frameworks/koa.js')).koaListener
    case 'express':
      return (await import('./frameworks/express.js')).expressListener
    case 'fastify':
      return (await import('./frameworks/fastify.js')).fastifyListener
    case 'fetch':
      return (await import('./frameworks/fetch.js')).fetchListener
  }
}

/** {@link loadApp}, then the app, once its framework is ready. */
export async function createApp(adapter: Adapter, options: AppOptions): Promise<DemoListener> {
  const listener = (await loadApp(adapter))(options)
  await listener.ready
  return listener
}
