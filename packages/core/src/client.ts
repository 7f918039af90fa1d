import { configError } from './config-error.js'
import { generateToken, hashSecret, type SecretHashAlgorithm } from './secrets.js'

/** Names of the RFC 7591 §2 client authentication methods grantkit ships. */
export type BuiltinClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none'

/**
 * A registered client (RFC 6749 §2, metadata names of RFC 7591 §2 in camelCase).
 *
 * Every field is enforced: a client may use only its grant types, response
 * types, scopes, authentication method and redirect URIs.
 */
export interface Client {
  readonly clientId: string
  /** Hash of the secret made by `hashSecret`; `null` for public clients. Never the secret itself. */
  readonly clientSecretHash: string | null
  /** Shown on the consent page. */
  readonly clientName?: string | undefined
  /** Registered redirect URIs, matched exactly (RFC 9700 §4.1.3). */
  readonly redirectUris: readonly string[]
  /** Grant types the client may use, e.g. `authorization_code`, `implicit`, `refresh_token`. */
  readonly grantTypes: readonly string[]
  /** Response types the client may use at the authorization endpoint, e.g. `code`. */
  readonly responseTypes: readonly string[]
  /** Space-separated scopes the client may request. */
  readonly scope: string
  /** The one authentication method the client uses at the token endpoint. */
  readonly tokenEndpointAuthMethod: string
  /** Anything else a grant or auth method needs, e.g. `jwks` for JWT bearer. */
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
}

/** Whether the client is public (no secret, `none` authentication; RFC 6749 §2.1). */
export function isPublicClient(client: Client): boolean {
  return client.tokenEndpointAuthMethod === 'none'
}

/** The client's allowed scopes as a list. */
export function clientScopes(client: Client): string[] {
  return client.scope.split(' ').filter((s) => s !== '')
}

/** Input of {@link createClient}: wire-style metadata, secret in clear. */
export interface ClientInput {
  /** Generated when absent. */
  clientId?: string
  /**
   * The secret, in clear. Generated (256 bits) for confidential clients when
   * absent; ignored for `none`.
   */
  clientSecret?: string
  clientName?: string
  redirectUris?: readonly string[]
  /** Default `['authorization_code']` (RFC 7591 §2). */
  grantTypes?: readonly string[]
  /**
   * Default: derived from `grantTypes` as RFC 7591 §2.1 pairs them —
   * `code` for `authorization_code`, `token` for `implicit` — so a client
   * given only its grant types can use them.
   */
  responseTypes?: readonly string[]
  scope?: string
  /** Defaults to `client_secret_basic`. */
  tokenEndpointAuthMethod?: string
  metadata?: Record<string, unknown>
  /**
   * How the secret is hashed: `sha256` (default) for generated secrets,
   * `scrypt` when the secret was chosen by a person.
   */
  secretHash?: SecretHashAlgorithm
}

/**
 * Why a redirect URI may not be registered, or `null` when it may:
 * - RFC 6749 §3.1.2: an absolute URI without a fragment;
 * - RFC 9700 §4.1.1 / RFC 6749 §3.1.2.1: `https`, or `http` only on a
 *   loopback host (RFC 8252 §7.3: `127.0.0.1`, `[::1]`, `localhost`);
 * - RFC 8252 §7.1: or a private-use scheme, a reverse domain name such as
 *   `com.example.app:/callback` (a scheme with a dot) — never `javascript:`,
 *   `data:` or any other scheme a browser acts on.
 */
