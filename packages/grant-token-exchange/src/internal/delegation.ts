import { OAuthError, type Client } from '@grantkit/core'
import type { ExchangeTokenInfo } from '../token-exchange-grant.js'

/** Whether `value` is a JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Whether the subject token's `may_act` claim (RFC 8693 §4.4) names this
 * actor. It must be an object with `sub` and/or `client_id`, and every
 * identifying member it has must match: `sub` the actor's subject,
 * `client_id` the requesting client, `iss` (when present) the actor token's
 * issuer. A `may_act` naming `{ sub, client_id }` therefore authorizes that
 * actor through that client only, never either one alone.
 */
export function mayActNames(mayAct: unknown, actor: ExchangeTokenInfo, client: Client): boolean {
  if (!isJsonObject(mayAct)) return false
  const { sub, client_id: clientId, iss } = mayAct
  if (sub === undefined && clientId === undefined) return false
  if (sub !== undefined && sub !== actor.subject) return false
  if (clientId !== undefined && clientId !== client.clientId) return false
  if (iss !== undefined && iss !== actor.issuer) return false
  return true
}

/**
 * The `act` claim of a delegated token (RFC 8693 §4.1): the actor's `sub`,
 * its `iss` when it is not this server, its `client_id` when known, and the
 * subject token's own `act` nested inside ("A chain of delegation can be
 * expressed by nesting one act claim within another. The outermost act claim
 * represents the current actor while nested act claims represent prior actors").
 */
export function actClaim(actor: ExchangeTokenInfo, previous: Record<string, unknown> | undefined, serverIssuer: string): Record<string, unknown> {
  const act: Record<string, unknown> = { sub: actor.subject }
  if (actor.issuer !== undefined && actor.issuer !== serverIssuer) act['iss'] = actor.issuer
  if (actor.clientId !== undefined) act['client_id'] = actor.clientId
  if (previous !== undefined) act['act'] = previous
  return act
}

/**
 * The subject token's `act` claim, when it has one: a JSON object, or
 * `invalid_request` (RFC 8693 §2.2.2: a subject token "invalid for any
 * reason"). Dropping a malformed one would hide a prior actor.
 */
export function previousAct(subject: ExchangeTokenInfo): Record<string, unknown> | undefined {
  const act = subject.claims?.['act']
  if (act === undefined) return undefined
  if (!isJsonObject(act)) throw new OAuthError('invalid_request', 'the subject token\'s "act" claim is malformed')
  return act
}

/**
 * The subject token's `aud` claim, when it has one: a string or a list of
 * strings, or `invalid_request` (RFC 8693 §2.2.2). Dropping a malformed one
 * would widen the token's audience.
 */
export function previousAudience(subject: ExchangeTokenInfo): string | string[] | undefined {
  const aud = subject.claims?.['aud']
  if (aud === undefined) return undefined
  if (typeof aud === 'string') return aud
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) return [...(aud as string[])]
  throw new OAuthError('invalid_request', 'the subject token\'s "aud" claim is malformed')
}
