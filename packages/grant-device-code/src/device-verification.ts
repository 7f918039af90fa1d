import {
  assertStoreCapabilities,
  configError,
  formatScope,
  hashToken,
  parseScope,
  type AuthorizationServer,
  type Client,
  type DeviceCodeRecord,
  type DeviceCodeStore,
  type GrantUser,
} from '@grantkit/core'
import { memoryAttemptLimiter, type AttemptLimiter } from './attempt-limiter.js'
import { formatUserCode, normalizeUserCode } from './internal/user-code.js'

/** The longest user-code entry looked at; longer is `invalid` without a store lookup. */
const MAX_ENTRY_LENGTH = 64

/**
 * Why a user code was not accepted:
 * - `invalid`: no live authorization has this code (mistyped, made up, or
 *   expired: the store forgets a code when it expires); counts as a wrong entry;
 * - `expired`: the code's authorization expired (when the store still returns it);
 * - `used`: the code was approved or denied already (a user code is single use);
 * - `too_many_attempts`: the key entered too many wrong codes lately; nothing was looked up.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-5.1
 */
export type DeviceVerificationError = 'invalid' | 'expired' | 'used' | 'too_many_attempts'

/** A user code that was not accepted. */
export interface DeviceVerificationFailure {
  readonly ok: false
  readonly error: DeviceVerificationError
}

/** A pending device authorization, as the verification page shows it. */
export interface PendingDeviceAuthorization {
  readonly ok: true
  /** The client (device app) asking: show its `clientName`. */
  readonly client: Client
  /** The scopes it asks for. */
  readonly scopes: string[]
  /** The user code, canonical (`WDJB-MJHT`): put it in the approve/deny form. */
  readonly userCode: string
  /** When the codes expire. */
  readonly expiresAt: Date
  /**
   * What extensions saved with the device code at the device authorization
   * endpoint (`afterValidateDeviceAuthorizationRequest`), e.g. the RFC 8707
   * `resources` of `ResourceIndicators`: show it too (RFC 8628 §5.4). Empty
   * when none did.
   */
  readonly extra: Readonly<Record<string, unknown>>
}

/** An approved device authorization. */
export interface ApprovedDeviceAuthorization {
  readonly ok: true
  readonly client: Client
  /** The scopes granted. */
  readonly scopes: string[]
}

/** Options of every {@link DeviceVerification} call. */
export interface DeviceVerificationCallOptions {
  /**
   * What wrong entries are counted by (RFC 8628 §5.1): the session id, the
   * IP address, or both joined. Required.
   */
  readonly key: string
}

/** Options of {@link DeviceVerification.approve}. */
export interface DeviceApproveOptions extends DeviceVerificationCallOptions {
  /** The scopes the user granted, a subset of those asked for (`lookup().scopes`); default all of them. */
  readonly scopes?: readonly string[] | undefined
}

/** Options of {@link deviceVerification}. */
export interface DeviceVerificationOptions {
  /** Counts wrong user codes per key. Default `memoryAttemptLimiter()`: 5 wrong entries per minute per key. */
  readonly limiter?: AttemptLimiter | undefined
}

/**
 * The user's step of the device flow (RFC 8628 §3.3), for the app's own
 * verification page: look the user code up, then approve or deny it.
 */
export interface DeviceVerification {
  /** The pending authorization a user code belongs to, for the consent page. */
  lookup(userCode: string, options: DeviceVerificationCallOptions): Promise<PendingDeviceAuthorization | DeviceVerificationFailure>
  /** The user approves: the device's next poll gets tokens for `user`. */
  approve(userCode: string, user: GrantUser, options: DeviceApproveOptions): Promise<ApprovedDeviceAuthorization | DeviceVerificationFailure>
  /** The user denies: the device's next poll gets `access_denied`. */
  deny(userCode: string, options: DeviceVerificationCallOptions): Promise<{ readonly ok: true } | DeviceVerificationFailure>
}

function failure(error: DeviceVerificationError): DeviceVerificationFailure {
  return { ok: false, error }
}

function checkKey(options: DeviceVerificationCallOptions, method: string): string {
  const key: unknown = typeof options === 'object' && options !== null ? options.key : undefined
  if (typeof key !== 'string' || key === '') throw new TypeError(`deviceVerification.${method}: options.key must be a non-empty string (a session id or IP address)`)
  return key
}

