import { parseScope, redirectUriProblem, type Client } from '@grantkit/core'

/** The key of `Client.metadata` that marks a client resolved from its metadata document (see `isMetadataDocumentClient`). */
export const METADATA_DOCUMENT_MARK = 'client_id_metadata_document'

/** Why a document was refused; the reasons {@link validateDocument} gives (the fetch adds its own). */
export type DocumentProblemReason = 'client_id_mismatch' | 'forbidden_credentials' | 'invalid_redirect_uri' | 'invalid_metadata'

/** A refused document: the reason code and a short explanation (never a value from the document). */
export interface DocumentProblem {
  readonly reason: DocumentProblemReason
  readonly detail: string
}

/** What the server lets a metadata-document client have. */
export interface DocumentPolicy {
  /** Scope values such a client may be allowed. */
  readonly allowedScopes: readonly string[]
}

/** Bounds of a document's values (a document is at most a few KiB anyway). */
const LIMITS = Object.freeze({ redirectUris: 10, uriLength: 2000, stringLength: 200, listItems: 10, jwksKeys: 20 })

/** The grant types a metadata-document client may have (RFC 7591 section 2 names). */
const GRANT_TYPES: ReadonlySet<string> = new Set(['authorization_code', 'refresh_token'])

/** RFC 7591 section 2 display and policy URLs kept in `Client.metadata`, checked as https URLs. */
const URL_FIELDS = ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri'] as const

/**
 * Members of a JWK that carry private or symmetric key material (RFC 7518
 * sections 6.2.2, 6.3.2, 6.4.1; RFC 8037 section 2): none may appear in a
 * public document.
 */
const SECRET_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

class Refusal extends Error {
  constructor(
    readonly reason: DocumentProblemReason,
    readonly detail: string,
  ) {
    super(detail)
  }
}

