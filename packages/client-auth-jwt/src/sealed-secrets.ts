import { configError, type Client } from '@grantkit/core'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/** The client metadata member {@link sealedClientSecrets} reads the sealed secret from. */
export const SEALED_SECRET_METADATA = 'sealed_client_secret'

/** What {@link sealedClientSecrets} returns. */
export interface SealedClientSecrets {
  /** Seals a client's secret for storage in `metadata.sealed_client_secret`: AES-256-GCM, bound to the client_id. */
  seal(clientId: string, secret: string): string
  /** Opens a sealed secret; `null` when it was not sealed with this key for this client, or was altered. */
  open(clientId: string, sealed: string): string | null
  /** A `resolveSecret` for `clientSecretJwt`: opens `client.metadata.sealed_client_secret`. */
  resolveSecret(client: Client): string | null
}

const VERSION = 'v1'

/**
 * Client secrets kept sealed in the client's metadata instead of in clear,
 * for `client_secret_jwt` (which needs the secret itself: a hash cannot
 * verify an HMAC). The server key (32 bytes: a `Uint8Array`, or 64 hex
 * digits) stays out of the database, e.g. in an environment variable or a
 * KMS; a database leak alone then reveals no secret. Each secret is sealed
 * with AES-256-GCM under a random nonce, with the client_id as associated
 * data, so a sealed value copied to another client does not open.
 *
 * Rotating the server key: open with the old key, seal with the new one,
 * save the client.
 *
 * @example
 * ```ts
 * const secrets = sealedClientSecrets(process.env.CLIENT_SECRET_SEALING_KEY!)
 * const { client, clientSecret } = await createClient({ clientId: 'svc', tokenEndpointAuthMethod: 'client_secret_jwt', grantTypes: ['client_credentials'] })
 * await store.saveClient({ ...client, metadata: { ...client.metadata, sealed_client_secret: secrets.seal(client.clientId, clientSecret!) } })
 * ```
 */
export function sealedClientSecrets(key: Uint8Array | string): SealedClientSecrets {
  const bytes = typeof key === 'string' && /^[0-9a-fA-F]{64}$/.test(key) ? Buffer.from(key, 'hex') : key instanceof Uint8Array ? Buffer.from(key) : null
  if (bytes === null || bytes.length !== 32) throw configError('sealedClientSecrets: the key must be 32 bytes (a Uint8Array or 64 hex digits)')

  const open = (clientId: string, sealed: string): string | null => {
    const [version, nonce, body, extra] = sealed.split('.')
    if (version !== VERSION || nonce === undefined || body === undefined || extra !== undefined) return null
    const iv = Buffer.from(nonce, 'base64url')
    const data = Buffer.from(body, 'base64url')
    if (iv.length !== 12 || data.length < 16) return null
    try {
      const decipher = createDecipheriv('aes-256-gcm', bytes, iv, { authTagLength: 16 })
      decipher.setAAD(Buffer.from(clientId, 'utf8'))
      decipher.setAuthTag(data.subarray(data.length - 16))
      return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8')
    } catch {
      return null
    }
  }

  return {
    seal(clientId, secret) {
      if (typeof clientId !== 'string' || typeof secret !== 'string' || secret === '') throw new TypeError('sealedClientSecrets.seal: expected a client_id and a non-empty secret')
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', bytes, iv, { authTagLength: 16 })
      cipher.setAAD(Buffer.from(clientId, 'utf8'))
      const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`
    },
    open,
    resolveSecret(client) {
      const sealed = client.metadata?.[SEALED_SECRET_METADATA]
      return typeof sealed === 'string' ? open(client.clientId, sealed) : null
    },
  }
}
