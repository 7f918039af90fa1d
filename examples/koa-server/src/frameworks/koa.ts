import type { RequestListener } from 'node:http'
import Koa, { type Context } from 'koa'
import { Router } from '@koa/router'
import { oauthRouter, requireToken, serveResourceMetadata, type TokenState } from '@grantkit/adapter-koa'
import { nodeBodySource } from '@grantkit/core'
import type { DemoApp } from '../app.js'
import { decisionOf, isConsentPage, readCookie, type PageRequest } from '../consent-page.js'
import type { DevicePageRequest } from '../device-page.js'
import { ME_PATH, SERVER_ERROR, errorLine, isEncrypted, logLine, missingHost, pageAnswer, writeAnswer, type Answer } from '../demo-http.js'
import { meAudience } from '../protected-resource.js'

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
  return { method: ctx.method, cookie: (name) => readCookie(ctx.headers.cookie, name), secure: isEncrypted(ctx.req), headers: ctx.headers, remoteAddress: ctx.req.socket.remoteAddress }
}

function devicePageRequest(ctx: Context): DevicePageRequest {
  return { ...pageRequest(ctx), query: ctx.querystring, body: nodeBodySource(ctx.req) }
}

/** The demo on Koa 3 with `@grantkit/adapter-koa`. */
export function koaListener(demo: DemoApp): RequestListener {
  const { server, consent, me, device, devicePath, mcp, log, logError, requestTimeout } = demo
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

  // RFC 9728 §3: the metadata of /mcp, at the well-known path the resource identifier gives.
  app.use(serveResourceMetadata(mcp.metadata))

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
  const guard = requireToken(server, { scope: 'profile', user: true, audience: meAudience(server.issuer), onError: logError, ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) })
  api.get(ME_PATH, guard, async (ctx) => write(ctx, await me.get(ctx.state['oauth'] as TokenState)))
  // Any other method: 405 with an RFC body (not the router's 501 for methods it does not know, e.g. TRACE).
  api.all(ME_PATH, (ctx) => write(ctx, me.other(ctx.method)))
  // RFC 8628 §3.3: the device verification page, every method (it answers 405 itself).
  api.all(devicePath, async (ctx) => write(ctx, await device(devicePageRequest(ctx))))
  // RFC 9728 §5.1, RFC 8707: a token whose audience is <issuer>/mcp; every 401 names the metadata. OPTIONS needs none.
  const mcpGuard = requireToken(server, { metadata: mcp.metadata, onError: logError, ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) })
  api.all(
    mcp.path,
    async (ctx, next) => (ctx.method === 'OPTIONS' ? write(ctx, mcp.other(ctx.method)) : mcpGuard(ctx, next)),
    async (ctx) => {
      if (ctx.method !== 'POST') return write(ctx, mcp.other(ctx.method))
      // The SDK's transport writes the response itself.
      ctx.respond = false
      try {
        await mcp.node(ctx.req, ctx.res, ctx.state['oauth'] as TokenState)
      } catch (error) {
        logError(error)
        if (!ctx.res.headersSent) writeAnswer(ctx.res, SERVER_ERROR)
      }
    },
  )
  app.use(api.routes())
  return app.callback()
}
