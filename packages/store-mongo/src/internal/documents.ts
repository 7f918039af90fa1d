import type { AuthorizationCodeRecord, Client, DeviceCodeRecord, TokenRecord, TokenType, UserRecord } from '@grantkit/core'

/*
 * Document shapes and their mapping to grantkit records.
 *
 * - `_id` is the natural key (client id, code hash, token hash, replay key,
 *   user id), so uniqueness comes with the mandatory `_id` index.
 * - Dates are BSON dates (millisecond precision, like JavaScript `Date`).
 * - Nullable fields are stored as `null`; optional fields that are `undefined`
 *   are not stored at all, and read back as absent.
 * - `metadata` and `extra` are stored as JSON text: the contract only promises
 *   JSON-serialisable values, and their keys may be anything (URLs, `$`-prefixed
 *   names), which MongoDB restricts and FerretDB v1 rejects outright.
 */

export interface ClientDocument {
  _id: string
  clientSecretHash: string | null
  clientName?: string
  redirectUris: string[]
  grantTypes: string[]
  responseTypes: string[]
  scope: string
  tokenEndpointAuthMethod: string
  metadata?: string
}

export interface CodeDocument {
  _id: string
  clientId: string
  userId: string
  redirectUri: string | null
  scope: string
  familyId: string
  codeChallenge: string | null
  codeChallengeMethod: string | null
  createdAt: Date
  expiresAt: Date
  consumedAt: Date | null
  extra?: string
}

export interface TokenDocument {
  _id: string
  type: TokenType
  clientId: string
  userId: string | null
  scope: string
  familyId: string
  issuedAt: Date
  expiresAt: Date
  revokedAt: Date | null
  rotatedAt: Date | null
  extra?: string
}

export interface ReplayDocument {
  _id: string
  expiresAt: Date
  /** Random per record: names the record's generation in the claim that replaces it once expired. */
  nonce: string
}

/** Proof that one caller won a one-time transition (see `claims.ts`). */
export interface ClaimDocument {
  _id: string
  expiresAt: Date
  claimedAt: Date
}

/**
 * A device authorization (RFC 8628) as saved, with its poll state. Only
 * polls write it after the save (`lastPolledAt`, `interval`): the user's
 * decision and the redemption go to a {@link DeviceDecisionDocument}, so that
 * a poll can never overwrite them (FerretDB v1 writes whole documents, see
 * the README).
 */
export interface DeviceDocument {
  _id: string
  userCodeHash: string
  clientId: string
  scope: string
  /** The status as saved (`pending` for a new authorization); a decision document overrides it. */
  status: DeviceCodeRecord['status']
  userId: string | null
  familyId: string
  interval: number
  lastPolledAt: Date | null
  createdAt: Date
  expiresAt: Date
  extra?: string
}

/**
 * Where a device authorization's status went after its save: inserted once
 * by the one decision that wins (the unique `_id`, the device code hash, picks
 * it), then marked `redeemed` by the one redemption that wins its claim.
 */
export interface DeviceDecisionDocument {
  _id: string
  status: 'approved' | 'denied' | 'redeemed'
  userId: string | null
  scope: string
  /** The authorization's `expiresAt`, so that it is purged with it. */
  expiresAt: Date
  decidedAt: Date
}

/**
 * One of a throttle key's slots (mongoThrottle): a key has as many slots as
 * its limit, `_id` `<slot>:<key>`; a slot holds one allowed hit until it
 * leaves the window (`expiresAt`), and a hit is allowed when it takes a
 * free or expired slot. A slot is taken by a unique insert or, once expired,
 * by the one caller that wins the claim on its generation (`nonce`).
 */
export interface ThrottleSlotDocument {
  _id: string
  key: string
  slot: number
  /** When the hit held here leaves the window (the hit's time plus the window). */
  expiresAt: Date
  /** Random per hit: names the slot's generation in the claim that replaces it once expired. */
  nonce: string
}

/** A pushed authorization request (RFC 9126), `_id` the hash of its `request_uri`. */
export interface PushedRequestDocument {
  _id: string
  clientId: string
  params: string
  expiresAt: Date
}

export interface UserDocument {
  _id: string
  username: string
  passwordHash: string
}

const json = (value: Readonly<Record<string, unknown>>): string => JSON.stringify(value)
const parse = (text: string): Record<string, unknown> => JSON.parse(text) as Record<string, unknown>

export function clientToDocument(client: Client): ClientDocument {
  const doc: ClientDocument = {
    _id: client.clientId,
    clientSecretHash: client.clientSecretHash,
    redirectUris: [...client.redirectUris],
    grantTypes: [...client.grantTypes],
    responseTypes: [...client.responseTypes],
    scope: client.scope,
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
  }
  if (client.clientName !== undefined) doc.clientName = client.clientName
  if (client.metadata !== undefined) doc.metadata = json(client.metadata)
  return doc
}

