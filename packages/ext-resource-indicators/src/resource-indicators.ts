import {
  configError,
  invalidTarget,
  type AuthorizationHookContext,
  type BaseGrant,
  type Client,
  type DeviceAuthorizationHookContext,
  type DeviceCodeRecord,
  type GrantClass,
  type GrantExtension,
  type IssueTokensHookContext,
} from '@grantkit/core'

/** Where a `resource` request is being decided, for {@link ResourceIndicatorsOptions.allowedResources}. */
export interface ResourceRequestContext {
  /**
   * `authorization` at the authorization endpoint, `device_authorization`
   * at the device authorization endpoint (RFC 8628 §3.1), `token` at the
   * token endpoint.
   */
  readonly endpoint: 'authorization' | 'device_authorization' | 'token'
  /** The grant type of the grant deciding, e.g. `authorization_code`, `client_credentials`. */
  readonly grantType: string | null
}

/**
 * Decides whether `client` may obtain tokens for every one of `resources`
 * (absolute URIs, deduplicated, in request order); `false` answers
 * `invalid_target` (RFC 8707 §2).
 */
export type AllowedResources = (client: Client, resources: readonly string[], context: ResourceRequestContext) => boolean | Promise<boolean>

/** Options of {@link ResourceIndicators}. */
export interface ResourceIndicatorsOptions {
  /**
   * Which resources a client may ask for. Default: those listed in the
   * client's `metadata.resources` (an array of absolute URIs); a client
   * without that list may ask for none.
   */
  allowedResources?: AllowedResources
  /**
   * The audience of tokens issued without any `resource` (one URI or
   * several). Default: none, so the tokens carry no `aud` claim from this
   * extension (a JWT token strategy then uses its own default).
   */
  defaultAudience?: string | readonly string[]
  /** The most `resource` parameters one request may carry (RFC 6819 §4.4.1.11: bound what a request can cost). Default 10. */
  maxResources?: number
}

/**
 * The key of `authorization.extra` (and so of the code record's `extra`),
 * and of a device code's `extra`, holding the authorized resources.
 */
export const RESOURCES_EXTRA = 'resources'

/** The longest `resource` value accepted. */
const MAX_RESOURCE_LENGTH = 2048

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'

/**
 * Why `value` is not a valid `resource` indicator, or `null` when it is
 * (RFC 8707 §2: "an absolute URI, as specified by Section 4.3 of
 * [RFC3986]. The URI MUST NOT include a fragment component"). A query is
 * accepted (§2: "SHOULD NOT", not "MUST NOT").
 */
export function resourceProblem(value: string): string | null {
  if (value.length > MAX_RESOURCE_LENGTH) return `a resource must be at most ${MAX_RESOURCE_LENGTH} characters`
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]/.test(value)) return 'a resource must not contain spaces or control characters'
  if (!SCHEME.test(value) || !URL.canParse(value)) return 'a resource must be an absolute URI (RFC 8707 section 2)'
  if (value.includes('#')) return 'a resource must not include a fragment (RFC 8707 section 2)'
  return null
}

/** The audiences a list of resources gives a token: a string for one, an array for several (RFC 7519 §4.1.3). */
export function audienceClaim(resources: readonly string[]): string | string[] {
  return resources.length === 1 ? (resources[0] as string) : [...resources]
}

/** The resources an `aud` claim names. */
function audiencesOf(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud]
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []
}

/** The default policy: the resources listed in the client's `metadata.resources`. */
const clientMetadataResources: AllowedResources = (client, resources) => {
  const listed = client.metadata?.['resources']
  if (!Array.isArray(listed)) return false
  return resources.every((resource) => listed.includes(resource))
}

