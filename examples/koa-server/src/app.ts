import type { RequestListener } from 'node:http'
import type { AuthorizationServer, FullStore } from '@grantkit/core'
import { authenticateStoreUser } from '@grantkit/grant-password'
import type { Adapter } from './config.js'
import { consentStep, type ConsentStep } from './consent-page.js'
import { demoRoutes, errorLine, type DemoRoute } from './demo-http.js'
import { meResource, type MeResource } from './protected-resource.js'

export { errorLine }

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
  const logError = (error: unknown) => (log ?? console.error)(errorLine(error))
  const authorizationPath = new URL(server.issuer).pathname.replace(/\/$/, '') + server.options.endpoints.authorization
  return {
    server,
    consent: consentStep({
      authenticate: (username, password) => authenticateStoreUser(store, username, password),
      csrfKey,
      cookiePath: authorizationPath,
    }),
    me: meResource({ store, issuer: server.issuer, timeout: requestTimeout ?? DEFAULT_TIMEOUT, onError: logError }),
    route: demoRoutes(server),
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
 * framework's grantkit adapter, with the login + consent page, and
 * `/api/me`. The wire behaviour is the same whichever framework serves it.
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
