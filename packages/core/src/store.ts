import type { Client } from './client.js'

/*
 * Store contracts: one small interface per capability (after ory/fosite).
 * Semantics are part of the contract and checked by @grantkit/store-test-suite
 * against every store:
 *   - stores receive hashes of codes and tokens, never the raw values;
 *   - "not found" is `null`, never an exception;
 *   - an exception means the store failed, and becomes `server_error`;
 *   - time is passed in (`now`), so a store needs no clock and expiry is always
 *     checked in the query, never left to a TTL index alone;
 *   - a date that is not a valid `Date` (NaN time, e.g. from a far-future
 *     `exp`) is refused with a `TypeError` before anything is written, never
 *     stored as NaN, 1970 or a driver error.
 */

/** Persists registered clients. */
export interface ClientStore {
  /** The client with this id, or `null`. */
  findClient(clientId: string): Promise<Client | null>
  /** Inserts or replaces the client with this `clientId`. */
  saveClient(client: Client): Promise<void>
  /**
   * Deletes a client with its tokens and authorization codes (RFC 7592
   * §2.3: a deleted client's grants and tokens are invalidated with it);
   * `true` when a client was deleted.
   */
  deleteClient(clientId: string): Promise<boolean>
  /** Every client, ordered by `clientId`. */
  listClients(): Promise<Client[]>
}

/**
 * An authorization code as stored (RFC 6749 §4.1.2): bound to the client, the
 * redirect URI, the scope, the user and the PKCE challenge.
 */
export interface AuthorizationCodeRecord {
  /** `hashToken(code)`; the code itself is never stored. */
  readonly codeHash: string
  readonly clientId: string
  readonly userId: string
  /** The `redirect_uri` sent in the authorization request, or `null` when it was omitted (RFC 6749 §4.1.3). */
  readonly redirectUri: string | null
  /** The granted scope, space-separated. */
  readonly scope: string
  /** The token family the code's tokens will belong to; revoked on replay (RFC 6749 §4.1.2). */
  readonly familyId: string
  /** RFC 7636 `code_challenge`, when one was sent. */
  readonly codeChallenge: string | null
  /** RFC 7636 `code_challenge_method`, when a challenge was sent. */
  readonly codeChallengeMethod: string | null
  readonly createdAt: Date
  readonly expiresAt: Date
  /** When the code was redeemed; `null` while unused. */
  readonly consumedAt: Date | null
  /** Extension data (e.g. an OpenID Connect `nonce`); JSON-serialisable. */
  readonly extra?: Readonly<Record<string, unknown>> | undefined
}

/** The result of {@link AuthorizationCodeStore.consumeAuthorizationCode}. */
export interface ConsumeResult {
  /**
   * `true` for the one call that consumed the code; `false` when the code had
   * already been consumed (a replay, RFC 6749 §4.1.2).
   */
  readonly consumed: boolean
  /** The record as it was before this call. */
  readonly code: AuthorizationCodeRecord
}

/** Persists authorization codes. */
export interface AuthorizationCodeStore {
  /** Saves a new code. */
  saveAuthorizationCode(code: AuthorizationCodeRecord): Promise<void>
  /**
   * The code with this hash in whatever state (consumed or not), or `null`
   * when unknown or when `expiresAt <= now`. Never changes anything: the
   * token endpoint reads a code, checks the request against it, saves the
   * tokens, and only then consumes it, so that a failure on the way leaves
   * the code usable (and a replay that consumes first revokes the saved
   * tokens with their family).
   */
  findAuthorizationCode(codeHash: string, now: Date): Promise<AuthorizationCodeRecord | null>
  /**
   * Atomically redeems a code. When the code exists and `expiresAt > now`:
   * if it is unconsumed, marks it consumed at `now` and returns
   * `{ consumed: true }`; if it was consumed already, returns
   * `{ consumed: false }` (a replay). Of N concurrent calls for one code,
   * exactly one gets `consumed: true`. Unknown or expired: `null`.
   * A consumed code is remembered until it expires, so replays are detected.
   */
  consumeAuthorizationCode(codeHash: string, now: Date): Promise<ConsumeResult | null>
}

/** `access_token` or `refresh_token`. */
export type TokenType = 'access_token' | 'refresh_token'

