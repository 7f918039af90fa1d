import { OAuthError, bodyTooLarge, isOAuthError, type BodySource, type HttpRequest, type RequestHeaders } from '@grantkit/core'

/** A Fetch `Request`'s headers as core reads them: lower-case names (Headers already joins repeated ones). */
export function headersOf(request: Request): RequestHeaders {
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => {
    headers[name] = value
  })
  return headers
}

/**
 * The {@link BodySource} of a Fetch `Request`: none without a body, `consumed`
 * when someone already read it (`bodyUsed`, or a reader holds it), else the
 * stream, read with the limit. `present` tells core there is a body even
 * without `Content-Length` (HTTP/2, a `Request` built in process).
 */
export function bodyOf(request: Request): BodySource {
  const body = request.body
  if (request.bodyUsed || body?.locked === true) return { kind: 'consumed' }
  if (body === null) return { kind: 'none' }
  return { kind: 'bytes', present: true, read: (limit) => readStream(body, limit) }
}

async function readStream(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > limit) {
        // Stop the transfer: nothing more of this body is wanted.
        reader.cancel().catch(() => {})
        throw bodyTooLarge(limit)
      }
      chunks.push(value)
    }
  } catch (error) {
    if (isOAuthError(error)) throw error
    throw new OAuthError('invalid_request', 'the request body could not be read')
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** The path and query of a request URL, as received. */
export function target(request: Request): { readonly path: string; readonly query: string; readonly url: string } {
  const href = request.url
  // A Request's URL is serialized (WHATWG URL): for http(s) the path starts at the
  // first "/" after the authority. Sliced here, not parsed again (a URL per request
  // showed in the token endpoint's profile); anything else goes through URL.
  if (href.startsWith('http://') || href.startsWith('https://')) {
    const pathStart = href.indexOf('/', href.indexOf('//') + 2)
    if (pathStart !== -1) {
      const hash = href.indexOf('#', pathStart)
      const end = hash === -1 ? href.length : hash
      const mark = href.indexOf('?', pathStart)
      if (mark === -1 || mark > end) {
        const path = href.slice(pathStart, end)
        return { path, query: '', url: path }
      }
      const path = href.slice(pathStart, mark)
      const query = href.slice(mark + 1, end)
      return { path, query, url: query === '' ? path : `${path}?${query}` }
    }
  }
  const url = new URL(href)
  return { path: url.pathname, query: url.search.slice(1), url: url.pathname + url.search }
}

/** A Fetch `Request` as core's {@link HttpRequest}. */
export function toHttpRequest(request: Request, remoteAddress?: string): HttpRequest {
  return { method: request.method, ...target(request), headers: headersOf(request), body: bodyOf(request), ...(remoteAddress === undefined ? {} : { remoteAddress }) }
}
