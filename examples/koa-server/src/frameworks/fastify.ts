import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { oauthPlugin, requireToken, serveResourceMetadata } from '@grantkit/adapter-fastify'
import { createHttpHandler, nodeBodySource, type HttpOutcome } from '@grantkit/core'
import type { DemoApp, DemoListener } from '../app.js'
import { decisionOf, isConsentPage, readCookie, type PageRequest } from '../consent-page.js'
import type { DevicePageRequest } from '../device-page.js'
import { NOT_SERVED, SERVER_ERROR, isEncrypted, logLine, missingHost, onAnswer, notFound, pageAnswer, requestPath, requestQuery, writeAnswer, type Answer } from '../demo-http.js'
import { meAudience } from '../protected-resource.js'

/** Sends one of the demo's own answers; Fastify writes the Content-Length (none for no body to HEAD, and for 204). */
function send(reply: FastifyReply, { status, headers, body }: Answer): FastifyReply {
  reply.code(status)
  // Fastify keeps each `set-cookie` value apart.
  for (const [name, value] of headers) reply.header(name, value)
  // A Buffer, so that Fastify sends the content type as set.
  return body === null ? reply.send() : reply.send(Buffer.from(body, 'utf8'))
}

/** Core's answer as the demo writes its own. */
function outcomeAnswer(outcome: HttpOutcome): Answer {
  if (outcome.kind === 'handled') throw new TypeError('no hook ran')
  const body = outcome.kind === 'error_page' ? outcome.html : outcome.kind === 'json' || outcome.kind === 'html' ? outcome.body : null
  return { status: outcome.status, headers: Object.entries(outcome.headers), body }
}

function pageRequest(request: FastifyRequest): PageRequest {
  return { method: request.method, cookie: (name) => readCookie(request.headers.cookie, name), secure: isEncrypted(request.raw), headers: request.headers, remoteAddress: request.raw.socket.remoteAddress }
}

/** The demo's own routes parse no body (see the content-type parser below): the stream is still unread. */
function devicePageRequest(request: FastifyRequest): DevicePageRequest {
  return { ...pageRequest(request), query: requestQuery(request.url), body: nodeBodySource(request.raw) }
}

/** The demo on Fastify 5 with `@grantkit/adapter-fastify`, routed by the `http.Server` main.ts owns (`fastify.routing`). */
export function fastifyListener(demo: DemoApp): DemoListener {
  const { server, consent, me, device, mcp, route, log, logError, requestTimeout } = demo
  // Everything the plugin does not serve: /api/me and unknown paths, matched as the Koa app matches them.
  const guard = requireToken(server, { scope: 'profile', user: true, audience: meAudience(server.issuer), onError: (error) => logError(error), ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) })
  // RFC 9728 §5.1, RFC 8707: a token whose audience is <issuer>/mcp; every 401 names the metadata.
  const mcpGuard = requireToken(server, { metadata: mcp.metadata, onError: (error) => logError(error), ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) })
  // The plugin routes GET, HEAD, POST, OPTIONS, PUT, DELETE and PATCH; a request to one of its paths with
  // another method (TRACE, PROPFIND, …) reaches the fallback. Core answers it as on the other adapters
  // (405 with Allow), before reading a body or calling a hook. Not needed once the plugin routes every method.
  const otherMethods = createHttpHandler(server, { onError: (error) => logError(error) })
  const fallback = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    switch (route(requestPath(request.url))) {
      case 'me': {
        if (request.method !== 'GET' && request.method !== 'HEAD') return send(reply, me.other(request.method))
        // RFC 6750 §3.1: a token without `profile`, or without a user behind it, gets 403 insufficient_scope.
        await guard(request, reply)
        if (reply.sent || request.oauth === undefined) return reply
        return send(reply, await me.get(request.oauth))
      }
      case 'device':
        return send(reply, await device(devicePageRequest(request)))
      case 'mcp': {
        if (request.method === 'OPTIONS') return send(reply, mcp.other(request.method))
        await mcpGuard(request, reply)
        if (reply.sent || request.oauth === undefined) return reply
        if (request.method !== 'POST') return send(reply, mcp.other(request.method))
        // The SDK's transport writes the response itself; the body stream is still unread (no parser ran).
        reply.hijack()
        try {
          await mcp.node(request.raw, reply.raw, request.oauth)
        } catch (error) {
          logError(error)
          if (!reply.raw.headersSent) writeAnswer(reply.raw, SERVER_ERROR)
        }
        return reply
      }
      case 'oauth': {
        // The method is refused before the query or the body would be read.
        const outcome = await otherMethods.handle({ method: request.method, path: requestPath(request.url), query: '', url: request.url, headers: request.headers, body: { kind: 'none' } })
        return send(reply, outcomeAnswer(outcome))
      }
      case 'unserved':
        return send(reply, NOT_SERVED)
      case 'none':
        return send(reply, notFound(request.method))
    }
  }

  /** The Host check and the request log, before anything else (also for a target Fastify's router refuses). */
  const front = (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const refused = missingHost(request.raw)
    if (refused !== undefined) return send(reply, refused)
    if (log !== undefined) {
      const started = performance.now()
      onAnswer(reply.raw, (status) => log(logLine(request.method, requestPath(request.url), status, started)))
    }
    return undefined
  }

  const app = Fastify({
    // A target Fastify's router cannot decode (`/%ZZ`) is a path like any other: nothing serves it.
    frameworkErrors: (_error, request, reply) => void (front(request, reply) ?? fallback(request, reply)),
  })
  // The demo's own routes never read a body, so Fastify parses none (no 415 or 413 of its own); the plugin has its own parsers.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => done(null))
  app.addHook('onRequest', async (request, reply) => {
    const answered = front(request, reply)
    if (answered !== undefined) return answered
    // Fastify's router decodes the path (`/t%6Fken` is `/token`); the demo's routes take it as sent.
    const matched = request.routeOptions.url
    if (matched !== undefined && route(requestPath(request.url)) !== 'oauth' && route(matched) === 'oauth') return fallback(request, reply)
    return undefined
  })
  // RFC 9728 §3: the metadata of /mcp, at the well-known path the resource identifier gives.
  app.register(serveResourceMetadata(mcp.metadata))
  app.register(oauthPlugin, {
    server,
    async authorize(request, reply, interaction) {
      const answer = await consent(pageRequest(request), interaction)
      if (!isConsentPage(answer)) return decisionOf(answer, (cookie) => reply.header('set-cookie', cookie))
      // The page headers are already on `reply`.
      send(reply, pageAnswer(answer))
      return undefined
    },
    onError: (error) => logError(error),
    ...(requestTimeout === undefined ? {} : { requestTimeout }),
  })
  app.setNotFoundHandler(fallback)
  app.setErrorHandler((error, request, reply) => {
    // A Content-Type Fastify cannot parse is refused before any parser runs; the demo's routes ignore it.
    if ((error as { code?: unknown }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return fallback(request, reply)
    logError(error)
    return send(reply, SERVER_ERROR)
  })

  const ready = new Promise<void>((resolve, reject) => void app.ready((error) => (error ? reject(error) : resolve())))
  let booted = false
  ready.then(
    () => (booted = true),
    () => {},
  )
  const listener = (req: Parameters<DemoListener>[0], res: Parameters<DemoListener>[1]) => {
    if (booted) return app.routing(req, res)
    // A request that came while Fastify boots waits for it.
    ready.then(
      () => app.routing(req, res),
      () => {
        res.statusCode = 500
        res.end()
      },
    )
  }
  return Object.assign(listener, { ready })
}