export function clientFromDocument(doc: ClientDocument): Client {
  return {
    clientId: doc._id,
    clientSecretHash: doc.clientSecretHash ?? null,
    ...(typeof doc.clientName === 'string' ? { clientName: doc.clientName } : {}),
    redirectUris: doc.redirectUris,
    grantTypes: doc.grantTypes,
    responseTypes: doc.responseTypes,
    scope: doc.scope,
    tokenEndpointAuthMethod: doc.tokenEndpointAuthMethod,
    ...(typeof doc.metadata === 'string' ? { metadata: parse(doc.metadata) } : {}),
  }
}

export function codeToDocument(code: AuthorizationCodeRecord): CodeDocument {
  const doc: CodeDocument = {
    _id: code.codeHash,
    clientId: code.clientId,
    userId: code.userId,
    redirectUri: code.redirectUri,
    scope: code.scope,
    familyId: code.familyId,
    codeChallenge: code.codeChallenge,
    codeChallengeMethod: code.codeChallengeMethod,
    createdAt: code.createdAt,
    expiresAt: code.expiresAt,
    consumedAt: code.consumedAt,
  }
  if (code.extra !== undefined) doc.extra = json(code.extra)
  return doc
}

export function codeFromDocument(doc: CodeDocument): AuthorizationCodeRecord {
  return {
    codeHash: doc._id,
    clientId: doc.clientId,
    userId: doc.userId,
    redirectUri: doc.redirectUri ?? null,
    scope: doc.scope,
    familyId: doc.familyId,
    codeChallenge: doc.codeChallenge ?? null,
    codeChallengeMethod: doc.codeChallengeMethod ?? null,
    createdAt: doc.createdAt,
    expiresAt: doc.expiresAt,
    consumedAt: doc.consumedAt ?? null,
    ...(typeof doc.extra === 'string' ? { extra: parse(doc.extra) } : {}),
  }
}

export function tokenToDocument(token: TokenRecord): TokenDocument {
  const doc: TokenDocument = {
    _id: token.tokenHash,
    type: token.type,
    clientId: token.clientId,
    userId: token.userId,
    scope: token.scope,
    familyId: token.familyId,
    issuedAt: token.issuedAt,
    expiresAt: token.expiresAt,
    revokedAt: token.revokedAt,
    rotatedAt: token.rotatedAt,
  }
  if (token.extra !== undefined) doc.extra = json(token.extra)
  return doc
}

export function tokenFromDocument(doc: TokenDocument): TokenRecord {
  return {
    tokenHash: doc._id,
    type: doc.type,
    clientId: doc.clientId,
    userId: doc.userId ?? null,
    scope: doc.scope,
    familyId: doc.familyId,
    issuedAt: doc.issuedAt,
    expiresAt: doc.expiresAt,
    revokedAt: doc.revokedAt ?? null,
    rotatedAt: doc.rotatedAt ?? null,
    ...(typeof doc.extra === 'string' ? { extra: parse(doc.extra) } : {}),
  }
}

export function deviceToDocument(record: DeviceCodeRecord): DeviceDocument {
  const doc: DeviceDocument = {
    _id: record.deviceCodeHash,
    userCodeHash: record.userCodeHash,
    clientId: record.clientId,
    scope: record.scope,
    status: record.status,
    userId: record.userId,
    familyId: record.familyId,
    interval: record.interval,
    lastPolledAt: record.lastPolledAt,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
  }
  if (record.extra !== undefined) doc.extra = json(record.extra)
  return doc
}

/** The record from its saved document and, once decided, its decision document. */
export function deviceFromDocuments(doc: DeviceDocument, decision: DeviceDecisionDocument | null): DeviceCodeRecord {
  return {
    deviceCodeHash: doc._id,
    userCodeHash: doc.userCodeHash,
    clientId: doc.clientId,
    scope: decision?.scope ?? doc.scope,
    status: decision?.status ?? doc.status,
    userId: decision === null ? (doc.userId ?? null) : decision.userId,
    familyId: doc.familyId,
    interval: doc.interval,
    lastPolledAt: doc.lastPolledAt ?? null,
    createdAt: doc.createdAt,
    expiresAt: doc.expiresAt,
    ...(typeof doc.extra === 'string' ? { extra: parse(doc.extra) } : {}),
  }
}

export function userToDocument(user: UserRecord): UserDocument {
  return { _id: user.id, username: user.username, passwordHash: user.passwordHash }
}

export function userFromDocument(doc: UserDocument): UserRecord {
  return { id: doc._id, username: doc.username, passwordHash: doc.passwordHash }
}
