import type { Request, Response } from 'express'
import { errorPage, type HttpOutcome } from '@grantkit/core'

/** The app's renderer of non-redirectable authorization errors (see `OAuthRouterOptions.renderError`). */
export type ErrorRenderer = (req: Request, res: Response, error: { readonly status: number; readonly error: string; readonly description: string }) => void | Promise<void>

/** Ends a response someone else already started, so that it does not hang. */
function finish(res: Response): void {
  if (!res.writableEnded) res.end()
}

/** Writes `body` with exactly the headers set, and its length. */
function send(res: Response, status: number, body: string): void {
  res.status(status)
  res.setHeader('content-length', Buffer.byteLength(body))
  res.end(body)
}

/**
 * Writes a core {@link HttpOutcome}: status, headers, body, exactly as core
 * decided. Headers go through Node's `setHeader` and the body through
 * `res.end`, not Express's `res.set`/`res.send`, which would rewrite the
 * media type (`mime.contentType` adds or normalises a charset), add an ETag
 * and may turn a GET into a 304. An error page goes through the app's
 * `renderError` when it has one, with the status and the page headers
 * already set; if the renderer throws, the default page is written instead.
 * Nothing is written for `handled` (the app's `authorize` hook answered).
 */
export async function writeOutcome(req: Request, res: Response, outcome: HttpOutcome, renderError: ErrorRenderer | undefined, report: (error: unknown) => void): Promise<void> {
  if (outcome.kind === 'handled') return
  if (res.headersSent) {
    // Someone answered already: an authorize hook that rendered a page and still returned a decision.
    report(new TypeError('the response was already sent: an authorize hook that answers the request itself must return undefined'))
    finish(res)
    return
  }
  for (const name in outcome.headers) res.setHeader(name, outcome.headers[name] as string)
  if (outcome.kind === 'error_page' && renderError !== undefined) {
    res.status(outcome.status)
    try {
      await renderError(req, res, { status: outcome.status, error: outcome.error, description: outcome.description })
      return
    } catch (error) {
      report(error)
      if (res.headersSent) return finish(res)
      // Fall through to the default page.
    }
  }
  if (outcome.kind === 'redirect' || outcome.kind === 'empty') {
    res.status(outcome.status)
    res.end()
    return
  }
  send(res, outcome.status, outcome.kind === 'error_page' ? outcome.html : (outcome as { readonly body: string }).body)
}

/**
 * Answers 500 `server_error` after an app's hook failed outside the
 * handler's reach (`res.render`'s callback calling `next(error)` after the
 * hook returned): the default error page, with the page headers the
 * response already carries; a response already started is only ended.
 */
export function writeServerErrorPage(res: Response): void {
  if (res.headersSent) return finish(res)
  res.setHeader('content-type', 'text/html; charset=utf-8')
  res.setHeader('cache-control', 'no-store')
  send(res, 500, errorPage('server_error', 'the server failed to process the request'))
}
