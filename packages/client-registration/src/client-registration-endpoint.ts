import {
  OAuthError,
  bearerChallenge,
  configError,
  emptyResponse,
  generateToken,
  getHeader,
  getParam,
  hashSecret,
  hashToken,
  jsonResponse,
  timingSafeEqualString,
  verifySecret,
  type AuthorizationServer,
  type Client,
  type ClientStore,
  type Endpoint,
  type EndpointClass,
  type EndpointRoute,
  type OAuthRequest,
  type OAuthResponse,
  type StoreCapability,
} from '@grantkit/core'
import { normalizeResponseType, validateClientMetadata, type MetadataPolicy, type ValidatedMetadata } from './internal/client-metadata.js'
import { registrationRateLimit } from './rate-limit.js'
import { invalidSoftwareStatement } from './registration-errors.js'

/** What `authorizeRegistration` is given. */
export interface RegistrationRequestContext {
  /** The registration request (its JSON body in `json`). */
  readonly request: OAuthRequest & { readonly json?: unknown }
  /** The initial access token sent as `Authorization: Bearer` (RFC 7591 §3), if any. */
  readonly initialAccessToken: string | undefined
}

/** Options of {@link ClientRegistrationEndpoint}; give them with {@link ClientRegistrationEndpoint.configure}. */
export interface ClientRegistrationOptions {
  /**
   * Decides whether a registration request may register a client (RFC 7591
   * §3): `() => true` for open registration, or check the initial access
   * token. `false` answers 401 `invalid_token`. Required: there is no
   * default, so that open registration is always a decision.
   */
  authorizeRegistration: (context: RegistrationRequestContext) => boolean | Promise<boolean>
  /**
   * Bounds registrations (RFC 7591 §5); `false` answers 429
   * `temporarily_unavailable` with `Retry-After`. Runs after
   * `authorizeRegistration`. Default: {@link registrationRateLimit}, 20 a
   * minute for the whole server; `false` turns it off.
   */
  rateLimit?: ((request: OAuthRequest) => boolean | Promise<boolean>) | false
  /** Where the endpoint is served, relative to the issuer. Default `/register`. */
  path?: string
  /**
   * Seconds a registration lasts. Default: forever (`client_secret_expires_at: 0`).
   * An expired registration is unknown to the management endpoint (and, with
   * {@link withRegistrationExpiry}, to the whole server); its secret expires with it.
   */
  registrationLifetime?: number
  /** Scope values a client may register. Default: the server's `scopesSupported`, or none. */
  allowedScopes?: readonly string[]
  /** The scope of a client registered without `scope`. Default: none (`''`). */
  defaultScope?: string
  /** Grant types a client may register. Default: every grant type the server serves. */
  allowedGrantTypes?: readonly string[]
  /**
   * Metadata names kept beyond those of RFC 7591 §2 (e.g. `resources` for
   * `@grantkit/ext-resource-indicators`); any other unknown field is
   * dropped (RFC 7591 §2). Validate their values in `validateMetadata`.
   */
  extraMetadata?: readonly string[]
  /**
   * Accept `http://localhost` redirect URIs. Default `false`: RFC 8252 §8.3
   * calls them "NOT RECOMMENDED" (localhost may resolve elsewhere); native
   * apps use `http://127.0.0.1` or `http://[::1]` (§7.3).
   */
  allowLocalhost?: boolean
  /**
   * Verifies an RFC 7591 §2.3 software statement (a JWT) and returns its
   * claims, which take precedence over the request's metadata (§3.1.1).
   * Throw {@link invalidSoftwareStatement} or `unapprovedSoftwareStatement`
   * to refuse it. Without this hook software statements are ignored (§3.1.1:
   * "MAY ignore").
   */
  verifySoftwareStatement?: (statement: string, request: OAuthRequest) => Record<string, unknown> | Promise<Record<string, unknown>>
  /**
   * Checks the validated metadata further (e.g. the `extraMetadata` values);
   * throw an `OAuthError` (`invalid_client_metadata`) to refuse it.
   * `client` is the current registration on an update.
   */
  validateMetadata?: (metadata: Readonly<Record<string, unknown>>, context: { readonly request: OAuthRequest; readonly client: Client | null }) => void | Promise<void>
  /** Issue a new registration access token on every update, invalidating the old one (RFC 7592 §2.2). Default `false`. */
  rotateRegistrationAccessToken?: boolean
  /** Issue a new client secret on every update of a confidential client (RFC 7592 §2.2). Default `false`. */
  rotateSecretOnUpdate?: boolean
}

