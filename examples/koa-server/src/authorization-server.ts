import { AuthorizationServer, IntrospectionEndpoint, RevocationEndpoint, type Client, type FullStore, type GrantUser, type SecurityEvent } from '@grantkit/core'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { ImplicitGrant } from '@grantkit/grant-implicit'
import { JWTBearerGrant } from '@grantkit/grant-jwt-bearer'
import { ResourceOwnerPasswordCredentialsGrant, authenticateStoreUser } from '@grantkit/grant-password'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'

/** Every client authentication method: the client's registered method decides (docs/demo-server.md). */
const ALL_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'] as const

/** The scopes advertised when the store's clients name none. */
export const DEFAULT_SCOPES = ['profile', 'email', 'read', 'write']

/** Options of {@link createAuthorizationServer}. */
export interface DemoServerOptions {
  issuer: string
  store: FullStore
  scopesSupported: readonly string[]
  /** Unexpected errors (answered `server_error` without details); default `console.error`. */
  onError?: ((error: unknown) => void) | undefined
  /** Code replays and refresh-token reuses (their tokens are revoked either way). */
  onSecurityEvent?: ((event: SecurityEvent) => void) | undefined
}

/**
 * The demo's authorization server: every grant (JWT bearer assertions are
 * verified with the `jwks` in the client's metadata), PKCE (required for public
 * clients), rotating refresh tokens, revocation and introspection.
 */
export function createAuthorizationServer({ issuer, store, scopesSupported, onError, onSecurityEvent }: DemoServerOptions): AuthorizationServer {
  const server = new AuthorizationServer({
    issuer,
    store,
    scopesSupported,
    ...(onError === undefined ? {} : { onError }),
    ...(onSecurityEvent === undefined ? {} : { onSecurityEvent }),
  })

  class PasswordGrant extends ResourceOwnerPasswordCredentialsGrant {
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ALL_AUTH_METHODS
    override authenticateUser(username: string, password: string): Promise<GrantUser | null> {
      return authenticateStoreUser(store, username, password)
    }
  }

  class DemoClientCredentialsGrant extends ClientCredentialsGrant {
    // A public client has no credentials to present (RFC 6749 §4.4): basic and post only.
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post']
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
    // The JWT's `sub` names a user by id or, for hand-written assertions, by username.
    override async authenticateUser(sub: string, _client: Client): Promise<GrantUser | null> {
      const user = (await store.findUserById(sub)) ?? (await store.findUserByUsername(sub))
      return user === null ? null : { id: user.id, username: user.username }
    }
  }

  server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge({ required: false })])
  server.registerGrant(DemoImplicitGrant)
  server.registerGrant(PasswordGrant)
  server.registerGrant(DemoClientCredentialsGrant)
  server.registerGrant(DemoRefreshTokenGrant)
  server.registerGrant(DemoJWTBearerGrant)
  server.registerEndpoint(RevocationEndpoint)
  server.registerEndpoint(IntrospectionEndpoint)
  return server
}
