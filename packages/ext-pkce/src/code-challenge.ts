import { createHash } from 'node:crypto'
import {
  OAuthError,
  configError,
  getParam,
  isPublicClient,
  timingSafeEqualString,
  type AuthorizationHookContext,
  type Client,
  type GrantClass,
  type GrantExtension,
  type TokenHookContext,
} from '@grantkit/core'

/**
 * A PKCE code challenge method (RFC 7636 §4.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2
 */
export type CodeChallengeMethod = 'S256' | 'plain'

/** Options of {@link CodeChallenge}. */
export interface CodeChallengeOptions {
  /** Require a code challenge from every client. Default `false`. */
  required?: boolean
  /**
   * Accept the `plain` method at all. Default `false`: only `S256` is
   * accepted, and a challenge without a method (which RFC 7636 §4.3 makes
   * `plain`) is refused. RFC 9700 §2.1.1: clients "SHOULD use PKCE code
   * challenge methods that do not expose the PKCE verifier in the
   * authorization request [...] Currently, S256 is the only such method";
   * `plain` sends the verifier itself in the front channel, where logs,
   * browser history and referrers can see it. `true` lets confidential
   * clients use `plain` (and public ones too with `allowPlainForPublicClients`).
   */
  allowPlain?: boolean
  /**
   * The accepted methods, in the order advertised in metadata. Default
   * `['S256']`, or `['S256', 'plain']` with `allowPlain: true`; listing
   * `plain` without `allowPlain: true` is a configuration error.
   */
  methods?: readonly CodeChallengeMethod[]
  /** Require a code challenge from public clients (RFC 9700 §2.1.1). Default `true`. */
  requirePublicClients?: boolean
  /**
   * Let public clients use `plain` too; needs `allowPlain: true`. Default
   * `false`: a public client must use `S256` (RFC 9700 §2.1.1), whatever
   * `methods` says.
   */
  allowPlainForPublicClients?: boolean
}

const METHODS: readonly CodeChallengeMethod[] = ['S256', 'plain']

// RFC 7636 §4.1 and §4.2: code-verifier = code-challenge = 43*128unreserved,
// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/

/**
 * The S256 code challenge of a verifier: `BASE64URL(SHA256(ASCII(code_verifier)))`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2
 */
export function createS256CodeChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier, 'ascii').digest('base64url')
}

/**
 * Proof Key for Code Exchange (PKCE), an extension of the authorization code
 * grant: `server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge()])`.
 *
 * At the authorization endpoint it reads `code_challenge` and
 * `code_challenge_method`, checks them, and binds the challenge to the code.
 * Only `S256` is accepted unless `allowPlain` is set (RFC 9700 §2.1.1). An
 * absent `code_challenge_method` means `plain` (RFC 7636 §4.3: "Defaults
 * to "plain" if not present in the request"), so it is refused too unless
 * `plain` is enabled. A missing challenge is `invalid_request` when
 * `required`, or for a public client when `requirePublicClients`.
 *
 * A `plain` challenge is the verifier itself: it is stored as its SHA-256
 * (`BASE64URL(SHA256(challenge))`, the S256 transformation), never in
 * clear, and the verifier is checked by hashing it alike. An S256 challenge
 * is stored as sent.
 *
 * At the token endpoint a code issued with a challenge needs the matching
 * `code_verifier`; a `code_verifier` for a code issued without a challenge
 * is rejected too (PKCE downgrade, RFC 9700 §4.8.2). Both fail with
 * `invalid_grant`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-2.1.1
 */
export class CodeChallenge implements GrantExtension {
  /** This extension owns the PKCE policy: the grant's `REQUIRE_PKCE_FOR_PUBLIC_CLIENTS` is not consulted. */
  readonly codeChallengePolicy = true
  /** Whether every client must send a challenge. */
  readonly required: boolean
  /** The accepted methods. */
  readonly methods: readonly CodeChallengeMethod[]
  /** Whether public clients must send a challenge. */
  readonly requirePublicClients: boolean
  /** Whether `plain` is accepted at all. */
  readonly allowPlain: boolean
  /** Whether public clients may use `plain`. */
  readonly allowPlainForPublicClients: boolean
  /** Whether a grant it is registered on accepts public clients (`none`); then `plain` is advertised only if they may use it. */
  #servesPublicClients = false

  constructor(options: CodeChallengeOptions = {}) {
    if (typeof options !== 'object' || options === null) throw configError('CodeChallenge: options must be an object')
    const { required = false, allowPlain = false, requirePublicClients = true, allowPlainForPublicClients = false } = options
    const { methods = allowPlain === true ? METHODS : ['S256'] } = options
    if (typeof required !== 'boolean') throw configError('CodeChallenge: "required" must be a boolean')
    if (typeof allowPlain !== 'boolean') throw configError('CodeChallenge: "allowPlain" must be a boolean')
    if (typeof requirePublicClients !== 'boolean') throw configError('CodeChallenge: "requirePublicClients" must be a boolean')
    if (typeof allowPlainForPublicClients !== 'boolean') throw configError('CodeChallenge: "allowPlainForPublicClients" must be a boolean')
    if (!Array.isArray(methods) || methods.length === 0 || methods.some((m) => !METHODS.includes(m))) {
      throw configError('CodeChallenge: "methods" must be a non-empty array of "S256" and/or "plain"')
    }
    // RFC 9700 §2.1.1: plain exposes the verifier in the authorization request, so it is never on by accident.
    if (!allowPlain && methods.includes('plain')) throw configError('CodeChallenge: "plain" in "methods" needs allowPlain: true (RFC 9700 section 2.1.1)')
    if (!allowPlain && allowPlainForPublicClients) throw configError('CodeChallenge: "allowPlainForPublicClients" needs allowPlain: true (RFC 9700 section 2.1.1)')
    this.required = required
    this.allowPlain = allowPlain
    this.methods = Object.freeze([...new Set(methods)])
    this.requirePublicClients = requirePublicClients
    this.allowPlainForPublicClients = allowPlainForPublicClients
  }

