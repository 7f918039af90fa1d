import { OAuthError, assertStoreCapabilities, configError, getParam, hashToken, invalidClient, type Client, type ClientAuthContext, type OAuthRequest } from '@grantkit/core'
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, type ProtectedHeaderParameters } from 'jose'

/** RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** An assertion longer than this is refused unread (a JWT signed with RSA-4096 is under 1 KiB). */
const MAX_ASSERTION_LENGTH = 16 * 1024

/** Options both methods share (seconds). */
export interface AssertionOptions {
  /**
   * Accepted JWS algorithms. Default: every algorithm of the method's family.
   * A client's registered `token_endpoint_auth_signing_alg` narrows this to one.
   */
  algorithms?: readonly string[]
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. Default 30, at most 300. */
  clockSkew?: number
  /**
   * How far in the future `exp` may be, in seconds from now (and from `iat`
   * when present): a longer-lived assertion is refused. Default 300, at most 3600.
   */
  maxLifetime?: number
}

export interface AssertionSettings {
  readonly algorithms: readonly string[]
  readonly clockSkew: number
  readonly maxLifetime: number
}

function integer(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(`${name} must be an integer number of seconds between ${min} and ${max}`)
  }
  return value
}

/** Checks the shared options once, at creation, with a config `TypeError`. */
export function assertionSettings(method: string, options: AssertionOptions, family: readonly string[]): AssertionSettings {
  if (typeof options !== 'object' || options === null) throw configError(`${method}: options must be an object`)
  const algorithms = options.algorithms ?? family
  if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => typeof a !== 'string' || !family.includes(a))) {
    // An asymmetric method never accepts HMAC (a public key used as an HMAC secret), a symmetric one never an asymmetric algorithm, neither `none`.
    throw configError(`${method}: "algorithms" must be a non-empty list among ${family.join(', ')}`)
  }
  return {
    algorithms: [...algorithms],
    clockSkew: integer(options.clockSkew, `${method}: "clockSkew"`, 30, 0, 300),
    maxLifetime: integer(options.maxLifetime, `${method}: "maxLifetime"`, 300, 1, 3600),
  }
}

/**
 * The `alg` of the request's client assertion, to tell the two JWT methods
 * apart in `matches` (both see the same parameters): `null` when the request
 * carries no assertion parameters at all, `undefined` when the assertion is
 * absent or not a readable JWS. Never throws.
 */
export function assertionAlgorithm(request: OAuthRequest): string | undefined | null {
  if (!request.body.has('client_assertion') && !request.body.has('client_assertion_type')) return null
  const assertion = request.body.getAll('client_assertion').find((value) => value !== '')
  if (assertion === undefined || assertion.length > MAX_ASSERTION_LENGTH) return undefined
  try {
    const alg = decodeProtectedHeader(assertion).alg
    return typeof alg === 'string' ? alg : undefined
  } catch {
    return undefined
  }
}

/**
 * The client id a request's assertion claims (its `sub`, RFC 7523 §3 item 2),
 * read unverified before authentication so that the server throttles
 * failures per client; else the body's `client_id`. Never throws.
 */
export function assertionClientId(request: OAuthRequest): string | undefined {
  const assertion = request.body.getAll('client_assertion').find((value) => value !== '')
  if (assertion !== undefined && assertion.length <= MAX_ASSERTION_LENGTH) {
    try {
      const sub = decodeJwt(assertion).sub
      if (typeof sub === 'string' && sub !== '') return sub
    } catch {
      // Not a JWT: authentication fails; throttled by the body's client_id or the address.
    }
  }
  const ids = request.body.getAll('client_id')
  return ids.length === 1 && ids[0] !== '' ? ids[0] : undefined
}

/** What a method resolves for a client: how to verify its assertion. */
export type ResolveKey = (client: Client, header: ProtectedHeaderParameters) => Promise<VerificationKey>

/**
 * A verification key, or a JWK Set lookup with a second chance: `retry`
 * (when given) is called once if no key of the set matches, e.g. to refetch
 * a `jwks_uri` after a key rotation.
 */
export interface VerificationKey {
  readonly key: Uint8Array | JWTVerifyGetKey
  readonly retry?: () => Promise<JWTVerifyGetKey | null>
}

