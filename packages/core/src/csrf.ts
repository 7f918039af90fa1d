import { createHmac } from 'node:crypto'
import { assertInteger, assertFunction, configError } from './config-error.js'
import type { RequestHeaders } from './request.js'
import { generateToken, timingSafeEqualString } from './secrets.js'
import type { ReplayStore } from './store.js'

/** A key of {@link createCsrfProtection}: at least 32 bytes (a string is read as UTF-8). */
export type CsrfSecret = string | Uint8Array

/** Options of {@link createCsrfProtection}. */
export interface CsrfOptions {
  /** The HMAC key (at least 32 random bytes). Give `secrets` instead to rotate. */
  secret?: CsrfSecret
  /**
   * Keys for rotation: the first signs new tokens, every one verifies, so
   * that forms rendered before a rotation still post. Drop the old key once
   * `maxAge` has passed.
   */
  secrets?: readonly CsrfSecret[]
  /**
   * The origin(s) the forms are served from and post to, usually the
   * issuer's (`server.issuer`); a URL is reduced to its origin. A POST
   * whose `Origin` is another is refused.
   */
  origin: string | readonly string[]
  /**
   * `true` (the default): the cookie is `__Host-`-prefixed and `Secure`,
   * which browsers only accept from HTTPS, for the whole host and from no
   * subdomain (RFC 6265bis §4.1.3.2). `false`, for plain-HTTP local
   * development only: no prefix, no `Secure`.
   */
  secureCookie?: boolean
  /** The cookie's name. Default `__Host-grantkit-csrf` (`grantkit-csrf` with `secureCookie: false`). */
  cookieName?: string
  /** How long a token is valid, in seconds. Default 3600. */
  maxAge?: number
  /**
   * Where {@link CsrfProtection.consume} records the tokens it accepts, so
   * that each is accepted once: the server store's replay capability
   * (`ReplayStore.markUsed`, the one that remembers JWT `jti` values),
   * which every process on one database shares. A record lives until its
   * token expires (`maxAge`). Without it `consume` cannot be used.
   */
  replay?: Pick<ReplayStore, 'markUsed'>
  /** Milliseconds since the epoch; inject one in tests. */
  clock?: () => number
}

/** A request as {@link CsrfProtection} reads it: only its headers (`Cookie`, `Origin`, `Sec-Fetch-Site`), so any adapter's request fits. */
export interface CsrfRequest {
  readonly headers: RequestHeaders
}

/** What {@link CsrfProtection.issue} returns. */
export interface CsrfIssued {
  /** Put it in the form (a hidden field) that posts back. */
  readonly token: string
  /** A `Set-Cookie` header value to send with the page, when the browser had no valid cookie yet. */
  readonly setCookie?: string
}

/**
 * Why {@link CsrfProtection.verify} refused:
 * - `cross_site`: `Sec-Fetch-Site` says another site sent it;
 * - `foreign_origin`: `Origin` is not one of `origin`;
 * - `missing_cookie`: no (single, well-formed) CSRF cookie;
 * - `missing_token`, `malformed_token`: no token, or not one of ours;
 * - `invalid_token`: forged, for another purpose or another browser's cookie, or signed with a retired key;
 * - `expired_token`: older than `maxAge`;
 * - `used_token`: accepted once already by {@link CsrfProtection.consume}.
 */
export type CsrfFailure = 'cross_site' | 'foreign_origin' | 'missing_cookie' | 'missing_token' | 'malformed_token' | 'invalid_token' | 'expired_token' | 'used_token'

/** The answer of {@link CsrfProtection.verify}. */
export type CsrfVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: CsrfFailure }

/** Issues and verifies the CSRF tokens of an app's forms; see {@link createCsrfProtection}. */
export interface CsrfProtection {
  /** The cookie's name. */
  readonly cookieName: string
  /**
   * A new token for a form of `purpose`, bound to this browser's cookie,
   * and the `Set-Cookie` to send when the browser has none yet. Every call
   * gives another token (each carries a random nonce), so a page rendered
   * again after a POST carries a fresh one.
   *
   * `purpose` names the form (`'login'`, `'device'`) and whatever the token
   * must be good for alone. For the consent form of an authorization
   * request, include the interaction's `actionUrl` (the authorization
   * parameters): `` `consent ${actionUrl}` ``, so that a token rendered for
   * one request is refused for any other.
   */
  issue(request: CsrfRequest, purpose: string): CsrfIssued
  /**
   * Checks a form's POST: sent by this site (`Sec-Fetch-Site`, `Origin`),
   * with a token issued for `purpose` to this browser's cookie, not
   * expired. Refuse the request (403) unless `ok`. Stateless: a token
   * passes as often as it is sent until it expires; use {@link consume}
   * to accept each once.
   */
  verify(request: CsrfRequest, token: string | null | undefined, purpose: string): CsrfVerdict
  /**
   * {@link verify}, then spends the token: the first POST with it is `ok`,
   * every later one (a replay, a second tab's copy, concurrent posts but
   * one) `used_token`. Needs the `replay` option; a failure of the store is
   * thrown (answer it as a server error, not as a CSRF refusal).
   */
  consume(request: CsrfRequest, token: string | null | undefined, purpose: string): Promise<CsrfVerdict>
}

