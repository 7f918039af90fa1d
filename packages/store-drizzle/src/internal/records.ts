import type { AuthorizationCodeRecord, Client, TokenRecord, UserRecord } from '@grantkit/core'

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

export function userToRow(user: UserRecord): UserRecord {
  return { id: user.id, username: user.username, passwordHash: user.passwordHash }
}
