import type { Client } from '@grantkit/core'
import { MCP_PATH } from './mcp.js'

/**
 * Which resources (RFC 8707 §2) a client of the demo may ask tokens for:
 * the demo's own MCP endpoint, `<issuer>/mcp`, for every client, and the
 * URIs a seeded client lists in its `resources` metadata. Dynamically
 * registered clients cannot list any (the registration drops the field),
 * so that nobody obtains tokens for an API that merely trusts this issuer.
 *
 * The same policy decides at the authorization endpoint, at the device
 * authorization endpoint (RFC 8628 §3.1, where `ResourceIndicators` keeps
 * the resources with the device code) and at the token endpoint.
 */
export function demoResourcePolicy(issuer: string): (client: Client, resources: readonly string[]) => boolean {
  const mcp = issuer + MCP_PATH
  return (client, resources) => {
    const listed = client.metadata?.['resources']
    return resources.every((resource) => resource === mcp || (Array.isArray(listed) && listed.includes(resource)))
  }
}
