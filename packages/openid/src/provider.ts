import { createHash } from 'node:crypto'
import { OAuthError, configError, type AuthorizationServer, type Client, type OAuthRequest, type OAuthResponse } from '@grantkit/core'
import { compactVerify, SignJWT, decodeProtectedHeader } from 'jose'
import { pickClaims, scopeClaimNames, SCOPE_CLAIMS } from './claims.js'
import { ID_TOKEN_ALGORITHMS, OpenIDKeySet, type IdTokenAlgorithm } from './key-set.js'

/** What the app's {@link OpenIDProviderOptions.findClaims} hook is given. */
export interface FindClaimsContext {
  /** The client the claims are released to. */
  readonly client: Client
  /** The granted scopes. */
  readonly scopes: readonly string[]
  /** The claim names wanted: those of the scopes (Core §5.4) and those asked for individually (§5.5). */
  readonly claims: readonly string[]
  /** Where they go: the ID token or the UserInfo response. */
  readonly target: 'id_token' | 'userinfo'
}

/** What the app's {@link OpenIDProviderOptions.endSession} hook is given (RP-Initiated Logout 1.0 §2). */
export interface EndSessionContext {
  /** The logout request (query for GET, body for POST). */
  readonly request: OAuthRequest
  /** The client, from `client_id` or the `id_token_hint`'s `aud`, when known. */
  readonly client: Client | null
  /** The verified claims of the `id_token_hint` (possibly expired), when one was sent. */
  readonly idToken: Readonly<Record<string, unknown>> | null
  /** Where the user will be sent afterwards (validated), if anywhere. */
  readonly postLogoutRedirectUri: string | null
  /** `ui_locales` of the request. */
  readonly uiLocales: readonly string[]
}

/** Options of {@link OpenIDProvider}. */
export interface OpenIDProviderOptions {
  /** The ID token signing keys, published in the server's JWK Set. */
  keys: OpenIDKeySet
  /**
   * The user's claims (Core §5.1): return an object with the claims you
   * have for `userId` (the provider keeps only those `context.claims` asks
   * for, never `sub` or other protocol claims), or `null` for an unknown user.
   */
  findClaims?: (userId: string, context: FindClaimsContext) => Promise<Readonly<Record<string, unknown>> | null> | Readonly<Record<string, unknown>> | null
  /**
   * Ends the user's session at the OP (RP-Initiated Logout 1.0 §2): clear
   * your session cookie here. Return a response to answer instead (e.g. a
   * redirect to your "log out?" confirmation page, §2: "the OP SHOULD ask
   * the End-User whether to log out"), or nothing to continue with the
   * redirect to `post_logout_redirect_uri`.
   */
  endSession?: (context: EndSessionContext) => Promise<OAuthResponse | undefined | void> | OAuthResponse | undefined | void
  /** Where users go after a logout without a (valid) `post_logout_redirect_uri`: your "you are logged out" page. Without it: 204. */
  loggedOutPage?: string
  /** ID token lifetime in seconds. Default 3600. At most the key set's `retention`. */
  idTokenLifetime?: number
  /**
   * A secret salt for pairwise subject identifiers (Core §8.1); clients get
   * them with `metadata.subject_type = 'pairwise'` (or all, with
   * `defaultSubjectType`). Keep it stable: changing it changes every `sub`.
   */
  pairwiseSalt?: string
  /** The subject type of clients that register none. Default `public`. */
  defaultSubjectType?: 'public' | 'pairwise'
  /** `claims_supported` in discovery. Default: `sub` and the claims of the standard scopes. */
  claimsSupported?: readonly string[]
  /** Paths of the UserInfo and logout endpoints under the issuer. Default `/userinfo`, `/logout`. */
  paths?: { userinfo?: string; endSession?: string }
  /** Milliseconds since the epoch; default the server's clock. */
  clock?: () => number
}

/** The claims of an ID token we issue, before signing. */
export interface IdTokenInput {
  readonly client: Client
  readonly userId: string
  readonly nonce?: string | undefined
  readonly authTime?: number | undefined
  readonly acr?: string | undefined
  readonly amr?: readonly string[] | undefined
  /** The access token issued with it (`at_hash`, Core §3.1.3.6, §3.2.2.10). */
  readonly accessToken?: string | undefined
  /** The code issued with it (`c_hash`, Core §3.3.2.11). */
  readonly code?: string | undefined
  /** Further claims (end-user claims from `findClaims`). */
  readonly claims?: Readonly<Record<string, unknown>> | undefined
}

/**
 * Where an installed provider hangs on its server: a registered symbol, so
 * that every entry point and build of this package (the main entry, the
 * `implicit` and `hybrid` subpaths, ESM and CommonJS) finds the same one.
 */
const PROVIDER = Symbol.for('grantkit.openid.provider')

