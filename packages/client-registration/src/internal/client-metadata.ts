import { OAuthError, parseScope, redirectUriProblem, type OAuthErrorCode } from '@grantkit/core'

/** What the server offers, against which a registration is checked. */
export interface MetadataPolicy {
  /** Grant types a registered client may have (the server's, narrowed by the endpoint's option). */
  readonly grantTypes: readonly string[]
  /** Response types the server serves, normalised (sorted components). */
  readonly responseTypes: readonly string[]
  /** Client authentication methods registered on the server. */
  readonly authMethods: readonly string[]
  /** Whether the grant serving `grantType` at the token endpoint accepts `method`; `null` when no token-endpoint grant serves it. */
  readonly grantAccepts: (grantType: string, method: string) => boolean | null
  /** Scope values a client may register. */
  readonly scopes: readonly string[]
  /** The scope of a client registered without one. */
  readonly defaultScope: string
  /** Metadata names kept beyond RFC 7591 §2. */
  readonly extraMetadata: readonly string[]
  /** Accept `http://localhost` redirect URIs (RFC 8252 §8.3: NOT RECOMMENDED). */
  readonly allowLocalhost: boolean
}

/** Registration metadata after validation, in the shape the endpoint stores. */
export interface ValidatedMetadata {
  readonly redirectUris: string[]
  readonly grantTypes: string[]
  readonly responseTypes: string[]
  readonly tokenEndpointAuthMethod: string
  readonly scope: string
  readonly clientName: string | undefined
  /** Every other kept field, wire names (RFC 7591 §2), JSON values. */
  readonly other: Record<string, unknown>
}

/** Bounds of a registration (RFC 6819 §4.4.1.11 / RFC 7591 §5: what one request may make the server store). */
export const LIMITS = Object.freeze({
  redirectUris: 10,
  uriLength: 2000,
  stringLength: 200,
  contacts: 10,
  contactLength: 320,
  listItems: 10,
  localizedVariants: 20,
  jwksKeys: 20,
  jsonBytes: 32 * 1024,
})

