import { lookup as dnsLookup } from 'node:dns/promises'
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import https from 'node:https'
import { isIP, type LookupFunction } from 'node:net'
import { classifyAddress, type AddressClass } from './address.js'

/**
 * Why a {@link safeFetch} failed:
 * - `bad_url`: not an absolute `https` URL (or `http` without `allowHttp`), or with credentials;
 * - `forbidden_address`: the host resolves to an address class that is not allowed;
 * - `dns`: the host name did not resolve;
 * - `network`: the connection failed or closed before the response was complete;
 * - `timeout`: the whole exchange took longer than `timeout`;
 * - `redirect`: a redirect off the original origin, or more than `maxRedirects`;
 * - `http_status`: a status other than 2xx;
 * - `too_large`: the body (declared or received) exceeds `maxBytes`;
 * - `bad_content_type`: the media type is not one of `contentTypes`;
 * - `bad_json`: the body is not UTF-8 JSON ({@link fetchJson}).
 */
export type SafeFetchErrorCode =
  | 'bad_url'
  | 'forbidden_address'
  | 'dns'
  | 'network'
  | 'timeout'
  | 'redirect'
  | 'http_status'
  | 'too_large'
  | 'bad_content_type'
  | 'bad_json'

/** A failed {@link safeFetch}: `code` says what went wrong. */
export class SafeFetchError extends Error {
  override readonly name = 'SafeFetchError'
  readonly code: SafeFetchErrorCode
  /** The URL requested (the redirect target when a redirect failed). */
  readonly url: string
  /** The HTTP status, for `http_status` and `redirect`. */
  readonly status: number | undefined

  constructor(code: SafeFetchErrorCode, url: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.code = code
    this.url = url
    this.status = options.status
  }
}

/** One resolved address of a host name. */
export interface ResolvedAddress {
  readonly address: string
  readonly family: 4 | 6
}

/** Options of {@link safeFetch}. Every limit has a safe default. */
export interface SafeFetchOptions {
  /** Milliseconds for the whole exchange: DNS, connect, TLS, headers, body and redirects. Default 5000. */
  timeout?: number
  /** The largest body accepted, in bytes, enforced while reading. Default 262144 (256 KiB). */
  maxBytes?: number
  /** Redirects followed, only on the original origin (scheme, host, port). Default 0: a redirect fails. At most 5. */
  maxRedirects?: number
  /** Allow `http:` URLs (tests, development). Default `false`: `https:` only. */
  allowHttp?: boolean
  /**
   * Address classes that may be connected to besides `public`, e.g.
   * `['loopback']` in tests. Default none.
   */
  allowAddresses?: readonly AddressClass[]
  /**
   * Accepted media types (lower case, without parameters); `type/*+suffix`
   * matches every `+suffix` type, e.g. `application/*+json`. Default: any.
   */
  contentTypes?: readonly string[]
  /** The `Accept` header. Default: `contentTypes` joined, else `*\/*`. */
  accept?: string
  /** Trust anchors for `https` in PEM (a private PKI, a test certificate); they replace Node's default CA list, as `tls.connect`'s `ca` does. */
  ca?: string | readonly string[]
  /**
   * Resolves a host name (default `dns.lookup` with `all: true`). The
   * connection goes to the first address returned; every address returned
   * must be allowed.
   */
  lookup?: (hostname: string) => Promise<readonly ResolvedAddress[]>
}

/** A successful {@link safeFetch}: status 2xx, body read in full. */
export interface SafeResponse {
  /** The final URL (after same-origin redirects). */
  readonly url: string
  readonly status: number
  readonly headers: IncomingHttpHeaders
  /** The media type, lower case without parameters, or `undefined` when absent. */
  readonly contentType: string | undefined
  readonly body: Buffer
}

