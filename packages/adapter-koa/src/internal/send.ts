import type { Context } from 'koa'
import type { OAuthResponse } from '@grantkit/core'

/** Writes an `OAuthResponse` (JSON body or empty) to a Koa context. */
export function sendResponse(ctx: Context, response: OAuthResponse): void {
  const headers = response.headers
  for (const name in headers) ctx.set(name, headers[name] as string)
  if (response.body === undefined) {
    // An explicit null keeps the status (Koa would otherwise send the status text).
    ctx.body = null
    ctx.status = response.status
    return
  }
  ctx.status = response.status
  if (ctx.response.get('content-type') === '') ctx.set('content-type', 'application/json;charset=UTF-8')
  ctx.body = JSON.stringify(response.body)
}
