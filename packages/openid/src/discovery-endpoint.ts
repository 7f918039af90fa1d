import { type AuthorizationServer, type Endpoint, type EndpointRoute, type OAuthResponse } from '@grantkit/core'
import { providerOf, type OpenIDProvider } from './provider.js'

/** Path of the OpenID Provider configuration under the issuer (Discovery §4: the issuer plus this). */
export const OPENID_CONFIGURATION_PATH = '/.well-known/openid-configuration'

/**
 * The OpenID Provider configuration (OpenID Connect Discovery 1.0 §3, §4)
 * at the issuer plus `/.well-known/openid-configuration` (GET), built from
 * the server's RFC 8414 metadata (endpoints, grant and response types,
 * client authentication, `jwks_uri`) and the OpenID fields: `scopes_supported`
 * with `openid`, `subject_types_supported`,
 * `id_token_signing_alg_values_supported` (RS256 first), `claims_supported`,
 * `claims_parameter_supported`, `userinfo_endpoint`, `end_session_endpoint`
 * (from their endpoints, when registered).
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata
 */
export class DiscoveryEndpoint implements Endpoint {
  static readonly ENDPOINT_NAME = 'openid-configuration'
  readonly route: EndpointRoute = { path: OPENID_CONFIGURATION_PATH, methods: ['GET'], body: 'none', cors: true }
  readonly #server: AuthorizationServer
  readonly #provider: OpenIDProvider

  constructor(server: AuthorizationServer) {
    this.#server = server
    this.#provider = providerOf(server, 'DiscoveryEndpoint')
  }

  /** The configuration document. */
  document(): Record<string, unknown> {
    const metadata = { ...this.#provider.metadata(), ...this.#server.metadata() }
    const scopes = Array.isArray(metadata['scopes_supported']) ? (metadata['scopes_supported'] as string[]) : []
    // Discovery §3: scopes_supported "MUST support the openid scope value".
    metadata['scopes_supported'] = scopes.includes('openid') ? scopes : ['openid', ...scopes]
    return metadata
  }

  async handle(): Promise<OAuthResponse> {
    // A public document (Discovery §4.2): cacheable, unlike the token endpoint's no-store answers.
    return { kind: 'json', status: 200, headers: { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'public, max-age=300' }, body: this.document() }
  }
}
