import { OAuthError, type EndpointClass } from '@grantkit/core'
import { ClientRegistrationEndpoint, registrationRateLimit } from '@grantkit/client-registration'
import { DEVICE_CODE_GRANT_TYPE } from '@grantkit/grant-device-code'

/**
 * The grant types a client may register for itself (RFC 7591 §2
 * `grant_types`). Not the password and implicit grants (RFC 9700 §2.4,
 * §2.1.2), nor token exchange; and never the JWT bearer grant: the demo's
 * takes the assertion's `sub` as any user, so a self-registered client with
 * its own keys could get tokens for every user without their consent.
 */
export const REGISTRABLE_GRANT_TYPES: readonly string[] = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT_TYPE]

/**
 * The bound on registrations (RFC 7591 §5): at most this many in each
 * window, for the whole server (a registration request carries no client
 * address the endpoint could count by). Far above what a test suite
 * registers, low enough that an open endpoint cannot fill the store fast.
 */
export const REGISTRATION_RATE_LIMIT = { limit: 600, windowSeconds: 600 } as const

/**
 * Open dynamic client registration (RFC 7591) with its management
 * (RFC 7592) at `/register` under the issuer (docs/demo-server.md,
 * "Dynamic client registration"): anyone may register, within
 * {@link REGISTRATION_RATE_LIMIT}, for the {@link REGISTRABLE_GRANT_TYPES};
 * registrations never expire. `client_secret_jwt` is refused: its secret
 * must be readable to check the client's HMAC, and the demo keeps only
 * seeded clients' secrets that way.
 */
export function registrationEndpoint(): EndpointClass {
  return ClientRegistrationEndpoint.configure({
    // Open registration: a decision of the demo (the package has no default).
    authorizeRegistration: () => true,
    rateLimit: registrationRateLimit(REGISTRATION_RATE_LIMIT),
    allowedGrantTypes: REGISTRABLE_GRANT_TYPES,
    validateMetadata: (metadata) => {
      if (metadata['token_endpoint_auth_method'] === 'client_secret_jwt') {
        throw new OAuthError('invalid_client_metadata', 'client_secret_jwt cannot be registered here; use private_key_jwt, client_secret_basic, client_secret_post or none')
      }
    },
  })
}
