import type { FullStore } from '@grantkit/core'
import { and, eq, getTableColumns, gt, isNull, lte, sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { clientToRow, codeToRow, consumeResult, rotateResult, rowToClient, rowToToken, tokenToRow, userToRow } from './internal/records.js'
import { encode, lazy, param, ph, statementName } from './internal/params.js'
import { pgTables, type PgTables } from './pg-schema.js'

/** Any drizzle PostgreSQL database, e.g. `drizzle(pool)` from `drizzle-orm/node-postgres`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any, any>

/** Options of {@link pgStore}. */
export interface PgStoreOptions {
  /** Tables from {@link createPgTables}; default {@link pgTables} (prefix `grantkit_`). */
  tables?: PgTables
}

/** Rows per prepared multi-row insert of tokens; larger batches are built per call. */
const PREPARED_TOKEN_BATCH = 4

/** Prepares under a name derived from the SQL text (named statements are planned once per connection). */
function prepared<P>(query: { toSQL(): { sql: string }; prepare(name: string): P }): P {
  return query.prepare(statementName(query.toSQL().sql))
}

/**
 * A {@link FullStore} over a drizzle PostgreSQL database (node-postgres is the
 * tested driver). Every check-and-set is one SQL statement — an `UPDATE …
 * WHERE <still usable> RETURNING` or an `INSERT … ON CONFLICT DO UPDATE …
 * WHERE` — so under READ COMMITTED exactly one of many concurrent callers wins;
 * hot statements are named prepared statements.
 *
 * @example
 * ```ts
 * const { db, close } = await connectPostgres(process.env.DATABASE_URL!)
 * const server = new AuthorizationServer({ issuer, store: pgStore(db) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export function pgStore(db: AnyPgDatabase, options: PgStoreOptions = {}): FullStore {
  const { clients, authorizationCodes: codes, tokens, replayKeys, users } = options.tables ?? pgTables

  const findClient = lazy(() => prepared(db.select().from(clients).where(eq(clients.clientId, ph('clientId')))))
  const consumeCode = lazy(() =>
    prepared(
      db
        .update(codes)
        .set({ consumedAt: sql`${param('now', codes.consumedAt)}` })
        .where(and(eq(codes.codeHash, ph('hash')), isNull(codes.consumedAt), gt(codes.expiresAt, param('now', codes.expiresAt))))
        .returning(),
    ),
  )
  const findCode = lazy(() => prepared(db.select().from(codes).where(eq(codes.codeHash, ph('hash')))))
  const findToken = lazy(() => prepared(db.select().from(tokens).where(eq(tokens.tokenHash, ph('hash')))))
  const rotate = lazy(() =>
    prepared(
      db
        .update(tokens)
        .set({ rotatedAt: sql`${param('now', tokens.rotatedAt)}` })
        .where(
          and(
            eq(tokens.tokenHash, ph('hash')),
            eq(tokens.type, 'refresh_token'),
            isNull(tokens.revokedAt),
            isNull(tokens.rotatedAt),
            gt(tokens.expiresAt, param('now', tokens.expiresAt)),
          ),
        )
        .returning(),
    ),
  )
  const revoke = lazy(() =>
    prepared(
      db
        .update(tokens)
        // Keeps the first revocation time; one statement answers "did it exist".
        .set({ revokedAt: sql`coalesce(${tokens.revokedAt}, ${param('now', tokens.revokedAt)})` })
        .where(eq(tokens.tokenHash, ph('hash')))
        .returning({ tokenHash: tokens.tokenHash }),
    ),
  )
  const revokeFamily = lazy(() =>
    prepared(
      db
        .update(tokens)
        .set({ revokedAt: sql`${param('now', tokens.revokedAt)}` })
        .where(and(eq(tokens.familyId, ph('familyId')), isNull(tokens.revokedAt)))
        .returning({ tokenHash: tokens.tokenHash }),
    ),
  )
  const markUsed = lazy(() =>
    prepared(
      db
        .insert(replayKeys)
        .values({ key: ph('key'), expiresAt: sql`${param('expiresAt', replayKeys.expiresAt)}` })
        .onConflictDoUpdate({
          target: replayKeys.key,
          set: { expiresAt: sql`excluded.${sql.identifier(replayKeys.expiresAt.name)}` },
          // Only a record that has expired may be taken over.
          setWhere: lte(replayKeys.expiresAt, param('now', replayKeys.expiresAt)),
        })
        .returning({ key: replayKeys.key }),
    ),
  )
  const tokenColumnMap = getTableColumns(tokens)
  const tokenColumns = Object.keys(tokenColumnMap) as (keyof typeof tokenColumnMap)[]
  const insertTokens = new Map<number, ReturnType<typeof buildInsertTokens>>()
  function buildInsertTokens(n: number) {
    const rows = Array.from({ length: n }, (_, i) => Object.fromEntries(tokenColumns.map((c) => [c, sql`${ph(`${c}${i}`)}`])))
    return prepared(db.insert(tokens).values(rows as never))
  }
  const findUserById = lazy(() => prepared(db.select().from(users).where(eq(users.id, ph('id')))))
  const findUserByUsername = lazy(() => prepared(db.select().from(users).where(eq(users.username, ph('username')))))

  return {
    async findClient(clientId) {
      const [row] = await findClient().execute({ clientId })
      return row === undefined ? null : rowToClient(row)
    },
    async saveClient(client) {
      const { clientId: _, ...update } = clientToRow(client)
      await db.insert(clients).values(clientToRow(client)).onConflictDoUpdate({ target: clients.clientId, set: update })
    },
    async deleteClient(clientId) {
      const deleted = await db.delete(clients).where(eq(clients.clientId, clientId)).returning({ clientId: clients.clientId })
      return deleted.length > 0
    },
    async listClients() {
      // Byte order (as JavaScript compares ids), whatever the database collation.
      const rows = await db.select().from(clients).orderBy(sql`${clients.clientId} collate "C"`)
      return rows.map(rowToClient)
    },

    async saveAuthorizationCode(code) {
      await db.insert(codes).values(codeToRow(code))
    },
    async consumeAuthorizationCode(codeHash, now) {
      // RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more
      // than once." The UPDATE is the compare-and-set: a concurrent caller
      // waits on the row lock, re-checks `consumed_at IS NULL` and loses.
      const [won] = await consumeCode().execute({ hash: codeHash, now })
      return consumeResult(won, async () => (await findCode().execute({ hash: codeHash }))[0], now)
    },

    async saveTokens(records) {
      if (records.length === 0) return
      if (records.length > PREPARED_TOKEN_BATCH) {
        await db.insert(tokens).values(records.map(tokenToRow))
        return
      }
      let insert = insertTokens.get(records.length)
      if (insert === undefined) insertTokens.set(records.length, (insert = buildInsertTokens(records.length)))
      const values: Record<string, unknown> = {}
      records.forEach((record, i) => {
        const row = tokenToRow(record)
        for (const c of tokenColumns) values[`${c}${i}`] = encode(tokenColumnMap[c], row[c])
      })
      await insert.execute(values)
    },
    async findToken(tokenHash) {
      const [row] = await findToken().execute({ hash: tokenHash })
      return row === undefined ? null : rowToToken(row)
    },
    async rotateRefreshToken(tokenHash, now) {
      // RFC 9700 §4.14.2: a refresh token is exchanged at most once.
      const [won] = await rotate().execute({ hash: tokenHash, now })
      return rotateResult(won, async () => (await findToken().execute({ hash: tokenHash }))[0])
    },
    async revokeToken(tokenHash, now) {
      const rows = await revoke().execute({ hash: tokenHash, now })
      return rows.length > 0
    },
    async revokeTokenFamily(familyId, now) {
      const rows = await revokeFamily().execute({ familyId, now })
      return rows.length
    },

    async markUsed(key, expiresAt, now) {
      const rows = await markUsed().execute({ key, expiresAt, now })
      return rows.length > 0
    },

    async findUserById(id) {
      const [row] = await findUserById().execute({ id })
      return row === undefined ? null : userToRow(row)
    },
    async findUserByUsername(username) {
      const [row] = await findUserByUsername().execute({ username })
      return row === undefined ? null : userToRow(row)
    },
    async saveUser(user) {
      const row = userToRow(user)
      await db.insert(users).values(row).onConflictDoUpdate({ target: users.id, set: { username: row.username, passwordHash: row.passwordHash } })
    },

    async purgeExpired(now) {
      const codesGone = await db.delete(codes).where(lte(codes.expiresAt, now)).returning({ k: codes.codeHash })
      const tokensGone = await db.delete(tokens).where(lte(tokens.expiresAt, now)).returning({ k: tokens.tokenHash })
      const keysGone = await db.delete(replayKeys).where(lte(replayKeys.expiresAt, now)).returning({ k: replayKeys.key })
      return codesGone.length + tokensGone.length + keysGone.length
    },
  }
}
