import { webcrypto } from 'node:crypto'

/** Where the seeded clients redirect; fetch-driven flows never follow it. */
export const CALLBACK = 'http://127.0.0.1:9/callback'

export const USER = { username: 'alice', password: 'correct horse battery staple' }

export const CONFIDENTIAL = { client_id: 'confidential-app', client_secret: 'confidential-app-secret' }
export const POST_CLIENT = { client_id: 'post-app', client_secret: 'post-app-secret' }
export const PUBLIC_CLIENT = { client_id: 'public-app' }
export const JWT_CLIENT = { client_id: 'jwt-app', client_secret: 'jwt-app-secret' }
/** A public device app (RFC 8628). */
export const DEVICE_CLIENT = { client_id: 'tv-app' }
/** A confidential service that exchanges tokens (RFC 8693). */
export const EXCHANGE_CLIENT = { client_id: 'orders-service', client_secret: 'orders-service-secret' }

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

/** A seed (docs/demo-server.md format) exercising every grant and auth method. */
export function seed(options: { callback?: string; jwks?: unknown } = {}) {
  const callback = options.callback ?? CALLBACK
  return {
    clients: [
      {
        ...CONFIDENTIAL,
        client_name: 'Confidential <App> & "Co"',
        redirect_uris: [callback],
        grant_types: ['authorization_code', 'refresh_token', 'password', 'client_credentials'],
        response_types: ['code'],
        scope: 'profile email read',
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        ...POST_CLIENT,
        redirect_uris: [],
        grant_types: ['password', 'client_credentials'],
        response_types: [],
        scope: 'profile read',
        token_endpoint_auth_method: 'client_secret_post',
      },
      {
        ...PUBLIC_CLIENT,
        client_name: 'Public SPA',
        redirect_uris: [callback],
        grant_types: ['authorization_code', 'refresh_token', 'implicit'],
        response_types: ['code', 'token'],
        scope: 'profile read',
        token_endpoint_auth_method: 'none',
      },
      {
        ...DEVICE_CLIENT,
        client_name: 'Living-room <TV>',
        grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
        scope: 'profile read',
        token_endpoint_auth_method: 'none',
      },
      {
        ...EXCHANGE_CLIENT,
        grant_types: ['client_credentials', 'password', TOKEN_EXCHANGE_GRANT],
        scope: 'profile read',
        token_endpoint_auth_method: 'client_secret_basic',
      },
      ...(options.jwks === undefined
        ? []
        : [
            {
              ...JWT_CLIENT,
              redirect_uris: [],
              grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
              response_types: [],
              scope: 'profile',
              token_endpoint_auth_method: 'client_secret_basic',
              jwks: options.jwks,
            },
          ]),
    ],
    users: [USER],
  }
}

/** An ES256 key pair for JWT bearer assertions, and the public JWKS to seed. */
export async function assertionKey(): Promise<{ jwks: unknown; sign: (payload: Record<string, unknown>) => Promise<string> }> {
  const { privateKey, publicKey } = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const jwk = await webcrypto.subtle.exportKey('jwk', publicKey)
  const kid = 'test-key'
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return {
    jwks: { keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' }] },
    async sign(payload) {
      const input = `${b64({ alg: 'ES256', typ: 'JWT', kid })}.${b64(payload)}`
      const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, Buffer.from(input))
      return `${input}.${Buffer.from(signature).toString('base64url')}`
    },
  }
}
