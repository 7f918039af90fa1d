import type { AuthorizationCodeRecord, DeviceCodeRecord, TokenRecord } from './store.js'

/** The dates of a record: those it must have, and those that may be `null`. */
export interface RecordDates {
  readonly required: Readonly<Record<string, unknown>>
  readonly nullable?: Readonly<Record<string, unknown>>
}

/**
 * The store contract's date rule (store.ts): throws a `TypeError` when a date
 * is not a valid `Date` — a NaN time such as `new Date(exp * 1000)` for a
 * far-future JWT `exp`, which SQLite would store as NULL, PostgreSQL's
 * driver reject with a RangeError, and MongoDB's store as 1970. Every store
 * calls it before it writes anything; `nullable` dates may be `null`.
 *
 * @param where `store.method`, and which record when there are several.
 */
export function refuseInvalidDates(where: string, required: Readonly<Record<string, unknown>>, nullable: Readonly<Record<string, unknown>> = {}): void {
  // Runs on every token save: no closure, no entry arrays.
  for (const name in required) if (!isValidDate(required[name])) throw invalidDate(where, name, required[name])
  for (const name in nullable) {
    const value = nullable[name]
    if (value !== null && value !== undefined && !isValidDate(value)) throw invalidDate(where, name, value)
  }
}

/** Checks a token's dates as {@link refuseInvalidDates} does with {@link tokenDates}, building nothing when they are valid. */
export function refuseInvalidTokenDates(where: string | (() => string), token: TokenRecord): void {
  const { revokedAt, rotatedAt } = token
  if (isValidDate(token.issuedAt) && isValidDate(token.expiresAt) && (revokedAt == null || isValidDate(revokedAt)) && (rotatedAt == null || isValidDate(rotatedAt))) return
  const dates = tokenDates(token)
  refuseInvalidDates(typeof where === 'string' ? where : where(), dates.required, dates.nullable)
}

function isValidDate(value: unknown): boolean {
  return value instanceof Date && !Number.isNaN(value.getTime())
}

function invalidDate(where: string, name: string, value: unknown): TypeError {
  return new TypeError(`${where}: "${name}" must be a valid Date, got ${value instanceof Date ? 'Invalid Date' : value === null ? 'null' : typeof value}`)
}

/** The dates of an authorization code, for {@link refuseInvalidDates}. */
export function codeDates(code: AuthorizationCodeRecord): RecordDates {
  return { required: { createdAt: code.createdAt, expiresAt: code.expiresAt }, nullable: { consumedAt: code.consumedAt } }
}

/** The dates of a token, for {@link refuseInvalidDates}. */
export function tokenDates(token: TokenRecord): RecordDates {
  return { required: { issuedAt: token.issuedAt, expiresAt: token.expiresAt }, nullable: { revokedAt: token.revokedAt, rotatedAt: token.rotatedAt } }
}

/** The dates of a device authorization (RFC 8628 §3.2), for {@link refuseInvalidDates}. */
export function deviceCodeDates(record: DeviceCodeRecord): RecordDates {
  return { required: { createdAt: record.createdAt, expiresAt: record.expiresAt }, nullable: { lastPolledAt: record.lastPolledAt } }
}

/**
 * The `limit` of `purgeExpired(now, { limit })`: a positive safe integer, or
 * `Infinity` when absent. Anything else is a `TypeError` naming `where`.
 */
export function purgeLimit(where: string, options: { readonly limit?: number | undefined } | undefined): number {
  const limit = options?.limit
  if (limit === undefined) return Number.POSITIVE_INFINITY
  if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`${where}: limit must be a positive integer`)
  return limit
}