/** A token that passed every check of {@link CsrfProtection.verify}. */
interface Good {
  readonly ok: true
  /** Its expiry, in seconds since the epoch. */
  readonly expires: number
  /** Its HMAC, which names it (it covers the nonce). */
  readonly signature: string
}

const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const TOKEN = /^v1\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/

function keyBytes(secret: unknown): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret instanceof Uint8Array ? Buffer.from(secret) : undefined
  if (bytes === undefined || bytes.length < 32) throw configError('createCsrfProtection: each secret must be a string or Uint8Array of at least 32 bytes')
  return bytes
}

function originOf(value: unknown): string {
  try {
    const origin = new URL(String(value)).origin
    if (origin !== 'null') return origin
  } catch {
    // fall through
  }
  throw configError('createCsrfProtection: "origin" must be an http(s) origin or URL, or a list of them')
}

/** The values of the cookie `name` in the `Cookie` header(s). */
function cookieValues(headers: RequestHeaders, name: string): string[] {
  const raw = headers['cookie']
  const lines = raw === undefined ? [] : typeof raw === 'string' ? [raw] : raw
  const values: string[] = []
  for (const line of lines) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=')
      if (eq !== -1 && pair.slice(0, eq).trim() === name) values.push(pair.slice(eq + 1).trim())
    }
  }
  return values
}

function single(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name]
  if (value === undefined || typeof value === 'string') return value
  // A repeated header is not trusted either way.
  return value.length === 1 ? value[0] : ''
}

/**
 * CSRF protection for the app's own forms — login, consent, device
 * verification — on any adapter. RFC 6749 §10.12: "The authorization server
 * MUST implement CSRF protection for its authorization endpoint and ensure
 * that a malicious client cannot obtain authorization without the awareness
 * and explicit consent of the resource owner" (see also RFC 6819 §4.4.1.8,
 * RFC 9700 §4.7). Two layers:
 *
 * 1. Where the POST comes from (OWASP CSRF Prevention Cheat Sheet, "Fetch
 *    Metadata" and "Verifying Origin With Standard Headers"): a
 *    `Sec-Fetch-Site` of `cross-site` is refused, `same-site` too unless
 *    its `Origin` is listed (a sibling subdomain may not be ours); an
 *    `Origin` that is not listed is refused. When a browser sends neither
 *    (older browsers), or sends `Origin: null` (what a page with
 *    `Referrer-Policy: no-referrer` — the authorization endpoint's pages —
 *    sends on its own form posts), the request is not refused for that:
 *    the token below still has to be right.
 * 2. A signed double-submit token: the browser holds a random value in an
 *    HttpOnly, SameSite=Lax, `__Host-` cookie; the form carries
 *    `v1.<expiry>.<nonce>.<HMAC-SHA256(key, purpose, cookie value, expiry, nonce)>`,
 *    compared in constant time. A site that cannot read our pages cannot
 *    compute it, a token is good for one purpose and one browser until it
 *    expires, and a cookie planted by a subdomain is refused by the browser
 *    (`__Host-`). The key stays on the server: a cookie value the browser
 *    brings is only ever signed together with the purpose and a time, so
 *    choosing it gains nothing. With the `replay` option, {@link CsrfProtection.consume}
 *    accepts each token once; every render issues a new one.
 *
 * `SameSite=Lax` rather than `Strict`: the login page is reached by a
 * cross-site redirect from the client, on which a `Strict` cookie is not
 * sent, so every visit would replace it and break forms open in other tabs;
 * `Lax` still keeps it off cross-site POSTs.
 *
 * @example
 * ```ts
 * const csrf = createCsrfProtection({ secrets: [process.env.CSRF_KEY!], origin: server.issuer })
 * const csrf = createCsrfProtection({ secret: process.env.CSRF_KEY!, origin: server.issuer, replay: store })
 * // rendering the consent form (`actionUrl` from the authorize hook: binds the token to this request):
 * const { token, setCookie } = csrf.issue(request, `consent ${actionUrl}`)
 * // on its POST: accepted once
 * if (!(await csrf.consume(request, form.get('csrf_token'), `consent ${actionUrl}`)).ok) return forbidden()
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.12
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html
 */
