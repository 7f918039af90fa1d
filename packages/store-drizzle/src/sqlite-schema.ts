import type { DeviceCodeRecord } from '@grantkit/core'
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'
import { deviceCodeColumns } from './internal/device-code-columns.js'

/** Options of {@link createSqliteTables} and {@link createPgTables}. */
export interface TablesOptions {
  /**
   * Prepended to every table and index name; default `grantkit_`. The shipped
   * migrations create the default names only: with another prefix, generate
   * your own migrations with drizzle-kit (see the README).
   */
  tablePrefix?: string
}

/** The default table-name prefix. */
export const DEFAULT_TABLE_PREFIX = 'grantkit_'

/**
 * The grantkit tables for `drizzle-orm/sqlite-core`. Times are integer epoch
 * milliseconds (`mode: 'timestamp_ms'`), so `Date`s round-trip to the
 * millisecond; lists and extension data are JSON text. Codes and tokens are
 * keyed by their hash: the raw values are never stored.
 *
 * @example
 * ```ts
 * // schema.ts of your drizzle-kit config
 * export const { clients, authorizationCodes, tokens, replayKeys, users, deviceCodes, throttle, pushedRequests } = createSqliteTables()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.5
 */
export function createSqliteTables(options: TablesOptions = {}) {
  const p = options.tablePrefix ?? DEFAULT_TABLE_PREFIX
  const ms = (name: string) => integer(name, { mode: 'timestamp_ms' })

  const clients = sqliteTable(`${p}clients`, {
    clientId: text('client_id').primaryKey(),
    clientSecretHash: text('client_secret_hash'),
    clientName: text('client_name'),
    redirectUris: text('redirect_uris', { mode: 'json' }).$type<string[]>().notNull(),
    grantTypes: text('grant_types', { mode: 'json' }).$type<string[]>().notNull(),
    responseTypes: text('response_types', { mode: 'json' }).$type<string[]>().notNull(),
    scope: text('scope').notNull(),
    tokenEndpointAuthMethod: text('token_endpoint_auth_method').notNull(),
    metadata: text('metadata', { mode: 'json' }).$type<Record<string, unknown>>(),
  })

  const authorizationCodes = sqliteTable(
    `${p}authorization_codes`,
    {
      codeHash: text('code_hash').primaryKey(),
      clientId: text('client_id').notNull(),
      userId: text('user_id').notNull(),
      redirectUri: text('redirect_uri'),
      scope: text('scope').notNull(),
      familyId: text('family_id').notNull(),
      codeChallenge: text('code_challenge'),
      codeChallengeMethod: text('code_challenge_method'),
      createdAt: ms('created_at').notNull(),
      expiresAt: ms('expires_at').notNull(),
      consumedAt: ms('consumed_at'),
      extra: text('extra', { mode: 'json' }).$type<Record<string, unknown>>(),
    },
    (t) => [
      index(`${p}authorization_codes_client_id_idx`).on(t.clientId),
      index(`${p}authorization_codes_family_id_idx`).on(t.familyId),
      index(`${p}authorization_codes_expires_at_idx`).on(t.expiresAt),
    ],
  )

  const tokens = sqliteTable(
    `${p}tokens`,
    {
      tokenHash: text('token_hash').primaryKey(),
      type: text('type').$type<'access_token' | 'refresh_token'>().notNull(),
      clientId: text('client_id').notNull(),
      userId: text('user_id'),
      scope: text('scope').notNull(),
      familyId: text('family_id').notNull(),
      issuedAt: ms('issued_at').notNull(),
      expiresAt: ms('expires_at').notNull(),
      revokedAt: ms('revoked_at'),
      rotatedAt: ms('rotated_at'),
      extra: text('extra', { mode: 'json' }).$type<Record<string, unknown>>(),
    },
    (t) => [
      index(`${p}tokens_client_id_idx`).on(t.clientId),
      index(`${p}tokens_family_id_idx`).on(t.familyId),
      index(`${p}tokens_expires_at_idx`).on(t.expiresAt),
    ],
  )

  const replayKeys = sqliteTable(
    `${p}replay_keys`,
    {
      key: text('key').primaryKey(),
      expiresAt: ms('expires_at').notNull(),
    },
    (t) => [index(`${p}replay_keys_expires_at_idx`).on(t.expiresAt)],
  )

  const users = sqliteTable(`${p}users`, {
    id: text('id').primaryKey(),
    username: text('username').notNull().unique(`${p}users_username_unique`),
    passwordHash: text('password_hash').notNull(),
  })

  // RFC 8628 device authorizations, keyed by the device code hash; user codes are unique.
  const deviceCodes = sqliteTable(
    `${p}device_codes`,
    deviceCodeColumns({
      key: (name) => text(name).primaryKey(),
      text: (name) => text(name).notNull(),
      nullableText: (name) => text(name),
      status: (name) => text(name).$type<DeviceCodeRecord['status']>().notNull(),
      count: (name) => integer(name).notNull(),
      time: (name) => ms(name).notNull(),
      nullableTime: (name) => ms(name),
      flag: (name) => integer(name, { mode: 'boolean' }).notNull().default(false),
      json: (name) => text(name, { mode: 'json' }).$type<Record<string, unknown>>(),
    }),
    (t) => [uniqueIndex(`${p}device_codes_user_code_hash_unique`).on(t.userCodeHash), index(`${p}device_codes_expires_at_idx`).on(t.expiresAt)],
  )

  // The failed-credential throttle (sqliteThrottle): one row per key, the times (epoch ms, a JSON array) of its
  // hits still inside the window, at most the key's limit; `expires_at` is when the last of them leaves it.
  const throttle = sqliteTable(
    `${p}throttle`,
    {
      key: text('key').primaryKey(),
      hits: text('hits', { mode: 'json' }).$type<number[]>().notNull(),
      expiresAt: ms('expires_at').notNull(),
    },
    (t) => [index(`${p}throttle_expires_at_idx`).on(t.expiresAt)],
  )

  // RFC 9126 pushed authorization requests (sqlitePushedRequestStore), keyed by the request_uri's hash.
  const pushedRequests = sqliteTable(
    `${p}pushed_requests`,
    {
      uriHash: text('uri_hash').primaryKey(),
      clientId: text('client_id').notNull(),
      params: text('params').notNull(),
      expiresAt: ms('expires_at').notNull(),
    },
    (t) => [index(`${p}pushed_requests_expires_at_idx`).on(t.expiresAt)],
  )

  return { clients, authorizationCodes, tokens, replayKeys, users, deviceCodes, throttle, pushedRequests }
}

/** The tables of {@link createSqliteTables}. */
export type SqliteTables = ReturnType<typeof createSqliteTables>

/** The SQLite tables with the default `grantkit_` prefix, as the shipped migrations create them. */
export const sqliteTables: SqliteTables = createSqliteTables()
