/** The longest client identifier URL accepted (the URL is sent in every request and shown to users). */
export const MAX_CLIENT_ID_LENGTH = 2048

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])

/**
 * Whether a client id is meant as a Client Identifier URL: it starts with
 * `https:` (any case), or `http:` when `allowHttp` is on. Any other client
 * id belongs to the wrapped store.
 */
export function looksLikeClientIdUrl(clientId: string, allowHttp: boolean): boolean {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(clientId)?.[1]?.toLowerCase()
  return scheme === 'https' || (allowHttp && scheme === 'http')
}

/**
 * Why a client id may not be used as a Client Identifier URL, or `null` when
 * it may (draft-ietf-oauth-client-id-metadata-document section 3):
 * - the `https` scheme (`http` only with `allowHttp`, and then only on a
 *   loopback host: `127.0.0.1`, `[::1]`, `localhost`, for tests and
 *   development, section 8.6);
 * - no userinfo; a path component; no `.` or `..` path segment (nor their
 *   percent-encoded forms); no fragment;
 * - no query: the draft says SHOULD NOT, and grantkit refuses it, so that one
 *   document has one identifier and the identifier shown to users is the
 *   document's plain address;
 * - the URL in the form a WHATWG URL parser writes it (lower-case scheme and
 *   host, no default port, normalised percent-encoding), so that the URL
 *   fetched is the client id character for character (section 3: simple
 *   string comparison, RFC 3986 section 6.2.1); e.g. `https://example.com:443/app`
 *   is refused rather than fetched as `https://example.com/app`;
 * - at most {@link MAX_CLIENT_ID_LENGTH} characters.
 */
export function clientIdUrlProblem(clientId: string, allowHttp = false): string | null {
  if (clientId.length > MAX_CLIENT_ID_LENGTH) return `is longer than ${MAX_CLIENT_ID_LENGTH} characters`
  if (clientId.includes('#')) return 'must not have a fragment'
  let url: URL
  try {
    url = new URL(clientId)
  } catch {
    return 'is not an absolute URL'
  }
  if (url.protocol !== 'https:') {
    if (!(allowHttp && url.protocol === 'http:')) return 'must use the https scheme'
    if (!LOOPBACK_HOSTS.has(url.hostname)) return 'may use http only on a loopback host'
  }
  // The authority as written: WHATWG parsing hides an empty userinfo ("https://@host/").
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(clientId)?.[1]
  if (authority === undefined || authority === '') return 'must have a host'
  if (authority.includes('@')) return 'must not contain userinfo'
  const rest = clientId.slice(clientId.indexOf('//') + 2 + authority.length)
  if (rest === '' || !rest.startsWith('/')) return 'must have a path component'
  const path = rest.split('?', 1)[0] as string
  if (path.split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment))) return 'must not contain dot segments'
  if (rest.includes('?')) return 'must not have a query component'
  if (url.href !== clientId) return 'must be written in normalised form (lower-case scheme and host, no default port, normalised percent-encoding)'
  return null
}