function installed(server: AuthorizationServer): OpenIDProvider | undefined {
  return (server as unknown as Record<symbol, OpenIDProvider | undefined>)[PROVIDER]
}

/** The provider {@link OpenIDProvider.install}ed on `server`; a `TypeError` if none is. */
export function providerOf(server: AuthorizationServer, who: string): OpenIDProvider {
  const provider = installed(server)
  if (provider === undefined) throw configError(`${who}: install an OpenIDProvider on the server first (provider.install(server))`)
  return provider
}

/** The hash algorithm of `at_hash`/`c_hash` for a JWS algorithm (Core §3.1.3.6, §3.3.2.11; SHA-512 for Ed25519). */
function hashOf(alg: IdTokenAlgorithm): 'sha256' | 'sha512' {
  return alg === 'EdDSA' ? 'sha512' : 'sha256'
}

/**
 * `at_hash` / `c_hash`: "the base64url encoding of the left-most half of
 * the hash of the octets of the ASCII representation" of the value, hashed
 * with the hash of the ID token's `alg` (Core §3.1.3.6, §3.3.2.11).
 */
export function tokenHash(value: string, alg: IdTokenAlgorithm): string {
  const digest = createHash(hashOf(alg)).update(value, 'ascii').digest()
  return digest.subarray(0, digest.length / 2).toString('base64url')
}

/**
 * The OpenID Provider's configuration, shared by its grants, extensions and
 * endpoints: keys, the app's claims and logout hooks, subject types.
 * {@link install} it on the server once, before registering the OpenID
 * grants and extensions.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html
 */
export class OpenIDProvider {
  readonly keys: OpenIDKeySet
  readonly idTokenLifetime: number
  readonly defaultSubjectType: 'public' | 'pairwise'
  readonly paths: { readonly userinfo: string; readonly endSession: string }
  readonly loggedOutPage: string | undefined
  readonly #options: OpenIDProviderOptions
  #server: AuthorizationServer | null = null

  constructor(options: OpenIDProviderOptions) {
    if (typeof options !== 'object' || options === null) throw configError('OpenIDProvider: options are required')
    if (!(options.keys instanceof OpenIDKeySet)) throw configError('OpenIDProvider: "keys" must be an OpenIDKeySet')
    if (options.keys.signingKey('RS256') === null) throw configError('OpenIDProvider: the key set needs an active RS256 key (OpenID Connect Discovery §3: RS256 MUST be supported)')
    for (const hook of ['findClaims', 'endSession', 'clock'] as const) {
      if (options[hook] !== undefined && typeof options[hook] !== 'function') throw configError(`OpenIDProvider: "${hook}" must be a function`)
    }
    const lifetime = options.idTokenLifetime ?? 3600
    if (!Number.isSafeInteger(lifetime) || lifetime <= 0) throw configError('OpenIDProvider: "idTokenLifetime" must be a positive number of seconds')
    if (lifetime > options.keys.retention) throw configError('OpenIDProvider: "idTokenLifetime" exceeds the key set\'s retention: a retired key would vanish before its tokens expire')
    const subjectType = options.defaultSubjectType ?? 'public'
    if (subjectType !== 'public' && subjectType !== 'pairwise') throw configError('OpenIDProvider: "defaultSubjectType" must be public or pairwise')
    if (options.pairwiseSalt !== undefined && (typeof options.pairwiseSalt !== 'string' || options.pairwiseSalt.length < 16)) {
      throw configError('OpenIDProvider: "pairwiseSalt" must be a secret string of 16 characters or more')
    }
    if (subjectType === 'pairwise' && options.pairwiseSalt === undefined) throw configError('OpenIDProvider: pairwise subjects need "pairwiseSalt"')
    const paths = { userinfo: options.paths?.userinfo ?? '/userinfo', endSession: options.paths?.endSession ?? '/logout' }
    for (const [name, path] of Object.entries(paths)) if (typeof path !== 'string' || !path.startsWith('/')) throw configError(`OpenIDProvider: paths.${name} must start with "/"`)
    if (options.loggedOutPage !== undefined) {
      try {
        new URL(options.loggedOutPage)
      } catch {
        throw configError('OpenIDProvider: "loggedOutPage" must be an absolute URL')
      }
    }
    this.keys = options.keys
    this.idTokenLifetime = lifetime
    this.defaultSubjectType = subjectType
    this.paths = Object.freeze(paths)
    this.loggedOutPage = options.loggedOutPage
    this.#options = options
  }