/** Checked {@link SafeFetchOptions} (internal). */
export interface Settings {
  readonly timeout: number
  readonly maxBytes: number
  readonly maxRedirects: number
  readonly allowHttp: boolean
  readonly allowAddresses: ReadonlySet<AddressClass>
  readonly contentTypes: readonly string[] | undefined
  readonly accept: string
  readonly ca: string | string[] | undefined
  readonly lookup: (hostname: string) => Promise<readonly ResolvedAddress[]>
}

const ADDRESS_CLASSES: readonly AddressClass[] = ['public', 'private', 'loopback', 'link_local', 'unique_local', 'multicast', 'unspecified', 'reserved']

function integerOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`safeFetch: "${name}" must be an integer between ${min} and ${max}`)
  }
  return value
}

async function defaultLookup(hostname: string): Promise<readonly ResolvedAddress[]> {
  const addresses = await dnsLookup(hostname, { all: true, verbatim: true })
  return addresses.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }))
}

/** Checks the options once, with a `TypeError`. */
export function resolveSettings(options: SafeFetchOptions): Settings {
  if (typeof options !== 'object' || options === null) throw new TypeError('safeFetch: options must be an object')
  const allow = options.allowAddresses ?? []
  if (!Array.isArray(allow) || allow.some((c) => !ADDRESS_CLASSES.includes(c))) {
    throw new TypeError(`safeFetch: "allowAddresses" must list address classes among ${ADDRESS_CLASSES.join(', ')}`)
  }
  const types = options.contentTypes
  if (types !== undefined && (!Array.isArray(types) || types.length === 0 || types.some((t) => typeof t !== 'string' || !/^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/.test(t)))) {
    throw new TypeError('safeFetch: "contentTypes" must be a non-empty list of lower-case media types')
  }
  if (options.allowHttp !== undefined && typeof options.allowHttp !== 'boolean') throw new TypeError('safeFetch: "allowHttp" must be a boolean')
  if (options.lookup !== undefined && typeof options.lookup !== 'function') throw new TypeError('safeFetch: "lookup" must be a function')
  if (options.accept !== undefined && (typeof options.accept !== 'string' || /[\r\n]/.test(options.accept))) throw new TypeError('safeFetch: "accept" must be a header value')
  const ca = options.ca
  if (ca !== undefined && typeof ca !== 'string' && !(Array.isArray(ca) && ca.every((c) => typeof c === 'string'))) {
    throw new TypeError('safeFetch: "ca" must be a PEM string or a list of them')
  }
  return {
    timeout: integerOption(options.timeout, 'timeout', 5000, 1, 120_000),
    maxBytes: integerOption(options.maxBytes, 'maxBytes', 256 * 1024, 1, 16 * 1024 * 1024),
    maxRedirects: integerOption(options.maxRedirects, 'maxRedirects', 0, 0, 5),
    allowHttp: options.allowHttp ?? false,
    allowAddresses: new Set<AddressClass>(['public', ...allow]),
    contentTypes: types === undefined ? undefined : [...types],
    accept: options.accept ?? (types === undefined ? '*/*' : types.join(', ')),
    ca: ca === undefined ? undefined : typeof ca === 'string' ? ca : [...ca],
    lookup: options.lookup ?? defaultLookup,
  }
}

function parseTarget(input: string | URL, settings: Settings): URL {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new SafeFetchError('bad_url', String(input), 'not an absolute URL')
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && settings.allowHttp)) {
    throw new SafeFetchError('bad_url', url.href, settings.allowHttp ? 'only http and https URLs may be fetched' : 'only https URLs may be fetched')
  }
  if (url.username !== '' || url.password !== '') throw new SafeFetchError('bad_url', url.href, 'the URL must not carry credentials')
  return url
}

/** Whether a media type is one of `accepted` (`type/*+suffix` matches a suffix). */
function mediaTypeAccepted(type: string, accepted: readonly string[]): boolean {
  return accepted.some((pattern) => {
    const star = pattern.indexOf('/*+')
    if (star === -1) return pattern === type
    const prefix = pattern.slice(0, star + 1)
    const suffix = pattern.slice(star + 2)
    return type.startsWith(prefix) && type.endsWith(suffix) && type.length > prefix.length + suffix.length
  })
}

function mediaTypeOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headers['content-type']
  if (value === undefined) return undefined
  return value.split(';', 1)[0]?.trim().toLowerCase()
}

/** Resolves the host and checks every address; returns the one to connect to. */
async function resolveHost(url: URL, settings: Settings): Promise<ResolvedAddress> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  const family = isIP(host)
  let addresses: readonly ResolvedAddress[]
  if (family !== 0) addresses = [{ address: host, family: family === 6 ? 6 : 4 }]
  else {
    try {
      addresses = await settings.lookup(host)
    } catch (error) {
      throw new SafeFetchError('dns', url.href, `the host ${host} did not resolve`, { cause: error })
    }
  }
  const first = addresses[0]
  if (first === undefined) throw new SafeFetchError('dns', url.href, `the host ${host} did not resolve`)
  for (const { address } of addresses) {
    let kind: AddressClass
    try {
      kind = classifyAddress(address)
    } catch (error) {
      throw new SafeFetchError('dns', url.href, `the host ${host} resolved to something that is not an IP address`, { cause: error })
    }
    if (!settings.allowAddresses.has(kind)) throw new SafeFetchError('forbidden_address', url.href, `the host ${host} resolves to a ${kind.replace('_', '-')} address`)
  }
  return first
}

/** A `lookup` for `net.connect` that answers the address resolved and checked before: no second DNS query (no rebinding). */
function pinnedLookup(resolved: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) (callback as (e: null, addresses: ResolvedAddress[]) => void)(null, [resolved])
    else callback(null, resolved.address, resolved.family)
  }
}

type Hop = { readonly kind: 'response'; readonly response: SafeResponse } | { readonly kind: 'redirect'; readonly status: number; readonly location: string }

function requestOnce(url: URL, resolved: ResolvedAddress, settings: Settings, signal: AbortSignal): Promise<Hop> {
  return new Promise<Hop>((resolve, reject) => {
    const fail = (error: SafeFetchError) => {
      reject(error)
      request.destroy()
    }
    const failure = (error: unknown) =>
      signal.aborted
        ? new SafeFetchError('timeout', url.href, `no complete response within ${settings.timeout} ms`, { cause: error })
        : new SafeFetchError('network', url.href, 'the connection failed or closed early', { cause: error })
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'GET',
      // A fresh connection per request: a pooled socket would skip the address check.
      agent: false,
      lookup: pinnedLookup(resolved),
      signal,
      maxHeaderSize: 16 * 1024,
      headers: { accept: settings.accept, 'accept-encoding': 'identity', 'user-agent': 'grantkit-safe-fetch' },
      ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    })
    request.on('error', (error) => fail(failure(error)))
    request.on('response', (response: IncomingMessage) => {
      response.on('error', (error) => fail(failure(error)))
      const status = response.statusCode ?? 0
      const location = response.headers.location
      if (status >= 300 && status < 400 && location !== undefined) {
        resolve({ kind: 'redirect', status, location })
        request.destroy()
        return
      }
      if (status < 200 || status >= 300) return fail(new SafeFetchError('http_status', url.href, `the server answered ${status}`, { status }))
      const contentType = mediaTypeOf(response.headers)
      if (settings.contentTypes !== undefined && (contentType === undefined || !mediaTypeAccepted(contentType, settings.contentTypes))) {
        return fail(new SafeFetchError('bad_content_type', url.href, `the content type ${JSON.stringify(contentType ?? '')} is not accepted`))
      }
      const tooLarge = () => new SafeFetchError('too_large', url.href, `the body is larger than ${settings.maxBytes} bytes`)
      const declared = response.headers['content-length']
      if (declared !== undefined && Number(declared) > settings.maxBytes) return fail(tooLarge())
      const chunks: Buffer[] = []
      let size = 0
      response.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > settings.maxBytes) fail(tooLarge())
        else chunks.push(chunk)
      })
      response.on('end', () => {
        resolve({ kind: 'response', response: { url: url.href, status, headers: response.headers, contentType, body: Buffer.concat(chunks, size) } })
      })
      // Closed without 'end' (a body shorter than its Content-Length, a reset): not a response.
      response.on('close', () => {
        if (!response.complete) fail(failure(new Error('the response closed before its end')))
      })
    })
    request.end()
  })
}

