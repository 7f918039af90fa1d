import { configError, invalidClient, type Client, type ClientAuthMethod } from '@grantkit/core'
import { assertionAlgorithm, assertionClientId, assertionSettings, authenticateAssertion, type AssertionOptions, type VerificationKey } from './internal/assertion.js'

/** The HMAC JWS algorithms of `client_secret_jwt` (RFC 7518 §3.2). */
export const CLIENT_SECRET_JWT_ALGORITHMS: readonly string[] = Object.freeze(['HS256', 'HS384', 'HS512'])

/** Options of {@link clientSecretJwt}. */
export interface ClientSecretJwtOptions extends AssertionOptions {
  /**
   * The client's secret in clear, the HMAC key (OpenID Connect Core §9: "the
   * octets of the UTF-8 representation of the client_secret"), or `null`
   * when it has none. grantkit stores only a hash of the secret, which
   * cannot verify an HMAC: the app keeps the secret where it chooses — a
   * KMS, a secrets manager, or sealed in the client's metadata with
   * {@link sealedClientSecrets}. Called once per authentication, after the
   * client was found and registered for `client_secret_jwt`.
   */
  resolveSecret: (client: Client) => string | Uint8Array | null | Promise<string | Uint8Array | null>
}

/** RFC 7518 §3.2: "A key of the same size as the hash output (for instance, 256 bits for "HS256") or larger MUST be used". */
const MIN_KEY_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 }

/**
 * `client_secret_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID
 * Connect Core §9): a `client_assertion` JWT signed with HMAC keyed by the
 * client secret. The same checks as `privateKeyJwt` (`iss` = `sub` =
 * client_id, `aud`, bounded `exp`, `nbf`/`iat` with skew, single-use `jti`,
 * the client's `token_endpoint_auth_signing_alg`), HMAC algorithms only;
 * the secret comes from `resolveSecret` and must be at least as long as the
 * hash (32 bytes for HS256). Failures are `invalid_client` (401).
 *
 * @example
 * ```ts
 * const secrets = sealedClientSecrets(process.env.CLIENT_SECRET_SEALING_KEY)
 * server.registerClientAuthMethod('client_secret_jwt', clientSecretJwt({ resolveSecret: secrets.resolveSecret }))
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication
 */
export function clientSecretJwt(options: ClientSecretJwtOptions): ClientAuthMethod {
  const settings = assertionSettings('clientSecretJwt', options, CLIENT_SECRET_JWT_ALGORITHMS)
  const { resolveSecret } = options
  if (typeof resolveSecret !== 'function') throw configError('clientSecretJwt: "resolveSecret" must be a function returning the client secret')

  async function resolveKey(client: Client, header: { alg?: string }): Promise<VerificationKey> {
    const secret = await resolveSecret(client)
    if (secret === null) throw invalidClient('client authentication failed')
    const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
    if (!(key instanceof Uint8Array)) throw new TypeError('clientSecretJwt: resolveSecret must answer a string, a Uint8Array or null')
    if (key.length < (MIN_KEY_BYTES[header.alg ?? ''] ?? Infinity)) {
      throw invalidClient(`the client secret is too short for ${header.alg} (RFC 7518 §3.2)`)
    }
    return { key }
  }

  return {
    matches(request) {
      const alg = assertionAlgorithm(request)
      return typeof alg === 'string' && alg.startsWith('HS')
    },
    clientId: assertionClientId,
    authenticate: (request, context) => authenticateAssertion('client_secret_jwt', settings, resolveKey, request, context),
    metadata: () => ({ token_endpoint_auth_signing_alg_values_supported: [...settings.algorithms] }),
  }
}
