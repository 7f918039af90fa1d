import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'

/** A response read by {@link rawRequest} or {@link stalledRequest}. */
export interface RawResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

function send(
  url: string,
  init: { readonly method: string; readonly headers: Record<string, string>; readonly body?: Uint8Array | string; readonly end: boolean },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // A connection of its own: a stalled request must not hold a pooled socket.
    const req = httpRequest(url, { method: init.method, headers: init.headers, agent: false }, (res) => {
      const chunks: Uint8Array[] = []
      res.on('data', (chunk: Uint8Array) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: new TextDecoder().decode(concat(chunks)) })
        if (!init.end) req.destroy()
      })
    })
    req.on('error', reject)
    if (init.end) req.end(init.body)
    else {
      if (init.body !== undefined) req.write(init.body)
      req.flushHeaders()
    }
  })
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** Sends exactly these bytes (fetch cannot send a body that is not UTF-8 text). */
export function rawRequest(url: string, init: { readonly method: string; readonly headers: Record<string, string>; readonly body?: Uint8Array | string }): Promise<RawResponse> {
  return send(url, { ...init, end: true })
}

/**
 * Sends the headers and `sent` (the start of the body the headers
 * announce), then stalls: never sends the rest nor closes the request.
 * Resolves with what the server answers anyway.
 */
export function stalledRequest(url: string, init: { readonly headers: Record<string, string>; readonly sent: string }): Promise<RawResponse> {
  return send(url, { method: 'POST', headers: init.headers, body: init.sent, end: false })
}