/**
 * Resource indicators (RFC 8707): audience-restricted tokens. Register it on
 * every grant that issues tokens, e.g.
 * `server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge(), new ResourceIndicators()])`.
 *
 * - `resource` may be repeated; each must be an absolute URI without a
 *   fragment (§2), else `invalid_target`;
 * - at the authorization endpoint (§2.1) the resources are checked with
 *   `allowedResources` and kept in `authorization.extra.resources`, which
 *   the authorization code carries;
 * - at the device authorization endpoint (RFC 8628 §3.1, read as at the
 *   authorization endpoint) likewise, refused with a 400 `invalid_target`,
 *   and kept in the device code's `extra.resources`;
 * - at the token endpoint (§2.2): for a code, or a device code whose
 *   device authorization request named resources, the resources requested
 *   must be among those authorized (omitted: all of them); for a refresh
 *   token, among the token's audiences (omitted: all of them); for any
 *   other grant (client credentials, password, a device code issued
 *   without `resource`) they are requested here and checked with
 *   `allowedResources`;
 * - the tokens carry the resources as `aud` (a string for one, an array for
 *   several) through `beforeIssueTokens`' `claims`: stored with the
 *   tokens, returned by introspection (RFC 7662 §2.2) and put in JWT access
 *   tokens (RFC 9068 §2.2); refreshed tokens keep their claims;
 * - `defaultAudience` applies when no resource was named anywhere.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8707
 */
export class ResourceIndicators implements GrantExtension {
  /** The policy deciding which resources a client may ask for. */
  readonly allowedResources: AllowedResources
  /** The audience of tokens for which no resource was named, if any. */
  readonly defaultAudience: readonly string[]
  /** The most `resource` parameters a request may carry. */
  readonly maxResources: number

  constructor(options: ResourceIndicatorsOptions = {}) {
    if (typeof options !== 'object' || options === null) throw configError('ResourceIndicators: options must be an object')
    const { allowedResources = clientMetadataResources, defaultAudience = [], maxResources = 10 } = options
    if (typeof allowedResources !== 'function') throw configError('ResourceIndicators: "allowedResources" must be a function')
    const defaults = typeof defaultAudience === 'string' ? [defaultAudience] : defaultAudience
    if (!Array.isArray(defaults) || defaults.some((a) => typeof a !== 'string' || resourceProblem(a) !== null)) {
      throw configError('ResourceIndicators: "defaultAudience" must be an absolute URI without fragment, or an array of them')
    }
    if (!Number.isInteger(maxResources) || maxResources < 1 || maxResources > 100) throw configError('ResourceIndicators: "maxResources" must be an integer between 1 and 100')
    this.allowedResources = allowedResources
    this.defaultAudience = Object.freeze([...new Set(defaults)])
    this.maxResources = maxResources
  }

  /** Refuses the token exchange grant, which reads `resource` itself (RFC 8693 §2.1). */
  register(grantClass: GrantClass): void {
    if (grantClass.GRANT_TYPE === TOKEN_EXCHANGE) {
      throw configError('ResourceIndicators: the token exchange grant handles "resource" and "audience" itself (RFC 8693 section 2.1)')
    }
  }

  /**
   * The `resource` parameters of a request: empty values dropped (RFC 6749
   * §3.1), duplicates dropped, order kept; each checked with
   * {@link resourceProblem}; more than `maxResources` is `invalid_target`.
   */
  parseResources(params: URLSearchParams): string[] {
    const values = params.getAll('resource').filter((v) => v !== '')
    if (values.length > this.maxResources) throw invalidTarget(`a request may carry at most ${this.maxResources} resource parameters`)
    for (const value of values) {
      const problem = resourceProblem(value)
      if (problem !== null) throw invalidTarget(problem)
    }
    return [...new Set(values)]
  }

  /**
   * RFC 8707 §2.1: reads the authorization request's resources, checks them
   * with `allowedResources` and keeps them in `authorization.extra.resources`.
   * A refusal is redirected to the client as `invalid_target`.
   */
  async afterValidateAuthorizationRequest({ grant, authorization }: AuthorizationHookContext): Promise<void> {
    const resources = this.parseResources(authorization.params)
    if (resources.length === 0) return
    await this.#allow(authorization.client, resources, 'authorization', grant.grantClass.GRANT_TYPE)
    authorization.extra[RESOURCES_EXTRA] = resources
  }