/**
 * The user step of the device flow (RFC 8628 §3.3) as a helper the app's
 * verification page calls, as `authorize` is for the code flow: the page
 * asks the signed-in user for the code the device shows (or reads it from
 * `?user_code=` of `verification_uri_complete`), shows who asks for what
 * ({@link DeviceVerification.lookup}), and records the answer
 * ({@link DeviceVerification.approve} / {@link DeviceVerification.deny}).
 *
 * - user codes are case-, dash- and space-insensitive (`wdjb mjht` is `WDJB-MJHT`, §6.1);
 * - a user code is single use: once approved or denied it answers `used`;
 * - wrong codes are counted per `key` by the `limiter` (default: 5 per
 *   minute); past that, every entry of the key answers `too_many_attempts`
 *   without a lookup, right or wrong (RFC 8628 §5.1). Right codes don't count;
 * - time is the server's clock.
 *
 * Results are values, not exceptions: `{ ok: true, … }` or
 * `{ ok: false, error }` (see {@link DeviceVerificationError}). A
 * `TypeError` means the app called it wrongly (no `key`, no user id, a
 * scope that was not asked for).
 *
 * @example
 * ```ts
 * const verification = deviceVerification(server)
 * const found = await verification.lookup(form.get('user_code') ?? '', { key: session.id })
 * if (found.ok) await verification.approve(found.userCode, { id: session.userId }, { key: session.id })
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.3
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-5.1
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-6.1
 */
export function deviceVerification(server: AuthorizationServer, options: DeviceVerificationOptions = {}): DeviceVerification {
  if (typeof server !== 'object' || server === null || typeof server.now !== 'function') throw configError('deviceVerification: expected an AuthorizationServer')
  if (typeof options !== 'object' || options === null) throw configError('deviceVerification: options must be an object')
  assertStoreCapabilities(server.store, ['clients', 'deviceCodes'], 'deviceVerification')
  const limiter = options.limiter ?? memoryAttemptLimiter()
  if (typeof limiter !== 'object' || limiter === null || typeof limiter.consume !== 'function' || typeof limiter.refund !== 'function') {
    throw configError('deviceVerification: "limiter" must have consume() and refund()')
  }
  const store = server.store as unknown as DeviceCodeStore

  type Found = { readonly record: DeviceCodeRecord; readonly client: Client; readonly hash: string; readonly now: Date }

  /** Takes an attempt, finds the pending authorization of the code, gives the attempt back when the code was right. */
  async function find(userCode: string, key: string): Promise<Found | DeviceVerificationFailure> {
    const now = server.now()
    if (!(await limiter.consume(key, now))) return failure('too_many_attempts')
    if (typeof userCode !== 'string' || userCode.length > MAX_ENTRY_LENGTH || userCode.includes('\u0000')) return failure('invalid')
    const normalized = normalizeUserCode(userCode)
    if (normalized === '') return failure('invalid')
    const hash = hashToken(normalized)
    const record = await store.findDeviceCodeByUserCode(hash, now)
    if (record === null) return failure('invalid')
    // A real code: only wrong entries count.
    await limiter.refund(key, now)
    if (record.expiresAt.getTime() <= now.getTime()) return failure('expired')
    if (record.status !== 'pending') return failure('used')
    const client = await server.store.findClient(record.clientId)
    // The client was deleted since: nothing to authorize.
    if (client === null) return failure('invalid')
    return { record, client, hash, now }
  }

  /** Why a decision on a code found pending a moment ago failed: decided meanwhile, or expired. */
  async function lost(hash: string, now: Date): Promise<DeviceVerificationFailure> {
    const record = await store.findDeviceCodeByUserCode(hash, now)
    return failure(record === null || record.expiresAt.getTime() <= now.getTime() ? 'expired' : 'used')
  }

  return {
    async lookup(userCode, callOptions) {
      const found = await find(userCode, checkKey(callOptions, 'lookup'))
      if ('ok' in found) return found
      const { record, client } = found
      return { ok: true, client, scopes: parseScope(record.scope), userCode: formatUserCode(normalizeUserCode(userCode)), expiresAt: record.expiresAt, extra: record.extra ?? {} }
    },

    async approve(userCode, user, callOptions) {
      const key = checkKey(callOptions, 'approve')
      if (typeof user !== 'object' || user === null || typeof user.id !== 'string' || user.id === '') {
        throw new TypeError('deviceVerification.approve: user must be { id } with a non-empty id')
      }
      const found = await find(userCode, key)
      if ('ok' in found) return found
      const { record, client, hash, now } = found
      const asked = parseScope(record.scope)
      let scopes = asked
      if (callOptions.scopes !== undefined) {
        if (!Array.isArray(callOptions.scopes)) throw new TypeError('deviceVerification.approve: options.scopes must be an array')
        const granted = [...new Set(callOptions.scopes)]
        const unasked = granted.filter((s) => !asked.includes(s))
        if (unasked.length > 0) throw new TypeError('deviceVerification.approve: options.scopes must be a subset of the scopes asked for')
        scopes = granted
      }
      const decided = await store.decideDeviceCode(hash, { approved: true, userId: user.id, scope: formatScope(scopes) }, now)
      if (decided === null) return lost(hash, now)
      return { ok: true, client, scopes: parseScope(decided.scope) }
    },

    async deny(userCode, callOptions) {
      const found = await find(userCode, checkKey(callOptions, 'deny'))
      if ('ok' in found) return found
      const { hash, now } = found
      const decided = await store.decideDeviceCode(hash, { approved: false }, now)
      if (decided === null) return lost(hash, now)
      return { ok: true }
    },
  }
}
