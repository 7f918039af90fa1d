import { configError } from './config-error.js'
import type { HttpOutcome } from './http-handler.js'

/** The well-known URI suffix of RFC 9728 §3. */
export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource'

/** Options of {@link protectedResourceMetadata}: the RFC 9728 §2 parameters a resource server publishes about itself. */
export interface ProtectedResourceMetadataOptions {
  /**
   * The resource identifier (RFC 9728 §2 `resource`, RFC 8707 §2): an
   * `https` URL without a fragment, which clients also send as the
   * `resource` parameter so that their tokens carry it as audience.
   */
  readonly resource: string
  /** Issuer identifiers of the authorization servers whose tokens this resource accepts (`authorization_servers`). */
  readonly authorizationServers?: readonly string[] | undefined
  /** `scopes_supported`. */
  readonly scopesSupported?: readonly string[] | undefined
  /** How access tokens may be sent (RFC 6750 §2): `bearer_methods_supported`. Default `['header']`. */
  readonly bearerMethodsSupported?: readonly ('header' | 'body' | 'query')[] | undefined
  /** `resource_name`, shown to users. */
  readonly resourceName?: string | undefined
  /** `resource_documentation`, a URL. */
  readonly resourceDocumentation?: string | undefined
  /** `dpop_signing_alg_values_supported` (RFC 9449). */
  readonly dpopSigningAlgValuesSupported?: readonly string[] | undefined
  /** `dpop_bound_access_tokens_required` (RFC 9449). */
  readonly dpopBoundAccessTokensRequired?: boolean | undefined
  /** More parameters, e.g. `resource_policy_uri`; they never replace the ones above. */
  readonly extra?: Readonly<Record<string, unknown>> | undefined
  /**
   * Accept an `http` resource identifier. RFC 9728 §2 asks for `https`; this
   * is for local development and tests only.
   */
  readonly allowHttp?: boolean | undefined
}

/** What {@link protectedResourceMetadata} returns. */
export interface ProtectedResourceMetadata {
  /** The absolute URL the document is served at (RFC 9728 §3.1), for `WWW-Authenticate: Bearer resource_metadata="…"` (§5.1). */
  readonly url: string
  /** The path (and query) part of {@link url}, for registering the route. */
  readonly path: string
  /** The JSON document (RFC 9728 §2, §3.2). */
  readonly document: Readonly<Record<string, unknown>>
}

function parseResource(resource: string, allowHttp: boolean): URL {
  let url: URL
  try {
    url = new URL(resource)
  } catch {
    throw configError(`protectedResourceMetadata: resource "${resource}" is not an absolute URL`)
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw configError('protectedResourceMetadata: resource must be an https URL (RFC 9728 §2)')
  }
  if (resource.includes('#')) throw configError('protectedResourceMetadata: resource must not have a fragment (RFC 9728 §2)')
  return url
}

/**
 * The URL of a resource's metadata (RFC 9728 §3.1): `/.well-known/oauth-protected-resource`
 * inserted between the host and the path, after removing a terminating
 * slash: `https://api.example.com/mcp` → `https://api.example.com/.well-known/oauth-protected-resource/mcp`.
 */
export function protectedResourceMetadataUrl(resource: string, options: { readonly allowHttp?: boolean | undefined } = {}): string {
  const url = parseResource(resource, options.allowHttp === true)
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '')
  return `${url.origin}${PROTECTED_RESOURCE_WELL_KNOWN}${path}${url.search}`
}