/** A safe `error_description` for a failed `jwtVerify` (RFC 7521 §4.2.1 allows saying why). */
function describeFailure(error: unknown): string | null {
  if (error instanceof errors.JWTExpired) return 'the client assertion has expired'
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.reason === 'missing' ? `the client assertion lacks the "${error.claim}" claim` : `the client assertion's "${error.claim}" claim is not acceptable`
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the client assertion signature is invalid'
  if (error instanceof errors.JWKSNoMatchingKey) return 'no registered key of the client matches the client assertion'
  // OpenID Connect Core §10.1: "If there are multiple keys in the referenced JWK Set document, a kid value MUST be provided in the JOSE Header."
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'the client assertion must name its key ("kid"): several registered keys match'
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the client assertion algorithm is not allowed'
  if (error instanceof errors.JOSEError) return 'the client assertion is invalid'
  // jose throws a TypeError for a key that cannot verify the algorithm.
  if (error instanceof TypeError) return 'the client assertion cannot be verified with the registered key'
  return null
}

/**
 * The audiences a client assertion may name (RFC 7523 §3 item 3: a value
 * "that identifies the authorization server as an intended audience"; "The
 * token endpoint URL of the authorization server MAY be used"; OpenID
 * Connect Core §9: "the URL of the Authorization Server's Token Endpoint"):
 * the issuer, the token endpoint URL, and the URL of the endpoint the request
 * was sent to (introspection, revocation, …) — built from the issuer's
 * origin and the request path only, so that a request's absolute-form URL
 * cannot choose another server's audience.
 */
function audiences(request: OAuthRequest, context: ClientAuthContext): string[] {
  const origin = new URL(context.issuer).origin
  let path: string
  try {
    path = new URL(request.url, origin).pathname
  } catch {
    path = ''
  }
  return [...new Set([context.issuer, context.tokenEndpoint, ...(path === '' ? [] : [origin + path])])]
}

function identifier(value: unknown, claim: string): string {
  if (typeof value !== 'string' || value === '' || value.includes('\u0000') || value.length > 1024) {
    throw invalidClient(`the client assertion's "${claim}" claim must be a non-empty string`)
  }
  return value
}

/**
 * Authenticates a request by its JWT client assertion (RFC 7523 §2.2, §3;
 * RFC 7521 §4.2; OpenID Connect Core §9) for the client auth method `method`,
 * the keys coming from `resolveKey`. Every failure is `invalid_client`
 * (RFC 7521 §4.2.1), except missing or repeated parameters
 * (`invalid_request`, RFC 6749 §5.2).
 */