const refuse = (reason: DocumentProblemReason, detail: string): never => {
  throw new Refusal(reason, detail)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A present, non-null member (RFC 7592 section 2.2 treats `null` as omitted; so does this package). */
function present(document: Record<string, unknown>, name: string): boolean {
  return document[name] !== undefined && document[name] !== null
}

function boundedString(value: unknown, name: string, max: number = LIMITS.stringLength): string {
  if (typeof value !== 'string' || value === '') return refuse('invalid_metadata', `${name} must be a non-empty string`)
  if (value.length > max) refuse('invalid_metadata', `${name} must be at most ${max} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) refuse('invalid_metadata', `${name} must not contain control characters`)
  return value
}

function stringList(value: unknown, name: string, max: number): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) return refuse('invalid_metadata', `${name} must be an array of non-empty strings`)
  if (value.length > max) refuse('invalid_metadata', `${name} may hold at most ${max} values`)
  return [...new Set(value as string[])]
}

/** An https URL without fragment (RFC 7591 section 2 `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`, `jwks_uri`). */
function httpsUrl(value: unknown, name: string): string {
  const text = boundedString(value, name, LIMITS.uriLength)
  if (!URL.canParse(text) || new URL(text).protocol !== 'https:' || text.includes('#')) refuse('invalid_metadata', `${name} must be an https URL without fragment`)
  return text
}

/**
 * draft-ietf-oauth-client-id-metadata-document section 4.1: "private key
 * material MUST NOT be included [...]; only public keys". A JWK Set
 * (RFC 7517 section 5) of public keys.
 */
function publicJwks(value: unknown): Record<string, unknown> {
  if (!isObject(value) || !Array.isArray(value['keys'])) return refuse('invalid_metadata', 'jwks must be a JWK Set: an object with a keys array (RFC 7517 section 5)')
  const keys = value['keys'] as unknown[]
  if (keys.length === 0 || keys.length > LIMITS.jwksKeys) refuse('invalid_metadata', `jwks must hold between 1 and ${LIMITS.jwksKeys} keys`)
  for (const key of keys) {
    if (!isObject(key) || typeof key['kty'] !== 'string') refuse('invalid_metadata', 'every key in jwks must be a JWK with a kty (RFC 7517 section 4.1)')
    const jwk = key as Record<string, unknown>
    if (jwk['kty'] === 'oct' || SECRET_JWK_MEMBERS.some((member) => jwk[member] !== undefined)) {
      refuse('forbidden_credentials', 'jwks must hold public keys only, never private or symmetric key material (draft section 4.1)')
    }
  }
  return value
}

/**
 * Checks a fetched Client ID Metadata Document and builds the client it
 * describes, or says why it is refused:
 * - `client_id` equal to the URL it was fetched from (draft section 4,
 *   simple string comparison), else `client_id_mismatch`;
 * - no shared secret (section 4.1): no `client_secret` or
 *   `client_secret_expires_at`, no `client_secret_*` authentication method,
 *   no private or symmetric key in `jwks`, else `forbidden_credentials`;
 * - `redirect_uris` present, each one registrable (core's
 *   `redirectUriProblem`: RFC 6749 section 3.1.2, RFC 9700 section 4.1.1,
 *   RFC 8252 sections 7.1 and 7.3), else `invalid_redirect_uri`;
 * - `token_endpoint_auth_method` `none` (when omitted: the RFC 7591 default,
 *   `client_secret_basic`, is a shared secret) or `private_key_jwt` with
 *   exactly one of `jwks` and `jwks_uri` (RFC 7591 section 2); `grant_types`
 *   (default `authorization_code`, RFC 7591 section 2) kept among
 *   `authorization_code` and `refresh_token`, and `authorization_code`
 *   needed; `response_types` (default `code`) including `code`; `scope` a
 *   valid scope string (RFC 6749 section 3.3), narrowed to
 *   `policy.allowedScopes` (all of them when omitted); `client_name`,
 *   `client_uri`, `logo_uri`, `tos_uri`, `policy_uri` well formed (https
 *   URLs for the last four); anything else wrong is `invalid_metadata`.
 *
 * Unknown members are ignored (RFC 7591 section 2). The client is frozen.
 */
export function validateDocument(document: unknown, clientId: string, policy: DocumentPolicy): Client | DocumentProblem {
  try {
    return build(document, clientId, policy)
  } catch (error) {
    if (error instanceof Refusal) return { reason: error.reason, detail: error.detail }
    throw error
  }
}

function build(input: unknown, clientId: string, policy: DocumentPolicy): Client {
  if (!isObject(input)) return refuse('invalid_metadata', 'the document must be a JSON object (draft section 4)')
  const document = input
  // Section 4: "MUST contain a client_id property whose value MUST match the Client Identifier URL".
  if (document['client_id'] !== clientId) refuse('client_id_mismatch', 'the client_id of the document is not the URL it was fetched from (draft section 4)')

  // Section 4.1: "the client_secret and client_secret_expires_at properties MUST NOT be used".
  for (const name of ['client_secret', 'client_secret_expires_at']) {
    if (name in document) refuse('forbidden_credentials', `the document must not contain ${name} (draft section 4.1)`)
  }
  const method = present(document, 'token_endpoint_auth_method') ? boundedString(document['token_endpoint_auth_method'], 'token_endpoint_auth_method') : 'none'
  // Section 4.1: no client_secret_post, client_secret_basic, client_secret_jwt "or any other method based around a shared symmetric secret".
  if (method.startsWith('client_secret_')) refuse('forbidden_credentials', 'a shared-secret token_endpoint_auth_method may not be used (draft section 4.1)')
  if (method !== 'none' && method !== 'private_key_jwt') refuse('invalid_metadata', 'token_endpoint_auth_method must be none or private_key_jwt')
  // Checked whatever the method: a private key must never be published.
  const jwks = present(document, 'jwks') ? publicJwks(document['jwks']) : undefined
  const jwksUri = present(document, 'jwks_uri') ? httpsUrl(document['jwks_uri'], 'jwks_uri') : undefined
  if (method === 'private_key_jwt') {
    // RFC 7591 section 2: "The "jwks_uri" and "jwks" parameters MUST NOT both be present".
    if (jwks !== undefined && jwksUri !== undefined) refuse('invalid_metadata', 'jwks and jwks_uri must not both be present (RFC 7591 section 2)')
    if (jwks === undefined && jwksUri === undefined) refuse('invalid_metadata', 'private_key_jwt needs jwks or jwks_uri (draft section 8.2)')
  }

  // RFC 7591 section 2: grant_types defaults to authorization_code. Others are not granted.
  const requestedGrants = present(document, 'grant_types') ? stringList(document['grant_types'], 'grant_types', LIMITS.listItems) : ['authorization_code']
  const grantTypes = requestedGrants.filter((grant) => GRANT_TYPES.has(grant))
  if (!grantTypes.includes('authorization_code')) refuse('invalid_metadata', 'grant_types must include authorization_code')
  // RFC 7591 section 2.1: the response type code goes with authorization_code.
  if (present(document, 'response_types')) {
    const types = stringList(document['response_types'], 'response_types', LIMITS.listItems)
    if (!types.includes('code')) refuse('invalid_metadata', 'response_types must include code (RFC 7591 section 2.1)')
  }

  // Section 4.2 and RFC 9700 section 2.1: redirect URIs are registered by the document, and matched exactly.
  if (!present(document, 'redirect_uris')) refuse('invalid_redirect_uri', 'redirect_uris is required (RFC 7591 section 2)')
  const redirectUris = document['redirect_uris']
  if (!Array.isArray(redirectUris) || redirectUris.length === 0 || redirectUris.length > LIMITS.redirectUris) {
    refuse('invalid_redirect_uri', `redirect_uris must be an array of 1 to ${LIMITS.redirectUris} URIs`)
  }
  for (const uri of redirectUris as unknown[]) {
    if (typeof uri === 'string' && uri.length > LIMITS.uriLength) refuse('invalid_redirect_uri', `a redirect URI is longer than ${LIMITS.uriLength} characters`)
    const problem = redirectUriProblem(uri)
    if (problem !== null) refuse('invalid_redirect_uri', `a redirect URI ${problem.replaceAll('§', 'section ')}`)
  }

  const scope = present(document, 'scope') ? scopeOf(document['scope'], policy.allowedScopes) : policy.allowedScopes.join(' ')
  const clientName = present(document, 'client_name') ? boundedString(document['client_name'], 'client_name') : undefined

  const metadata: Record<string, unknown> = { [METADATA_DOCUMENT_MARK]: true }
  for (const name of URL_FIELDS) if (present(document, name)) metadata[name] = httpsUrl(document[name], name)
  if (method === 'private_key_jwt') {
    if (jwks !== undefined) metadata['jwks'] = jwks
    else metadata['jwks_uri'] = jwksUri
  }

  return Object.freeze({
    clientId,
    clientSecretHash: null,
    clientName,
    redirectUris: Object.freeze([...new Set(redirectUris as string[])]),
    grantTypes: Object.freeze(grantTypes),
    responseTypes: Object.freeze(['code']),
    scope,
    tokenEndpointAuthMethod: method,
    metadata: Object.freeze(metadata),
  })
}

/** The document's scope (RFC 6749 section 3.3) narrowed to the scopes allowed: the others are not granted. */
function scopeOf(value: unknown, allowed: readonly string[]): string {
  if (typeof value !== 'string') return refuse('invalid_metadata', 'scope must be a string of space-separated values')
  let scopes: string[]
  try {
    scopes = parseScope(value)
  } catch {
    return refuse('invalid_metadata', 'scope must be space-separated scope values (RFC 6749 section 3.3)')
  }
  return scopes.filter((s) => allowed.includes(s)).join(' ')
}