/** An access or refresh token as stored. */
export interface TokenRecord {
  /** `hashToken(token)`; the token itself is never stored. */
  readonly tokenHash: string
  readonly type: TokenType
  readonly clientId: string
  /** The resource owner, or `null` for client-only tokens (client credentials). */
  readonly userId: string | null
  /** Space-separated scope. */
  readonly scope: string
  /** Every token issued from one grant (one code, one password login) and its refreshes shares a family. */
  readonly familyId: string
  readonly issuedAt: Date
  readonly expiresAt: Date
  /** When revoked, or `null`. */
  readonly revokedAt: Date | null
  /** Refresh tokens: when it was exchanged for a new one (rotation), or `null`. */
  readonly rotatedAt: Date | null
  /** Extension data; JSON-serialisable. */
  readonly extra?: Readonly<Record<string, unknown>> | undefined
}

/** The result of {@link TokenStore.rotateRefreshToken}. */
export interface RotateResult {
  /**
   * `true` for the one call that rotated the token; `false` when it was not
   * rotatable (already rotated, revoked or expired): look at `token` to tell
   * which.
   */
  readonly rotated: boolean
  /** The record as it was before this call. */
  readonly token: TokenRecord
}

/** Persists access and refresh tokens. */
export interface TokenStore {
  /** Saves newly issued tokens (an access token and its refresh token) together. */
  saveTokens(tokens: readonly TokenRecord[]): Promise<void>
  /** The token with this hash in whatever state (expired, revoked, rotated), or `null`. */
  findToken(tokenHash: string): Promise<TokenRecord | null>
  /**
   * Compare-and-set for refresh-token rotation (RFC 9700 §4.14.2). When the
   * refresh token exists, is not revoked, not rotated and `expiresAt > now`,
   * marks it rotated at `now` and returns `{ rotated: true }`. Of N concurrent
   * calls for one token, at most one gets `rotated: true`. Exists but not
   * rotatable: `{ rotated: false }`. Unknown (or not a refresh token): `null`.
   */
  rotateRefreshToken(tokenHash: string, now: Date): Promise<RotateResult | null>
  /** Marks one token revoked at `now` (if not already); `true` when it existed. */
  revokeToken(tokenHash: string, now: Date): Promise<boolean>
  /** Marks every token of the family revoked at `now`; returns how many were newly revoked. */
  revokeTokenFamily(familyId: string, now: Date): Promise<number>
}

/** Remembers one-time identifiers, e.g. the `jti` of JWT assertions (RFC 7523 §3). */
export interface ReplayStore {
  /**
   * Records `key` until `expiresAt`. Returns `true` the first time, `false`
   * when the key is already recorded and `expiresAt > now` of that record.
   * Atomic: of N concurrent calls with one key, exactly one gets `true`.
   */
  markUsed(key: string, expiresAt: Date, now: Date): Promise<boolean>
}

/** A resource owner as stored by a {@link UserStore}. */
export interface UserRecord {
  readonly id: string
  /** Unique. */
  readonly username: string
  /** `hashSecret(password, 'scrypt')`; never the password. */
  readonly passwordHash: string
}

/** Optional capability: users for the password grant and the login page. */
export interface UserStore {
  findUserById(id: string): Promise<UserRecord | null>
  findUserByUsername(username: string): Promise<UserRecord | null>
  /** Inserts or replaces the user with this `id`. */
  saveUser(user: UserRecord): Promise<void>
}

/**
 * A device authorization (RFC 8628 §3.2) as stored: the device code and the
 * user code (both hashed), the client and scope, and where the user's
 * decision stands.
 */
export interface DeviceCodeRecord {
  /** `hashToken(device_code)`; the device code itself is never stored. */
  readonly deviceCodeHash: string
  /** `hashToken(normalised user_code)` (upper case, no dashes); the user code itself is never stored. */
  readonly userCodeHash: string
  readonly clientId: string
  /** The requested scope, space-separated. */
  readonly scope: string
  /** `pending` until the user decides; `approved` or `denied` after; `redeemed` once tokens were issued. */
  readonly status: 'pending' | 'approved' | 'denied' | 'redeemed'
  /** The user who approved, once approved. */
  readonly userId: string | null
  /** The token family the tokens will belong to. */
  readonly familyId: string
  /** Seconds the client must wait between polls (RFC 8628 §3.2 `interval`); grows by 5 on each `slow_down` (§3.5). */
  readonly interval: number
  /** The last poll of the token endpoint, or `null` before the first. */
  readonly lastPolledAt: Date | null
  readonly createdAt: Date
  readonly expiresAt: Date
  /** Extension data (e.g. RFC 8707 resources); JSON-serialisable. */
  readonly extra?: Readonly<Record<string, unknown>> | undefined
}

