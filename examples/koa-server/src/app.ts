import Koa from 'koa'
import { Router } from '@koa/router'
import { oauthRouter, requireToken, type TokenState } from '@grantkit/adapter-koa'
import type { AuthorizationServer, FullStore } from '@grantkit/core'
import { authenticateStoreUser } from '@grantkit/grant-password'
import { consentHook } from './consent-page.js'

/** Options of {@link createApp}. */
export interface AppOptions {
  server: AuthorizationServer
  store: FullStore
  csrfKey: Buffer
  /** Writes one line per request; `undefined` for no log. */
  log?: ((line: string) => void) | undefined
}

/**
 * The demo's Koa app: the OAuth endpoints with the login + consent page, and
 * `/api/me`, a protected resource.
 */
export function createApp({ server, store, csrfKey, log }: AppOptions): Koa {
  const app = new Koa()
  // Koa's default error log prints stacks; the adapter already answers and reports every error.
  app.silent = true
  app.on('error', (error: Error) => log?.(`[error] ${error.name}: ${error.message.split('\n', 1)[0] ?? ''}`))

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
  const oauth = oauthRouter(server, {
    authorize: consentHook({
      authenticate: (username, password) => authenticateStoreUser(store, username, password),
      csrfKey,
      cookiePath: authorizationPath,
    }),
  })
  app.use(oauth.routes())

  const api = new Router()
  // RFC 6750 §3.1: a token without `profile`, or without a user behind it, gets 403 insufficient_scope.
  api.get('/api/me', requireToken(server, { scope: 'profile', user: true }), async (ctx) => {
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
  app.use(api.routes())
  app.use(api.allowedMethods())
  return app
}
