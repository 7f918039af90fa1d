import { configError, parseScope, type Client, type ServerStore } from '@grantkit/core'
import { SafeFetchError, createJsonCache, type AddressClass, type SafeFetchErrorCode, type SafeFetchOptions } from '@grantkit/safe-fetch'
import { MAX_CLIENT_ID_LENGTH, clientIdUrlProblem, looksLikeClientIdUrl } from './client-id.js'
import { METADATA_DOCUMENT_MARK, validateDocument, type DocumentProblemReason } from './document.js'

/**
 * The RFC 8414 metadata parameter that tells clients the server resolves
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document
 * section 6). Give it to the server's `metadata` option.
 *
 * @example
 * ```ts
 * new AuthorizationServer({ issuer, store: withClientMetadataDocuments(store), metadata: CLIENT_ID_METADATA_DOCUMENT_SUPPORTED })
 * ```
 */
export const CLIENT_ID_METADATA_DOCUMENT_SUPPORTED: Readonly<{ client_id_metadata_document_supported: true }> = Object.freeze({
  client_id_metadata_document_supported: true,
})

/**
 * Why a Client ID Metadata Document was not accepted:
 * - `invalid_client_id`: the client id breaks the URL rules (draft section 3); nothing was fetched;
 * - `forbidden_address`: the host is, or resolves to, a private, loopback or other special-use address (section 8.6);
 * - `timeout`: no complete answer within `timeout`;
 * - `too_large`: the document is larger than `maxBytes` (section 8.7);
 * - `redirect`: the server answered a redirect, which is never followed (section 5);
 * - `not_json`: not a JSON media type, or not UTF-8 JSON (section 4);
 * - `fetch_failed`: any other failure: DNS, connection, a status other than 2xx (section 5.1);
 * - `client_id_mismatch`: the document's `client_id` is not the URL (section 4);
 * - `forbidden_credentials`: a client secret, a shared-secret authentication method, or private key material (section 4.1);
 * - `invalid_redirect_uri`: `redirect_uris` missing or one of them not registrable;
 * - `invalid_metadata`: any other invalid member (a wrong type, an unsupported authentication method, no `authorization_code`).
 */
export type ClientMetadataDocumentRejectionReason =
  | 'invalid_client_id'
  | 'forbidden_address'
  | 'timeout'
  | 'too_large'
  | 'redirect'
  | 'not_json'
  | 'fetch_failed'
  | DocumentProblemReason

/** What {@link ClientMetadataDocumentOptions.onRejected} is told. */
export interface ClientMetadataDocumentRejection {
  /** The client id as the request carried it (cut to 2048 characters): untrusted input, log it as such. */
  readonly clientId: string
  /** Why, as a short code (see {@link ClientMetadataDocumentRejectionReason}). */
  readonly reason: ClientMetadataDocumentRejectionReason
  /** A short explanation for operators; never a value taken from the document. */
  readonly detail: string
  /** The failed fetch, for the fetch reasons. */
  readonly error?: SafeFetchError | undefined
}

