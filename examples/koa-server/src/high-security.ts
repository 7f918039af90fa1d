import { createHmac, randomBytes } from 'node:crypto'
import { IntrospectionEndpoint, RevocationEndpoint, type AuthorizationServer } from '@grantkit/core'
import { clientSecretJwt, privateKeyJwt, sealedClientSecrets, type SealedClientSecrets } from '@grantkit/client-auth-jwt'
import { DPoP } from '@grantkit/ext-dpop'
import { pushedAuthorizationRequestEndpoint, type PushedRequestStore } from '@grantkit/par'
import { createJsonCache } from '@grantkit/safe-fetch'

/**
 * The JWT client authentication methods (RFC 7523 §2.2, OpenID Connect Core
 * §9) that {@link registerHighSecurity} registers: grants and endpoints
 * accept them when they list them (docs/demo-server.md "JWT client authentication").
 */
export const JWT_CLIENT_AUTH_METHODS = ['private_key_jwt', 'client_secret_jwt'] as const

/** Every client authentication method of the demo, the JWT ones included: the client's registered method decides. */
export const HIGH_SECURITY_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', ...JWT_CLIENT_AUTH_METHODS, 'none'] as const

/** The methods of a confidential client: {@link HIGH_SECURITY_AUTH_METHODS} without `none`. */
export const CONFIDENTIAL_AUTH_METHODS = HIGH_SECURITY_AUTH_METHODS.filter((method) => method !== 'none')

/** Revocation (RFC 7009 §2.1) with every method of the demo, the JWT ones included. */
export class DemoRevocationEndpoint extends RevocationEndpoint {
  static override CLIENT_AUTH_METHODS: readonly string[] = HIGH_SECURITY_AUTH_METHODS
}

/** Introspection (RFC 7662 §2.1) with every method of the demo, the JWT ones included. */
export class DemoIntrospectionEndpoint extends IntrospectionEndpoint {
  static override CLIENT_AUTH_METHODS: readonly string[] = HIGH_SECURITY_AUTH_METHODS
}

/**
 * The keys several processes of one issuer must share, and what they seal:
 * `client_secret_jwt` secrets (AES-256-GCM, `metadata.sealed_client_secret`:
 * the seed, applied at every start, seals each such client's secret, and
 * `client_secret_jwt` opens it; RFC 7523 §2.2 needs the secret itself, a hash
 * cannot check an HMAC) and the DPoP nonces (RFC 9449 §8). Random per process
 * until {@link shareKeysAcrossProcesses} derives them from `OAUTH_CSRF_SECRET`.
 */
let processClientSecrets: SealedClientSecrets = sealedClientSecrets(randomBytes(32))
let dpopNonceSecret: Buffer = randomBytes(32)

/**
 * Derives the `client_secret_jwt` sealing key and the DPoP nonce key from the
 * key of `OAUTH_CSRF_SECRET` (HMAC-SHA256 with distinct labels), so that every
 * process started with the same secret opens the others' sealed secrets and
 * accepts their nonces (docs/deployment.md). Call it before the seed is
 * applied and the server is built.
 */
export function shareKeysAcrossProcesses(key: Buffer): void {
  processClientSecrets = sealedClientSecrets(createHmac('sha256', key).update('grantkit demo: client_secret_jwt sealing').digest())
  dpopNonceSecret = createHmac('sha256', key).update('grantkit demo: DPoP nonces').digest()
}

/** Where this process seals and opens `client_secret_jwt` secrets (see {@link shareKeysAcrossProcesses}). */
export function processSecrets(): SealedClientSecrets {
  return processClientSecrets
}

/** Options of {@link registerHighSecurity}. */
export interface HighSecurityOptions {
  /**
   * `OAUTH_ALLOW_INSECURE_FETCH=1`: a client's `jwks_uri` may also be an
   * `http` URL of a loopback address (for test suites). Default: `https`
   * URLs of public addresses only.
   */
  allowInsecureFetch?: boolean | undefined
  /** Where `client_secret_jwt` secrets are opened from; default {@link processSecrets}. */
  clientSecrets?: SealedClientSecrets | undefined
  /** `OAUTH_PAR_TTL`: seconds a pushed request's `request_uri` lives (RFC 9126 §2.2 `expires_in`, 1–600); default the package's, 300. */
  parTtl?: number | undefined
  /**
   * Where pushed requests wait (RFC 9126 §2.2): the store's database, so that
   * a request pushed to one process is usable at every other; default the
   * PAR package's memory store (one process).
   */
  pushedRequests?: PushedRequestStore | undefined
}

/** What {@link registerHighSecurity} answers: the grant extensions to register. */
export interface HighSecurity {
  /**
   * DPoP (RFC 9449) with server nonces (§8), for every grant that issues
   * tokens: the proof is checked before the grant reads the request, so a
   * `use_dpop_nonce` answer spends no code, device code or assertion, and
   * the client retries with the nonce.
   */
  readonly dpop: DPoP
}

/**
 * The demo's second-wave security features (docs/demo-server.md):
 *
 * - `private_key_jwt` (keys from the client's `jwks` or `jwks_uri`) and
 *   `client_secret_jwt` (the secret sealed in the client's metadata), RFC
 *   7523 §2.2: grants and endpoints accept them when they list
 *   {@link HIGH_SECURITY_AUTH_METHODS};
 * - the pushed authorization request endpoint (RFC 9126 §2) at `/par`, which
 *   takes every registered method; clients registered with
 *   `require_pushed_authorization_requests: true` must use it (§6); its
 *   `request_uri` lives `parTtl` seconds (§2.2), in `pushedRequests`;
 * - DPoP (RFC 9449): the answered extensions go to `registerGrant` of each
 *   grant that issues tokens; `/api/me` accepts DPoP tokens through core's
 *   resource guard (§7).
 *
 * Call it before the grants are registered (their extensions come from it).
 */
export function registerHighSecurity(server: AuthorizationServer, options: HighSecurityOptions = {}): HighSecurity {
  const secrets = options.clientSecrets ?? processSecrets()
  // RFC 7591 §2 jwks_uri: fetched with safe-fetch's limits; loopback http only when the operator allows it.
  const jwksCache = createJsonCache(options.allowInsecureFetch === true ? { allowHttp: true, allowAddresses: ['loopback'] } : {})
  server.registerClientAuthMethod('private_key_jwt', privateKeyJwt({ jwksCache }))
  server.registerClientAuthMethod('client_secret_jwt', clientSecretJwt({ resolveSecret: secrets.resolveSecret }))
  // RFC 9126 §2: optional for every client, unless its registration requires it (§6); §2.2: the request_uri's lifetime.
  server.registerEndpoint(
    pushedAuthorizationRequestEndpoint({
      ...(options.parTtl === undefined ? {} : { lifetime: options.parTtl }),
      ...(options.pushedRequests === undefined ? {} : { store: options.pushedRequests }),
    }),
  )
  return { dpop: new DPoP({ nonce: { secret: dpopNonceSecret } }) }
}
