import { responseModeOf } from './authorization-endpoint.js'
import { normalizeResponseType, type Registry } from './internal/registry.js'
import type { AuthorizationServer } from './server.js'

/**
 * The RFC 8414 §2 authorization server metadata, built from what is
 * registered: endpoints, grant and response types, client authentication
 * methods, and what extensions and endpoints add.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function buildMetadata(server: AuthorizationServer, registry: Registry): Record<string, unknown> {
  const { endpoints } = server.options
  const grantTypes = new Set<string>()
  const responseTypes = new Set<string>()
  const responseModes = new Set<string>()
  const authMethods = new Set<string>()
  let hasAuthorization = false
  let hasToken = false
  const extra: Record<string, unknown> = {}
  for (const { grantClass, extensions } of registry.grants) {
    if (grantClass.GRANT_TYPE !== null) grantTypes.add(grantClass.GRANT_TYPE)
    if (grantClass.AUTHORIZATION_ENDPOINT) {
      hasAuthorization = true
      for (const type of grantClass.RESPONSE_TYPES) {
        responseTypes.add(type)
        responseModes.add(responseModeOf(normalizeResponseType(type), grantClass.DEFAULT_RESPONSE_MODE))
      }
    }
    if (grantClass.TOKEN_ENDPOINT) {
      hasToken = true
      for (const method of grantClass.TOKEN_ENDPOINT_AUTH_METHODS) if (registry.clientAuthMethods.has(method)) authMethods.add(method)
    }
    for (const extension of extensions) Object.assign(extra, extension.metadata?.())
  }
  const metadata: Record<string, unknown> = { issuer: server.issuer }
  if (hasAuthorization) metadata['authorization_endpoint'] = server.issuer + endpoints.authorization
  if (hasToken) metadata['token_endpoint'] = server.tokenEndpointUrl
  if (server.jwks() !== null) metadata['jwks_uri'] = server.issuer + endpoints.jwks
  for (const endpoint of registry.endpoints.values()) Object.assign(metadata, endpoint.metadata?.())
  metadata['grant_types_supported'] = [...grantTypes]
  metadata['response_types_supported'] = [...responseTypes]
  if (hasAuthorization) metadata['response_modes_supported'] = [...responseModes]
  if (server.options.scopesSupported !== undefined) metadata['scopes_supported'] = [...server.options.scopesSupported]
  metadata['token_endpoint_auth_methods_supported'] = [...authMethods]
  for (const method of authMethods) mergeMetadata(metadata, registry.clientAuthMethods.get(method)?.metadata?.())
  if (hasAuthorization && server.options.authorizationResponseIss) metadata['authorization_response_iss_parameter_supported'] = true
  // Parameters the user adds never replace what is built from the registrations.
  return { ...server.options.metadata, ...metadata, ...extra }
}

/**
 * Adds `more` to `metadata`; a list already there (e.g. the
 * `token_endpoint_auth_signing_alg_values_supported` of two client
 * authentication methods) becomes the union of both, in order.
 */
function mergeMetadata(metadata: Record<string, unknown>, more: Record<string, unknown> | undefined): void {
  for (const [key, value] of Object.entries(more ?? {})) {
    const current = metadata[key]
    metadata[key] = Array.isArray(current) && Array.isArray(value) ? [...new Set([...current, ...value])] : value
  }
}
