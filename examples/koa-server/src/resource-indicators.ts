import { AsyncLocalStorage } from 'node:async_hooks'
import { invalidTarget, type Client, type DeviceCodeRecord, type IssueTokensHookContext, type OAuthRequest, type OAuthResponse } from '@grantkit/core'
import { RESOURCES_EXTRA, ResourceIndicators, audienceClaim } from '@grantkit/ext-resource-indicators'
import { DeviceAuthorizationEndpoint, DeviceCodeGrant } from '@grantkit/grant-device-code'
import { MCP_PATH } from './mcp.js'

/**
 * Which resources (RFC 8707 §2) a client of the demo may ask tokens for:
 * the demo's own MCP endpoint, `<issuer>/mcp`, for every client, and the
 * URIs a seeded client lists in its `resources` metadata. Dynamically
 * registered clients cannot list any (the registration drops the field),
 * so that nobody obtains tokens for an API that merely trusts this issuer.
 */
export function demoResourcePolicy(issuer: string): (client: Client, resources: readonly string[]) => boolean {
  const mcp = issuer + MCP_PATH
  return (client, resources) => {
    const listed = client.metadata?.['resources']
    return resources.every((resource) => resource === mcp || (Array.isArray(listed) && listed.includes(resource)))
  }
}

/** The audiences an `aud` claim names. */
function audiences(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud]
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []
}

/**
 * The package's extension, plus the resources a device named at the device
 * authorization endpoint (kept with its device code by
 * {@link withDeviceResources}): the polling token request may name some of
 * them (RFC 8707 §2.2: never one more) or none (all of them).
 */
export class DemoResourceIndicators extends ResourceIndicators {
  override async beforeIssueTokens(context: IssueTokensHookContext): Promise<void> {
    const { grant, claims } = context
    const stored = grant instanceof DeviceCodeGrant ? deviceResources(grant.deviceCode) : []
    if (stored.length === 0) return super.beforeIssueTokens(context)
    const requested = this.parseResources(grant.request.body)
    if (requested.some((resource) => !stored.includes(resource))) {
      throw invalidTarget('a requested resource was not named in the device authorization request (RFC 8707 section 2.2)')
    }
    claims['aud'] = audienceClaim(requested.length === 0 ? stored : requested)
  }
}

function deviceResources(record: DeviceCodeRecord | null): string[] {
  return audiences(record?.extra?.[RESOURCES_EXTRA])
}

/** What the device authorization request being answered asked for. */
interface PendingDeviceRequest {
  readonly request: OAuthRequest
  resources: string[]
}

/**
 * The device authorization endpoint with `resource` (RFC 8707 §2, read as
 * at the authorization endpoint): each value must be an absolute URI
 * without fragment that `allowed` grants the client, else 400
 * `invalid_target`; the resources are kept with the device code
 * (`extra.resources`), and {@link DemoResourceIndicators} makes them the
 * tokens' audience. The package's endpoint runs no grant extension, so the
 * demo reads the parameter here.
 */
export function withDeviceResources(
  base: typeof DeviceAuthorizationEndpoint,
  indicators: ResourceIndicators,
  allowed: (client: Client, resources: readonly string[]) => boolean,
): typeof DeviceAuthorizationEndpoint {
  const pending = new AsyncLocalStorage<PendingDeviceRequest>()
  return class DeviceAuthorizationEndpointWithResources extends base {
    override handle(request: OAuthRequest): Promise<OAuthResponse> {
      return pending.run({ request, resources: [] }, () => super.handle(request))
    }

    /** Called once the client is authenticated and may use the grant: the resources are checked here, with the scope. */
    override resolveScopes(requested: string | undefined, client: Client): string[] {
      const scopes = super.resolveScopes(requested, client)
      const context = pending.getStore()
      if (context !== undefined) {
        const resources = indicators.parseResources(context.request.body)
        if (resources.length > 0 && !allowed(client, resources)) throw invalidTarget('the client may not obtain tokens for a requested resource (RFC 8707 section 2)')
        context.resources = resources
      }
      return scopes
    }

    /** The store, saving the request's resources with its device code. */
    override get deviceCodeStore(): DeviceAuthorizationEndpoint['deviceCodeStore'] {
      const store = super.deviceCodeStore
      const resources = pending.getStore()?.resources ?? []
      if (resources.length === 0) return store
      return new Proxy(store, {
        get(target, property) {
          if (property === 'saveDeviceCode') {
            return (record: DeviceCodeRecord) => target.saveDeviceCode({ ...record, extra: { ...record.extra, [RESOURCES_EXTRA]: [...resources] } })
          }
          const value: unknown = Reflect.get(target, property, target)
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
        },
      })
    }
  }
}
