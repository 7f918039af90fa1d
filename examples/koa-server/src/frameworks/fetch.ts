import type { RequestListener } from 'node:http'
import { oauthHandler, requireToken, serveResourceMetadata } from '@grantkit/adapter-fetch'
import { bodyTooLarge, type BodySource } from '@grantkit/core'
import type { DemoApp } from '../app.js'
import { decisionOf, isConsentPage, readCookie, type PageRequest } from '../consent-page.js'
import type { DevicePageRequest } from '../device-page.js'
import { logLine, missingHost, notFound, onAnswer, pageAnswer, requestPath, writeAnswer, type Answer } from '../demo-http.js'
import { meAudience } from '../protected-resource.js'
import { nodeListener, type ConnectionInfo, type FetchHandler } from './node-fetch.js'

function toResponse({ status, headers, body }: Answer): Response {
  return new Response(body, { status, headers: headers.map(([name, value]) => [name, value]) })
}

function pageRequest(request: Request, info: ConnectionInfo | undefined): PageRequest {
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => (headers[name] = value))
  return {
    method: request.method,
    cookie: (name) => readCookie(request.headers.get('cookie') ?? undefined, name),
    secure: new URL(request.url).protocol === 'https:',
    headers,
    remoteAddress: info?.remoteAddress,
  }
}

/** A `Request` body as core reads it: at most `limit` bytes, else `bodyTooLarge` (the rest is cancelled). */
function bodySource(request: Request): BodySource {
  const body = request.body
  if (body === null) return { kind: 'none' }
  const read = async (limit: number): Promise<Uint8Array> => {
    const chunks: Uint8Array[] = []
    let size = 0
    const reader = body.getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > limit) {
        await reader.cancel()
        throw bodyTooLarge(limit)
      }
      chunks.push(value)
    }
    return Buffer.concat(chunks)
  }
  return { kind: 'bytes', present: true, read, discard: () => void body.cancel().catch(() => {}) }
}

function devicePageRequest(request: Request, info: ConnectionInfo): DevicePageRequest {
  return { ...pageRequest(request, info), query: new URL(request.url).search.slice(1), body: bodySource(request) }
}

/** The demo as a Web-standard handler (`Request` → `Response`) with `@grantkit/adapter-fetch`. */
export function fetchApp(demo: DemoApp): FetchHandler {
  const { server, consent, me, device, mcp, route, logError, requestTimeout } = demo
  // The login session cookie of a decision, added to the adapter's redirect.
  const sessionCookies = new WeakMap<Request, string[]>()
  // The connection of a request, for the consent page (the client's address: the throttle of failed sign-ins).
  const connections = new WeakMap<Request, ConnectionInfo>()
  const oauth = oauthHandler(server, {
    async authorize(request, interaction) {
      const answer = await consent(pageRequest(request, connections.get(request)), interaction)
      // The adapter adds the page headers to the page.
      return isConsentPage(answer) ? toResponse(pageAnswer(answer)) : decisionOf(answer, (cookie) => sessionCookies.set(request, [...(sessionCookies.get(request) ?? []), cookie]))
    },
    onError: (error) => logError(error),
    ...(requestTimeout === undefined ? {} : { requestTimeout }),
  })
  // RFC 6750 §3.1: a token without `profile`, or without a user behind it, gets 403 insufficient_scope.
  const guard = requireToken(server, { scope: 'profile', user: true, audience: meAudience(server.issuer), onError: (error) => logError(error), ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) })
  // RFC 9728 §5.1, RFC 8707: a token whose audience is <issuer>/mcp; every 401 names the metadata.
  const mcpGuard = requireToken(server, { metadata: mcp.metadata, onError: (error) => logError(error), ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) })
  // RFC 9728 §3: the metadata of /mcp, at the well-known path the resource identifier gives.
  const resourceMetadata = serveResourceMetadata(mcp.metadata)
  return async (request, info) => {
    const metadataResponse = resourceMetadata(request)
    if (metadataResponse !== null) return metadataResponse
    switch (route(new URL(request.url).pathname)) {
      // 'unserved' (another case, a trailing slash): the handler answers it as a path it does not serve.
      case 'oauth':
      case 'unserved':
      {
        connections.set(request, info)
        const response = await oauth(request, info)
        for (const cookie of sessionCookies.get(request) ?? []) response.headers.append('set-cookie', cookie)
        return response
      }
      case 'me': {
        if (request.method !== 'GET' && request.method !== 'HEAD') return toResponse(me.other(request.method))
        const auth = await guard(request)
        return auth.ok ? toResponse(await me.get(auth.token)) : auth.response
      }
      case 'device':
        return toResponse(await device(devicePageRequest(request, info)))
      case 'mcp': {
        if (request.method === 'OPTIONS') return toResponse(mcp.other(request.method))
        const auth = await mcpGuard(request)
        if (!auth.ok) return auth.response
        return request.method === 'POST' ? mcp.fetch(request, auth.token) : toResponse(mcp.other(request.method))
      }
      case 'none':
        return toResponse(notFound(request.method))
    }
  }
}

/**
 * The demo on the Web Fetch API, served on Node's HTTP server through a
 * small bridge. The Host check (HTTP/1.1 framing, which a `Request` does
 * not carry) and the request log sit in front of the bridge.
 */
export function fetchListener(demo: DemoApp): RequestListener {
  const { log, logError } = demo
  const bridge = nodeListener(fetchApp(demo), logError)
  return (req, res) => {
    const refused = missingHost(req)
    if (refused !== undefined) return writeAnswer(res, refused)
    if (log !== undefined) {
      const started = performance.now()
      onAnswer(res, (status) => log(logLine(req.method ?? '', requestPath(req.url ?? '/'), status, started)))
    }
    bridge(req, res)
  }
}
