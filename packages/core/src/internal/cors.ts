import { configError } from '../config-error.js'

/** CORS for browser-based clients (token, revocation, introspection, metadata and JWKS endpoints). */
export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`, exact match), or `'*'` for any. */
  origins: readonly string[] | '*'
  /** `Access-Control-Max-Age` of preflight answers in seconds. Default 600. */
  maxAge?: number
}

const ALLOWED_HEADERS = 'Authorization, Content-Type, DPoP'
const EXPOSED_HEADERS = 'WWW-Authenticate, DPoP-Nonce'

/** Checks CORS options at setup. */
export function assertCorsOptions(cors: CorsOptions | undefined, where: string): void {
  if (cors === undefined) return
  if (typeof cors !== 'object' || cors === null) throw configError(`${where}: "cors" must be an object`)
  if (cors.origins !== '*') {
    if (!Array.isArray(cors.origins)) throw configError(`${where}: "cors.origins" must be an array of origins or "*"`)
    for (const origin of cors.origins) {
      let parsed: URL
      try {
        parsed = new URL(origin)
      } catch {
        throw configError(`${where}: "${String(origin)}" in "cors.origins" is not an origin`)
      }
      if (parsed.origin !== origin) throw configError(`${where}: "${origin}" in "cors.origins" is not an origin (scheme://host[:port], no path)`)
    }
  }
  if (cors.maxAge !== undefined && (!Number.isInteger(cors.maxAge) || cors.maxAge < 0)) {
    throw configError(`${where}: "cors.maxAge" must be a non-negative integer`)
  }
}

/**
 * The CORS response headers for a request from `origin` to an endpoint
 * answering `methods`; `preflight` adds what an `OPTIONS` preflight needs.
 */
export function corsHeaders(
  cors: CorsOptions | undefined,
  origin: string | undefined,
  methods: string,
  preflight: boolean,
  requestMethod: string | undefined,
): Record<string, string> {
  if (cors === undefined) return {}
  const headers: Record<string, string> = { vary: 'Origin' }
  const allowed = origin !== undefined && origin !== '' && (cors.origins === '*' || cors.origins.includes(origin))
  if (!allowed) return headers
  headers['access-control-allow-origin'] = cors.origins === '*' ? '*' : origin
  headers['access-control-expose-headers'] = EXPOSED_HEADERS
  if (preflight && requestMethod !== undefined && requestMethod !== '') {
    headers['access-control-allow-methods'] = methods
    headers['access-control-allow-headers'] = ALLOWED_HEADERS
    headers['access-control-max-age'] = String(cors.maxAge ?? 600)
  }
  return headers
}
