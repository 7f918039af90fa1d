import type { DeviceCodeRecord } from '@grantkit/core'
import { bigint, boolean, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'
import { deviceCodeColumns } from './internal/device-code-columns.js'
import { DEFAULT_TABLE_PREFIX, type TablesOptions } from './sqlite-schema.js'

/**
 * The grantkit tables for `drizzle-orm/pg-core`. Times are
 * `timestamp(3) with time zone`, so `Date`s round-trip to the millisecond;
 * lists and extension data are `jsonb`. Codes and tokens are keyed by their
 * hash: the raw values are never stored.
 *
 * @example
 * ```ts
 * // schema.ts of your drizzle-kit config
 * export const { clients, authorizationCodes, tokens, replayKeys, users, deviceCodes, throttle, pushedRequests } = createPgTables()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.5
 */
export function createPgTables(options: TablesOptions = {}) {
  const p = options.tablePrefix ?? DEFAULT_TABLE_PREFIX
  const ts = (name: string) => timestamp(name, { precision: 3, withTimezone: true, mode: 'date' })

  const clients = pgTable(`${p}clients`, {
    clientId: text('client_id').primaryKey(),
    clientSecretHash: text('client_secret_hash'),
    clientName: text('client_name'),
    redirectUris: jsonb('redirect_uris').$type<string[]>().notNull(),
    grantTypes: jsonb('grant_types').$type<string[]>().notNull(),
    responseTypes: jsonb('response_types').$type<string[]>().notNull(),
    scope: text('scope').notNull(),
    tokenEndpointAuthMethod: text('token_endpoint_auth_method').notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
  })

  const authorizationCodes = pgTable(
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
      createdAt: ts('created_at').notNull(),
      expiresAt: ts('expires_at').notNull(),
      consumedAt: ts('consumed_at'),
      extra: jsonb('extra').$type<Record<string, unknown>>(),
    },
    (t) => [
      index(`${p}authorization_codes_client_id_idx`).on(t.clientId),
      index(`${p}authorization_codes_family_id_idx`).on(t.familyId),
      index(`${p}authorization_codes_expires_at_idx`).on(t.expiresAt),
    ],
  )

  const tokens = pgTable(
    `${p}tokens`,
    {
      tokenHash: text('token_hash').primaryKey(),
      type: text('type').$type<'access_token' | 'refresh_token'>().notNull(),
      clientId: text('client_id').notNull(),
      userId: text('user_id'),
      scope: text('scope').notNull(),
      familyId: text('family_id').notNull(),
      issuedAt: ts('issued_at').notNull(),
      expiresAt: ts('expires_at').notNull(),
      revokedAt: ts('revoked_at'),
      rotatedAt: ts('rotated_at'),
      extra: jsonb('extra').$type<Record<string, unknown>>(),
    },
    (t) => [
      index(`${p}tokens_client_id_idx`).on(t.clientId),
      index(`${p}tokens_family_id_idx`).on(t.familyId),
      index(`${p}tokens_expires_at_idx`).on(t.expiresAt),
    ],
  )

  const replayKeys = pgTable(
    `${p}replay_keys`,
    {
      key: text('key').primaryKey(),
      expiresAt: ts('expires_at').notNull(),
    },
    (t) => [index(`${p}replay_keys_expires_at_idx`).on(t.expiresAt)],
  )

  const users = pgTable(`${p}users`, {
    id: text('id').primaryKey(),
    username: text('username').notNull().unique(`${p}users_username_unique`),
    passwordHash: text('password_hash').notNull(),
  })

  // RFC 8628 device authorizations, keyed by the device code hash; user codes are unique.
  const deviceCodes = pgTable(
    `${p}device_codes`,
    deviceCodeColumns({
      key: (name) => text(name).primaryKey(),
      text: (name) => text(name).notNull(),
      nullableText: (name) => text(name),
      status: (name) => text(name).$type<DeviceCodeRecord['status']>().notNull(),
      count: (name) => integer(name).notNull(),
      time: (name) => ts(name).notNull(),
      nullableTime: (name) => ts(name),
      flag: (name) => boolean(name).notNull().default(false),
      json: (name) => jsonb(name).$type<Record<string, unknown>>(),
    }),
    (t) => [uniqueIndex(`${p}device_codes_user_code_hash_unique`).on(t.userCodeHash), index(`${p}device_codes_expires_at_idx`).on(t.expiresAt)],
  )

  // The failed-credential throttle (pgThrottle): one row per key, the times (epoch ms) of its hits still
  // inside the window, at most the key's limit; `expires_at` is when the last of them leaves it.
  const throttle = pgTable(
    `${p}throttle`,
    {
      key: text('key').primaryKey(),
      hits: bigint('hits', { mode: 'number' }).array().notNull(),
      expiresAt: ts('expires_at').notNull(),
    },
    (t) => [index(`${p}throttle_expires_at_idx`).on(t.expiresAt)],
  )

  // RFC 9126 pushed authorization requests (pgPushedRequestStore), keyed by the request_uri's hash.
  const pushedRequests = pgTable(
    `${p}pushed_requests`,
    {
      uriHash: text('uri_hash').primaryKey(),
      clientId: text('client_id').notNull(),
      params: text('params').notNull(),
      expiresAt: ts('expires_at').notNull(),
    },
    (t) => [index(`${p}pushed_requests_expires_at_idx`).on(t.expiresAt)],
  )

  return { clients, authorizationCodes, tokens, replayKeys, users, deviceCodes, throttle, pushedRequests }
}

/** The tables of {@link createPgTables}. */
export type PgTables = ReturnType<typeof createPgTables>

/** The PostgreSQL tables with the default `grantkit_` prefix, as the shipped migrations create them. */
export const pgTables: PgTables = createPgTables()
