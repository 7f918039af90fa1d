import { createPublicKey, constants, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { TokenContext, TokenStrategy } from './token-strategy.js'
import { generateToken } from './secrets.js'

/** The JWS algorithms {@link jwtAccessTokens} signs with (asymmetric only: resource servers verify with the public key). */
export type JwtAccessTokenAlgorithm = 'ES256' | 'ES384' | 'RS256' | 'PS256' | 'EdDSA'

/** Options of {@link jwtAccessTokens}. */
export interface JwtAccessTokensOptions {
  /** The private signing key (`crypto.generateKeyPairSync(...)`, `createPrivateKey(pem)`). */
  privateKey: KeyObject
  /** The JWS algorithm; it must fit the key. */
  alg: JwtAccessTokenAlgorithm
  /** The `kid` header and JWKS entry; default: a random id. */
  kid?: string
  /**
   * The `aud` claim (RFC 9068 §2.2: REQUIRED): the resource server(s) the
   * token is for. A function may choose per client and scope. Default: the issuer.
   */
  audience?: string | readonly string[] | ((context: TokenContext) => string | readonly string[])
}

/** A {@link TokenStrategy} issuing RFC 9068 JWT access tokens, with the public keys to verify them. */
export interface JwtAccessTokenStrategy extends TokenStrategy {
  /** The JWK Set resource servers verify the tokens with (serve it at the metadata's `jwks_uri`). */
  jwks(): { keys: JsonWebKey[] }
}

const SIGNING: Record<JwtAccessTokenAlgorithm, { hash: string | null; keyType: string; options?: object; curve?: string }> = {
  ES256: { hash: 'sha256', keyType: 'ec', curve: 'prime256v1', options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { hash: 'sha384', keyType: 'ec', curve: 'secp384r1', options: { dsaEncoding: 'ieee-p1363' } },
  RS256: { hash: 'sha256', keyType: 'rsa' },
  PS256: { hash: 'sha256', keyType: 'rsa', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  EdDSA: { hash: null, keyType: 'ed25519' },
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * JWT access tokens (RFC 9068), signed with `node:crypto` — no dependency.
 * Each token carries `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`
 * and `scope`, with the header `typ: "at+jwt"`. `sub` is the resource owner,
 * or the client id for client-only grants (RFC 9068 §2.2). Refresh tokens stay
 * opaque. The store still gets only the token's hash, so revocation and
 * introspection work as with opaque tokens.
 *
 * @example
 * ```ts
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
 * const server = new AuthorizationServer({ issuer, store, tokenStrategy: jwtAccessTokens({ privateKey, alg: 'ES256' }) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc9068
 */
export function jwtAccessTokens(options: JwtAccessTokensOptions): JwtAccessTokenStrategy {
  if (typeof options !== 'object' || options === null) throw new TypeError('jwtAccessTokens: options are required')
  const { privateKey, alg } = options
  const signing = SIGNING[alg]
  if (signing === undefined) throw new TypeError(`jwtAccessTokens: "alg" must be one of ${Object.keys(SIGNING).join(', ')}`)
  if (typeof privateKey !== 'object' || privateKey === null || (privateKey as KeyObject).type !== 'private') {
    throw new TypeError('jwtAccessTokens: "privateKey" must be a private KeyObject')
  }
  if (privateKey.asymmetricKeyType !== signing.keyType) throw new TypeError(`jwtAccessTokens: ${alg} needs a ${signing.keyType} key`)
  if (signing.curve !== undefined && privateKey.asymmetricKeyDetails?.namedCurve !== signing.curve) {
    throw new TypeError(`jwtAccessTokens: ${alg} needs the curve ${signing.curve}`)
  }
  const audience = options.audience
  if (audience !== undefined && typeof audience !== 'string' && typeof audience !== 'function' && !Array.isArray(audience)) {
    throw new TypeError('jwtAccessTokens: "audience" must be a string, an array or a function')
  }
  const kid = options.kid ?? randomUUID()
  const header = b64({ typ: 'at+jwt', alg, kid })
  const publicJwk: JsonWebKey = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg, use: 'sig' }

  return {
    generateAccessToken(context) {
      const claims = context.claims ?? {}
      // An audience the grant asked for (RFC 8707 resource indicators) wins over the strategy's default.
      const aud = claims['aud'] !== undefined ? (claims['aud'] as string | readonly string[]) : audience === undefined ? context.issuer : typeof audience === 'function' ? audience(context) : audience
      const payload = b64({
        ...claims,
        iss: context.issuer,
        sub: context.userId ?? context.client.clientId,
        aud: typeof aud === 'string' ? aud : [...aud],
        exp: Math.floor(context.expiresAt.getTime() / 1000),
        iat: Math.floor(context.issuedAt.getTime() / 1000),
        jti: generateToken(16),
        client_id: context.client.clientId,
        scope: context.scope,
      })
      const input = `${header}.${payload}`
      const key = signing.options === undefined ? privateKey : { key: privateKey, ...signing.options }
      return `${input}.${sign(signing.hash, Buffer.from(input), key).toString('base64url')}`
    },
    generateRefreshToken: () => generateToken(32),
    jwks: () => ({ keys: [{ ...publicJwk }] }),
  }
}
