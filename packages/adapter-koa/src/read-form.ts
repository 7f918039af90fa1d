import type { IncomingMessage } from 'node:http'
import { OAuthError, parseFormEncoded } from '@grantkit/core'

/** The default request body limit: 64 KiB. */
export const DEFAULT_BODY_LIMIT = 64 * 1024

const FORM_TYPE = 'application/x-www-form-urlencoded'

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  if (length !== undefined) return length.trim() !== '0'
  return req.headers['transfer-encoding'] !== undefined
}

function mediaType(req: IncomingMessage): string | undefined {
  const header = req.headers['content-type']
  if (header === undefined) return undefined
  return (header.split(';', 1)[0] as string).trim().toLowerCase()
}

function tooLarge(limit: number): OAuthError {
  return new OAuthError('invalid_request', `the request body exceeds ${limit} bytes`, { status: 413 })
}

function readRaw(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (error: unknown, value?: Buffer) => {
      if (done) return
      done = true
      // The listeners stay: the request is thrown away after this, a late
      // 'error' must still find a listener, and removing four listeners per
      // request showed in the token endpoint's profile.
      if (error === undefined) resolve(value as Buffer)
      else {
        // Discard the rest so the response can still be written.
        req.resume()
        reject(error)
      }
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) finish(tooLarge(limit))
      else chunks.push(chunk)
    }
    const onEnd = () => finish(undefined, Buffer.concat(chunks, size))
    const onError = () => finish(new OAuthError('invalid_request', 'the request body could not be read'))
    const onAborted = onError
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('aborted', onAborted)
  })
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 §3.2, Appendix
 * B) with a size limit. No body is an empty form; a body of another media
 * type is `invalid_request` (400); a body over `limit` bytes is
 * `invalid_request` with status 413; malformed percent-encoding or UTF-8 is
 * `invalid_request` (400).
 */
export async function readForm(req: IncomingMessage, limit: number): Promise<URLSearchParams> {
  if (!hasBody(req)) return new URLSearchParams()
  const type = mediaType(req)
  if (type !== FORM_TYPE) {
    throw new OAuthError('invalid_request', `the request body must be ${FORM_TYPE}`)
  }
  const declared = req.headers['content-length']
  if (declared !== undefined) {
    const n = Number(declared)
    if (!Number.isSafeInteger(n) || n < 0) throw new OAuthError('invalid_request', 'invalid Content-Length')
    if (n > limit) {
      req.resume()
      throw tooLarge(limit)
    }
  }
  const raw = await readRaw(req, limit)
  let text: string
  try {
    text = utf8.decode(raw)
  } catch {
    throw new OAuthError('invalid_request', 'the request body is not valid UTF-8')
  }
  return parseFormEncoded(text)
}

/** Parses the query string strictly (malformed percent-encoding is `invalid_request`). */
export function readQuery(querystring: string): URLSearchParams {
  return parseFormEncoded(querystring)
}
