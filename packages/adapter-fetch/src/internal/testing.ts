import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// Test support only (Node): never imported by the package's entry point. The
// server, client and grants the tests run on are @grantkit/adapter-test-suite's
// fixtures; this is the Node host of a Fetch handler.

/** `IncomingMessage` → `Request`, as a Node host of a Fetch handler does; cancelling the body drains it so the response can still be written. */
export function toRequest(req: IncomingMessage): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v)
    else if (value !== undefined) headers.set(name, value)
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  let open = true
  const body = hasBody
    ? new ReadableStream<Uint8Array>({
        start(controller) {
          req.on('data', (chunk: Uint8Array) => {
            if (!open) return
            controller.enqueue(new Uint8Array(chunk))
            if ((controller.desiredSize ?? 1) <= 0) req.pause()
          })
          req.on('end', () => {
            if (open) controller.close()
            open = false
          })
          req.on('error', (error) => {
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
      })
    : null
  return new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, { method, headers, body, duplex: 'half' } as RequestInit)
}

/** Writes a `Response` to a Node `ServerResponse`. */
export async function writeResponse(response: Response, res: ServerResponse, method: string): Promise<void> {
  res.statusCode = response.status
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value)
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) res.setHeader('set-cookie', cookies)
  const body = method === 'HEAD' || response.body === null ? undefined : new Uint8Array(await response.arrayBuffer())
  res.end(body)
}

/** Serves a Fetch handler with `node:http` on an ephemeral port of 127.0.0.1. */
export async function serveFetch(handler: (request: Request, context: { remoteAddress?: string }) => Promise<Response>): Promise<{ url: string; close(): Promise<void> }> {
  const http = createServer((req, res) => {
    handler(toRequest(req), req.socket.remoteAddress === undefined ? {} : { remoteAddress: req.socket.remoteAddress })
      .then((response) => writeResponse(response, res, req.method ?? 'GET'))
      .catch(() => {
        res.statusCode = 500
        res.end()
      })
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, '127.0.0.1', resolve)
  })
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        http.closeAllConnections()
        http.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}