  /**
   * RFC 8628 §3.1 with RFC 8707 §2: reads the device authorization
   * request's resources, checks them with `allowedResources` (endpoint
   * `device_authorization`) and keeps them in the device code's
   * `extra.resources`. A refusal is a 400 `invalid_target`, and no device
   * code is issued.
   */
  async afterValidateDeviceAuthorizationRequest({ grantClass, client, request, extra }: DeviceAuthorizationHookContext): Promise<void> {
    const resources = this.parseResources(request.body)
    if (resources.length === 0) return
    await this.#allow(client, resources, 'device_authorization', grantClass.GRANT_TYPE)
    extra[RESOURCES_EXTRA] = resources
  }

  /**
   * RFC 8707 §2.2: decides the audience of the tokens about to be issued and
   * sets `claims.aud`. Runs before anything is saved, so a refusal leaves a
   * refresh token or an approved device code usable (an authorization code
   * is spent, as with any failed redemption).
   */
  async beforeIssueTokens({ grant, client, claims, refreshTokenClaims, code, presentedRefreshToken }: IssueTokensHookContext): Promise<void> {
    const grantType = grant.grantClass.GRANT_TYPE
    let audience: string[]
    // RFC 8707 §2.2: an access token may be narrowed to some resources; the refresh token keeps all that were granted.
    let granted: string[] | undefined
    if (grant.authorization !== null) {
      // Tokens issued at the authorization endpoint (implicit): the resources checked there.
      audience = storedResources(grant.authorization.extra[RESOURCES_EXTRA])
    } else {
      const requested = this.parseResources(grant.request.body)
      const deviceResources = storedResources(redeemedDeviceCode(grant)?.extra?.[RESOURCES_EXTRA])
      if (code !== undefined) {
        granted = storedResources(code.extra?.[RESOURCES_EXTRA])
        audience = subset(requested, granted, 'a requested resource was not authorized for this authorization code (RFC 8707 section 2.2)')
        // Checked again: the policy may have changed since the user approved.
        if (requested.length > 0) await this.#allow(client, audience, 'token', grantType)
      } else if (presentedRefreshToken !== undefined) {
        // The refresh grant carries the original claims over: narrow their audience, never widen it.
        granted = audiencesOf(claims['aud'])
        audience = subset(requested, granted, 'a requested resource is not an audience of this refresh token (RFC 8707 section 2.2)')
      } else if (deviceResources.length > 0) {
        // The device named its resources at the device authorization endpoint: the poll may narrow them, as for a code.
        granted = deviceResources
        audience = subset(requested, granted, 'a requested resource was not named in the device authorization request (RFC 8707 section 2.2)')
        if (requested.length > 0) await this.#allow(client, audience, 'token', grantType)
      } else {
        if (requested.length > 0) await this.#allow(client, requested, 'token', grantType)
        audience = requested
      }
    }
    if (audience.length === 0) audience = [...this.defaultAudience]
    if (audience.length > 0) claims['aud'] = audienceClaim(audience)
    if (granted !== undefined && granted.length > audience.length) refreshTokenClaims['aud'] = audienceClaim(granted)
  }

  async #allow(client: Client, resources: readonly string[], endpoint: ResourceRequestContext['endpoint'], grantType: string | null): Promise<void> {
    if ((await this.allowedResources(client, resources, { endpoint, grantType })) !== true) {
      throw invalidTarget('the client may not obtain tokens for a requested resource (RFC 8707 section 2)')
    }
  }
}

/**
 * The device authorization a device code grant is redeeming: the grant of
 * `@grantkit/grant-device-code` sets `grant.deviceCode` before it issues
 * tokens. Read by shape, so that this package does not depend on that one.
 */
function redeemedDeviceCode(grant: BaseGrant): DeviceCodeRecord | undefined {
  const record: unknown = (grant as { readonly deviceCode?: unknown }).deviceCode
  if (typeof record !== 'object' || record === null) return undefined
  return typeof (record as { readonly deviceCodeHash?: unknown }).deviceCodeHash === 'string' ? (record as DeviceCodeRecord) : undefined
}

/** The resources kept in a code's or request's `extra`. */
function storedResources(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

/** `requested` when every one is in `granted`, `granted` when nothing was requested; else `invalid_target`. */
function subset(requested: readonly string[], granted: readonly string[], message: string): string[] {
  if (requested.length === 0) return [...granted]
  if (!requested.every((resource) => granted.includes(resource))) throw invalidTarget(message)
  return [...requested]
}
