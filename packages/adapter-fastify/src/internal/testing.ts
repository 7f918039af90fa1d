import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance } from 'fastify'

// The Fastify part of the tests' set-up; the server, client, grants and
// tokens they run on are @grantkit/adapter-test-suite's fixtures.

/** Starts a Fastify app on an ephemeral port of 127.0.0.1; `close` also ends idle keep-alive connections. */
export async function listen(app: FastifyInstance): Promise<{ url: string; close: () => Promise<void> }> {
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    url,
    close: async () => {
      app.server.closeAllConnections()
      await app.close()
    },
  }
}

/** A response read by {@link rawRequest}. */
export interface RawResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/**
 * Sends exactly these headers and body parts, on a connection of its own
 * (fetch cannot send a chunked body without `Transfer-Encoding` control, a
 * lying Content-Length or bytes that are not UTF-8). With `stall`, the
 * request is never finished: the server must answer anyway.
 */
export function rawRequest(
  url: string,
  init: { readonly method: string; readonly headers: Record<string, string>; readonly parts?: readonly (string | Uint8Array)[]; readonly stall?: boolean },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method, headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })
        req.destroy()
      })
    })
    req.on('error', reject)
    for (const part of init.parts ?? []) req.write(part)
    if (init.stall === true) req.flushHeaders()
    else req.end()
  })
}