/** Fields of RFC 7591 §2 whose value may be localised with a `#language-tag` suffix (§2.2). */
const LOCALIZABLE = new Set(['client_name', 'client_uri', 'logo_uri', 'tos_uri', 'policy_uri'])
const URI_FIELDS = new Set(['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'jwks_uri'])
const STRING_FIELDS = new Set(['client_name', 'software_id', 'software_version'])
/** Names handled on their own; never kept as "other" metadata. */
const CORE_FIELDS = new Set(['redirect_uris', 'grant_types', 'response_types', 'token_endpoint_auth_method', 'scope', 'client_name'])
// BCP 47 language tag, loosely (RFC 5646 §2.1): subtags of 1-8 letters or digits.
const LANGUAGE_TAG = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/

/** RFC 7591 §2.1: which grant type each response-type component needs. */
const RESPONSE_COMPONENT_GRANT: Readonly<Record<string, string>> = { code: 'authorization_code', token: 'implicit', id_token: 'implicit' }

function fail(code: OAuthErrorCode, description: string): never {
  throw new OAuthError(code, description)
}

const metadataError = (description: string): never => fail('invalid_client_metadata', description)

/** `value` as a bounded list of unique non-empty strings, or `undefined` when omitted (`null` counts as omitted, RFC 7592 §2.2). */
function stringList(value: unknown, name: string, max: number): string[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) metadataError(`${name} must be an array of non-empty strings`)
  const list = value as string[]
  if (list.length > max) metadataError(`${name} may hold at most ${max} values`)
  return [...new Set(list)]
}

function boundedString(value: unknown, name: string, max: number = LIMITS.stringLength): string {
  if (typeof value !== 'string' || value === '') metadataError(`${name} must be a non-empty string`)
  const text = value as string
  if (text.length > max) metadataError(`${name} must be at most ${max} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) metadataError(`${name} must not contain control characters`)
  return text
}

/** An `https` URL of a web page or document (RFC 7591 §2 `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`, `jwks_uri`). */
function httpsUrl(value: unknown, name: string): string {
  const text = boundedString(value, name, LIMITS.uriLength)
  if (!URL.canParse(text) || new URL(text).protocol !== 'https:' || text.includes('#')) metadataError(`${name} must be an https URL without fragment`)
  return text
}

/** The authority of an absolute URI (RFC 3986 §3.2), or `null` without one. */
function authorityOf(uri: string): string | null {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)
  return match === null ? null : (match[1] as string)
}

/**
 * Why a redirect URI may not be registered (`invalid_redirect_uri`, RFC
 * 7591 §3.2.2), or `null`: core's rules (RFC 6749 §3.1.2 absolute, no
 * fragment; RFC 9700 §4.1.1 `https`, or `http` on a loopback IP, RFC 8252
 * §7.3; or a reverse-domain private-use scheme, RFC 8252 §7.1; never
 * `javascript:` or `data:`), plus: no userinfo (RFC 9700 §4.1.1 exact
 * matching; RFC 3986 §7.5 warns of `user@host` spoofing), and no
 * `localhost` unless allowed (RFC 8252 §8.3: "NOT RECOMMENDED").
 */
export function registrableRedirectUriProblem(uri: string, allowLocalhost: boolean): string | null {
  if (uri.length > LIMITS.uriLength) return `must be at most ${LIMITS.uriLength} characters`
  const problem = redirectUriProblem(uri)
  if (problem !== null) return problem
  const authority = authorityOf(uri)
  if (authority !== null && authority.includes('@')) return 'must not contain userinfo'
  const url = new URL(uri)
  if (url.protocol === 'http:' && url.hostname.toLowerCase() === 'localhost' && !allowLocalhost) {
    return 'must use a loopback IP literal (127.0.0.1 or [::1]) instead of localhost (RFC 8252 section 8.3)'
  }
  return null
}

/** A response type with its components sorted (RFC 6749 §3.1.1: their order does not matter). */
export function normalizeResponseType(type: string): string {
  return type.split(' ').filter((s) => s !== '').sort().join(' ')
}

/** Throws `invalid_client_metadata` for a JSON value with a NUL anywhere, or nested deeper than `depth`. */
function checkJson(value: unknown, name: string, depth = 8): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) metadataError(`${name} must not contain a NUL character`)
  } else if (Array.isArray(value)) {
    if (depth === 0) metadataError(`${name} is nested too deeply`)
    for (const item of value) checkJson(item, name, depth - 1)
  } else if (typeof value === 'object' && value !== null) {
    if (depth === 0) metadataError(`${name} is nested too deeply`)
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) metadataError(`${name} must not contain a NUL character`)
      checkJson(item, name, depth - 1)
    }
  }
}

/**
 * Validates client metadata (RFC 7591 §2) against what the server offers:
 * every refusal is `invalid_redirect_uri` or `invalid_client_metadata`
 * (§3.2.2). Fields the server does not understand are dropped (§2: "MUST
 * ignore [...] for instance, by silently removing unknown metadata"),
 * except the names in `extraMetadata`.
 */
export function validateClientMetadata(input: Record<string, unknown>, policy: MetadataPolicy): ValidatedMetadata {
  checkJson(input, 'the client metadata')
  // RFC 7591 §2: "If omitted, the default is that the client will use only the "authorization_code" Grant Type."
  const grantTypes = stringList(input['grant_types'], 'grant_types', LIMITS.listItems) ?? ['authorization_code']
  for (const grantType of grantTypes) {
    if (!policy.grantTypes.includes(grantType)) metadataError('a requested grant type is not supported for registered clients')
  }
  // Omitted: the response types that go with the grant types (RFC 7591 §2.1), "code" for the default.
  const requestedResponseTypes = stringList(input['response_types'], 'response_types', LIMITS.listItems)
  const responseTypes = (requestedResponseTypes ?? defaultResponseTypesFor(grantTypes)).map(normalizeResponseType)
  for (const type of responseTypes) {
    if (!policy.responseTypes.includes(type)) metadataError('a requested response type is not supported')
    for (const component of type.split(' ')) {
      const needed = RESPONSE_COMPONENT_GRANT[component]
      // RFC 7591 §2.1: the response type "code" goes with the grant type "authorization_code", "token" with "implicit".
      if (needed !== undefined && !grantTypes.includes(needed)) metadataError(`the response type "${component}" needs the grant type "${needed}" (RFC 7591 section 2.1)`)
    }
  }
  for (const [component, grantType] of [['code', 'authorization_code'], ['token', 'implicit']] as const) {
    const served = responseTypes.some((type) => type.split(' ').includes(component) || (component === 'token' && type.split(' ').includes('id_token')))
    if (grantTypes.includes(grantType) && !served) metadataError(`the grant type "${grantType}" needs a matching response type (RFC 7591 section 2.1)`)
  }

  // RFC 7591 §2: "If unspecified or omitted, the default is "client_secret_basic"".
  const method = input['token_endpoint_auth_method'] === undefined || input['token_endpoint_auth_method'] === null ? 'client_secret_basic' : boundedString(input['token_endpoint_auth_method'], 'token_endpoint_auth_method')
  if (!policy.authMethods.includes(method)) metadataError('the token endpoint authentication method is not supported')
  for (const grantType of grantTypes) {
    if (policy.grantAccepts(grantType, method) === false) metadataError(`the grant type "${grantType}" does not accept this token endpoint authentication method`)
  }

  // RFC 7591 §2: "Clients using flows with redirection MUST register their redirection URI values."
  const redirectUris = stringList(input['redirect_uris'], 'redirect_uris', LIMITS.redirectUris) ?? []
  for (const uri of redirectUris) {
    const problem = registrableRedirectUriProblem(uri, policy.allowLocalhost)
    if (problem !== null) fail('invalid_redirect_uri', `a redirect URI ${problem}`)
  }
  if (responseTypes.length > 0 && redirectUris.length === 0) fail('invalid_redirect_uri', 'redirect_uris is required for the redirect-based grant types (RFC 7591 section 2)')

  const scope = input['scope'] === undefined || input['scope'] === null ? policy.defaultScope : scopeOf(input['scope'], policy.scopes)
  const clientName = input['client_name'] === undefined || input['client_name'] === null ? undefined : boundedString(input['client_name'], 'client_name')

  const other: Record<string, unknown> = {}
  let localized = 0
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined || value === null || CORE_FIELDS.has(name)) continue
    const hash = name.indexOf('#')
    const base = hash === -1 ? name : name.slice(0, hash)
    if (hash !== -1) {
      // RFC 7591 §2.2: "field_name#language-tag"; unknown fields with a tag are dropped like any unknown field.
      if (!LOCALIZABLE.has(base) || !LANGUAGE_TAG.test(name.slice(hash + 1))) continue
      if (++localized > LIMITS.localizedVariants) metadataError(`at most ${LIMITS.localizedVariants} localized values are accepted`)
    }
    if (URI_FIELDS.has(base)) other[name] = httpsUrl(value, base)
    else if (STRING_FIELDS.has(base)) other[name] = boundedString(value, base)
    else if (name === 'contacts') other[name] = contactsOf(value)
    else if (name === 'jwks') other[name] = jwksOf(value)
    else if (policy.extraMetadata.includes(name)) other[name] = boundedJson(value, name)
    // Anything else is not understood: dropped (RFC 7591 §2).
  }
  // RFC 7591 §2: "The "jwks_uri" and "jwks" parameters MUST NOT both be present in the same request or response."
  if (other['jwks'] !== undefined && other['jwks_uri'] !== undefined) metadataError('jwks and jwks_uri must not both be present (RFC 7591 section 2)')
  if (method === 'private_key_jwt' && other['jwks'] === undefined && other['jwks_uri'] === undefined) metadataError('private_key_jwt needs jwks or jwks_uri')
  return { redirectUris, grantTypes, responseTypes, tokenEndpointAuthMethod: method, scope, clientName, other }
}

/** The response types RFC 7591 §2.1 pairs with grant types. */
function defaultResponseTypesFor(grantTypes: readonly string[]): string[] {
  const out: string[] = []
  if (grantTypes.includes('authorization_code')) out.push('code')
  if (grantTypes.includes('implicit')) out.push('token')
  return out
}

function scopeOf(value: unknown, allowed: readonly string[]): string {
  if (typeof value !== 'string') metadataError('scope must be a string of space-separated values')
  let scopes: string[]
  try {
    scopes = parseScope(value as string)
  } catch {
    return metadataError('scope must be space-separated scope values (RFC 6749 section 3.3)')
  }
  if (scopes.some((s) => !allowed.includes(s))) metadataError('a requested scope may not be registered')
  return scopes.join(' ')
}

function contactsOf(value: unknown): string[] {
  const contacts = stringList(value, 'contacts', LIMITS.contacts) as string[]
  return contacts.map((contact) => boundedString(contact, 'contacts', LIMITS.contactLength))
}

function jwksOf(value: unknown): unknown {
  const keys = (value as { keys?: unknown } | null)?.keys
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Array.isArray(keys)) metadataError('jwks must be a JWK Set: an object with a "keys" array (RFC 7517 section 5)')
  if ((keys as unknown[]).length > LIMITS.jwksKeys) metadataError(`jwks may hold at most ${LIMITS.jwksKeys} keys`)
  if ((keys as unknown[]).some((key) => typeof key !== 'object' || key === null || Array.isArray(key) || typeof (key as { kty?: unknown }).kty !== 'string')) {
    metadataError('every key in jwks must be a JWK with a "kty"')
  }
  return boundedJson(value, 'jwks')
}

function boundedJson(value: unknown, name: string): unknown {
  if (JSON.stringify(value).length > LIMITS.jsonBytes) metadataError(`${name} is too large`)
  return value
}
