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
  const check = (name: string, value: unknown) => {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw new TypeError(`${where}: "${name}" must be a valid Date, got ${value instanceof Date ? 'Invalid Date' : value === null ? 'null' : typeof value}`)
    }
  }
  for (const [name, value] of Object.entries(required)) check(name, value)
  for (const [name, value] of Object.entries(nullable)) if (value !== null && value !== undefined) check(name, value)
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