/** The result of {@link DeviceCodeStore.pollDeviceCode}. */
export interface DevicePollResult {
  /** The record after this poll was recorded (a `slow_down` has the grown interval). */
  readonly record: DeviceCodeRecord
  /** `true` when this poll came sooner than `interval` seconds after the previous one (RFC 8628 §3.5 `slow_down`). */
  readonly slowDown: boolean
}

/** Persists device authorizations (RFC 8628). */
export interface DeviceCodeStore {
  /**
   * Saves a new device authorization. Device codes and user codes are unique:
   * when a stored authorization (expired or not, until purged) already has
   * this `deviceCodeHash` or `userCodeHash`, the save fails with an error and
   * nothing is written, so that a grant can draw another user code (RFC 8628
   * §6.1: user codes are short).
   */
  saveDeviceCode(record: DeviceCodeRecord): Promise<void>
  /** The unexpired authorization with this user code hash in whatever status, or `null`. Read-only. */
  findDeviceCodeByUserCode(userCodeHash: string, now: Date): Promise<DeviceCodeRecord | null>
  /**
   * Records the user's decision, atomically: when the authorization is
   * `pending` and `expiresAt > now`, sets it `approved` (with `userId`, and
   * `scope` when given) or `denied` and returns the new record; otherwise
   * `null`. Of N concurrent calls for one user code exactly one succeeds:
   * a user code is single use.
   */
  decideDeviceCode(userCodeHash: string, decision: { readonly approved: true; readonly userId: string; readonly scope?: string } | { readonly approved: false }, now: Date): Promise<DeviceCodeRecord | null>
  /**
   * Records a poll of the token endpoint, atomically: when the
   * authorization exists (in any status) and `expiresAt > now`, sets
   * `lastPolledAt = now`;
   * when the previous poll was less than `interval` seconds before `now`, it
   * also adds 5 to `interval` and answers `slowDown: true` (RFC 8628 §3.5).
   * Unknown or expired: `null`.
   */
  pollDeviceCode(deviceCodeHash: string, now: Date): Promise<DevicePollResult | null>
  /**
   * Marks an `approved`, unexpired authorization `redeemed`, atomically, and
   * returns it as it was before; otherwise `null`. Of N concurrent calls
   * exactly one gets the record: a device code is redeemed once.
   */
  redeemDeviceCode(deviceCodeHash: string, now: Date): Promise<DeviceCodeRecord | null>
}

/** Options of {@link PurgeableStore.purgeExpired}. */
export interface PurgeOptions {
  /**
   * At most this many records of each kind (codes, tokens, replay keys,
   * device authorizations) are deleted by one call, so that one call is a
   * short statement that never holds a lock for long; call again while it
   * deletes anything (`purgeExpiredInBatches` and `schedulePurge` do).
   * A positive integer; default: no bound.
   */
  readonly limit?: number | undefined
}

/** Housekeeping: removes what can no longer be used. */
export interface PurgeableStore {
  /**
   * Deletes codes, device authorizations, tokens and replay keys that
   * expired before `now` (at most `options.limit` of each kind); returns how
   * many rows/documents went. Never returns the rows themselves. Safe to run
   * from several processes at once: deleting an expired record twice is
   * deleting it once.
   */
  purgeExpired(now: Date, options?: PurgeOptions): Promise<number>
}

/** Everything the built-in grants and endpoints need from a store. */
export interface GrantkitStore extends ClientStore, AuthorizationCodeStore, TokenStore, ReplayStore {}

/** A store with every capability, as the built-in stores provide. */
export interface FullStore extends GrantkitStore, UserStore, PurgeableStore, DeviceCodeStore {}