/** The key of `Client.metadata` holding the registration's own state (never returned to the client). */
export const REGISTRATION_METADATA = 'dynamic_registration'

/** A dynamically registered client's state, under `metadata.dynamic_registration`. */
export interface RegistrationState {
  /** `hashToken(registration_access_token)`; the token itself is never stored. */
  readonly registration_access_token_hash: string
  /** Seconds since the epoch (RFC 7591 §3.2.1 `client_id_issued_at`). */
  readonly client_id_issued_at: number
  /** Seconds since the epoch when the registration expires; `0` for never. */
  readonly expires_at: number
}

/** The registration state of a client, or `null` when it was not dynamically registered. */
export function registrationStateOf(client: Client): RegistrationState | null {
  const state = client.metadata?.[REGISTRATION_METADATA] as Partial<RegistrationState> | undefined
  if (typeof state !== 'object' || state === null || typeof state.registration_access_token_hash !== 'string') return null
  if (typeof state.client_id_issued_at !== 'number' || typeof state.expires_at !== 'number') return null
  return state as RegistrationState
}

/** Whether a dynamically registered client's registration expired at `now`. */
export function registrationExpired(client: Client, now: Date): boolean {
  const state = registrationStateOf(client)
  return state !== null && state.expires_at !== 0 && state.expires_at * 1000 <= now.getTime()
}

/** Fields the server sets; RFC 7592 §2.2: an update "MUST NOT include" them. */
const SERVER_FIELDS = ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at'] as const

