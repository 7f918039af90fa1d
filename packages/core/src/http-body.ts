import { OAuthError } from './errors.js'
import { getHeader, parseFormEncoded, refuseNul, type RequestHeaders } from './request.js'

/** The default request body limit: 64 KiB. */
export const DEFAULT_BODY_LIMIT = 64 * 1024

/**
 * How an adapter hands a request body to core, which decides what is
 * acceptable (media type, size, encoding):
 *
 * - `none`: the request has no body (a GET);
 * - `bytes`: read the raw body; `read(limit)` must reject with
 *   {@link bodyTooLarge} as soon as more than `limit` bytes arrived.
 *   Whether there is a body at all comes from the headers
 *   (`Content-Length` / `Transfer-Encoding`) unless the adapter knows
 *   better and says so in `present` (a Fetch `Request`: `body !== null`,
 *   which HTTP/2 and in-process requests have without either header);
 * - `text`: the raw body as text, already read (e.g. by Fastify's parser);
 * - `parsed`: what the app's own body parser made of it (a global
 *   `bodyParser()` mounted before the OAuth routes);
 * - `consumed`: the body stream was read by someone else and nothing of it
 *   is left: answered 400, never a hang.
 */
export type BodySource =
  | { readonly kind: 'none' }
  | { readonly kind: 'bytes'; read(limit: number): Promise<Uint8Array>; discard?(): void; readonly present?: boolean }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'parsed'; readonly value: unknown }
  | { readonly kind: 'consumed' }

/** The media types an endpoint reads. */
export type BodyFormat = 'form' | 'json' | 'none'

const MEDIA_TYPES: Record<Exclude<BodyFormat, 'none'>, string> = {
  form: 'application/x-www-form-urlencoded',
  json: 'application/json',
}

/** The 413 `invalid_request` of a body over the limit. */
export function bodyTooLarge(limit: number): OAuthError {
  return new OAuthError('invalid_request', `the request body exceeds ${limit} bytes`, { status: 413 })
}

/** Whether the headers announce a body (RFC 9112 §6.1: `Content-Length` or `Transfer-Encoding`). */
export function announcesBody(headers: RequestHeaders): boolean {
  const length = getHeader(headers, 'content-length')
  if (length !== undefined) return length.trim() !== '0'
  return getHeader(headers, 'transfer-encoding') !== undefined
}

function mediaType(headers: RequestHeaders): string | undefined {
  const header = getHeader(headers, 'content-type')
  return header === undefined ? undefined : (header.split(';', 1)[0] as string).trim().toLowerCase()
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new OAuthError('invalid_request', 'the request body is not valid UTF-8')
  }
}

/** What {@link readBody} returns: the form parameters, and the JSON value for a JSON endpoint. */
export interface ReadBody {
  readonly form: URLSearchParams
  readonly json?: unknown
}

/**
 * Reads a request body for an endpoint that accepts `format` (RFC 6749 §3.2
 * and Appendix B: `application/x-www-form-urlencoded`; RFC 7591 §3:
 * `application/json`), strictly: no body is an empty form; another media
 * type is `invalid_request` (400); more than `limit` bytes is
 * `invalid_request` with 413; malformed UTF-8 or percent-encoding is
 * `invalid_request`; a body another middleware already consumed is
 * `invalid_request` (400) naming the cause.
 */
export async function readBody(source: BodySource, headers: RequestHeaders, format: BodyFormat, limit: number): Promise<ReadBody> {
  if (source.kind === 'none' || format === 'none') return emptyBody()
  if (source.kind === 'bytes' && !(source.present ?? announcesBody(headers))) return emptyBody()
  const type = mediaType(headers)
  const expected = MEDIA_TYPES[format]
  if (source.kind === 'parsed') return fromParsed(source.value, type, format, expected)
  if (source.kind === 'text' && source.text === '' && type === undefined) return emptyBody()
  if (type !== expected) throw new OAuthError('invalid_request', `the request body must be ${expected}`)
  if (source.kind === 'consumed') throw alreadyConsumed()
  let text: string
  if (source.kind === 'text') {
    if (source.text.length > limit && new TextEncoder().encode(source.text).length > limit) throw bodyTooLarge(limit)
    text = source.text
  } else {
    const declared = getHeader(headers, 'content-length')
    if (declared !== undefined) {
      const n = Number(declared)
      if (!Number.isSafeInteger(n) || n < 0) throw new OAuthError('invalid_request', 'invalid Content-Length')
      if (n > limit) {
        source.discard?.()
        throw bodyTooLarge(limit)
      }
    }
    text = decodeUtf8(await source.read(limit))
  }
  return format === 'form' ? { form: parseFormEncoded(text) } : { form: new URLSearchParams(), json: parseJson(text) }
}

/** No body: an empty form (a new one each time: callers may add to it). */
function emptyBody(): ReadBody {
  return { form: new URLSearchParams() }
}

function alreadyConsumed(): OAuthError {
  return new OAuthError('invalid_request', 'the request body was already read by another middleware; mount the OAuth endpoints before any body parser')
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new OAuthError('invalid_request', 'the request body is not valid JSON')
  }
}

/**
 * A body the app's own parser already read. A form parsed into an object of
 * strings (or string arrays, for repeated parameters) is accepted as the
 * form; anything else (JSON parsed from a form endpoint's request, a
 * `multipart` upload) is `invalid_request`.
 */
function fromParsed(value: unknown, type: string | undefined, format: BodyFormat, expected: string): ReadBody {
  if (value === undefined || value === null) {
    if (type === undefined) return { form: new URLSearchParams() }
    throw alreadyConsumed()
  }
  if (typeof value === 'string') return fromText(value, type, format, expected)
  if (value instanceof Uint8Array) return fromText(decodeUtf8(value), type, format, expected)
  if (type !== expected) throw new OAuthError('invalid_request', `the request body must be ${expected}`)
  if (format === 'json') return { form: new URLSearchParams(), json: value }
  if (value instanceof URLSearchParams) return { form: value }
  if (typeof value !== 'object' || Array.isArray(value)) throw alreadyConsumed()
  const form = new URLSearchParams()
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    refuseNul(name)
    if (typeof v === 'string') form.append(name, (refuseNul(v), v))
    else if (Array.isArray(v) && v.every((item) => typeof item === 'string')) for (const item of v) form.append(name, (refuseNul(item), item))
    // A nested object means a parser with "extended" syntax rewrote the
    // parameters (a[b]=c): the original names are lost, so refuse it.
    else throw new OAuthError('invalid_request', 'the request body was parsed by another middleware into something other than form parameters')
  }
  return { form }
}

function fromText(text: string, type: string | undefined, format: BodyFormat, expected: string): ReadBody {
  if (text === '' && type === undefined) return { form: new URLSearchParams() }
  if (type !== expected) throw new OAuthError('invalid_request', `the request body must be ${expected}`)
  return format === 'form' ? { form: parseFormEncoded(text) } : { form: new URLSearchParams(), json: parseJson(text) }
}
