import type { RequestListener } from 'node:http'
import express, { type NextFunction, type Request, type Response } from 'express'
import { oauthRouter, requireToken, serveResourceMetadata, type TokenState } from '@grantkit/adapter-express'
import { nodeBodySource } from '@grantkit/core'
import type { DemoApp } from '../app.js'
import { decisionOf, isConsentPage, readCookie, type PageRequest } from '../consent-page.js'
import type { DevicePageRequest } from '../device-page.js'
import { NOT_SERVED, SERVER_ERROR, notFound, isEncrypted, logLine, missingHost, onAnswer, pageAnswer, requestPath, requestQuery, writeAnswer } from '../demo-http.js'
import { meAudience } from '../protected-resource.js'

function pageRequest(req: Request): PageRequest {
  return { method: req.method, cookie: (name) => readCookie(req.headers.cookie, name), secure: isEncrypted(req), headers: req.headers, remoteAddress: req.socket.remoteAddress }
}

function devicePageRequest(req: Request): DevicePageRequest {
  return { ...pageRequest(req), query: requestQuery(req.originalUrl), body: nodeBodySource(req) }
}

/** The demo on Express 5 with `@grantkit/adapter-express`. */
export function expressListener(demo: DemoApp): RequestListener {
  const { server, consent, me, device, mcp, route, log, logError, requestTimeout } = demo
  const app = express()
  // Nothing of Express's own on the wire: no X-Powered-By, no ETag.
  app.disable('x-powered-by')
  app.disable('etag')

  app.use((req: Request, res: Response, next: NextFunction) => {
    const refused = missingHost(req)
    if (refused !== undefined) return writeAnswer(res, refused)
    next()
  })

  if (log !== undefined) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      const started = performance.now()
      onAnswer(res, (status) => log(logLine(req.method, requestPath(req.originalUrl), status, started)))
      next()
    })
  }

  // RFC 9728 §3: the metadata of /mcp, at the well-known path the resource identifier gives.
  app.use(serveResourceMetadata(mcp.metadata))

  // At the root, before any body parser (the adapter's README).
  app.use(
    oauthRouter(server, {
      async authorize(req, res, interaction) {
        const answer = await consent(pageRequest(req), interaction)
        if (!isConsentPage(answer)) return decisionOf(answer, (cookie) => res.append('Set-Cookie', cookie))
        // The page headers are already on `res`.
        writeAnswer(res, pageAnswer(answer))
        return undefined
      },
      onError: (error) => logError(error),
      ...(requestTimeout === undefined ? {} : { requestTimeout }),
    }),
  )

  // RFC 6750 §3.1: a token without `profile`, or without a user behind it, gets 403 insufficient_scope.
  const guard: (req: Request, res: Response, next: NextFunction) => void = requireToken(server, {
    scope: 'profile',
    user: true,
    audience: meAudience(server.issuer),
    onError: (error) => logError(error),
    ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }),
  }) as never
  // RFC 9728 §5.1, RFC 8707: a token whose audience is <issuer>/mcp; every 401 names the metadata.
  const mcpGuard: (req: Request, res: Response, next: NextFunction) => void = requireToken(server, {
    metadata: mcp.metadata,
    onError: (error) => logError(error),
    ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }),
  }) as never
  // Everything the adapter does not serve; nothing falls through to Express's own 404 page.
  app.use((req: Request, res: Response) => {
    switch (route(requestPath(req.originalUrl))) {
      case 'me':
        if (req.method !== 'GET' && req.method !== 'HEAD') return writeAnswer(res, me.other(req.method))
        return guard(req, res, () => {
          void me.get((res.locals as { oauth: TokenState }).oauth).then((answer) => writeAnswer(res, answer))
        })
      case 'device':
        return void device(devicePageRequest(req)).then((answer) => writeAnswer(res, answer))
      case 'mcp':
        if (req.method === 'OPTIONS') return writeAnswer(res, mcp.other(req.method))
        return mcpGuard(req, res, () => {
          if (req.method !== 'POST') return writeAnswer(res, mcp.other(req.method))
          mcp.node(req, res, (res.locals as { oauth: TokenState }).oauth).catch((error: unknown) => {
            logError(error)
            if (!res.headersSent) writeAnswer(res, SERVER_ERROR)
          })
        })
      case 'oauth':
      case 'unserved':
        return writeAnswer(res, NOT_SERVED)
      case 'none':
        return writeAnswer(res, notFound(req.method))
    }
  })
  return app
}