/** Races a promise against the abort signal (DNS lookups cannot be cancelled). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort())
    if (signal.aborted) return abort()
    signal.addEventListener('abort', abort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

/**
 * A bounded `GET`, for URLs a client or another party chose (a client's
 * `jwks_uri`, a Client ID Metadata Document): `https` only; the host
 * resolved once and the connection made to that checked address (no
 * private, loopback, link-local, unique-local, multicast or reserved
 * address unless allowed, no DNS rebinding); redirects only on the original
 * origin, none by default; one time limit for the whole exchange; the body
 * size limited while reading; the content type checked. Throws a
 * {@link SafeFetchError} (options a `TypeError`).
 *
 * @see https://owasp.org/www-community/attacks/Server_Side_Request_Forgery
 */
export async function safeFetch(input: string | URL, options: SafeFetchOptions = {}): Promise<SafeResponse> {
  const settings = resolveSettings(options)
  return fetchWithSettings(input, settings)
}

/** {@link safeFetch} with options already checked. */
export async function fetchWithSettings(input: string | URL, settings: Settings): Promise<SafeResponse> {
  const origin = parseTarget(input, settings)
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), settings.timeout)
  try {
    let url = origin
    for (let redirects = 0; ; redirects++) {
      const timeout = () => new SafeFetchError('timeout', url.href, `no complete response within ${settings.timeout} ms`)
      const resolved = await untilAborted(resolveHost(url, settings), controller.signal, timeout)
      const hop = await requestOnce(url, resolved, settings, controller.signal)
      if (hop.kind === 'response') return hop.response
      let next: URL
      try {
        next = new URL(hop.location, url)
      } catch {
        throw new SafeFetchError('redirect', url.href, 'the redirect location is not a URL', { status: hop.status })
      }
      if (next.origin !== origin.origin) throw new SafeFetchError('redirect', next.href, 'a redirect to another origin is not followed', { status: hop.status })
      if (redirects >= settings.maxRedirects) throw new SafeFetchError('redirect', next.href, `more than ${settings.maxRedirects} redirects`, { status: hop.status })
      url = parseTarget(next, settings)
    }
  } finally {
    clearTimeout(timer)
  }
}

/** Parses a fetched body as UTF-8 JSON, or throws a `bad_json` {@link SafeFetchError}. */
export function parseJsonBody(response: SafeResponse): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(response.body))
  } catch (error) {
    throw new SafeFetchError('bad_json', response.url, 'the body is not UTF-8 JSON', { cause: error })
  }
}

/** The default `contentTypes` of {@link fetchJson}: `application/json` and every `+json` type (`application/jwk-set+json`). */
export const JSON_CONTENT_TYPES: readonly string[] = ['application/json', 'application/*+json']

/**
 * {@link safeFetch} of a JSON document: the parsed JSON, or a
 * {@link SafeFetchError} saying what went wrong (`timeout`, `too_large`,
 * `redirect`, `forbidden_address`, `http_status`, `bad_content_type`,
 * `bad_json`, …). `contentTypes` defaults to {@link JSON_CONTENT_TYPES}.
 */
export async function fetchJson(input: string | URL, options: SafeFetchOptions = {}): Promise<unknown> {
  return parseJsonBody(await safeFetch(input, { contentTypes: JSON_CONTENT_TYPES, ...options }))
}
