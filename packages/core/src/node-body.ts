import { OAuthError } from './errors.js'
import { bodyTooLarge, type BodySource } from './http-body.js'

/** The part of Node's `IncomingMessage` (a readable stream) the body reader uses. */
export interface NodeReadableRequest {
  readonly readableEnded?: boolean
  readonly readableFlowing?: boolean | null
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown
  on(event: 'end' | 'aborted', listener: () => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
  resume(): unknown
}

/**
 * The {@link BodySource} of a Node request stream (Koa, Express and Fastify
 * all sit on `http.IncomingMessage`): the stream while it is unread; once an
 * app body parser read it, `parsed` (what it left, e.g. `ctx.request.body`,
 * `req.body`) or, with nothing left, `consumed` — answered 400 instead of
 * waiting forever for data that will never come.
 */
export function nodeBodySource(req: NodeReadableRequest, options: { readonly parsed?: unknown } = {}): BodySource {
  // The stream itself when nobody read it — even when a body parser left a
  // value (a JSON-only parser sets `{}` on a form it skipped, without reading).
  if (req.readableEnded !== true) return { kind: 'bytes', read: (limit) => readNodeStream(req, limit), discard: () => void req.resume() }
  // Read by the app's own parser: what it made of the body, or nothing left.
  return options.parsed === undefined ? { kind: 'consumed' } : { kind: 'parsed', value: options.parsed }
}

function readNodeStream(req: NodeReadableRequest, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    let done = false
    const finish = (error: unknown, value?: Uint8Array) => {
      if (done) return
      done = true
      // The listeners stay: the request is thrown away after this, a late
      // 'error' must still find a listener, and removing four listeners per
      // request showed in the token endpoint's profile.
      if (error === undefined) resolve(value as Uint8Array)
      else {
        // Discard the rest so the response can still be written.
        req.resume()
        reject(error)
      }
    }
    req.on('data', (chunk) => {
      size += chunk.length
      if (size > limit) finish(bodyTooLarge(limit))
      else chunks.push(chunk)
    })
    req.on('end', () => finish(undefined, concat(chunks, size)))
    const onError = () => finish(new OAuthError('invalid_request', 'the request body could not be read'))
    req.on('error', onError)
    req.on('aborted', onError)
  })
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}
