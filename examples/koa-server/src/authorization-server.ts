import { AuthorizationServer, memoryThrottle, type Client, type FullStore, type GrantUser, type SecurityEvent } from '@grantkit/core'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { ResourceIndicators } from '@grantkit/ext-resource-indicators'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { DeviceAuthorizationEndpoint, DeviceCodeGrant } from '@grantkit/grant-device-code'
import { ImplicitGrant } from '@grantkit/grant-implicit'
import { JWTBearerGrant } from '@grantkit/grant-jwt-bearer'
import { ResourceOwnerPasswordCredentialsGrant, authenticateStoreUser } from '@grantkit/grant-password'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { TokenExchangeGrant, type TokenExchangeContext } from '@grantkit/grant-token-exchange'
import type { OpenIDKeySet } from '@grantkit/openid'
import { installOpenID, registerOpenIDFlows, type UserClaims } from './openid.js'
// high-security (issue 14): JWT client authentication, PAR, DPoP.
import { CONFIDENTIAL_AUTH_METHODS, DemoIntrospectionEndpoint, DemoRevocationEndpoint, HIGH_SECURITY_AUTH_METHODS, registerHighSecurity } from './high-security.js'
// Authorization for AI agents (issue 15): resource indicators, dynamic registration.
import { demoResourcePolicy } from './resource-indicators.js'
import { registrationEndpoint } from './registration.js'
import { CLIENT_ID_METADATA_DOCUMENT_SUPPORTED, withMetadataDocuments } from './client-metadata.js'
// Issue 18: several processes on one database share the throttle and the pushed requests (docs/deployment.md).
import { sharedStateOf, type SharedState } from './open-store.js'

/** Every client authentication method: the client's registered method decides (docs/demo-server.md). */
const ALL_AUTH_METHODS = HIGH_SECURITY_AUTH_METHODS // high-security: basic, post, private_key_jwt, client_secret_jwt, none

/** The device verification page (RFC 8628 §3.3 `verification_uri`), under the issuer's path. */
export const DEVICE_VERIFICATION_PATH = '/device'

/** The scopes advertised when the store's clients name none. */
export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'read', 'write']

/** Options of {@link createAuthorizationServer}. */
export interface DemoServerOptions {
  issuer: string
  store: FullStore
  scopesSupported: readonly string[]
  /** Seconds a device code lives (`OAUTH_DEVICE_CODE_TTL`, 1–1800); default the grant's, 600. */
  deviceCodeTtl?: number | undefined
  /** Seconds a pushed request's `request_uri` lives (`OAUTH_PAR_TTL`, 1–600); default the package's, 300. */
  parTtl?: number | undefined
  /**
   * `OAUTH_THROTTLE=on`: throttle failed credentials with core's default
   * limits, counted in the store's database (`shared`) so that every process
   * counts together, or by core's `memoryThrottle` for the memory store; off
   * otherwise.
   */
  throttle?: boolean | undefined
  /**
   * The throttle and pushed requests in the store's database; default the
   * ones `openStore` opened with `store` (`sharedStateOf`), none for the
   * memory store (then per process: `memoryThrottle`, the PAR package's
   * memory store).
   */
  shared?: SharedState | undefined
  /** `OAUTH_ALLOW_INSECURE_FETCH=1`: a client's `jwks_uri` and a Client ID Metadata Document may be on a loopback address, over `http` too (test suites). */
  allowInsecureFetch?: boolean | undefined
  /** The ID token keys (`OAUTH_OIDC_KEY_FILE`); default a key set generated now, for this process only. */
  openidKeys?: OpenIDKeySet | undefined
  /** The users' `name`, `email`, `email_verified` from the seed, by user id. */
  userClaims?: ReadonlyMap<string, UserClaims> | undefined
  /** `Set-Cookie` value clearing the login session, sent by the logout endpoint (RP-Initiated Logout 1.0 §2). */
  endSessionCookie?: ((secure: boolean) => string) | undefined
  /** Unexpected errors (answered `server_error` without details); default `console.error`. */
  onError?: ((error: unknown) => void) | undefined
  /** Code replays and refresh-token reuses (their tokens are revoked either way). */
  onSecurityEvent?: ((event: SecurityEvent) => void) | undefined
}

/**
 * The demo's token exchange policy (RFC 8693 §1.1, docs/demo-server.md
 * "Token exchange"). Tokens of this server carry no `may_act` (§4.4), so
 * the package's default would refuse every delegation; instead:
 *
 * - delegation (with `actor_token`): allowed when the actor token is the
 *   requesting client's own access token, whichever client the subject
 *   token was issued to (a service exchanging the user's token it received
 *   for one in its own name, §1). The new token's `act` names the actor;
 * - impersonation (no `actor_token`): allowed only for the requesting
 *   client's own subject token, so that a client can narrow its token's
 *   scope; any other client's token is refused with `unauthorized_client`.
 */
class DemoTokenExchangeGrant extends TokenExchangeGrant {
  // Confidential clients only (RFC 8693 §2.1), with every method of theirs: high-security: + the JWT methods.
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = CONFIDENTIAL_AUTH_METHODS
  override async authorizeExchange(context: TokenExchangeContext): Promise<void> {
    const { client, subject, actor } = context
    if (actor === null ? subject.clientId === client.clientId : actor.clientId === client.clientId) return
    // The package's rules: impersonation refused, an actor token of another client (or no may_act) invalid_request.
    await super.authorizeExchange(context)
  }
}

/**
 * The demo's authorization server: every grant (JWT bearer assertions are
 * verified with the `jwks` in the client's metadata), PKCE (required for public
 * clients), rotating refresh tokens, the device flow, token exchange,
 * revocation and introspection; resource indicators (RFC 8707) on every grant
 * that issues tokens, open dynamic client registration (RFC 7591, RFC 7592)
 * and Client ID Metadata Documents.
 */
