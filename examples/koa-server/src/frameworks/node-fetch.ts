import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { SERVER_ERROR, contentLength, isBodyless, isEncrypted, jsonAnswer, notFound, requestPath, writeAnswer, type Answer } from '../demo-http.js'

/** What a `Request` does not carry about its connection (as Deno's and Bun's `serve` pass it beside the request). */
export interface ConnectionInfo {
  /** The client's IP address. */
  readonly remoteAddress: string | undefined
}

/** A Web-standard handler: `Request` in, `Response` out. */
export type FetchHandler = (request: Request, info: ConnectionInfo) => Promise<Response>

/** Methods Node's server accepts and the Fetch standard refuses to put in a `Request` (CONNECT never reaches a request listener). */
const FORBIDDEN_METHODS = new Set(['TRACE', 'TRACK'])

/** RFC 9112 §6.1: a request has a body when Content-Length (not 0) or Transfer-Encoding says so; core's rule for a Node stream. */
function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  if (length !== undefined) return length.trim() !== '0'
  return req.headers['transfer-encoding'] !== undefined
}

/**
 * The request body as a Web stream, read from Node's stream only when the
 * handler reads it. Cancelling it (a body over the handler's limit) drains
 * the rest instead of destroying the request, which would cut the
 * connection before the 413 is written.
 */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let listening = false
  let done = false
  let wake: (() => void) | undefined
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (!listening) {
          listening = true
          req.on('data', (chunk: Buffer) => {
            if (done) return
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
            req.pause()
            wake?.()
          })
          req.on('end', () => {
            if (done) return
            done = true
            controller.close()
            wake?.()
          })
          const failed = () => {
            if (done) return
            done = true
            controller.error(new Error('the request body could not be read'))
            wake?.()
          }
          req.on('error', failed)
          req.on('aborted', failed)
        }
        return new Promise<void>((resolve) => {
          wake = resolve
          req.resume()
        })
      },
      cancel() {
        done = true
        req.resume()
      },
    },
    // Nothing is read before the handler asks.
    { highWaterMark: 0 },
  )
}

/**
 * The URL of the `Request`: the target's path and query as sent, under
 * this server's origin. `undefined` when the Fetch API would not keep the
 * path as sent (dot segments, backslashes, characters it percent-encodes):
 * no route of the demo has such a path.
 */
function requestUrl(req: IncomingMessage): string | undefined {
  const target = req.url ?? '/'
  const origin = isEncrypted(req) ? 'https://localhost' : 'http://localhost'
  let url: URL
  try {
    url = target.startsWith('/') ? new URL(origin + target) : new URL(target)
  } catch {
    return undefined
  }
  if (url.pathname !== requestPath(target)) return undefined
  // An absolute-form target (RFC 9112 §3.2.2) names another origin: keep only its path and query.
  return origin + url.pathname + url.search
}

/** A Node request as a Fetch `Request`, or an answer when it cannot be one. */
function toRequest(req: IncomingMessage): Request | Answer {
  const url = requestUrl(req)
  if (url === undefined) return notFound(req.method)
  const method = req.method ?? 'GET'
  const forbidden = FORBIDDEN_METHODS.has(method)
  let request: Request
  try {
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers.append(name, value)
      else if (value !== undefined) for (const item of value) headers.append(name, item)
    }
    const body = forbidden || method === 'GET' || method === 'HEAD' || !announcesBody(req) ? null : bodyStream(req)
    request = new Request(url, { method: forbidden ? 'GET' : method, headers, body, duplex: 'half' } as RequestInit)
  } catch {
    // Header bytes Node's parser let through and the Fetch API refuses.
    return jsonAnswer(400, { error: 'invalid_request', error_description: 'the HTTP request is malformed' }, [['cache-control', 'no-store']])
  }
  // The handler still sees the method as sent, and answers it as the other frameworks do (405 with Allow).
  if (forbidden) Object.defineProperty(request, 'method', { value: method })
  return request
}

/**
 * Writes a `Response`: status, headers (each `Set-Cookie` on its own) and
 * the body with its Content-Length, as Koa writes its answers. The body is
 * read whole first; the demo's answers are small pages and JSON documents.
 */
async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value)
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) res.setHeader('set-cookie', cookies)
  if (response.body === null || isBodyless(response.status)) {
    await response.body?.cancel()
    const length = contentLength(res.req.method, response.status, null)
    if (length !== undefined) res.setHeader('content-length', length)
    res.end()
    return
  }
  const body = new Uint8Array(await response.arrayBuffer())
  res.setHeader('content-length', contentLength(res.req.method, response.status, body) as number)
  res.end(body)
}

/**
 * A small node:http ↔ Fetch bridge: serves `handler` as a Node request
 * listener. The request's body is streamed to the handler (and never read
 * unless it asks); the response is written as {@link writeResponse} says.
 * A handler that rejects, which the demo's does not, gets 500 `server_error`.
 */
export function nodeListener(handler: FetchHandler, onError: (error: unknown) => void): RequestListener {
  return (req, res) => {
    const serve = async () => {
      const request = toRequest(req)
      if (!(request instanceof Request)) return writeAnswer(res, request)
      await writeResponse(res, await handler(request, { remoteAddress: req.socket.remoteAddress }))
    }
    serve().catch((error: unknown) => {
      onError(error)
      if (!res.headersSent) writeAnswer(res, SERVER_ERROR)
      else res.destroy()
    })
  }
}
