import { createHash, createHmac, randomBytes } from 'node:crypto'
import {
  OAuthError,
  assertStoreCapabilities,
  configError,
  getParam,
  timingSafeEqualString,
  verifyDPoPProof,
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
  type VerifiedDPoPProof,
} from '@grantkit/core'

/**
 * The JWS algorithms a {@link DPoP} extension may accept: asymmetric only
 * (RFC 9449 §4.3 item 5), the same list as core's `DPOP_ALGORITHMS`, whose
 * `verifyDPoPProof` checks every proof.
 */
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
  /**
   * Require a proof with every token request of every client, as if every
   * client were registered with `dpop_bound_access_tokens: true` (RFC 9449
   * §5.2): a request without one is 400 `invalid_dpop_proof`, so that every
   * token the grants issue is DPoP-bound. Default `false`: the client
   * metadata decides.
   */
  required?: boolean
}

/** A proof that passed the token endpoint's checks: the RFC 7638 thumbprint of its key. */
export interface TokenEndpointProof {
  readonly jkt: string
}

/** The context of the `beforeValidateTokenRequest` hook: the grant, before it has read anything of the request. */
type BeforeTokenHookContext = Pick<TokenHookContext, 'grant'>

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

/**
 * DPoP (RFC 9449), as a grant extension for the grants that issue tokens
 * (`server.registerGrant(Grant, [dpop])`; one instance may serve several
 * grants):
 *
 * - a token request with a `DPoP` header has its proof checked by core's
 *   `verifyDPoPProof` (§4.3: one header, `typ` `dpop+jwt`, an accepted
 *   asymmetric `alg`, a public `jwk`, the signature, `htm` POST and `htu`
 *   the token endpoint, `iat` within `maxAge`), then the nonce when nonces
 *   are on (§8) and the `jti` once through the store's `markUsed` (§11.1);
 *   a failure is 400 `invalid_dpop_proof` (§5). The check runs in the
 *   `beforeValidateTokenRequest` hook, before the grant authenticates the
 *   client or reads (let alone spends) a code, a device code, an assertion
 *   or a refresh token, so that a `use_dpop_nonce` answer costs the client
 *   nothing;
 * - the tokens get `cnf: { jkt }` (§6, the RFC 7638 thumbprint: stored,
 *   introspected, in JWT access tokens) and the response
 *   `token_type: "DPoP"` (§5);
 * - refresh tokens of public clients are bound to the key: a refresh needs a
 *   proof of the same key (§5); a confidential client may change keys;
 * - a client registered with `dpop_bound_access_tokens: true` must send a
 *   proof (§5.2), and with `required: true` every client must;
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
  /** Whether every token request must carry a proof. */
  readonly required: boolean
  readonly #nonce: { readonly secret: Buffer; readonly lifetime: number } | null
  /** The proof of each token request (`null`: it had none), from the first hook that checked it. */
  readonly #proofs = new WeakMap<BaseGrant, TokenEndpointProof | null>()

  /** Checks the options, with a `TypeError` carrying `code: 'ERR_GRANTKIT_CONFIG'`. */
  constructor(options: DPoPOptions = {}) {
    if (typeof options !== 'object' || options === null) throw configError('DPoP: options must be an object')
    const algorithms = options.algorithms ?? ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256']
    if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => !(DPOP_SIGNING_ALGORITHMS as readonly string[]).includes(a))) {
      throw configError(`DPoP: "algorithms" must be a non-empty list of ${DPOP_SIGNING_ALGORITHMS.join(', ')} (no none, no HMAC: RFC 9449 §4.3)`)
    }
    const maxAge = options.maxAge ?? 300
    if (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 1 || maxAge > 3600) throw configError('DPoP: "maxAge" must be an integer between 1 and 3600 seconds')
    const required = options.required ?? false
    if (typeof required !== 'boolean') throw configError('DPoP: "required" must be a boolean')
    this.algorithms = [...algorithms]
    this.maxAge = maxAge
    this.required = required
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

  /**
   * Checks the request's proof (RFC 9449 §4.3), its nonce (§8) and its
   * `jti` (§11.1) before the grant reads anything: a refused proof, or a
   * `use_dpop_nonce` answer, leaves the code, device code, assertion or
   * refresh token of the request untouched, and the client retries with it.
   */
  async beforeValidateTokenRequest({ grant }: BeforeTokenHookContext): Promise<void> {
    this.#proofs.set(grant, await this.verifyTokenRequest(grant.request, grant.server))
  }

  /** Checks what the client, the code or the refresh token require of the request's proof (checked now if no earlier hook did). */
  async afterValidateTokenRequest({ grant, client, code, refreshToken }: TokenHookContext): Promise<void> {
    let proof = this.#proofs.get(grant)
    if (proof === undefined) {
      proof = await this.verifyTokenRequest(grant.request, grant.server)
      this.#proofs.set(grant, proof)
    }
    const codeKey = code === undefined ? undefined : boundKey(code.extra, 'code')
    const refreshKey = refreshToken === undefined || client.tokenEndpointAuthMethod !== 'none' ? undefined : boundKey(refreshToken.extra, 'claims')
    if (proof === null) {
      // RFC 9449 §5.2: "the authorization server MUST reject token requests from this client that do not contain the DPoP header".
      if (this.required) throw invalidProof('this server requires a DPoP proof with every token request')
      if (requiresDPoP(client)) throw invalidProof('this client must send a DPoP proof (dpop_bound_access_tokens)')
      if (codeKey !== undefined) throw invalidProof('the authorization code is bound to a DPoP key (dpop_jkt): a DPoP proof is required')
      if (refreshKey !== undefined) throw invalidProof('the refresh token is DPoP-bound: a DPoP proof of its key is required')
      return
    }
    // RFC 9449 §10: "verifies that it matches the dpop_jkt parameter value in the authorization request. If they do not match, it MUST reject the request."
    if (codeKey !== undefined && codeKey !== proof.jkt) throw invalidProof('the DPoP proof was made with another key than the authorization code is bound to')
    // RFC 9449 §5: a public client's refresh token is bound to its key.
    if (refreshKey !== undefined && refreshKey !== proof.jkt) throw invalidProof('the DPoP proof was made with another key than the refresh token is bound to')
  }

  /** RFC 9449 §6: the tokens are bound to the proof's key, `cnf.jkt`; without a proof, no binding is carried over. */
  beforeIssueTokens({ grant, claims }: IssueTokensHookContext): void {
    const proof = this.#proofs.get(grant)
    const mutable = claims as Record<string, unknown>
    if (proof === undefined || proof === null) delete mutable['cnf']
    else mutable['cnf'] = { jkt: proof.jkt }
  }

  /** RFC 9449 §5: a DPoP-bound access token's `token_type` is `DPoP`. */
  beforeTokenResponse({ grant, body }: TokenResponseHookContext): void {
    const proof = this.#proofs.get(grant)
    if (proof !== undefined && proof !== null) body.token_type = 'DPoP'
  }

  /**
   * Checks the `DPoP` header of a token request against the server's token
   * endpoint: the proof by RFC 9449 §4.3 with core's `verifyDPoPProof`, the
   * server nonce when nonces are on (§8), then the `jti` once (§11.1);
   * `null` without a header. Throws `invalid_dpop_proof` for a bad proof,
   * `use_dpop_nonce` (with the `DPoP-Nonce` header) when a nonce is due.
   */
  async verifyTokenRequest(request: Pick<OAuthRequest, 'headers' | 'method'>, server: AuthorizationServer): Promise<TokenEndpointProof | null> {
    const value = request.headers['dpop']
    if (value === undefined) return null
    // §4.3 item 1: "There is not more than one DPoP HTTP request header field" (Node joins repeated ones with ", ").
    const proof = typeof value === 'string' ? value : value.length === 1 ? (value[0] as string) : ''
    if (proof === '' || /[,\s]/.test(proof)) throw invalidProof('exactly one DPoP proof is allowed')
    const now = server.now()
    const seconds = Math.floor(now.getTime() / 1000)
    let verified: VerifiedDPoPProof
    try {
      // §4.3 items 2-9 and 11: the JWT, typ, alg, public jwk, signature, jti, htm, htu and iat.
      verified = verifyDPoPProof(proof, { method: request.method, url: server.tokenEndpointUrl, algorithms: this.algorithms, maxAge: this.maxAge, now: seconds })
    } catch (error) {
      if (error instanceof TypeError) throw invalidProof(error.message)
      throw error
    }
    // §4.3 item 10, §8: the server's nonce, when it requires one.
    if (this.#nonce !== null) {
      const window = Math.floor(seconds / this.#nonce.lifetime)
      const nonce = verified.claims['nonce']
      const current = this.#nonceFor(window)
      if (typeof nonce !== 'string' || !(timingSafeEqualString(nonce, current) || timingSafeEqualString(nonce, this.#nonceFor(window - 1)))) {
        throw new OAuthError('use_dpop_nonce', 'the authorization server requires a DPoP nonce in the proof', { headers: { 'dpop-nonce': current } })
      }
    }
    // §11.1: a proof is accepted once (its key and jti, hashed, until it is too old anyway).
    const key = `dpop:${createHash('sha256').update(`${verified.jkt}:${verified.jti}`).digest('base64url')}`
    const until = new Date((verified.iat + this.maxAge + 1) * 1000)
    if (!(await server.store.markUsed(key, until, now))) throw invalidProof('the DPoP proof was already used')
    return { jkt: verified.jkt }
  }
}

