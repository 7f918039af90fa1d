import { configError, invalidClient, type Client, type ClientAuthMethod } from '@grantkit/core'
import { SafeFetchError, createJsonCache, type JsonCache } from '@grantkit/safe-fetch'
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import { assertionAlgorithm, assertionClientId, assertionSettings, authenticateAssertion, type AssertionOptions, type VerificationKey } from './internal/assertion.js'

/**
 * The asymmetric JWS algorithms `private_key_jwt` accepts by default
 * (RFC 7518 §3.1, RFC 8037 `EdDSA`, RFC 9864 `Ed25519`). Never an HMAC
 * algorithm (a public key used as an HMAC secret), never `none`.
 */
export const PRIVATE_KEY_JWT_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
])

/** Options of {@link privateKeyJwt}. */
export interface PrivateKeyJwtOptions extends AssertionOptions {
  /**
   * The cache a client's `jwks_uri` is fetched through, with
   * `@grantkit/safe-fetch`'s limits (https only, public addresses only, no
   * redirects, 5 s, 256 KiB; an unknown `kid` refetches at most once per
   * `refetchInterval`). Default: `createJsonCache()` with its defaults.
   * Share one cache between methods, or pass
   * `createJsonCache({ allowHttp: true, allowAddresses: ['loopback'] })` in tests.
   */
  jwksCache?: JsonCache
}

function localSet(jwks: unknown): JWTVerifyGetKey {
  try {
    return createLocalJWKSet(jwks as JSONWebKeySet)
  } catch {
    throw invalidClient('the client\'s registered keys are not a JWK Set (RFC 7517 §5)')
  }
}

/** Reads a client's `jwks_uri` through the cache: an `invalid_client` when it cannot be fetched, never a 5xx. */
async function fetchSet(cache: JsonCache, uri: string, refetch: boolean): Promise<unknown> {
  try {
    return await cache.get(uri, { refetch })
  } catch (error) {
    // By name too: the cache may come from another copy of safe-fetch (its CJS build, or one an app bundled).
    if (error instanceof SafeFetchError || (error instanceof Error && error.name === 'SafeFetchError')) {
      throw invalidClient(`the client's jwks_uri could not be fetched (${(error as SafeFetchError).code})`)
    }
    throw error
  }
}

/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID
 * Connect Core §9): the client sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
 * and a `client_assertion` JWT signed with its private key. The server
 * checks, and answers `invalid_client` (401) otherwise:
 * - `iss` = `sub` = the client_id (and the body's `client_id`, if present);
 * - `aud`: the issuer, the token endpoint URL, or the URL of the endpoint
 *   the request was sent to;
 * - `exp` required and at most `maxLifetime` ahead; `nbf`, `iat` with `clockSkew`;
 * - `jti` required and accepted once (the server's replay store);
 * - the signature, with an allowed asymmetric algorithm (the client's
 *   `token_endpoint_auth_signing_alg` when registered), by one of the
 *   client's keys: `metadata.jwks` (inline JWK Set) or `metadata.jwks_uri`
 *   (fetched through `jwksCache`; an unknown key refetches once, rate-limited).
 *
 * Register it and list it in the grants and endpoints that accept it:
 * `server.registerClientAuthMethod('private_key_jwt', privateKeyJwt())`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 * @see https://openid.net/specs/openid-connect-core-1_0.html#ClientAuthentication
 */
export function privateKeyJwt(options: PrivateKeyJwtOptions = {}): ClientAuthMethod {
  const settings = assertionSettings('privateKeyJwt', options, PRIVATE_KEY_JWT_ALGORITHMS)
  const cache = options.jwksCache ?? createJsonCache()
  if (typeof cache !== 'object' || cache === null || typeof cache.get !== 'function') throw configError('privateKeyJwt: "jwksCache" must be a JsonCache from createJsonCache')

  async function resolveKey(client: Client): Promise<VerificationKey> {
    const jwks = client.metadata?.['jwks']
    const uri = client.metadata?.['jwks_uri']
    // RFC 7591 §2: "The "jwks_uri" and "jwks" parameters MUST NOT both be present in the same request or response."
    if (jwks !== undefined && uri !== undefined) throw invalidClient('the client registered both jwks and jwks_uri (RFC 7591 §2)')
    if (jwks !== undefined) return { key: localSet(jwks) }
    if (typeof uri !== 'string') throw invalidClient('the client has no registered keys (jwks or jwks_uri)')
    const first = await fetchSet(cache, uri, false)
    return {
      key: localSet(first),
      // A key not in the cached set: the client may have rotated its keys (RFC 7517 §5); refetch once.
      retry: async () => {
        const again = await fetchSet(cache, uri, true)
        return again === first ? null : localSet(again)
      },
    }
  }

  return {
    matches(request) {
      const alg = assertionAlgorithm(request)
      // Every assertion that is not HMAC-signed is this method's, including unreadable ones and `none` (refused later).
      return alg !== null && !(alg !== undefined && alg.startsWith('HS'))
    },
    clientId: assertionClientId,
    authenticate: (request, context) => authenticateAssertion('private_key_jwt', settings, resolveKey, request, context),
    metadata: () => ({ token_endpoint_auth_signing_alg_values_supported: [...settings.algorithms] }),
  }
}
