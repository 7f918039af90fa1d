import type { RequestListener } from 'node:http'
import Koa, { type Context } from 'koa'
import { Router } from '@koa/router'
import { oauthRouter, requireToken, type TokenState } from '@grantkit/adapter-koa'
import { nodeBodySource } from '@grantkit/core'
import type { DemoApp } from '../app.js'
import { decisionOf, isConsentPage, readCookie, type PageRequest } from '../consent-page.js'
import type { DevicePageRequest } from '../device-page.js'
import { ME_PATH, errorLine, isEncrypted, logLine, missingHost, pageAnswer, type Answer } from '../demo-http.js'

/** Writes one of the demo's own answers on a Koa context. */
function write(ctx: Context, answer: Answer): void {
  for (const [name, value] of answer.headers) {
    if (name === 'set-cookie') ctx.append('Set-Cookie', value)
    else ctx.set(name, value)
  }
  // Body before status: Koa turns a null body into 204 unless the status comes after it.
  ctx.body = answer.body
  ctx.status = answer.status
}

function pageRequest(ctx: Context): PageRequest {
  return { method: ctx.method, cookie: (name) => readCookie(ctx.headers.cookie, name), secure: isEncrypted(ctx.req) }
}

function devicePageRequest(ctx: Context): DevicePageRequest {
  return { ...pageRequest(ctx), query: ctx.querystring, headers: ctx.headers, body: nodeBodySource(ctx.req), remoteAddress: ctx.req.socket.remoteAddress }
}

/** The demo on Koa 3 with `@grantkit/adapter-koa`. */
export function koaListener(demo: DemoApp): RequestListener {
  const { server, consent, me, device, devicePath, log, logError, requestTimeout } = demo
  const app = new Koa()
  // Koa's default error log prints stacks; the adapter already answers and reports every error.
  app.silent = true
  app.on('error', (error: Error) => log?.(errorLine(error)))

  app.use(async (ctx, next) => {
    const refused = missingHost(ctx.req)
    if (refused !== undefined) return write(ctx, refused)
    await next()
  })

  if (log !== undefined) {
    app.use(async (ctx, next) => {
      const started = performance.now()
      try {
        await next()
      } finally {
        log(logLine(ctx.method, ctx.path, ctx.status, started))
      }
    })
  }

  const timeout = requestTimeout === undefined ? {} : { requestTimeout }
  app.use(
    oauthRouter(server, {
      async authorize(ctx, interaction) {
        const answer = await consent(pageRequest(ctx), interaction)
        if (!isConsentPage(answer)) return decisionOf(answer, (cookie) => ctx.append('Set-Cookie', cookie))
        write(ctx, pageAnswer(answer))
        return undefined
      },
      onError: logError,
      ...timeout,
    }).routes(),
  )

  const api = new Router()
  // RFC 6750 §3.1: a token without `profile`, or without a user behind it, gets 403 insufficient_scope.
  const guard = requireToken(server, { scope: 'profile', user: true, onError: logError, ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) })
  api.get(ME_PATH, guard, async (ctx) => write(ctx, await me.get(ctx.state['oauth'] as TokenState)))
  // Any other method: 405 with an RFC body (not the router's 501 for methods it does not know, e.g. TRACE).
  api.all(ME_PATH, (ctx) => write(ctx, me.other(ctx.method)))
  // RFC 8628 §3.3: the device verification page, every method (it answers 405 itself).
  api.all(devicePath, async (ctx) => write(ctx, await device(devicePageRequest(ctx))))
  app.use(api.routes())
  return app.callback()
}
