import type { Client } from './client.js'
import { generateToken } from './secrets.js'

/** What a {@link TokenStrategy} knows about the token it makes. */
export interface TokenContext {
  readonly client: Client
  readonly userId: string | null
  /** Space-separated scope. */
  readonly scope: string
  readonly grantType: string
  readonly issuedAt: Date
  readonly expiresAt: Date
  readonly familyId: string
  /** The server's issuer identifier. */
  readonly issuer: string
  /** Extra claims of the token (`aud`, `act`, `cnf`, …) from `issueTokens({ claims })`. */
  readonly claims?: Readonly<Record<string, unknown>> | undefined
}

/**
 * How access and refresh tokens look on the wire. Whatever the format, the
 * store gets only `hashToken(token)`, so revocation and introspection work
 * the same for every strategy.
 */
export interface TokenStrategy {
  generateAccessToken(context: TokenContext): string | Promise<string>
  generateRefreshToken(context: TokenContext): string | Promise<string>
}

/** Options for {@link opaqueTokens}. */
export interface OpaqueTokensOptions {
  /** Random bytes per token; at least 32 (256 bits). */
  bytes?: number
}

/**
 * The default strategy: opaque random tokens, ≥ 256 bits from `crypto`,
 * base64url (RFC 6750 §2.1 b64token-safe).
 */
export function opaqueTokens(options: OpaqueTokensOptions = {}): TokenStrategy {
  const bytes = options.bytes ?? 32
  if (!Number.isInteger(bytes) || bytes < 32) throw new TypeError('opaqueTokens: "bytes" must be an integer of at least 32')
  const make = () => generateToken(bytes)
  return { generateAccessToken: make, generateRefreshToken: make }
}