/** Options of {@link withClientMetadataDocuments}. Every limit has a safe default. */
export interface ClientMetadataDocumentOptions {
  /**
   * Scope values a metadata-document client may be allowed. A document's
   * `scope` is narrowed to these (the others are not granted); a document
   * without `scope` gets all of them. Default none: such clients get
   * tokens without scope.
   */
  allowedScopes?: readonly string[]
  /**
   * Called when a document is not accepted, so operators can see why
   * (`findClient` answers `null`: the client is unknown). What it throws or
   * rejects with is ignored.
   */
  onRejected?: (rejection: ClientMetadataDocumentRejection) => void | Promise<void>
  /** Milliseconds for the whole fetch: DNS, connect, TLS, headers and body. Default 3000. */
  timeout?: number
  /** The largest document accepted, in bytes. Default 5120 (the draft recommends 5 KB, section 8.7). */
  maxBytes?: number
  /**
   * Accept `http:` client ids, on a loopback host only (`127.0.0.1`,
   * `[::1]`, `localhost`): tests and development (section 8.6). With it,
   * also allow the `loopback` address class. Default `false`. Never in production.
   */
  allowHttp?: boolean
  /**
   * Address classes that may be fetched from besides `public` (safe-fetch's
   * option of the same name), e.g. `['loopback']` in tests. Default none
   * (section 8.6: never special-use addresses in production).
   */
  allowAddresses?: readonly AddressClass[]
  /** Trust anchors for `https` in PEM, replacing Node's default list (a test certificate, a private PKI). */
  ca?: string | readonly string[]
  /** Resolves a host name (default `dns.lookup`); every address returned must be allowed. */
  lookup?: SafeFetchOptions['lookup']
  /** Seconds a document is kept at least, whatever `Cache-Control` says (section 5.2: the server's own lower bound). Default 60. */
  minTtl?: number
  /** Seconds a document is kept at most, whatever `Cache-Control` says (the upper bound). Default 86400. */
  maxTtl?: number
  /** Seconds a document without `Cache-Control: max-age` is kept. Default 300. */
  defaultTtl?: number
  /** The most documents cached; the least recently used is dropped first. Default 1000. */
  maxEntries?: number
  /** The clock of the cache, in milliseconds (tests). Default `Date.now`. */
  now?: () => number
}

const DEFAULT_TIMEOUT_MS = 3000
const DEFAULT_MAX_BYTES = 5 * 1024

/** The rejection reason of a failed fetch. */
const FETCH_REASONS: Readonly<Record<SafeFetchErrorCode, ClientMetadataDocumentRejectionReason>> = {
  bad_url: 'invalid_client_id',
  forbidden_address: 'forbidden_address',
  dns: 'fetch_failed',
  network: 'fetch_failed',
  timeout: 'timeout',
  redirect: 'redirect',
  http_status: 'fetch_failed',
  too_large: 'too_large',
  bad_content_type: 'not_json',
  bad_json: 'not_json',
}

function checkOptions(options: ClientMetadataDocumentOptions): readonly string[] {
  if (typeof options !== 'object' || options === null) throw configError('withClientMetadataDocuments: options must be an object')
  if (options.onRejected !== undefined && typeof options.onRejected !== 'function') throw configError('withClientMetadataDocuments: "onRejected" must be a function')
  const scopes = options.allowedScopes ?? []
  if (!Array.isArray(scopes) || scopes.some((scope) => typeof scope !== 'string' || scope === '' || scope.includes(' '))) {
    throw configError('withClientMetadataDocuments: "allowedScopes" must be a list of scope values')
  }
  try {
    parseScope(scopes.join(' '))
  } catch {
    throw configError('withClientMetadataDocuments: "allowedScopes" must be a list of valid scope values (RFC 6749 section 3.3)')
  }
  return [...scopes]
}

/**
 * Wraps a store so that a client id which is an `https` URL is a client
 * described by the Client ID Metadata Document at that URL
 * (draft-ietf-oauth-client-id-metadata-document, as used by the MCP
 * authorization spec): `findClient` fetches the document, checks it and
 * answers the client it describes. Every other client id, and every other
 * method, is the store's own; nothing is ever written to the store.
 *
 * The fetch goes through `@grantkit/safe-fetch`: `https` only, no private,
 * loopback or other special-use address (unless `allowAddresses`), no
 * redirect followed (draft section 5), `timeout` and `maxBytes` bounds, a JSON
 * media type. Documents are cached for their `Cache-Control: max-age`
 * bounded by `minTtl` and `maxTtl`; failures and invalid documents are not
 * cached (section 5.2). The client id must follow the URL rules of section 3
 * (see the README), and the document the rules of section 4 (its
 * `client_id` is the URL, no shared secret, registrable `redirect_uris`).
 *
 * A client id that cannot be resolved makes `findClient` answer `null`, so
 * the client is unknown: `invalid_client` (401) at the token endpoint, the
 * error page (400, no redirect) at the authorization endpoint (section 5.1:
 * the request is aborted); `onRejected` says why.
 *
 * Such a client is public (`none`, the default) or authenticates with
 * `private_key_jwt` (register `privateKeyJwt()` from
 * `@grantkit/client-auth-jwt`; its keys are the document's `jwks` or
 * `jwks_uri`). It may use `authorization_code` and `refresh_token`.
 *
 * @example
 * ```ts
 * const server = new AuthorizationServer({
 *   issuer: 'https://auth.example.com',
 *   store: withClientMetadataDocuments(memoryStore(), { allowedScopes: ['read'] }),
 *   metadata: CLIENT_ID_METADATA_DOCUMENT_SUPPORTED,
 * })
 * ```
 */
