import type { RawRequest } from './raw-http.js'

/** A small seeded PRNG (mulberry32): the same seed gives the same requests. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(list: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  return { next, int, pick: (list) => list[int(list.length)] as (typeof list)[number], chance: (p) => next() < p }
}

type Rng = ReturnType<typeof prng>

/** What the generator knows about the server under test. */
export interface Target {
  /** Registered client ids (confidential ones cost a slow hash per wrong secret: used sparingly). */
  readonly clientIds: readonly string[]
  readonly redirectUri: string
  /** A valid authorization query for the consent form, and a CSRF cookie/field pair from a real GET. */
  readonly consentQuery: string
  readonly csrfCookie: string
  readonly csrfField: string
}

/** Where a generated request goes, so that the response can be judged. */
export type EndpointKind = 'metadata' | 'authorize' | 'token' | 'revoke' | 'introspect' | 'me' | 'unknown'

export interface BadRequest {
  readonly kind: EndpointKind
  readonly request: RawRequest
  /** Send only this many bytes, then half-close (a truncated request). */
  readonly truncate?: number | undefined
  /** A one-line description for failure messages. */
  readonly label: string
}

const PATHS: Record<Exclude<EndpointKind, 'unknown'>, string> = {
  metadata: '/.well-known/oauth-authorization-server',
  authorize: '/authorize',
  token: '/token',
  revoke: '/revoke',
  introspect: '/introspect',
  me: '/api/me',
}

const UNKNOWN_PATHS = ['/', '/favicon.ico', '/token/extra', '/authorize/x', '/api', '/api/me/x', '/.well-known/', '/.well-known/openid-configuration', '/%2e%2e/etc/passwd', '/..%2f..%2f', '//evil.example', '/%ZZ', '/%00', '/' + 'a'.repeat(4000), '/\u00e9', '/token%20', '/revoke;x']