  /**
   * Installs the provider on `server`: the key set becomes a key source
   * (its public keys are served at `jwks_uri` on every adapter), and an
   * authorization request resolver refuses requests made of a request object
   * alone (see below). Call it before registering the OpenID grants,
   * extensions and endpoints, which find the provider through the server.
   *
   * Request objects are not supported (Core §6; discovery says
   * `request_parameter_supported: false`). A request that carries
   * `response_type` beside its `request` reaches the grant, whose OpenID
   * check answers `request_not_supported` at the client's redirect URI. One
   * that carries only `client_id` and `request` (RFC 9101 §5, as JAR
   * clients send it) would otherwise be refused for its missing
   * `response_type`, which says nothing of the cause: the resolver answers
   * `request_not_supported` for it, on the error page, since its redirect
   * URI is inside the object and cannot be trusted (RFC 6749 §4.1.2.1).
   */
  install(server: AuthorizationServer): this {
    if (installed(server) !== undefined) throw configError('OpenIDProvider.install: the server already has an OpenIDProvider')
    if (this.#server !== null) throw configError('OpenIDProvider.install: this provider is installed on another server')
    Object.defineProperty(server, PROVIDER, { value: this })
    this.#server = server
    server.registerKeySource(this.keys)
    server.registerAuthorizationRequestResolver({
      async resolve(params) {
        // Core section 6.1: an OP that does not support request objects answers request_not_supported.
        if (params.has('request') && !params.has('response_type')) {
          throw new OAuthError('request_not_supported', 'request objects are not supported: send the parameters in the request itself or push them (OpenID Connect Core section 6.1)', { status: 400 })
        }
        return null
      },
    })
    return this
  }

  /** The server the provider is installed on. */
  get server(): AuthorizationServer {
    if (this.#server === null) throw configError('OpenIDProvider: not installed on a server yet')
    return this.#server
  }

  /** Seconds since the epoch. */
  nowSeconds(): number {
    return Math.floor((this.#options.clock?.() ?? this.server.now().getTime()) / 1000)
  }

  /** Whether pairwise subjects are available (a salt is configured). */
  get pairwiseSupported(): boolean {
    return this.#options.pairwiseSalt !== undefined
  }

  /** The client's subject type (`metadata.subject_type`, Core §8), or the default. */
  subjectType(client: Client): 'public' | 'pairwise' {
    const type = client.metadata?.['subject_type']
    return type === 'pairwise' || type === 'public' ? type : this.defaultSubjectType
  }

  /**
   * The sector identifier of a pairwise client (Core §8.1): the host of its
   * `sector_identifier_uri` when registered, else the host of its redirect
   * URIs, which must then be one host. `null` when it has none.
   */
  sectorIdentifier(client: Client): string | null {
    const sector = client.metadata?.['sector_identifier_uri']
    if (typeof sector === 'string') {
      try {
        return new URL(sector).host
      } catch {
        return null
      }
    }
    const hosts = new Set<string>()
    for (const uri of client.redirectUris) {
      try {
        hosts.add(new URL(uri).host)
      } catch {
        return null
      }
    }
    return hosts.size === 1 ? ([...hosts][0] as string) : null
  }

  /**
   * Checks the client's OpenID registration before anything is issued:
   * a pairwise client needs one sector (Core §8.1: several redirect hosts
   * need a `sector_identifier_uri`) and a salt; its signing algorithm must
   * be one we have a key for. `unauthorized_client` otherwise.
   */
  checkClient(client: Client): void {
    if (this.subjectType(client) === 'pairwise') {
      if (!this.pairwiseSupported) throw new OAuthError('unauthorized_client', 'pairwise subject identifiers are not configured on this server')
      if (this.sectorIdentifier(client) === null) {
        throw new OAuthError('unauthorized_client', 'a pairwise client with redirect URIs on several hosts needs a sector_identifier_uri (OpenID Connect Core section 8.1)')
      }
    }
    this.algorithmFor(client)
  }

  /** The `sub` the client sees for a user: the local id (public) or a salted hash per sector (pairwise, Core §8.1). */
  subject(client: Client, userId: string): string {
    if (this.subjectType(client) === 'public') return userId
    const sector = this.sectorIdentifier(client)
    const salt = this.#options.pairwiseSalt
    if (sector === null || salt === undefined) throw new OAuthError('unauthorized_client', 'the client cannot get a pairwise subject identifier')
    // Core §8.1: "sub = SHA-256 ( sector_identifier || local_account_id || salt )"; lengths prefixed so the parts cannot run together.
    return createHash('sha256').update(`${sector.length}:${sector}|${userId.length}:${userId}|${salt}`).digest('base64url')
  }

  /** The client's ID token algorithm (`id_token_signed_response_alg`, default RS256); `unauthorized_client` when we hold no key for it. */
  algorithmFor(client: Client): IdTokenAlgorithm {
    const wanted = client.metadata?.['id_token_signed_response_alg'] ?? 'RS256'
    if (typeof wanted !== 'string' || !ID_TOKEN_ALGORITHMS.includes(wanted as IdTokenAlgorithm) || this.keys.signingKey(wanted as IdTokenAlgorithm) === null) {
      throw new OAuthError('unauthorized_client', 'the client\'s id_token_signed_response_alg is not supported')
    }
    return wanted as IdTokenAlgorithm
  }

  /** The user's claims from the app's `findClaims`, restricted to those asked for. */
  async claimsFor(userId: string, context: FindClaimsContext): Promise<Record<string, unknown>> {
    if (this.#options.findClaims === undefined || context.claims.length === 0) return {}
    return pickClaims(await this.#options.findClaims(userId, context), context.claims)
  }

  /** The claims advertised as `claims_supported`: the only ones the `claims` parameter may ask for. */
  claimsSupported(): string[] {
    return [...(this.#options.claimsSupported ?? ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', ...Object.values(SCOPE_CLAIMS).flat()])]
  }

  /**
   * The claim names the granted scopes (Core §5.4) and individual requests
   * (§5.5) ask for, without repeats; an individual request is honoured only
   * for a claim in `claims_supported`, so a client cannot fish for whatever
   * else `findClaims` returns.
   */
  wantedClaims(scopes: readonly string[], individual: readonly string[] = []): string[] {
    const supported = new Set(this.claimsSupported())
    return [...new Set([...scopeClaimNames(scopes), ...individual.filter((name) => supported.has(name))])]
  }

  /**
   * Signs an ID token (Core §2, §3.1.3.6): `iss`, `sub` (public or
   * pairwise), `aud` (the client), `exp`, `iat`, and `auth_time`, `nonce`,
   * `acr`, `amr`, `at_hash`, `c_hash` when given. `azp` is not added: the
   * audience is always the one client ("azp ... MAY be included ... only
   * needed when the ID Token has a single audience value and that audience
   * is different than the authorized party", Core §2).
   */
  async signIdToken(input: IdTokenInput): Promise<string> {
    const alg = this.algorithmFor(input.client)
    const key = this.keys.signingKey(alg)
    if (key === null) throw new OAuthError('unauthorized_client', 'no signing key for the client\'s algorithm')
    const iat = this.nowSeconds()
    const payload: Record<string, unknown> = {
      ...input.claims,
      iss: this.server.issuer,
      sub: this.subject(input.client, input.userId),
      aud: input.client.clientId,
      exp: iat + this.idTokenLifetime,
      iat,
    }
    if (input.authTime !== undefined) payload['auth_time'] = input.authTime
    if (input.nonce !== undefined) payload['nonce'] = input.nonce
    if (input.acr !== undefined) payload['acr'] = input.acr
    if (input.amr !== undefined) payload['amr'] = [...input.amr]
    if (input.accessToken !== undefined) payload['at_hash'] = tokenHash(input.accessToken, alg)
    if (input.code !== undefined) payload['c_hash'] = tokenHash(input.code, alg)
    return new SignJWT(payload).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' }).sign(key.key)
  }

  /**
   * Verifies an ID token we issued (an `id_token_hint`): our signature
   * with a published key and our `iss`. Expiry is not checked (a hint may
   * be expired: RP-Initiated Logout 1.0 §2, Core §3.1.2.1); the caller
   * checks `aud`. `null` when it is not ours or malformed.
   */
  async verifyOwnIdToken(token: string): Promise<Record<string, unknown> | null> {
    if (token.length > 16_384) return null
    try {
      const header = decodeProtectedHeader(token)
      if (typeof header.kid !== 'string') return null
      const published = this.keys.verificationKey(header.kid)
      if (published === null || header.alg !== published.alg) return null
      const { payload } = await compactVerify(token, published.key, { algorithms: [published.alg] })
      const claims: unknown = JSON.parse(new TextDecoder().decode(payload))
      if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return null
      const record = claims as Record<string, unknown>
      if (record['iss'] !== this.server.issuer || typeof record['sub'] !== 'string') return null
      return record
    } catch {
      return null
    }
  }

  /** Calls the app's `endSession` hook. */
  async endSession(context: EndSessionContext): Promise<OAuthResponse | undefined> {
    return (await this.#options.endSession?.(context)) ?? undefined
  }

  /**
   * The OpenID Provider metadata fields beyond RFC 8414 (Discovery §3),
   * added to the server's metadata by the OpenID extension.
   */
  metadata(): Record<string, unknown> {
    const algorithms = this.keys.algorithms()
    return {
      subject_types_supported: this.pairwiseSupported ? ['public', 'pairwise'] : ['public'],
      // Discovery §3: RS256 MUST be included; the constructor guarantees a key for it.
      id_token_signing_alg_values_supported: ['RS256', ...algorithms.filter((a) => a !== 'RS256')],
      claims_supported: this.claimsSupported(),
      claims_parameter_supported: true,
      request_parameter_supported: false,
      request_uri_parameter_supported: false,
      claim_types_supported: ['normal'],
    }
  }
}
