import type { AuthorizationCodeRecord, Client, ConsumeResult, DeviceCodeRecord, RotateResult, TokenRecord, UserRecord } from '@grantkit/core'

/*
 * Row <-> record mapping shared by both dialects. Optional fields are stored
 * as SQL NULL and read back as absent, so a record round-trips unchanged.
 */

type Json = Record<string, unknown>

export interface ClientRow {
  clientId: string
  clientSecretHash: string | null
  clientName: string | null
  redirectUris: string[]
  grantTypes: string[]
  responseTypes: string[]
  scope: string
  tokenEndpointAuthMethod: string
  metadata: Json | null
}

export interface CodeRow {
  codeHash: string
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
  extra: Json | null
}

export interface TokenRow {
  tokenHash: string
  type: 'access_token' | 'refresh_token'
  clientId: string
  userId: string | null
  scope: string
  familyId: string
  issuedAt: Date
  expiresAt: Date
  revokedAt: Date | null
  rotatedAt: Date | null
  extra: Json | null
}

export interface DeviceCodeRow {
  deviceCodeHash: string
  userCodeHash: string
  clientId: string
  scope: string
  status: DeviceCodeRecord['status']
  userId: string | null
  familyId: string
  interval: number
  lastPolledAt: Date | null
  /** Whether the last poll came sooner than `interval` seconds after the one before (RFC 8628 §3.5 `slow_down`). */
  lastPollSlowDown: boolean
  createdAt: Date
  expiresAt: Date
  extra: Json | null
}

export interface ReplayKeyRow {
  key: string
  expiresAt: Date
}

export function clientToRow(client: Client): ClientRow {
  return {
    clientId: client.clientId,
    clientSecretHash: client.clientSecretHash,
    clientName: client.clientName ?? null,
    redirectUris: [...client.redirectUris],
    grantTypes: [...client.grantTypes],
    responseTypes: [...client.responseTypes],
    scope: client.scope,
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod,
    metadata: client.metadata === undefined ? null : { ...client.metadata },
  }
}

export function rowToClient(row: ClientRow): Client {
  const { clientName, metadata, ...rest } = row
  return {
    ...rest,
    ...(clientName === null ? {} : { clientName }),
    ...(metadata === null ? {} : { metadata }),
  }
}

export function codeToRow(code: AuthorizationCodeRecord): CodeRow {
  return { ...code, extra: code.extra === undefined ? null : { ...code.extra } }
}

export function rowToCode(row: CodeRow): AuthorizationCodeRecord {
  const { extra, ...rest } = row
  return extra === null ? rest : { ...rest, extra }
}

export function tokenToRow(token: TokenRecord): TokenRow {
  return { ...token, extra: token.extra === undefined ? null : { ...token.extra } }
}

export function rowToToken(row: TokenRow): TokenRecord {
  const { extra, ...rest } = row
  return extra === null ? rest : { ...rest, extra }
}

export function deviceCodeToRow(record: DeviceCodeRecord): DeviceCodeRow {
  return { ...record, lastPollSlowDown: false, extra: record.extra === undefined ? null : { ...record.extra } }
}

export function rowToDeviceCode(row: DeviceCodeRow): DeviceCodeRecord {
  const { extra, lastPollSlowDown: _, ...rest } = row
  return extra === null ? rest : { ...rest, extra }
}

export function userToRow(user: UserRecord): UserRecord {
  return { id: user.id, username: user.username, passwordHash: user.passwordHash }
}

/**
 * The result of a code consumption from the conditional UPDATE's row (`won`,
 * the row after the update) or, when it matched nothing, a fresh read of the
 * code: consumed already and unexpired is a replay; unknown or expired is
 * `null` (consumed_at never goes back to NULL, so no other case exists).
 */
export async function consumeResult(
  won: CodeRow | undefined,
  read: () => Promise<CodeRow | undefined>,
  now: Date,
): Promise<ConsumeResult | null> {
  if (won !== undefined) return { consumed: true, code: rowToCode({ ...won, consumedAt: null }) }
  const row = await read()
  if (row === undefined || row.expiresAt.getTime() <= now.getTime()) return null
  return { consumed: false, code: rowToCode(row) }
}

/**
 * The result of a refresh-token rotation from the conditional UPDATE's row
 * or, when it matched nothing, a fresh read: not rotatable (rotated, revoked
 * or expired) is `rotated: false`; unknown or not a refresh token is `null`.
 */
export async function rotateResult(won: TokenRow | undefined, read: () => Promise<TokenRow | undefined>): Promise<RotateResult | null> {
  if (won !== undefined) return { rotated: true, token: rowToToken({ ...won, rotatedAt: null }) }
  const row = await read()
  if (row === undefined || row.type !== 'refresh_token') return null
  return { rotated: false, token: rowToToken(row) }
}
