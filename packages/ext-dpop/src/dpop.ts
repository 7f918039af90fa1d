import { createHash, createHmac, randomBytes } from 'node:crypto'
import {
  OAuthError,
  assertStoreCapabilities,
  configError,
  getParam,
  timingSafeEqualString,
  type AuthorizationHookContext,
  type AuthorizationServer,
  type BaseGrant,
  type Client,
  type GrantClass,
  type GrantExtension,
  type IssueTokensHookContext,
  type OAuthRequest,
  type TokenHookContext,
  type TokenResponseHookContext,
} from '@grantkit/core'
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK } from 'jose'

/** The JWS algorithms a {@link DPoP} extension may accept: asymmetric only (RFC 9449 §4.3 item 5). */
export const DPOP_SIGNING_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'] as const

/** One of {@link DPOP_SIGNING_ALGORITHMS}. */
export type DPoPSigningAlgorithm = (typeof DPOP_SIGNING_ALGORITHMS)[number]

/** Options of {@link DPoP}. */
export interface DPoPOptions {
  /** Algorithms accepted for proofs (`dpop_signing_alg_values_supported`, RFC 9449 §5.1). Default `['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256']`. */
  algorithms?: readonly DPoPSigningAlgorithm[]
  /** Seconds a proof's `iat` may lie in the past (RFC 9449 §4.3 item 11, §11.1). Up to 60 s in the future is tolerated. Default 300. */
  maxAge?: number
  /**
   * Server-provided nonces (RFC 9449 §8): a proof without a current nonce
   * is refused with `use_dpop_nonce` and a `DPoP-Nonce` header, which the
   * client retries with. `false` (default) for none; `true` for nonces with
   * a random secret of this process; or the `secret` (32 bytes or more)
   * shared by every server instance, and the nonce `lifetime` in seconds
   * (default 300; the previous nonce is accepted too).
   */
  nonce?: boolean | { readonly secret?: string | Uint8Array; readonly lifetime?: number }
}

/** A proof that passed the token endpoint's checks. */
interface TokenEndpointProof {
  readonly jkt: string
}

/** Members of a JWK that only a private or symmetric key has (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
/** Seconds a proof's `iat` may be ahead of the server's clock. */
const FUTURE_SKEW = 60
/** The largest DPoP header read, in characters. */
const MAX_PROOF_LENGTH = 8192
const JKT = /^[A-Za-z0-9_-]{43}$/

function invalidProof(description: string): OAuthError {
  return new OAuthError('invalid_dpop_proof', description)
}

/** The `cnf.jkt` a token or code was bound to (RFC 9449 §6, §10), if any. */
function boundKey(extra: Readonly<Record<string, unknown>> | undefined, path: 'claims' | 'code'): string | undefined {
  if (path === 'code') {
    const jkt = extra?.['dpop_jkt']
    return typeof jkt === 'string' ? jkt : undefined
  }
  const claims = extra?.['claims']
  const cnf = typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>)['cnf'] : undefined
  const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>)['jkt'] : undefined
  return typeof jkt === 'string' ? jkt : undefined
}

/** Whether the client was registered with `dpop_bound_access_tokens: true` (RFC 9449 §5.2). */
function requiresDPoP(client: Client): boolean {
  return client.metadata?.['dpop_bound_access_tokens'] === true
}

/** Whether two URLs name the same resource, ignoring query and fragment (RFC 9449 §4.3 item 9). */
function sameResource(htu: string, url: string): boolean {
  try {
    const a = new URL(htu)
    const b = new URL(url)
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname
  } catch {
    return false
  }
}

/**
 * DPoP (RFC 9449), as a grant extension for the grants that issue tokens
 * (`server.registerGrant(Grant, [dpop])`; one instance may serve several
 * grants):
 *
 * - a token request with a `DPoP` header has its proof checked (§4.3: one
 *   header, `typ` `dpop+jwt`, an accepted asymmetric `alg`, a public `jwk`,
 *   the signature, `htm` POST and `htu` the token endpoint, `iat` within
 *   `maxAge`, the `jti` once through the store's `markUsed`, the nonce when
 *   nonces are on); a failure is 400 `invalid_dpop_proof` (§5);
 * - the tokens get `cnf: { jkt }` (§6, the RFC 7638 thumbprint: stored,
 *   introspected, in JWT access tokens) and the response
 *   `token_type: "DPoP"` (§5);
 * - refresh tokens of public clients are bound to the key: a refresh needs a
 *   proof of the same key (§5); a confidential client may change keys;
 * - a client registered with `dpop_bound_access_tokens: true` must send a
 *   proof (§5.2);
 * - `dpop_jkt` at the authorization endpoint binds the code to a key (§10);
 * - metadata `dpop_signing_alg_values_supported` (§5.1).
 *
 * Protected resources check DPoP tokens with every adapter's
 * `requireToken` (core's resource guard, RFC 9449 §7).
 *
 * @example
 * ```ts
 * const dpop = new DPoP({ nonce: { secret: process.env.DPOP_NONCE_SECRET } })
 * server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge(), dpop])
 * server.registerGrant(ClientCredentialsGrant, [dpop])
 * server.registerGrant(RefreshTokenGrant, [dpop])
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449
 */