export function createAuthorizationServer(options: DemoServerOptions): AuthorizationServer {
  const { issuer, store, scopesSupported, deviceCodeTtl, throttle, onError, onSecurityEvent } = options
  const shared = options.shared ?? sharedStateOf(store)
  const server = new AuthorizationServer({
    issuer,
    // Client ID Metadata Documents (client-metadata.ts): an https client_id is fetched, never stored.
    store: withMetadataDocuments(store, {
      scopes: scopesSupported,
      allowInsecureFetch: options.allowInsecureFetch === true,
      onRejected: ({ reason, detail }) => console.error(`[client-metadata-document] refused (${reason}): ${detail}`),
    }),
    metadata: { ...CLIENT_ID_METADATA_DOCUMENT_SUPPORTED },
    scopesSupported,
    // The demo's interface promises no rate limiting unless OAUTH_THROTTLE=on (then the store's throttle,
    // shared by every process on the database; core's memoryThrottle on the memory store).
    throttle: throttle === true ? (shared?.throttle() ?? memoryThrottle()) : false,
    ...(onError === undefined ? {} : { onError }),
    ...(onSecurityEvent === undefined ? {} : { onSecurityEvent }),
  })
  // high-security: JWT client auth methods and PAR now; the DPoP extensions go to the grants below.
  const { dpop } = registerHighSecurity(server, { allowInsecureFetch: options.allowInsecureFetch, parTtl: options.parTtl, pushedRequests: shared?.pushedRequests })
  // OpenID Connect (docs/demo-server.md "OpenID Connect"): the provider goes in before the grants.
  const openidCode = installOpenID(server, options)

  // high-security: the code grant with every method, so that private_key_jwt and client_secret_jwt clients may use it.
  class DemoAuthorizationCodeGrant extends AuthorizationCodeGrant {
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ALL_AUTH_METHODS
  }

  class PasswordGrant extends ResourceOwnerPasswordCredentialsGrant {
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ALL_AUTH_METHODS
    override authenticateUser(username: string, password: string): Promise<GrantUser | null> {
      return authenticateStoreUser(store, username, password)
    }
  }

  class DemoClientCredentialsGrant extends ClientCredentialsGrant {
    // A public client has no credentials to present (RFC 6749 §4.4): basic and post only.
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = CONFIDENTIAL_AUTH_METHODS // high-security: + the JWT methods
  }

  class DemoRefreshTokenGrant extends RefreshTokenGrant {
    // Public clients refresh with their client_id alone; rotation protects them (RFC 9700 §4.14.2).
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ALL_AUTH_METHODS
  }

  class DemoImplicitGrant extends ImplicitGrant {
    // No client authentication happens in the implicit flow; the client's
    // registered response_types and grant_types decide who may use it.
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ALL_AUTH_METHODS
  }

  class DemoJWTBearerGrant extends JWTBearerGrant {
    // Client authentication is optional (RFC 7523 §3.1); high-security: + the JWT methods.
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ALL_AUTH_METHODS
    // The JWT's `sub` names a user by id or, for hand-written assertions, by username.
    override async authenticateUser(sub: string, _client: Client): Promise<GrantUser | null> {
      const user = (await store.findUserById(sub)) ?? (await store.findUserByUsername(sub))
      return user === null ? null : { id: user.id, username: user.username }
    }
  }

  class DemoDeviceCodeGrant extends DeviceCodeGrant {
    static override DEVICE_CODE_LIFETIME = deviceCodeTtl ?? DeviceCodeGrant.DEVICE_CODE_LIFETIME
    static override VERIFICATION_URI = DEVICE_VERIFICATION_PATH
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ALL_AUTH_METHODS // high-security: + the JWT methods
  }

  class DemoDeviceAuthorizationEndpoint extends DeviceAuthorizationEndpoint {
    static override GRANT = DemoDeviceCodeGrant
  }

  // RFC 8707: `resource` on every grant that issues tokens (token exchange reads it itself, RFC 8693 §2.1);
  // the code grant's copy also checks pushed requests (PAR validates with the grant's extensions),
  // the device grant's the device authorization request (RFC 8628 §3.1), keeping them with the device code.
  const resources = new ResourceIndicators({ allowedResources: demoResourcePolicy(issuer) })

  // high-security: DPoP with nonces on every grant that issues tokens (the proof is checked before anything is spent).
  const pkce = new CodeChallenge({ required: false })
  server.registerGrant(DemoAuthorizationCodeGrant, [pkce, dpop, openidCode, resources]) // high-security: + the JWT methods
  server.registerGrant(DemoImplicitGrant, [resources])
  server.registerGrant(PasswordGrant, [dpop, resources])
  server.registerGrant(DemoClientCredentialsGrant, [dpop, resources])
  server.registerGrant(DemoRefreshTokenGrant, [dpop, openidCode, resources])
  server.registerGrant(DemoJWTBearerGrant, [dpop, resources])
  server.registerGrant(DemoDeviceCodeGrant, [dpop, resources])
  server.registerGrant(DemoTokenExchangeGrant, [dpop])
  server.registerEndpoint(DemoDeviceAuthorizationEndpoint)
  // RFC 7591, RFC 7592: open registration at /register (registration.ts).
  server.registerEndpoint(registrationEndpoint())
  server.registerEndpoint(DemoRevocationEndpoint) // high-security: + the JWT methods
  server.registerEndpoint(DemoIntrospectionEndpoint) // high-security: + the JWT methods
  registerOpenIDFlows(server, pkce, ALL_AUTH_METHODS)
  return server
}
