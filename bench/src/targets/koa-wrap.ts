import type { Context } from 'koa'

/** Writes a library's `{ status, headers, body }` response to Koa, JSON-encoding object bodies. */
export function sendLibraryResponse(ctx: Context, status: number, headers: Record<string, unknown>, body: unknown): void {
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' || typeof value === 'number') ctx.set(name, String(value))
  }
  ctx.status = status
  ctx.body = body
}
