import { OAuthError } from '../errors.js'
import { getParam, requireParam, type OAuthRequest } from '../request.js'
import type { AuthorizationServer } from '../server.js'
import type { Client } from '../client.js'

/**
 * The shared first steps of the revocation (RFC 7009 §2.1) and introspection
 * (RFC 7662 §2.1) endpoints: POST only, an authenticated client, a `token`
 * parameter and at most one `token_type_hint` (a hint only, never trusted).
 */
export async function readTokenRequest(
  server: AuthorizationServer,
  request: OAuthRequest,
  endpoint: string,
  methods: readonly string[],
): Promise<{ client: Client; token: string }> {
  if (request.method !== 'POST') {
    throw new OAuthError('invalid_request', `the ${endpoint} endpoint accepts only POST`, { status: 405, headers: { allow: 'POST' } })
  }
  const client = await server.authenticateClient(request, methods)
  const token = requireParam(request.body, 'token')
  getParam(request.body, 'token_type_hint')
  return { client, token }
}

/** The RFC 8414 §2 metadata of such an endpoint: its URL and client authentication methods. */
export function tokenEndpointMetadata(endpoint: 'revocation' | 'introspection', url: string, methods: readonly string[]): Record<string, unknown> {
  return { [`${endpoint}_endpoint`]: url, [`${endpoint}_endpoint_auth_methods_supported`]: [...methods] }
}
