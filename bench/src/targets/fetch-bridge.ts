// The smallest node:http ↔ Fetch API bridge the fetch targets need: IncomingMessage → Request, Response →
// ServerResponse. Not a target itself. Both fetch targets (grantkit-fetch and fetch-floor) go through it, so
// its cost is in both and the ratio is the adapter's.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'

/**
 * A request body as a byte stream. The socket is paused once 16 chunks wait unread (backpressure); a reader
 * that cancels (a body over the adapter's limit) gets nothing more, and the rest is drained so that the
 * answer can still be written on the connection.
 */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let open = true
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        req.on('data', (chunk: Buffer) => {
          if (!open) return
          controller.enqueue(chunk)
          if ((controller.desiredSize ?? 0) <= 0) req.pause()
        })
        req.once('end', () => {
          if (open) controller.close()
          open = false
        })
        req.once('error', (error) => {
          if (open) controller.error(error)
          open = false
        })
      },
      pull() {
        req.resume()
      },
      cancel() {
        open = false
        req.resume()
      },
    },
    { highWaterMark: 16 },
  )
}

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers()
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string)
  // A request has a body when it announces one (RFC 9112 §6.3), whatever its method.
  const length = req.headers['content-length']
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  const init: RequestInit & { duplex?: 'half' } = { method: req.method ?? 'GET', headers }
  if (hasBody) {
    init.body = bodyStream(req)
    init.duplex = 'half'
  }
  const target = req.url ?? '/'
  // Origin-form (`/token?…`) under the Host; absolute-form (RFC 9112 §3.2.2) as it is.
  return new Request(target.startsWith('/') ? `http://${req.headers.host ?? '127.0.0.1'}${target}` : target, init)
}

async function write(response: Response, res: ServerResponse): Promise<void> {
  // Token-endpoint answers are small: read whole, written with one end() and a Content-Length.
  const body = response.body === null ? null : new Uint8Array(await response.arrayBuffer())
  const headers: string[] = []
  response.headers.forEach((value, name) => headers.push(name, value))
  // 204 and 304 carry no Content-Length (RFC 9110 §8.6); every other answer gets one, so the connection stays open.
  const bodiless = response.status === 204 || response.status === 304
  if (!bodiless && !response.headers.has('content-length')) headers.push('content-length', String(body?.byteLength ?? 0))
  res.writeHead(response.status, headers)
  res.end(body)
}

/**
 * A node:http listener serving a Fetch handler. A request no `Request` can be made of (a malformed Host,
 * the `*` of `OPTIONS *`) gets 400; a handler or body that fails ends the answer with 500 (the adapter under
 * test never rejects).
 */
export function fetchListener(handler: (request: Request) => Promise<Response>): RequestListener {
  return (req, res) => {
    let request: Request
    try {
      request = toRequest(req)
    } catch {
      res.writeHead(400, { 'content-length': '0' })
      res.end()
      return
    }
    handler(request)
      .then((response) => write(response, res))
      .catch((error: unknown) => {
        console.error(error)
        if (!res.headersSent) res.writeHead(500, { 'content-length': '0' })
        res.end()
      })
  }
}