/**
 * Builds the protected resource metadata of RFC 9728 §2 and where to serve
 * it (§3.1). The `resource` in the document is the identifier exactly as
 * given, which §3.3 requires clients to compare with the one they used.
 *
 * @example
 * ```ts
 * const metadata = protectedResourceMetadata({
 *   resource: 'https://api.example.com/mcp',
 *   authorizationServers: ['https://auth.example.com'],
 *   scopesSupported: ['mcp'],
 * })
 * // serve metadata.document as JSON at metadata.path, and answer a request
 * // without a token with WWW-Authenticate: Bearer resource_metadata="<metadata.url>"
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export function protectedResourceMetadata(options: ProtectedResourceMetadataOptions): ProtectedResourceMetadata {
  if (typeof options !== 'object' || options === null || typeof options.resource !== 'string') {
    throw configError('protectedResourceMetadata: expected { resource }')
  }
  const allowHttp = options.allowHttp === true
  const url = protectedResourceMetadataUrl(options.resource, { allowHttp })
  for (const issuer of options.authorizationServers ?? []) {
    let parsed: URL
    try {
      parsed = new URL(issuer)
    } catch {
      throw configError(`protectedResourceMetadata: authorization server "${issuer}" is not an absolute URL`)
    }
    if (parsed.protocol !== 'https:' && !(allowHttp && parsed.protocol === 'http:')) {
      throw configError('protectedResourceMetadata: authorization servers are https issuer identifiers (RFC 8414 §2)')
    }
  }
  const document: Record<string, unknown> = { ...options.extra, resource: options.resource }
  if (options.authorizationServers !== undefined) document['authorization_servers'] = [...options.authorizationServers]
  if (options.scopesSupported !== undefined) document['scopes_supported'] = [...options.scopesSupported]
  document['bearer_methods_supported'] = [...(options.bearerMethodsSupported ?? ['header'])]
  if (options.resourceName !== undefined) document['resource_name'] = options.resourceName
  if (options.resourceDocumentation !== undefined) document['resource_documentation'] = options.resourceDocumentation
  if (options.dpopSigningAlgValuesSupported !== undefined) document['dpop_signing_alg_values_supported'] = [...options.dpopSigningAlgValuesSupported]
  if (options.dpopBoundAccessTokensRequired !== undefined) document['dpop_bound_access_tokens_required'] = options.dpopBoundAccessTokensRequired
  const parsed = new URL(url)
  return { url, path: parsed.pathname + parsed.search, document: Object.freeze(document) }
}

/**
 * The answer to a request for a resource's metadata document, for the
 * adapters' `serveResourceMetadata`: at the metadata's path, `GET` and
 * `HEAD` answer 200 `application/json` (RFC 9728 §3.2) with CORS open to
 * every origin (the document is public, and browser-based clients fetch it),
 * `OPTIONS` answers the CORS preflight with 204, and any other method 405
 * with `Allow`. Any other path answers `null`: not this helper's request.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-3.2
 */
export function protectedResourceMetadataOutcome(metadata: ProtectedResourceMetadata, request: { readonly method: string; readonly url: string }): HttpOutcome | null {
  const query = request.url.indexOf('?')
  const path = query === -1 ? request.url : request.url.slice(0, query)
  if (path !== metadataPathname(metadata)) return null
  const cors = { 'access-control-allow-origin': '*' }
  switch (request.method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
      return {
        kind: 'json',
        status: 200,
        headers: { ...cors, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'public, max-age=300' },
        body: JSON.stringify(metadata.document),
      }
    case 'OPTIONS':
      return { kind: 'empty', status: 204, headers: { ...cors, 'access-control-allow-methods': 'GET, HEAD', 'access-control-max-age': '600' } }
    default:
      return {
        kind: 'json',
        status: 405,
        headers: { ...cors, allow: 'GET, HEAD, OPTIONS', 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ error: 'invalid_request', error_description: 'the resource metadata is read with GET' }),
      }
  }
}

const pathnames = new WeakMap<ProtectedResourceMetadata, string>()

function metadataPathname(metadata: ProtectedResourceMetadata): string {
  let pathname = pathnames.get(metadata)
  if (pathname === undefined) {
    pathname = new URL(metadata.url).pathname
    pathnames.set(metadata, pathname)
  }
  return pathname
}