export function createCsrfProtection(options: CsrfOptions): CsrfProtection {
  if (typeof options !== 'object' || options === null) throw configError('createCsrfProtection: options are required')
  if ((options.secret === undefined) === (options.secrets === undefined)) throw configError('createCsrfProtection: give exactly one of "secret" and "secrets"')
  const list = options.secrets ?? [options.secret]
  if (!Array.isArray(list) || list.length === 0) throw configError('createCsrfProtection: "secrets" must be a non-empty array')
  const keys = list.map(keyBytes)
  const origins = new Set((typeof options.origin === 'string' ? [options.origin] : Array.isArray(options.origin) ? options.origin : [undefined]).map(originOf))
  const secure = options.secureCookie ?? true
  if (typeof secure !== 'boolean') throw configError('createCsrfProtection: "secureCookie" must be a boolean')
  const cookieName = options.cookieName ?? (secure ? '__Host-grantkit-csrf' : 'grantkit-csrf')
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName)) throw configError('createCsrfProtection: "cookieName" must be a cookie name token')
  if (secure && !cookieName.startsWith('__Host-')) throw configError('createCsrfProtection: "cookieName" must start with "__Host-" (or set secureCookie: false for plain-HTTP development)')
  // Browsers refuse these prefixes without Secure.
  if (!secure && /^__(host|secure)-/i.test(cookieName)) throw configError('createCsrfProtection: a "__Host-" or "__Secure-" cookie needs secureCookie: true')
  const maxAge = options.maxAge ?? 3600
  assertInteger(maxAge, 'createCsrfProtection: "maxAge"', 1, 7 * 24 * 3600)
  assertFunction(options.clock, 'createCsrfProtection: "clock"', true)
  const clock = options.clock ?? Date.now
  const replay = options.replay
  if (replay !== undefined && (typeof replay !== 'object' || replay === null || typeof replay.markUsed !== 'function')) {
    throw configError('createCsrfProtection: "replay" must be a store with markUsed(key, expiresAt, now)')
  }
  const cookieAttributes = `; Path=/${secure ? '; Secure' : ''}; HttpOnly; SameSite=Lax`

  const checkPurpose = (purpose: unknown): string => {
    if (typeof purpose !== 'string' || purpose === '' || purpose.includes('\u0000')) throw new TypeError('CsrfProtection: "purpose" must be a non-empty string without NUL')
    return purpose
  }
  const mac = (key: Buffer, purpose: string, value: string, expires: string, nonce: string) =>
    createHmac('sha256', key).update(`grantkit-csrf\u0000v1\u0000${purpose}\u0000${value}\u0000${expires}\u0000${nonce}`).digest('base64url')
  /** The browser's cookie value; undefined when absent, repeated or malformed. */
  const cookieOf = (request: CsrfRequest): string | undefined => {
    const values = cookieValues(request.headers, cookieName)
    return values.length === 1 && COOKIE_VALUE.test(values[0]!) ? values[0] : undefined
  }

  /** The verdict on a token; when it is good, also its expiry (seconds) and signature. */
  const check = (request: CsrfRequest, token: string | null | undefined, purpose: string): Good | { readonly ok: false; readonly reason: CsrfFailure } => {
    checkPurpose(purpose)
    const site = single(request.headers, 'sec-fetch-site')
    const origin = single(request.headers, 'origin')
    const listed = origin !== undefined && origins.has(origin)
    if (site !== undefined && site !== 'same-origin' && site !== 'none' && !(site === 'same-site' && listed)) return { ok: false, reason: 'cross_site' }
    if (origin !== undefined && origin !== 'null' && !listed) return { ok: false, reason: 'foreign_origin' }
    const value = cookieOf(request)
    if (value === undefined) return { ok: false, reason: 'missing_cookie' }
    if (typeof token !== 'string' || token === '') return { ok: false, reason: 'missing_token' }
    const parts = TOKEN.exec(token)
    if (parts === null) return { ok: false, reason: 'malformed_token' }
    const [, expires, nonce, given] = parts as unknown as [string, string, string, string]
    // Every key is tried, so the time taken does not tell which one matched.
    let valid = false
    for (const key of keys) valid = timingSafeEqualString(mac(key, purpose, value, expires, nonce), given) || valid
    if (!valid) return { ok: false, reason: 'invalid_token' }
    if (Number(expires) * 1000 <= clock()) return { ok: false, reason: 'expired_token' }
    return { ok: true, expires: Number(expires), signature: given }
  }

  return {
    cookieName,
    issue(request, purpose) {
      checkPurpose(purpose)
      const existing = cookieOf(request)
      const value = existing ?? generateToken(32)
      const expires = String(Math.floor(clock() / 1000) + maxAge)
      const nonce = generateToken(16)
      const token = `v1.${expires}.${nonce}.${mac(keys[0]!, purpose, value, expires, nonce)}`
      return existing === undefined ? { token, setCookie: `${cookieName}=${value}${cookieAttributes}` } : { token }
    },
    verify(request, token, purpose) {
      const verdict = check(request, token, purpose)
      return verdict.ok ? { ok: true } : { ok: false, reason: verdict.reason }
    },
    async consume(request, token, purpose) {
      if (replay === undefined) throw new TypeError('CsrfProtection.consume needs the "replay" option of createCsrfProtection')
      const verdict = check(request, token, purpose)
      if (!verdict.ok) return { ok: false, reason: verdict.reason }
      // Recorded until the token would expire anyway: after that it is refused as expired_token.
      const first = await replay.markUsed(`grantkit-csrf:${verdict.signature}`, new Date(verdict.expires * 1000), new Date(clock()))
      return first ? { ok: true } : { ok: false, reason: 'used_token' }
    },
  }
}