export async function authenticateAssertion(
  method: string,
  settings: AssertionSettings,
  resolveKey: ResolveKey,
  request: OAuthRequest,
  context: ClientAuthContext,
): Promise<Client> {
  // A store without the replay capability cannot honour "jti accepted once": a server misconfiguration (a 500), not the client's fault.
  assertStoreCapabilities(context.replay, ['replay'], method)
  const type = getParam(request.body, 'client_assertion_type')
  const assertion = getParam(request.body, 'client_assertion')
  // RFC 7521 §4.2: both parameters are REQUIRED.
  if (type === undefined || assertion === undefined) {
    throw new OAuthError('invalid_request', 'client_assertion_type and client_assertion are both required (RFC 7521 §4.2)')
  }
  if (type !== JWT_BEARER_ASSERTION_TYPE) throw invalidClient(`client_assertion_type must be "${JWT_BEARER_ASSERTION_TYPE}" (RFC 7523 §2.2)`)
  if (assertion.length > MAX_ASSERTION_LENGTH) throw invalidClient('the client assertion is too long')
  let header: ProtectedHeaderParameters
  let unverified: JWTPayload
  try {
    header = decodeProtectedHeader(assertion)
    unverified = decodeJwt(assertion)
  } catch {
    throw invalidClient('the client assertion is not a signed JWT (RFC 7523 §3)')
  }
  // RFC 7523 §3 items 1 and 2: for client authentication, `iss` and `sub` MUST be the client_id.
  const clientId = identifier(unverified.iss, 'iss')
  if (identifier(unverified.sub, 'sub') !== clientId) throw invalidClient('the client assertion\'s "iss" and "sub" must both be the client_id (RFC 7523 §3)')
  // RFC 7521 §4.2: client_id is optional; when present it must identify the same client.
  const bodyClientId = getParam(request.body, 'client_id')
  if (bodyClientId !== undefined && bodyClientId !== clientId) throw invalidClient('client_id does not match the client assertion')

  const client = await context.store.findClient(clientId)
  // Checked before any key is fetched: a client registered for another method never triggers a jwks_uri fetch.
  if (client === null || client.tokenEndpointAuthMethod !== method) throw invalidClient('client authentication failed')

  // RFC 7591 §2 / OpenID Connect Registration §2: "token_endpoint_auth_signing_alg […] MUST be used for signing".
  const registered = client.metadata?.['token_endpoint_auth_signing_alg']
  if (registered !== undefined && (typeof registered !== 'string' || !settings.algorithms.includes(registered))) {
    throw invalidClient('the client\'s registered token_endpoint_auth_signing_alg is not accepted by this server')
  }
  const algorithms = registered === undefined ? settings.algorithms : [registered]
  // `none` and every algorithm outside the list are refused before a key is looked up (RFC 8725 §3.1).
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) throw invalidClient('the client assertion algorithm is not allowed')

  const now = context.now()
  const verifyWith = async (key: Uint8Array | JWTVerifyGetKey): Promise<JWTPayload> => {
    const options: JWTVerifyOptions = {
      algorithms: [...algorithms],
      issuer: clientId,
      subject: clientId,
      audience: audiences(request, context),
      currentDate: now,
      clockTolerance: settings.clockSkew,
      // RFC 7523 §3 item 4: "The JWT MUST contain an "exp" (expiration time) claim"; OpenID Connect
      // Core §9 makes `jti` REQUIRED for client authentication (RFC 7523 §3 item 7: MAY).
      requiredClaims: ['exp', 'jti'],
    }
    return (typeof key === 'function' ? await jwtVerify(assertion, key, options) : await jwtVerify(assertion, key, options)).payload
  }
  const resolved = await resolveKey(client, header)
  let payload: JWTPayload
  try {
    try {
      payload = await verifyWith(resolved.key)
    } catch (error) {
      const retry = resolved.retry
      if (!(error instanceof errors.JWKSNoMatchingKey) || retry === undefined) throw error
      const again = await retry()
      if (again === null) throw error
      payload = await verifyWith(again)
    }
  } catch (error) {
    const description = describeFailure(error)
    if (description === null) throw error
    throw invalidClient(description)
  }

  const nowSeconds = Math.floor(now.getTime() / 1000)
  const exp = payload.exp as number
  // A policy beyond RFC 7523 §3 item 4 (which only refuses a past `exp`): a far-future assertion would be a
  // long-lived, replayable-elsewhere credential, and its `jti` would have to be kept as long (item 7).
  if (exp > nowSeconds + settings.maxLifetime + settings.clockSkew) throw invalidClient(`the client assertion's "exp" is more than ${settings.maxLifetime} seconds away`)
  if (payload.iat !== undefined) {
    // RFC 7523 §3 item 6: the server "MAY reject JWTs with an "iat" claim value that is unreasonably far in the past".
    if (payload.iat > nowSeconds + settings.clockSkew) throw invalidClient('the client assertion\'s "iat" is in the future')
    if (exp - payload.iat > settings.maxLifetime) throw invalidClient(`the client assertion lives longer than ${settings.maxLifetime} seconds`)
  }
  const jti = identifier(payload.jti, 'jti')
  // RFC 7523 §3 item 7: the server "MAY ensure that JWTs are not replayed by maintaining the set of used "jti" values
  // for the length of time for which the JWT would be considered valid"; OpenID Connect Core §9 makes it single-use.
  const replayKey = `client-assertion:${hashToken(JSON.stringify([clientId, jti]))}`
  if (!(await context.replay.markUsed(replayKey, new Date((exp + settings.clockSkew) * 1000), now))) {
    throw invalidClient('the client assertion was already used')
  }
  return client
}
