import type { Context } from 'koa'
import type { HttpOutcome } from '@grantkit/core'
import type { RenderErrorHook } from '../oauth-router.js'

/**
 * Writes a core {@link HttpOutcome} to a Koa context: status, headers, body.
 * An error page goes through the app's `renderError` when it has one.
 */
export async function writeOutcome(ctx: Context, outcome: HttpOutcome, renderError: RenderErrorHook | undefined, report: (error: unknown) => void): Promise<void> {
  if (outcome.kind === 'handled') return
  for (const name in outcome.headers) ctx.set(name, outcome.headers[name] as string)
  if (outcome.kind === 'error_page' && renderError !== undefined) {
    try {
      await renderError(ctx, { status: outcome.status, error: outcome.error, description: outcome.description })
      return
    } catch (error) {
      report(error)
      // Fall through to the default page.
    }
  }
  if (outcome.kind === 'redirect' || outcome.kind === 'empty') {
    // Body first: Koa turns a null body into 204 unless the status is set after it.
    ctx.body = null
    ctx.status = outcome.status
    return
  }
  ctx.status = outcome.status
  ctx.body = outcome.kind === 'error_page' ? outcome.html : (outcome as { body: string }).body
}