const METHODS = ['GET', 'GET', 'POST', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']
const BAD_METHODS = ['BREW', 'post', 'G\u0000ET', 'GET GET', '']

const PARAM_NAMES = [
  'grant_type', 'client_id', 'client_secret', 'code', 'redirect_uri', 'code_verifier', 'refresh_token', 'username', 'password', 'scope',
  'token', 'token_type_hint', 'assertion', 'response_type', 'state', 'code_challenge', 'code_challenge_method', 'csrf_token', 'decision',
  'nonce', 'response_mode', 'client_assertion', 'client_assertion_type', '', '\u0000', 'a'.repeat(300), 'grant_type[]', '__proto__', 'constructor',
]

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'password', 'client_credentials', 'implicit', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:device_code', 'AUTHORIZATION_CODE', 'client_credentials ', 'x']

const CONTENT_TYPES = [
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=UTF-8', 'Application/X-WWW-Form-URLEncoded',
  'application/x-www-form-urlencoded;;;', 'application/x-www-form-urlencoded; charset=latin1', 'application/json', 'text/plain', 'multipart/form-data; boundary=x',
  'multipart/form-data', '', ';', 'application/x-www-form-urlencodedx', '*/*', 'application/x-www-form-urlencoded\u0000',
]

/** Percent-encoded or raw values chosen to break parsers. */
function nastyValue(rng: Rng, target: Target): string {
  switch (rng.int(22)) {
    case 0: return ''
    case 1: return '%'
    case 2: return '%G1'
    case 3: return '%E2%82' // truncated UTF-8
    case 4: return '%C0%AF' // overlong
    case 5: return '%ED%A0%80' // lone surrogate
    case 6: return '%FF%FE'
    case 7: return '%0D%0ASet-Cookie:%20x=1'
    case 8: return '%00'
    case 9: return 'a'.repeat(1 + rng.int(20_000))
    case 10: return '%E2%9C%93' + encodeURIComponent('\u{1D11E}ü')
    case 11: return '+'.repeat(1 + rng.int(50))
    case 12: return '=&=&&=='
    case 13: return encodeURIComponent(target.redirectUri) + '%2F..%2Fevil'
    case 14: return rng.pick(target.clientIds)
    case 15: return rng.pick(GRANT_TYPES)
    case 16: return encodeURIComponent(target.redirectUri)
    case 17: return 'x'.repeat(43)
    case 18: return '%25' + '%41'.repeat(rng.int(100))
    case 19: return encodeURIComponent("<script>alert('x')</script>")
    case 20: return 'S256'
    default: return String(rng.int(1e9))
  }
}

/** A form/query string with random, repeated, empty and malformed parameters. */
function nastyForm(rng: Rng, target: Target): string {
  const parts: string[] = []
  const n = rng.int(8)
  for (let i = 0; i < n; i++) {
    const name = encodeURIComponent(rng.pick(PARAM_NAMES))
    const raw = rng.chance(0.05) ? rng.pick(['%', '%zz', '%E2%28', '%00']) : name
    if (rng.chance(0.1)) parts.push(raw)
    else parts.push(`${raw}=${nastyValue(rng, target)}`)
    // Repeated parameter, same name, maybe empty.
    if (rng.chance(0.15)) parts.push(`${raw}=${rng.chance(0.5) ? '' : nastyValue(rng, target)}`)
  }
  if (rng.chance(0.1)) parts.push('&&&')
  return parts.join('&')
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64')
}

function authorizationHeader(rng: Rng, target: Target): string | undefined {
  switch (rng.int(16)) {
    case 0: return 'Basic '
    case 1: return 'Basic !!!not-base64!!!'
    case 2: return 'Basic ' + b64('no-colon')
    case 3: return 'Basic ' + b64(':')
    case 4: return 'Basic ' + b64('%zz:%E2%28')
    case 5: return 'Basic ' + b64('unknown-client:' + 'x'.repeat(rng.int(5000)))
    // A registered client with a wrong secret costs a real hash check: rare.
    case 6: return rng.chance(0.15) ? 'Basic ' + b64(`${rng.pick(target.clientIds)}:wrong`) : 'Basic ' + b64('nobody:wrong')
    case 7: return 'Basic ' + 'A'.repeat(rng.int(8000))
    case 8: return 'basic ' + b64('a:b') + ' trailing'
    case 9: return 'Bearer ' + 'x'.repeat(rng.int(100))
    case 10: return 'Bearer'
    case 11: return 'Bearer \u0001\u007f'
    case 12: return 'Bearer a b c'
    case 13: return 'Digest username="x"'
    case 14: return '\u00ff\u00fe'
    default: return undefined
  }
}

function cookieHeader(rng: Rng, target: Target): string | undefined {
  switch (rng.int(9)) {
    case 0: return 'grantkit_csrf=' + 'A'.repeat(43)
    case 1: return 'grantkit_csrf=%'
    case 2: return 'grantkit_csrf=' + 'x'.repeat(rng.int(6000))
    case 3: return 'grantkit_csrf=;grantkit_csrf=;;;='
    case 4: return target.csrfCookie
    case 5: return 'a=b; ' + target.csrfCookie + '; grantkit_csrf=' + 'B'.repeat(43)
    case 6: return '\u00e9=\u00e9'
    default: return undefined
  }
}

/** A header value carrying bytes a valid request never has: a raw CRLF (header injection) or NUL. */
function poisoned(rng: Rng, value: string): string {
  return rng.pick([`${value}\r\nX-Injected: 1`, `${value}\u0000`, `${value}\r\n\r\nGET / HTTP/1.1`, `${value}\n`, `\u0000${value}`])
}

/**
 * Generates one malformed (or merely odd) request for one of the demo
 * server's endpoints: wrong methods and content types, truncated and
 * oversized bodies, invalid percent-encoding and UTF-8, repeated and empty
 * parameters, huge values, CRLF and NUL in every field, bogus Basic headers,
 * bogus cookies and CSRF fields.
 */
export function badRequest(rng: Rng, target: Target): BadRequest {
  const kind: EndpointKind = rng.pick(['metadata', 'authorize', 'authorize', 'token', 'token', 'token', 'revoke', 'introspect', 'me', 'unknown'] as const)
  let method = rng.chance(0.03) ? rng.pick(BAD_METHODS) : rng.pick(METHODS)
  if (kind === 'metadata' && rng.chance(0.5)) method = 'GET'
  let path = kind === 'unknown' ? rng.pick(UNKNOWN_PATHS) : PATHS[kind]
  let query = ''
  if (kind === 'authorize') {
    query = rng.chance(0.4) ? target.consentQuery : nastyForm(rng, target)
    if (rng.chance(0.3)) query += '&' + nastyForm(rng, target)
  } else if (rng.chance(0.2)) {
    query = nastyForm(rng, target)
  }
  if (rng.chance(0.02)) query += rng.pick(['\r\n', ' HTTP/1.1', '\u0000', '#frag', '\u00e9'])
  if (rng.chance(0.02)) path = path.toUpperCase()
  const headers: [string, string][] = []
  const label: string[] = [method, kind]

  let body: Buffer | undefined
  const bodyMethod = method === 'POST' || method === 'PUT' || method === 'PATCH' || rng.chance(0.05)
  if (bodyMethod && rng.chance(0.9)) {
    let text: string
    if (kind === 'authorize' && rng.chance(0.6)) {
      // The consent form, with bogus or real CSRF field and decision.
      const csrf = rng.pick([target.csrfField, '', 'A'.repeat(43), target.csrfField + 'x', '%', nastyValue(rng, target)])
      text = `csrf_token=${csrf}&username=${nastyValue(rng, target)}&password=${rng.chance(0.5) ? 'x' : nastyValue(rng, target)}&decision=${rng.pick(['approve', 'deny', '', 'maybe', '%00'])}`
      if (rng.chance(0.3)) text += '&' + nastyForm(rng, target)
    } else {
      text = rng.chance(0.5) ? `grant_type=${rng.pick(GRANT_TYPES)}&${nastyForm(rng, target)}` : nastyForm(rng, target)
    }
    body = Buffer.from(text, 'utf8')
    const bytes = rng.int(10)
    if (bytes === 0) body = Buffer.concat([body, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00, 0x0d, 0x0a])]) // invalid UTF-8, raw NUL and CRLF
    else if (bytes === 1) body = Buffer.concat([body, Buffer.from('&x=' + 'a'.repeat(60_000 + rng.int(20_000)))]) // around and over the 64 KiB limit
    else if (bytes === 2) body = Buffer.from(JSON.stringify({ grant_type: 'client_credentials', client_id: rng.pick(target.clientIds) }))
    const type = rng.pick(CONTENT_TYPES)
    if (type !== '' || rng.chance(0.5)) headers.push(['Content-Type', type])
    label.push(`type=${JSON.stringify(type)}`, `body=${body.length}B`)
  }

  // Content-Length: honest, lying, bogus or missing (chunked).
  let truncate: number | undefined
  if (body !== undefined) {
    const framing = rng.int(20)
    if (framing === 0 && body.length > 0) {
      headers.push(['Transfer-Encoding', 'chunked'])
      body = Buffer.concat([Buffer.from(body.length.toString(16) + '\r\n'), body, Buffer.from('\r\n0\r\n\r\n')])
      label.push('chunked')
    } else if (framing === 1) {
      headers.push(['Transfer-Encoding', 'chunked'])
      body = Buffer.from('zz\r\nbogus\r\n')
      label.push('bad-chunks')
    } else if (framing === 2) {
      headers.push(['Content-Length', String(body.length + 100)])
      label.push('truncated-body')
      truncate = Number.MAX_SAFE_INTEGER
    } else if (framing === 3) {
      headers.push(['Content-Length', rng.pick(['-1', 'abc', '1e3', ' ', '99999999999999999999'])])
      label.push('bogus-length')
    } else if (framing === 4) {
      headers.push(['Content-Length', String(body.length)], ['Content-Length', String(body.length + 1)])
      label.push('two-lengths')
    } else if (framing === 5) {
      headers.push(['Content-Length', String(body.length)], ['Transfer-Encoding', 'chunked'])
      label.push('length-and-chunked')
    } else {
      headers.push(['Content-Length', String(body.length)])
    }
  } else if (rng.chance(0.05)) {
    headers.push(['Content-Length', '0'])
  }

  const auth = authorizationHeader(rng, target)
  if (auth !== undefined && (kind === 'token' || kind === 'revoke' || kind === 'introspect' || kind === 'me' || rng.chance(0.2))) headers.push(['Authorization', auth])
  if (kind === 'authorize' || rng.chance(0.1)) {
    const cookie = cookieHeader(rng, target)
    if (cookie !== undefined) headers.push(['Cookie', cookie])
  }
  if (rng.chance(0.1)) headers.push(['Origin', rng.pick(['https://evil.example', 'null', '', 'http://127.0.0.1:9'])])
  if (rng.chance(0.03)) headers.push(['X-Huge', 'h'.repeat(20_000)]) // over Node's header limit: 431
  if (rng.chance(0.03)) headers.push(['Connection', rng.pick(['close', 'keep-alive', 'upgrade'])])

  // CRLF / NUL in a header field (fetch refuses to send these).
  if (rng.chance(0.04) && headers.length > 0) {
    const i = rng.int(headers.length)
    const [name, value] = headers[i] as [string, string]
    headers[i] = rng.chance(0.8) ? [name, poisoned(rng, value)] : [poisoned(rng, name), value]
    label.push(`poisoned:${name}`)
  }
  const target_ = query === '' ? path : `${path}?${query}`
  const request: RawRequest = { method, target: target_, headers, body, noHost: rng.chance(0.01) }
  const truncateAt = truncate === undefined ? undefined : Math.max(1, rng.int(Buffer.byteLength(target_) + 40 + (body?.length ?? 0)))
  return { kind, request, truncate: truncateAt, label: label.join(' ') + ` ${target_.slice(0, 80)}` }
}