export function redirectUriProblem(uri: unknown): string | null {
  if (typeof uri !== 'string' || uri === '') return 'must be a non-empty string'
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i)
    if (c <= 0x20 || c === 0x7f) return 'must not contain spaces or control characters'
  }
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return 'must be an absolute URI (RFC 6749 §3.1.2)'
  }
  if (uri.includes('#')) return 'must not have a fragment (RFC 6749 §3.1.2)'
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  if (scheme === 'https') return url.host === '' ? 'must name a host' : null
  if (scheme === 'http') {
    const host = url.hostname.toLowerCase()
    return host === '127.0.0.1' || host === '[::1]' || host === 'localhost' ? null : 'may use http only on a loopback host (RFC 8252 §7.3); use https'
  }
  // RFC 8252 §7.1: "a URI scheme based on a domain name under their control, expressed in reverse order".
  if (/^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$/.test(scheme)) return null
  return 'must use https, http on a loopback host, or a private-use scheme (RFC 8252 §7.1)'
}

/** `http://<loopback IP or localhost>[:port]<rest>` split at the port, compared without it (RFC 8252 §7.3). */
const LOOPBACK_HTTP = /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(?::(\d{1,5}))?([/?][^#]*)?$/i

/**
 * Whether `uri` is one of the client's registered redirect URIs. RFC 9700
 * §4.1.3: by exact string comparison. With `anyLoopbackPort` (RFC 8252 §7.3,
 * for native apps that listen on an ephemeral port), an `http` URI on a
 * loopback host (`127.0.0.1`, `[::1]`, `localhost`) also matches a
 * registered one that differs in the port only — host, path and query still
 * compared character for character.
 */
export function isRegisteredRedirectUri(client: Pick<Client, 'redirectUris'>, uri: string, options: { readonly anyLoopbackPort?: boolean | undefined } = {}): boolean {
  if (client.redirectUris.includes(uri)) return true
  if (options.anyLoopbackPort !== true) return false
  const requested = LOOPBACK_HTTP.exec(uri)
  if (requested === null || (requested[2] !== undefined && Number(requested[2]) > 65535)) return false
  const host = requested[1]?.toLowerCase()
  const rest = requested[3] ?? ''
  return client.redirectUris.some((registered) => {
    const match = LOOPBACK_HTTP.exec(registered)
    return match !== null && match[1]?.toLowerCase() === host && (match[3] ?? '') === rest
  })
}

/**
 * Builds a {@link Client} record with the secret hashed; returns the record
 * and the clear secret (to show once, never to store). Every redirect URI is
 * checked first ({@link redirectUriProblem}): a `TypeError` for one that may
 * not be registered.
 */
export async function createClient(input: ClientInput): Promise<{ client: Client; clientSecret: string | null }> {
  for (const uri of input.redirectUris ?? []) {
    const problem = redirectUriProblem(uri)
    if (problem !== null) throw configError(`createClient: the redirect URI ${JSON.stringify(String(uri)).slice(0, 80)} ${problem}`)
  }
  const method = input.tokenEndpointAuthMethod ?? 'client_secret_basic'
  const isPublic = method === 'none'
  const secret = isPublic ? null : (input.clientSecret ?? generateToken(32))
  const algorithm = input.secretHash ?? (input.clientSecret === undefined ? 'sha256' : 'scrypt')
  const grantTypes = input.grantTypes ?? ['authorization_code']
  const client: Client = {
    clientId: input.clientId ?? generateToken(16),
    clientSecretHash: secret === null ? null : await hashSecret(secret, algorithm),
    clientName: input.clientName,
    redirectUris: [...(input.redirectUris ?? [])],
    grantTypes: [...grantTypes],
    responseTypes: [...(input.responseTypes ?? defaultResponseTypes(grantTypes))],
    scope: input.scope ?? '',
    tokenEndpointAuthMethod: method,
    metadata: input.metadata,
  }
  return { client, clientSecret: secret }
}

/**
 * The response types that go with grant types (RFC 7591 §2.1: "authorization_code"
 * ↔ "code", "implicit" ↔ "token"), for a client registered without any.
 */
export function defaultResponseTypes(grantTypes: readonly string[]): string[] {
  const out: string[] = []
  if (grantTypes.includes('authorization_code')) out.push('code')
  if (grantTypes.includes('implicit')) out.push('token')
  return out
}
