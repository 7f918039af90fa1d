import Koa from 'koa'
import { Router } from '@koa/router'
import { oauthRouter, requireToken, type TokenState } from '@grantkit/adapter-koa'
import { describeError, type AuthorizationServer, type FullStore } from '@grantkit/core'
import { authenticateStoreUser } from '@grantkit/grant-password'
import { consentHook } from './consent-page.js'

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

/**
 * One log line for an unexpected error: its name and, when it has one, its
 * code (e.g. a PostgreSQL SQLSTATE). Never the message or the stack: driver
 * messages can carry SQL, key values or file paths.
 */
export function errorLine(error: unknown): string {
  // Core's rule for every package: the error's name and code (and its causes'), never a driver's message.
  return `[error] ${describeError(error)}`
}

/**
 * The demo's Koa app: the OAuth endpoints with the login + consent page, and
 * `/api/me`, a protected resource.
 */
export function createApp({ server, store, csrfKey, log, requestTimeout }: AppOptions): Koa {
  const app = new Koa()
  // Koa's default error log prints stacks; the adapter already answers and reports every error.
  app.silent = true
  app.on('error', (error: Error) => log?.(errorLine(error)))

  // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400 (here with an RFC 6749 §5.2 body, not Node's bare one).
  app.use(async (ctx, next) => {
    if (ctx.req.httpVersionMajor === 1 && ctx.req.httpVersionMinor === 1 && ctx.req.headers.host === undefined) {
      ctx.status = 400
      ctx.set('connection', 'close')
      ctx.set('cache-control', 'no-store')
      ctx.body = { error: 'invalid_request', error_description: 'the Host header is required' }
      return
    }
    await next()
  })

  if (log !== undefined) {
    app.use(async (ctx, next) => {
      const started = performance.now()
      try {
        await next()
      } finally {
        // The path only: queries carry codes, tokens and state; bodies carry secrets.
        log(`${ctx.method} ${ctx.path} ${ctx.status} ${Math.round(performance.now() - started)}ms`)
      }
    })
  }

  const authorizationPath = new URL(server.issuer).pathname.replace(/\/$/, '') + server.options.endpoints.authorization
  // Unexpected errors are logged as one line: never a stack, a request or a secret.
  const logError = (error: unknown) => (log ?? console.error)(errorLine(error))
  const oauth = oauthRouter(server, {
    authorize: consentHook({
      authenticate: (username, password) => authenticateStoreUser(store, username, password),
      csrfKey,
      cookiePath: authorizationPath,
    }),
    onError: logError,
    ...(requestTimeout === undefined ? {} : { requestTimeout }),
  })
  app.use(oauth.routes())

  const api = new Router()
  // RFC 6750 §3.1: a token without `profile`, or without a user behind it, gets 403 insufficient_scope.
  api.get('/api/me', requireToken(server, { scope: 'profile', user: true, onError: logError, ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) }), async (ctx) => {
    const oauthState = ctx.state['oauth'] as TokenState
    const user = await store.findUserById(oauthState.userId as string)
    if (user === null) {
      ctx.status = 401
      ctx.set('www-authenticate', `Bearer realm="${server.issuer}", error="invalid_token", error_description="the user no longer exists"`)
      ctx.body = { error: 'invalid_token', error_description: 'the user no longer exists' }
      return
    }
    ctx.set('cache-control', 'no-store')
    ctx.body = { sub: user.id, username: user.username, scope: oauthState.scopes.join(' ') }
  })
  // Any other method: 405 with an RFC body (not the router's 501 for methods it does not know, e.g. TRACE).
  api.all('/api/me', (ctx) => {
    ctx.set('allow', 'GET, HEAD, OPTIONS')
    if (ctx.method === 'OPTIONS') {
      ctx.body = null
      ctx.status = 204
      return
    }
    ctx.status = 405
    ctx.body = { error: 'invalid_request', error_description: `${ctx.method} is not allowed here; use GET` }
  })
  app.use(api.routes())
  return app
}