export class DPoP implements GrantExtension {
  /** The accepted algorithms. */
  readonly algorithms: readonly DPoPSigningAlgorithm[]
  /** Seconds a proof's `iat` may lie in the past. */
  readonly maxAge: number
  readonly #nonce: { readonly secret: Buffer; readonly lifetime: number } | null
  readonly #proofs = new WeakMap<BaseGrant, TokenEndpointProof>()

  /** Checks the options, with a `TypeError` carrying `code: 'ERR_GRANTKIT_CONFIG'`. */
  constructor(options: DPoPOptions = {}) {
    if (typeof options !== 'object' || options === null) throw configError('DPoP: options must be an object')
    const algorithms = options.algorithms ?? ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256']
    if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => !(DPOP_SIGNING_ALGORITHMS as readonly string[]).includes(a))) {
      throw configError(`DPoP: "algorithms" must be a non-empty list of ${DPOP_SIGNING_ALGORITHMS.join(', ')} (no none, no HMAC: RFC 9449 §4.3)`)
    }
    const maxAge = options.maxAge ?? 300
    if (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 1 || maxAge > 3600) throw configError('DPoP: "maxAge" must be an integer between 1 and 3600 seconds')
    this.algorithms = [...algorithms]
    this.maxAge = maxAge
    this.#nonce = DPoP.#nonceOptions(options.nonce)
  }

  static #nonceOptions(nonce: DPoPOptions['nonce']): { secret: Buffer; lifetime: number } | null {
    if (nonce === undefined || nonce === false) return null
    if (nonce === true) return { secret: randomBytes(32), lifetime: 300 }
    if (typeof nonce !== 'object' || nonce === null) throw configError('DPoP: "nonce" must be a boolean or an object')
    const secret = nonce.secret === undefined ? randomBytes(32) : Buffer.from(nonce.secret)
    if (secret.length < 32) throw configError('DPoP: "nonce.secret" must have 32 bytes or more')
    const lifetime = nonce.lifetime ?? 300
    if (typeof lifetime !== 'number' || !Number.isInteger(lifetime) || lifetime < 10 || lifetime > 3600) throw configError('DPoP: "nonce.lifetime" must be an integer between 10 and 3600 seconds')
    return { secret, lifetime }
  }

  /** Refuses a store without the replay capability (proof `jti`s are remembered there, RFC 9449 §11.1). */
  register(_grant: GrantClass, server: AuthorizationServer): void {
    assertStoreCapabilities(server.store, ['replay'], 'DPoP')
  }

  /** RFC 9449 §5.1: `dpop_signing_alg_values_supported`. */
  metadata(): Record<string, unknown> {
    return { dpop_signing_alg_values_supported: [...this.algorithms] }
  }

  /**
   * The DPoP nonce for the server's time (RFC 9449 §8): an HMAC of the
   * current time window, so every instance sharing the secret issues and
   * accepts the same nonces without storing them. `null` when nonces are off.
   */
  currentNonce(server: AuthorizationServer): string | null {
    return this.#nonce === null ? null : this.#nonceFor(Math.floor(server.now().getTime() / 1000 / this.#nonce.lifetime))
  }

  #nonceFor(window: number): string {
    return createHmac('sha256', (this.#nonce as { secret: Buffer }).secret).update(`dpop-nonce:${window}`).digest('base64url')
  }

  // ---- the authorization endpoint (RFC 9449 §10) ------------------------------------

  /** RFC 9449 §10: `dpop_jkt` binds the code to a key's thumbprint. */
  afterValidateAuthorizationRequest({ authorization }: AuthorizationHookContext): void {
    const jkt = getParam(authorization.params, 'dpop_jkt')
    if (jkt === undefined) return
    if (!JKT.test(jkt)) throw new OAuthError('invalid_request', 'dpop_jkt must be a base64url SHA-256 JWK thumbprint (RFC 9449 §10)')
    authorization.extra['dpop_jkt'] = jkt
  }

  // ---- the token endpoint (RFC 9449 §5) -----------------------------------------------

  /** Checks the request's proof and what the client, the code or the refresh token require of it. */
  async afterValidateTokenRequest({ grant, client, code, refreshToken }: TokenHookContext): Promise<void> {
    const proof = await this.verifyTokenRequest(grant.request, grant.server)
    const codeKey = code === undefined ? undefined : boundKey(code.extra, 'code')
    const refreshKey = refreshToken === undefined || client.tokenEndpointAuthMethod !== 'none' ? undefined : boundKey(refreshToken.extra, 'claims')
    if (proof === null) {
      // RFC 9449 §5.2: "the authorization server MUST reject token requests from this client that do not contain the DPoP header".
      if (requiresDPoP(client)) throw invalidProof('this client must send a DPoP proof (dpop_bound_access_tokens)')
      if (codeKey !== undefined) throw invalidProof('the authorization code is bound to a DPoP key (dpop_jkt): a DPoP proof is required')
      if (refreshKey !== undefined) throw invalidProof('the refresh token is DPoP-bound: a DPoP proof of its key is required')
      return
    }
    // RFC 9449 §10: the proof's key must be the one dpop_jkt named.
    if (codeKey !== undefined && codeKey !== proof.jkt) throw invalidProof('the DPoP proof was made with another key than the authorization code is bound to')
    // RFC 9449 §5: a public client's refresh token is bound to its key.
    if (refreshKey !== undefined && refreshKey !== proof.jkt) throw invalidProof('the DPoP proof was made with another key than the refresh token is bound to')
    this.#proofs.set(grant, proof)
  }

  /** RFC 9449 §6: the tokens are bound to the proof's key, `cnf.jkt`; without a proof, no binding is carried over. */
  beforeIssueTokens({ grant, claims }: IssueTokensHookContext): void {
    const proof = this.#proofs.get(grant)
    const mutable = claims as Record<string, unknown>
    if (proof === undefined) delete mutable['cnf']
    else mutable['cnf'] = { jkt: proof.jkt }
  }

  /** RFC 9449 §5: a DPoP-bound access token's `token_type` is `DPoP`. */
  beforeTokenResponse({ grant, body }: TokenResponseHookContext): void {
    if (this.#proofs.has(grant)) body.token_type = 'DPoP'
  }

  /**
   * Checks the `DPoP` header of a token request by RFC 9449 §4.3 against
   * the server's token endpoint; `null` without one. Throws
   * `invalid_dpop_proof` for a bad proof, `use_dpop_nonce` (with the
   * `DPoP-Nonce` header) when a nonce is due (§8).
   */
  async verifyTokenRequest(request: Pick<OAuthRequest, 'headers' | 'method'>, server: AuthorizationServer): Promise<TokenEndpointProof | null> {
    const value = request.headers['dpop']
    if (value === undefined) return null
    // §4.3 item 1: "There is not more than one DPoP HTTP request header field" (Node joins repeated ones with ", ").
    const proof = typeof value === 'string' ? value : value.length === 1 ? (value[0] as string) : ''
    if (proof === '' || /[,\s]/.test(proof) || proof.length > MAX_PROOF_LENGTH) throw invalidProof('exactly one DPoP proof is allowed')
    const now = server.now()
    let header: Record<string, unknown>
    try {
      header = decodeProtectedHeader(proof) as Record<string, unknown>
    } catch {
      throw invalidProof('the DPoP proof is not a JWT')
    }
    // §4.3 item 7: "the jwk JOSE Header Parameter does not contain a private key".
    const jwk = header['jwk']
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw invalidProof('the DPoP proof has no jwk')
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) throw invalidProof('the DPoP proof\'s jwk must be a public key')
    let claims: Record<string, unknown>
    try {
      // §4.3 items 2-6: a JWT with typ dpop+jwt, an accepted alg, signed by its jwk.
      claims = (await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...this.algorithms], currentDate: now })).payload as Record<string, unknown>
    } catch {
      throw invalidProof('the DPoP proof is invalid: typ, alg, jwk or signature')
    }
    if (header['typ'] !== 'dpop+jwt') throw invalidProof('the DPoP proof must have typ "dpop+jwt"')
    const { jti, htm, htu, iat } = claims
    if (typeof jti !== 'string' || jti === '' || jti.length > 256) throw invalidProof('the DPoP proof has no valid jti')
    // §4.3 item 8: htm; the token endpoint is POST only (RFC 6749 §3.2).
    if (htm !== request.method.toUpperCase()) throw invalidProof('the DPoP proof was made for another HTTP method')
    // §4.3 item 9: htu is the token endpoint, ignoring query and fragment.
    if (typeof htu !== 'string' || !sameResource(htu, server.tokenEndpointUrl)) throw invalidProof('the DPoP proof was made for another URL')
    // §4.3 item 11: iat within the window.
    const seconds = Math.floor(now.getTime() / 1000)
    if (typeof iat !== 'number' || !Number.isFinite(iat) || iat > seconds + FUTURE_SKEW || iat < seconds - this.maxAge) {
      throw invalidProof('the DPoP proof is expired or not yet valid (iat)')
    }
    // §4.3 item 10, §8: the server's nonce, when it requires one.
    if (this.#nonce !== null) {
      const window = Math.floor(seconds / this.#nonce.lifetime)
      const nonce = claims['nonce']
      const current = this.#nonceFor(window)
      if (typeof nonce !== 'string' || !(timingSafeEqualString(nonce, current) || timingSafeEqualString(nonce, this.#nonceFor(window - 1)))) {
        throw new OAuthError('use_dpop_nonce', 'the authorization server requires a DPoP nonce in the proof', { headers: { 'dpop-nonce': current } })
      }
    }
    const jkt = await calculateJwkThumbprint(jwk as JWK, 'sha256')
    // §11.1: a proof is accepted once (its key and jti, hashed, until it is too old anyway).
    const key = `dpop:${createHash('sha256').update(`${jkt}:${jti}`).digest('base64url')}`
    const until = new Date((iat + this.maxAge + 1) * 1000)
    if (!(await server.store.markUsed(key, until, now))) throw invalidProof('the DPoP proof was already used')
    return { jkt }
  }
}

