import type { Request } from 'express'
import { nodeBodySource, type BodySource, type HttpRequest } from '@grantkit/core'

/**
 * The path and the raw query of the URL the client asked for. Taken from
 * `req.originalUrl`, never `req.path`/`req.url`: those are relative to where
 * a router is mounted, while core's paths are absolute under the issuer.
 * An absolute-form target (RFC 9112 §3.2.2, sent to proxies) is reduced to
 * its path; a fragment (which clients do not send) is dropped, as Express's
 * own `req.path` does.
 */
export function splitUrl(url: string): { readonly path: string; readonly query: string } {
  const hash = url.indexOf('#')
  const target = hash === -1 ? url : url.slice(0, hash)
  const mark = target.indexOf('?')
  let path = mark === -1 ? target : target.slice(0, mark)
  const query = mark === -1 ? '' : target.slice(mark + 1)
  if (!path.startsWith('/')) {
    try {
      path = new URL(path).pathname
    } catch {
      // `*` (OPTIONS) or garbage: no endpoint has this path, so it falls through.
    }
  }
  return { path, query }
}

/**
 * The body of an Express request. A body parser mounted before the router
 * (`express.urlencoded()`, `express.json()`) read the stream to its end and
 * left `req.body`: core gets that value and judges it (media type, nested
 * `extended` objects). While the stream is unread, it is the truth: core
 * reads it strictly, even when `req.body` holds a placeholder (body-parser
 * 1.x, under Express 4, sets `req.body = {}` before skipping a request of
 * another media type). A stream read by someone who left no `req.body` is
 * `consumed` (core answers 400 instead of waiting for data that never comes).
 */
export function bodyOf(req: Request): BodySource {
  return nodeBodySource(req, { parsed: (req as { body?: unknown }).body })
}

/**
 * An Express request as core's {@link HttpRequest}, or `undefined` when its
 * path is not one `serves` (the request goes on to the next middleware).
 */
export function toHttpRequest(req: Request, serves: (path: string) => boolean): HttpRequest | undefined {
  const url = req.originalUrl
  const { path, query } = splitUrl(url)
  if (!serves(path)) return undefined
  // req.ip: the socket's address, or the forwarded one under the app's `trust proxy` setting.
  return { method: req.method, path, query, url, headers: req.headers, body: bodyOf(req), remoteAddress: req.ip }
}