/** Authentication methods whose clients get a client secret (RFC 7591 §3.2.1). */
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt'])

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592) at
 * one URL, `/register` by default:
 *
 * - `POST /register` with a JSON object of client metadata registers a
 *   client: 201 with `client_id`, a `client_secret` for a confidential
 *   client (shown only here; stored hashed), `client_id_issued_at`,
 *   `client_secret_expires_at`, every registered field, and the
 *   `registration_access_token` (stored hashed) and
 *   `registration_client_uri` to manage it;
 * - `GET`, `PUT`, `DELETE /register?client_id=…` with the registration
 *   access token as `Authorization: Bearer` read (200), replace (200, RFC
 *   7592 §2.2: a full replacement) and delete (204) the registration. A
 *   missing, wrong or expired token and an unknown client are all 401
 *   `invalid_token` (RFC 7592 §2.1, RFC 6750 §3.1).
 *
 * Metadata errors are 400 `invalid_redirect_uri` or
 * `invalid_client_metadata` (RFC 7591 §3.2.2). Updates and deletes of one
 * client run one at a time in this process.
 *
 * @example
 * ```ts
 * server.registerEndpoint(ClientRegistrationEndpoint.configure({
 *   authorizeRegistration: ({ initialAccessToken }) => initialAccessToken === process.env.INITIAL_ACCESS_TOKEN,
 * }))
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591
 * @see https://www.rfc-editor.org/rfc/rfc7592
 */
export class ClientRegistrationEndpoint implements Endpoint {
  static readonly ENDPOINT_NAME: string = 'registration'
  static readonly STORE_CAPABILITIES: readonly StoreCapability[] = ['clients']

  /**
   * The endpoint class with these options, for `server.registerEndpoint`.
   *
   * @example
   * ```ts
   * server.registerEndpoint(ClientRegistrationEndpoint.configure({ authorizeRegistration: () => true }))
   * ```
   */
  static configure(options: ClientRegistrationOptions): EndpointClass {
    return class ConfiguredClientRegistrationEndpoint extends this {
      constructor(server: AuthorizationServer) {
        super(server, options)
      }
    }
  }

  readonly server: AuthorizationServer
  /** The URL of this endpoint (RFC 8414 §2 `registration_endpoint`). */
  readonly url: string
  readonly #path: string
  readonly #store: ClientStore
  readonly #options: Required<Pick<ClientRegistrationOptions, 'authorizeRegistration' | 'allowLocalhost' | 'rotateRegistrationAccessToken' | 'rotateSecretOnUpdate'>> &
    Pick<ClientRegistrationOptions, 'registrationLifetime' | 'allowedScopes' | 'allowedGrantTypes' | 'verifySoftwareStatement' | 'validateMetadata'> & {
      readonly rateLimit: ((request: OAuthRequest) => boolean | Promise<boolean>) | null
      readonly defaultScope: string
      readonly extraMetadata: readonly string[]
    }
  /** The update or delete of each client in progress, so that they run one at a time. */
  readonly #locks = new Map<string, Promise<void>>()

  /** Checks the options at `registerEndpoint`, with a `TypeError` carrying `code: 'ERR_GRANTKIT_CONFIG'`. */
  constructor(server: AuthorizationServer, options?: ClientRegistrationOptions) {
    if (typeof options !== 'object' || options === null) {
      throw configError('ClientRegistrationEndpoint: options are required; register ClientRegistrationEndpoint.configure({ authorizeRegistration })')
    }
    const { authorizeRegistration, rateLimit, path = '/register', registrationLifetime, allowedScopes, defaultScope = '', allowedGrantTypes, extraMetadata = [] } = options
    const { allowLocalhost = false, verifySoftwareStatement, validateMetadata, rotateRegistrationAccessToken = false, rotateSecretOnUpdate = false } = options
    if (typeof authorizeRegistration !== 'function') throw configError('ClientRegistrationEndpoint: "authorizeRegistration" must be a function (use () => true for open registration)')
    if (rateLimit !== undefined && rateLimit !== false && typeof rateLimit !== 'function') throw configError('ClientRegistrationEndpoint: "rateLimit" must be a function or false')
    if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || /[?#\s]/.test(path)) throw configError('ClientRegistrationEndpoint: "path" must start with "/" and have no query or fragment')
    if (registrationLifetime !== undefined && (!Number.isInteger(registrationLifetime) || registrationLifetime < 1)) {
      throw configError('ClientRegistrationEndpoint: "registrationLifetime" must be a positive integer of seconds')
    }
    for (const [name, list] of [['allowedScopes', allowedScopes], ['allowedGrantTypes', allowedGrantTypes], ['extraMetadata', extraMetadata]] as const) {
      if (list !== undefined && (!Array.isArray(list) || list.some((v) => typeof v !== 'string' || v === ''))) throw configError(`ClientRegistrationEndpoint: "${name}" must be an array of non-empty strings`)
    }
    if (extraMetadata.includes(REGISTRATION_METADATA)) throw configError(`ClientRegistrationEndpoint: "${REGISTRATION_METADATA}" is reserved`)
    if (typeof defaultScope !== 'string') throw configError('ClientRegistrationEndpoint: "defaultScope" must be a string')
    for (const [name, value] of [['allowLocalhost', allowLocalhost], ['rotateRegistrationAccessToken', rotateRegistrationAccessToken], ['rotateSecretOnUpdate', rotateSecretOnUpdate]] as const) {
      if (typeof value !== 'boolean') throw configError(`ClientRegistrationEndpoint: "${name}" must be a boolean`)
    }
    for (const [name, value] of [['verifySoftwareStatement', verifySoftwareStatement], ['validateMetadata', validateMetadata]] as const) {
      if (value !== undefined && typeof value !== 'function') throw configError(`ClientRegistrationEndpoint: "${name}" must be a function`)
    }
    const store = server.store as Partial<ClientStore>
    if (typeof store.saveClient !== 'function' || typeof store.deleteClient !== 'function') {
      throw configError('ClientRegistrationEndpoint needs a store with "saveClient" and "deleteClient"', 'ERR_GRANTKIT_STORE_CAPABILITY')
    }
    const scopes = allowedScopes ?? server.options.scopesSupported ?? []
    if (defaultScope.split(' ').some((s) => s !== '' && !scopes.includes(s))) throw configError('ClientRegistrationEndpoint: "defaultScope" must be within the allowed scopes')
    this.server = server
    this.url = server.issuer + path
    this.#path = path
    this.#store = store as ClientStore
    this.#options = {
      authorizeRegistration,
      rateLimit: rateLimit === false ? null : (rateLimit ?? registrationRateLimit({ clock: () => server.now().getTime() })),
      registrationLifetime,
      allowedScopes: scopes,
      defaultScope,
      allowedGrantTypes,
      extraMetadata: [...extraMetadata],
      allowLocalhost,
      verifySoftwareStatement,
      validateMetadata,
      rotateRegistrationAccessToken,
      rotateSecretOnUpdate,
    }
  }

  /** POST, GET, PUT and DELETE at `path`, with a JSON body (RFC 7591 §3.1). */
  get route(): EndpointRoute {
    return { path: this.#path, methods: ['POST', 'GET', 'PUT', 'DELETE'], body: 'json' }
  }

  /** RFC 8414 §2 `registration_endpoint`. */
  metadata(): Record<string, unknown> {
    return { registration_endpoint: this.url }
  }

  /** The client configuration endpoint of a client (RFC 7592 §1 `registration_client_uri`). */
  clientUri(clientId: string): string {
    return `${this.url}?client_id=${encodeURIComponent(clientId)}`
  }

  async handle(request: OAuthRequest): Promise<OAuthResponse> {
    switch (request.method) {
      case 'POST':
        return this.register(request)
      case 'GET':
        return this.#manage(request, (client, token) => this.read(client, token))
      case 'PUT':
        return this.#manage(request, (client, token) => this.update(request, client, token))
      case 'DELETE':
        return this.#manage(request, (client) => this.delete(client))
      default:
        throw new OAuthError('invalid_request', 'this HTTP method is not allowed here', { status: 405, headers: { allow: 'POST, GET, PUT, DELETE' } })
    }
  }

  /**
   * RFC 7591 §3.1-3.2: registers a client. Order: the body must be a JSON
   * object; `authorizeRegistration`; `rateLimit`; the software statement;
   * metadata validation; then the client is saved and answered 201.
   */
  async register(request: OAuthRequest): Promise<OAuthResponse> {
    if (request.query.has('client_id')) throw new OAuthError('invalid_request', 'a registration is sent without client_id; manage a client with GET, PUT or DELETE')
    const input = jsonObject(request)
    const initialAccessToken = bearerToken(request)
    if (!(await this.#options.authorizeRegistration({ request, initialAccessToken }))) {
      throw invalidToken(initialAccessToken === undefined ? 'an initial access token is required' : 'the initial access token is invalid', initialAccessToken === undefined)
    }
    if (this.#options.rateLimit !== null && !(await this.#options.rateLimit(request))) {
      throw new OAuthError('temporarily_unavailable', 'too many registrations; try again later', { status: 429, headers: { 'retry-after': '60' } })
    }
    const metadata = await this.#validate(request, input, null)
    const now = this.server.now()
    const issuedAt = Math.floor(now.getTime() / 1000)
    const lifetime = this.#options.registrationLifetime
    const registrationToken = generateToken(32)
    const secret = SECRET_METHODS.has(metadata.tokenEndpointAuthMethod) ? generateToken(32) : null
    const state: RegistrationState = {
      registration_access_token_hash: hashToken(registrationToken),
      client_id_issued_at: issuedAt,
      expires_at: lifetime === undefined ? 0 : issuedAt + lifetime,
    }
    const client = toClient(generateToken(16), secret === null ? null : await hashSecret(secret, 'sha256'), metadata, state)
    await this.#store.saveClient(client)
    return jsonResponse(201, this.#body(client, state, registrationToken, secret))
  }

  /** RFC 7592 §2.1: the client's current registration, 200. */
  async read(client: Client, registrationToken: string): Promise<OAuthResponse> {
    return jsonResponse(200, this.#body(client, registrationStateOf(client) as RegistrationState, registrationToken, null))
  }

  /**
   * RFC 7592 §2.2: replaces the registration with the request's metadata
   * (omitted fields are removed); `client_id` must be the client's, a
   * `client_secret` sent must be its current one, and the fields the server
   * sets must not be sent. Answers 200 with the new registration.
   */
  async update(request: OAuthRequest, client: Client, registrationToken: string): Promise<OAuthResponse> {
    const input = jsonObject(request)
    // RFC 7592 §2.2: "The client MUST include its client_id field in the request, and it MUST be the same as its currently issued client identifier."
    if (input['client_id'] !== client.clientId) throw metadataError('client_id must be included and be the client\'s current client_id (RFC 7592 section 2.2)')
    for (const field of SERVER_FIELDS) {
      if (input[field] !== undefined) throw metadataError(`the update must not include ${field} (RFC 7592 section 2.2)`)
    }
    // RFC 7592 §2.2: "If the client includes the client_secret field in the request, the value of this field MUST match the currently issued client secret."
    const sentSecret = input['client_secret']
    if (sentSecret !== undefined && (typeof sentSecret !== 'string' || !(await verifySecret(sentSecret, client.clientSecretHash)))) {
      throw metadataError('client_secret does not match the current client secret (RFC 7592 section 2.2)')
    }
    const metadata = await this.#validate(request, input, client)
    const previous = registrationStateOf(client) as RegistrationState
    const token = this.#options.rotateRegistrationAccessToken ? generateToken(32) : registrationToken
    const state: RegistrationState = { ...previous, registration_access_token_hash: hashToken(token) }
    let secret: string | null = null
    let secretHash: string | null = null
    if (SECRET_METHODS.has(metadata.tokenEndpointAuthMethod)) {
      // A public client turned confidential gets its first secret; the current one is kept unless rotating.
      if (client.clientSecretHash === null || this.#options.rotateSecretOnUpdate) secret = generateToken(32)
      secretHash = secret === null ? client.clientSecretHash : await hashSecret(secret, 'sha256')
    }
    const updated = toClient(client.clientId, secretHash, metadata, state)
    await this.#store.saveClient(updated)
    return jsonResponse(200, this.#body(updated, state, token, secret))
  }

  /** RFC 7592 §2.3: deletes the registration, 204. */
  async delete(client: Client): Promise<OAuthResponse> {
    await this.#store.deleteClient(client.clientId)
    return emptyResponse(204)
  }

  /**
   * Authenticates a management request (RFC 7592 §2: the registration
   * access token as an RFC 6750 bearer token), one request per client at a
   * time: the client is read again once the previous update is done.
   */
  async #manage(request: OAuthRequest, action: (client: Client, token: string) => Promise<OAuthResponse>): Promise<OAuthResponse> {
    const clientId = getParam(request.query, 'client_id')
    if (clientId === undefined) throw new OAuthError('invalid_request', 'the client configuration endpoint needs the client_id query parameter (registration_client_uri)')
    const token = bearerToken(request)
    if (token === undefined) throw invalidToken('a registration access token is required', true)
    return this.#exclusive(clientId, async () => {
      const client = await this.server.store.findClient(clientId)
      const state = client === null ? null : registrationStateOf(client)
      // RFC 7592 §2.1: "If the client does not exist on this server, the server MUST respond with HTTP 401 Unauthorized".
      // An expired registration is unknown (withRegistrationExpiry hides it from the whole server).
      if (client === null || state === null || registrationExpired(client, this.server.now()) || !timingSafeEqualString(hashToken(token), state.registration_access_token_hash)) {
        throw invalidToken('the registration access token is invalid', false)
      }
      return action(client, token)
    })
  }

  async #exclusive<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve()
    let release!: () => void
    const done = new Promise<void>((resolve) => (release = resolve))
    const mine = previous.then(() => done)
    this.#locks.set(key, mine)
    await previous
    try {
      return await task()
    } finally {
      release()
      if (this.#locks.get(key) === mine) this.#locks.delete(key)
    }
  }

  /** The software statement (RFC 7591 §3.1.1), the metadata rules, then the app's `validateMetadata`. */
  async #validate(request: OAuthRequest, input: Record<string, unknown>, client: Client | null): Promise<ValidatedMetadata> {
    let merged = input
    const statement = input['software_statement']
    const verify = this.#options.verifySoftwareStatement
    if (statement !== undefined && verify !== undefined) {
      if (typeof statement !== 'string' || statement === '') throw invalidSoftwareStatement('software_statement must be a JWT string (RFC 7591 section 2.3)')
      const claims = await verify(statement, request)
      if (typeof claims !== 'object' || claims === null) throw new TypeError('verifySoftwareStatement must return the statement\'s claims')
      // RFC 7591 §3.1.1: values in the statement "MUST take precedence"; the statement itself is returned unmodified (§3.2.1).
      merged = { ...input, ...claims }
    }
    const metadata = validateClientMetadata(merged, this.#policy())
    const other = { ...metadata.other }
    if (statement !== undefined && verify !== undefined) other['software_statement'] = statement
    const validated = { ...metadata, other }
    await this.#options.validateMetadata?.(wireMetadata(validated), { request, client })
    return validated
  }

  /** What the server offers now (grants may be registered after the endpoint). */
  #policy(): MetadataPolicy {
    const server = this.server
    const metadata = server.metadata()
    const served = (metadata['grant_types_supported'] as string[] | undefined) ?? []
    const allowed = this.#options.allowedGrantTypes
    return {
      grantTypes: allowed === undefined ? served : served.filter((g) => allowed.includes(g)),
      responseTypes: ((metadata['response_types_supported'] as string[] | undefined) ?? []).map(normalizeResponseType),
      authMethods: server.clientAuthMethodNames(),
      grantAccepts: (grantType, method) => (server.hasGrantType(grantType) ? server.grantAcceptsClient(grantType, { tokenEndpointAuthMethod: method } as Client) : null),
      scopes: this.#options.allowedScopes ?? [],
      defaultScope: this.#options.defaultScope,
      extraMetadata: this.#options.extraMetadata,
      allowLocalhost: this.#options.allowLocalhost,
    }
  }

  /** The RFC 7591 §3.2.1 / RFC 7592 §3 response body. */
  #body(client: Client, state: RegistrationState, registrationToken: string, secret: string | null): Record<string, unknown> {
    const { [REGISTRATION_METADATA]: _state, ...other } = client.metadata ?? {}
    const body: Record<string, unknown> = { client_id: client.clientId }
    if (secret !== null) body['client_secret'] = secret
    body['client_id_issued_at'] = state.client_id_issued_at
    // RFC 7591 §3.2.1: REQUIRED if "client_secret" is issued; 0 for a secret that does not expire.
    if (client.clientSecretHash !== null) body['client_secret_expires_at'] = state.expires_at
    Object.assign(body, wireMetadata({ ...fromClient(client), other }))
    body['registration_access_token'] = registrationToken
    body['registration_client_uri'] = this.clientUri(client.clientId)
    return body
  }
}

/** The request's JSON object; anything else is `invalid_client_metadata` (RFC 7591 §3.1: "a JSON document"). */
function jsonObject(request: OAuthRequest): Record<string, unknown> {
  const value = (request as { json?: unknown }).json
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw metadataError('the request body must be a JSON object of client metadata (RFC 7591 section 3.1)')
  return value as Record<string, unknown>
}

/** The RFC 6750 §2.1 bearer token of the `Authorization` header, or `undefined` without one. */
function bearerToken(request: OAuthRequest): string | undefined {
  const header = getHeader(request.headers, 'authorization')
  if (header === undefined) return undefined
  const space = header.indexOf(' ')
  if (space === -1 || header.slice(0, space).toLowerCase() !== 'bearer') return undefined
  const token = header.slice(space + 1).trim()
  if (!B64TOKEN.test(token)) throw invalidToken('the bearer token is malformed', false)
  return token
}

/** 401 `invalid_token` with its RFC 6750 §3 challenge; the bare challenge when no token was sent (§3.1). */
function invalidToken(description: string, missing: boolean): OAuthError {
  const realm = 'client-registration'
  const challenge = missing ? bearerChallenge(realm) : bearerChallenge(realm, { code: 'invalid_token', description })
  return new OAuthError('invalid_token', description, { status: 401, headers: { 'www-authenticate': challenge } })
}

function metadataError(description: string): OAuthError {
  return new OAuthError('invalid_client_metadata', description)
}

function toClient(clientId: string, secretHash: string | null, metadata: ValidatedMetadata, state: RegistrationState): Client {
  return {
    clientId,
    clientSecretHash: secretHash,
    clientName: metadata.clientName,
    redirectUris: metadata.redirectUris,
    grantTypes: metadata.grantTypes,
    responseTypes: metadata.responseTypes,
    scope: metadata.scope,
    tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
    metadata: { ...metadata.other, [REGISTRATION_METADATA]: state },
  }
}

function fromClient(client: Client): Omit<ValidatedMetadata, 'other'> {
  return {
    redirectUris: [...client.redirectUris],
    grantTypes: [...client.grantTypes],
    responseTypes: [...client.responseTypes],
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
    scope: client.scope,
    clientName: client.clientName,
  }
}

/** Validated metadata under its RFC 7591 §2 names. */
function wireMetadata(metadata: ValidatedMetadata): Record<string, unknown> {
  const out: Record<string, unknown> = {
    redirect_uris: metadata.redirectUris,
    token_endpoint_auth_method: metadata.tokenEndpointAuthMethod,
    grant_types: metadata.grantTypes,
    response_types: metadata.responseTypes,
  }
  if (metadata.clientName !== undefined) out['client_name'] = metadata.clientName
  if (metadata.scope !== '') out['scope'] = metadata.scope
  return { ...out, ...metadata.other }
}
