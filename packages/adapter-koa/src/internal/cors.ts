import type { Context } from 'koa'
import type { CorsOptions } from '../oauth-router.js'

const ALLOWED_HEADERS = 'Authorization, Content-Type, DPoP'
const EXPOSED_HEADERS = 'WWW-Authenticate, DPoP-Nonce'

/** Checks CORS options at setup. */
export function assertCorsOptions(cors: CorsOptions | undefined): void {
  if (cors === undefined) return
  if (typeof cors !== 'object' || cors === null) throw new TypeError('oauthRouter: "cors" must be an object')
  if (cors.origins !== '*') {
    if (!Array.isArray(cors.origins)) throw new TypeError('oauthRouter: "cors.origins" must be an array of origins or "*"')
    for (const origin of cors.origins) {
      let parsed: URL
      try {
        parsed = new URL(origin)
      } catch {
        throw new TypeError(`oauthRouter: "${String(origin)}" in "cors.origins" is not an origin`)
      }
      if (parsed.origin !== origin) throw new TypeError(`oauthRouter: "${origin}" in "cors.origins" is not an origin (scheme://host[:port], no path)`)
    }
  }
  if (cors.maxAge !== undefined && (!Number.isInteger(cors.maxAge) || cors.maxAge < 0)) {
    throw new TypeError('oauthRouter: "cors.maxAge" must be a non-negative integer')
  }
}

/**
 * Adds CORS response headers when the request's `Origin` is allowed, and
 * answers a preflight. Returns `true` when the request was a preflight and
 * has been answered.
 */
export function applyCors(ctx: Context, cors: CorsOptions | undefined, methods: string): boolean {
  const origin = ctx.get('origin')
  const allowed = cors !== undefined && origin !== '' && (cors.origins === '*' || cors.origins.includes(origin))
  if (cors !== undefined) ctx.vary('Origin')
  if (allowed) {
    ctx.set('Access-Control-Allow-Origin', cors.origins === '*' ? '*' : origin)
    ctx.set('Access-Control-Expose-Headers', EXPOSED_HEADERS)
  }
  if (ctx.method !== 'OPTIONS') return false
  ctx.set('Allow', `${methods}, OPTIONS`)
  if (allowed && ctx.get('access-control-request-method') !== '') {
    ctx.set('Access-Control-Allow-Methods', methods)
    ctx.set('Access-Control-Allow-Headers', ALLOWED_HEADERS)
    ctx.set('Access-Control-Max-Age', String(cors.maxAge ?? 600))
  }
  ctx.status = 204
  ctx.body = null
  return true
}