  /** Accepts only grants serving both endpoints, as the authorization code grant does. */
  register(grantClass: GrantClass): void {
    if (!grantClass.AUTHORIZATION_ENDPOINT || !grantClass.TOKEN_ENDPOINT) {
      throw configError(`CodeChallenge: ${grantClass.name || 'the grant'} must serve both the authorization and the token endpoint`)
    }
    if (grantClass.TOKEN_ENDPOINT_AUTH_METHODS.includes('none')) this.#servesPublicClients = true
  }

  /**
   * RFC 8414 `code_challenge_methods_supported`: only the methods every
   * client of the grant may use, so `plain` is left out while public
   * clients (which the grant accepts) are refused it.
   *
   * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
   */
  metadata(): Record<string, unknown> {
    const plainForAll = this.allowPlainForPublicClients || !this.#servesPublicClients
    return { code_challenge_methods_supported: this.methods.filter((m) => m !== 'plain' || plainForAll) }
  }

  /** Whether a challenge is required of this client (`required`, or `requirePublicClients` for a public one). */
  requiresChallenge(client: Client): boolean {
    return this.required || (this.requirePublicClients && isPublicClient(client))
  }

  /**
   * Reads and checks `code_challenge` and `code_challenge_method`, and sets
   * them on the authorization request.
   *
   * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.4
   */
  afterValidateAuthorizationRequest({ authorization }: AuthorizationHookContext): void {
    const { params, client } = authorization
    const challenge = getParam(params, 'code_challenge')
    const method = getParam(params, 'code_challenge_method')
    if (challenge === undefined) {
      if (this.requiresChallenge(client)) {
        throw new OAuthError('invalid_request', 'code challenge required (RFC 7636 §4.4.1)')
      }
      if (method !== undefined) throw new OAuthError('invalid_request', 'code_challenge_method was sent without code_challenge')
      return
    }
    if (!PKCE_VALUE.test(challenge)) {
      throw new OAuthError('invalid_request', 'code_challenge must be 43 to 128 unreserved characters (RFC 7636 §4.2)')
    }
    // RFC 7636 §4.3: the method "Defaults to "plain" if not present in the request".
    const effective = method ?? 'plain'
    if (!(this.methods as readonly string[]).includes(effective)) {
      // RFC 7636 §4.4.1: an unsupported transformation is "invalid_request".
      throw new OAuthError(
        'invalid_request',
        method === undefined ? 'code_challenge_method is required: "plain" is not supported' : 'the code challenge method is not supported',
      )
    }
    // RFC 9700 §2.1.1: S256 is the only method that does not expose the
    // verifier in the authorization request; public clients have nothing else.
    if (effective === 'plain' && isPublicClient(client) && !this.allowPlainForPublicClients) {
      throw new OAuthError('invalid_request', 'public clients must use code_challenge_method=S256 (RFC 9700 §2.1.1)')
    }
    // A plain challenge is the verifier: keep only its hash, so that the stored code never holds the verifier.
    authorization.codeChallenge = effective === 'plain' ? createS256CodeChallenge(challenge) : challenge
    authorization.codeChallengeMethod = effective
  }

  /**
   * Verifies `code_verifier` against the code's challenge: the stored value
   * is `BASE64URL(SHA256(verifier))` for both methods (S256 as the client
   * sent it, plain as hashed when the code was issued).
   *
   * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.6
   * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.8.2
   */
  afterValidateTokenRequest({ grant, client, code }: TokenHookContext): void {
    if (code === undefined) throw new TypeError('CodeChallenge: the grant did not pass the authorization code to afterValidateTokenRequest')
    const verifier = grant.param('code_verifier')
    if (code.codeChallenge === null) {
      // Checked again at the token endpoint: a code store that lost the
      // challenge must not turn PKCE off without anyone noticing.
      if (this.requiresChallenge(client)) throw new OAuthError('invalid_grant', 'the authorization code was issued without the required code challenge')
      // RFC 9700 §4.8.2: "authorization servers MUST ensure that if there was
      // no code_challenge in the authorization request, a request to the
      // token endpoint containing a code_verifier is rejected."
      if (verifier !== undefined) throw new OAuthError('invalid_grant', 'code_verifier was sent, but the code was issued without a code challenge')
      return
    }
    if (verifier === undefined) throw new OAuthError('invalid_grant', 'code_verifier is required: the code was issued with a code challenge')
    if (!PKCE_VALUE.test(verifier)) {
      throw new OAuthError('invalid_grant', 'code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)')
    }
    const method = code.codeChallengeMethod
    if (method !== 'S256' && method !== 'plain' && method !== null) throw new OAuthError('invalid_grant', 'the code was issued with an unknown code challenge method')
    // RFC 7636 §4.6: S256 compares BASE64URL(SHA256(code_verifier)) with the challenge; plain compares the verifier with
    // the challenge, which was stored hashed alike (a method-less record counts as plain, RFC 7636 §4.3). "If the values
    // are not equal, an error response indicating "invalid_grant" [...] MUST be returned."
    if (!timingSafeEqualString(createS256CodeChallenge(verifier), code.codeChallenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code challenge')
  }
}