export function withClientMetadataDocuments<S extends ServerStore>(store: S, options: ClientMetadataDocumentOptions = {}): S {
  if (typeof store !== 'object' || store === null || typeof store.findClient !== 'function') throw configError('withClientMetadataDocuments: the store must have findClient')
  const allowedScopes = checkOptions(options)
  const { allowedScopes: _scopes, onRejected, allowHttp = false, timeout = DEFAULT_TIMEOUT_MS, maxBytes = DEFAULT_MAX_BYTES, ...cacheOptions } = options
  if (typeof allowHttp !== 'boolean') throw configError('withClientMetadataDocuments: "allowHttp" must be a boolean')
  // Section 5: "MUST NOT automatically follow HTTP redirects"; section 4: a JSON media type (safe-fetch's default for the cache).
  const cache = createJsonCache({ ...cacheOptions, allowHttp, timeout, maxBytes, maxRedirects: 0 })

  const rejected = (clientId: string, reason: ClientMetadataDocumentRejectionReason, detail: string, error?: SafeFetchError): null => {
    if (onRejected !== undefined) {
      try {
        const result = onRejected({ clientId: clientId.slice(0, MAX_CLIENT_ID_LENGTH), reason, detail, error })
        if (result instanceof Promise) result.catch(() => {})
      } catch {
        // The hook only observes; its failure must not change the answer.
      }
    }
    return null
  }

  const resolve = async (clientId: string): Promise<Client | null> => {
    const problem = clientIdUrlProblem(clientId, allowHttp)
    if (problem !== null) return rejected(clientId, 'invalid_client_id', `the client id URL ${problem} (draft section 3)`)
    let document: unknown
    try {
      document = await cache.get(clientId)
    } catch (error) {
      if (!(error instanceof SafeFetchError)) throw error
      // Section 5.2: "MUST NOT cache error responses".
      cache.delete(clientId)
      return rejected(clientId, FETCH_REASONS[error.code], `the document could not be fetched: ${error.message}`, error)
    }
    const client = validateDocument(document, clientId, { allowedScopes })
    if ('reason' in client) {
      // Section 5.2: "MUST NOT cache documents which are invalid or malformed".
      cache.delete(clientId)
      return rejected(clientId, client.reason, client.detail)
    }
    return client
  }

  const findClient: ServerStore['findClient'] = async (clientId) =>
    typeof clientId === 'string' && looksLikeClientIdUrl(clientId, allowHttp) ? resolve(clientId) : store.findClient(clientId)

  return new Proxy(store, {
    get(target, property) {
      if (property === 'findClient') return findClient
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

/**
 * Whether a client was resolved from its Client ID Metadata Document by
 * {@link withClientMetadataDocuments}, e.g. to show its host on the consent
 * page: anyone can publish a document, so the name it claims proves nothing
 * (draft section 8.5: display the hostname of the client_id).
 *
 * @example
 * ```ts
 * const publisher = isMetadataDocumentClient(client) ? new URL(client.clientId).host : undefined
 * ```
 */
export function isMetadataDocumentClient(client: Client): boolean {
  return client.metadata?.[METADATA_DOCUMENT_MARK] === true && looksLikeClientIdUrl(client.clientId, true)
}
