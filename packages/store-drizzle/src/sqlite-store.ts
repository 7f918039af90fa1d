import type { FullStore, TokenRecord } from '@grantkit/core'
import { and, asc, eq, getTableColumns, gt, isNull, lte, sql } from 'drizzle-orm'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { clientToRow, codeToRow, consumeResult, rotateResult, rowToClient, rowToToken, tokenToRow, userToRow } from './internal/records.js'
import { encode, lazy, param, ph } from './internal/params.js'
import { sqliteTables, type SqliteTables } from './sqlite-schema.js'

/** Any drizzle SQLite database, e.g. `drizzle(new Database(file))` from `drizzle-orm/better-sqlite3`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySqliteDatabase = BaseSQLiteDatabase<'sync' | 'async', any, any>

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /** Tables from {@link createSqliteTables}; default {@link sqliteTables} (prefix `grantkit_`). */
  tables?: SqliteTables
}

/** Most rows per prepared multi-row insert of tokens (one prepared statement per row count). */
const MAX_INSERT_ROWS = 32

/** Token saves waiting for the next group commit. */
interface PendingSave {
  readonly records: readonly TokenRecord[]
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/**
 * A {@link FullStore} over a drizzle SQLite database (better-sqlite3 is the
 * tested driver). Every check-and-set is one SQL statement, so it is atomic
 * across connections and processes sharing the file; hot statements are
 * prepared once, on first use.
 *
 * @example
 * ```ts
 * const db = await openSqlite('./data/grantkit.sqlite')
 * const server = new AuthorizationServer({ issuer, store: sqliteStore(db) })
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export function sqliteStore(db: AnySqliteDatabase, options: SqliteStoreOptions = {}): FullStore {
  const { clients, authorizationCodes: codes, tokens, replayKeys, users } = options.tables ?? sqliteTables

  const findClient = lazy(() => db.select().from(clients).where(eq(clients.clientId, ph('clientId'))).prepare())
  const consumeCode = lazy(() =>
    db
      .update(codes)
      .set({ consumedAt: sql`${param('now', codes.consumedAt)}` })
      .where(and(eq(codes.codeHash, ph('hash')), isNull(codes.consumedAt), gt(codes.expiresAt, param('now', codes.expiresAt))))
      .returning()
      .prepare(),
  )
  const findCode = lazy(() => db.select().from(codes).where(eq(codes.codeHash, ph('hash'))).prepare())
  const findToken = lazy(() => db.select().from(tokens).where(eq(tokens.tokenHash, ph('hash'))).prepare())
  const rotate = lazy(() =>
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
      .returning()
      .prepare(),
  )
  const revoke = lazy(() =>
    db
      .update(tokens)
      // Keeps the first revocation time; one statement answers "did it exist".
      .set({ revokedAt: sql`coalesce(${tokens.revokedAt}, ${param('now', tokens.revokedAt)})` })
      .where(eq(tokens.tokenHash, ph('hash')))
      .returning({ tokenHash: tokens.tokenHash })
      .prepare(),
  )
  const revokeFamily = lazy(() =>
    db
      .update(tokens)
      .set({ revokedAt: sql`${param('now', tokens.revokedAt)}` })
      .where(and(eq(tokens.familyId, ph('familyId')), isNull(tokens.revokedAt)))
      .returning({ tokenHash: tokens.tokenHash })
      .prepare(),
  )
  const markUsed = lazy(() =>
    db
      .insert(replayKeys)
      .values({ key: ph('key'), expiresAt: sql`${param('expiresAt', replayKeys.expiresAt)}` })
      .onConflictDoUpdate({
        target: replayKeys.key,
        set: { expiresAt: sql`excluded.${sql.identifier(replayKeys.expiresAt.name)}` },
        // Only a record that has expired may be taken over.
        setWhere: lte(replayKeys.expiresAt, param('now', replayKeys.expiresAt)),
      })
      .returning({ key: replayKeys.key })
      .prepare(),
  )
  const tokenColumnMap = getTableColumns(tokens)
  const tokenColumns = Object.keys(tokenColumnMap) as (keyof typeof tokenColumnMap)[]
  const insertTokens = new Map<number, ReturnType<typeof buildInsertTokens>>()
  function buildInsertTokens(n: number) {
    const rows = Array.from({ length: n }, (_, i) => Object.fromEntries(tokenColumns.map((c) => [c, sql`${ph(`${c}${i}`)}`])))
    return db.insert(tokens).values(rows as never).prepare()
  }
  /** One multi-row INSERT: atomic, one commit. */
  async function insertRows(records: readonly TokenRecord[]): Promise<void> {
    if (records.length > MAX_INSERT_ROWS) {
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
    await insert.run(values)
  }

  let pendingSaves: PendingSave[] = []
  async function flushSaves(): Promise<void> {
    const batch = pendingSaves
    pendingSaves = []
    // Whole requests per statement, so that each request's tokens are saved
    // all together or not at all.
    let start = 0
    while (start < batch.length) {
      let end = start
      let rows = 0
      while (end < batch.length && (end === start || rows + (batch[end] as PendingSave).records.length <= MAX_INSERT_ROWS)) {
        rows += (batch[end] as PendingSave).records.length
        end++
      }
      const group = batch.slice(start, end)
      try {
        await insertRows(group.flatMap((save) => save.records))
        for (const save of group) save.resolve()
      } catch (error) {
        if (group.length === 1) (group[0] as PendingSave).reject(error)
        // One bad request must not fail the others: retry each on its own.
        else for (const save of group) await insertRows(save.records).then(save.resolve, save.reject)
      }
      start = end
    }
  }

  const findUserById = lazy(() => db.select().from(users).where(eq(users.id, ph('id'))).prepare())
  const findUserByUsername = lazy(() => db.select().from(users).where(eq(users.username, ph('username'))).prepare())

  return {
    async findClient(clientId) {
      const row = await findClient().get({ clientId })
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
      const rows = await db.select().from(clients).orderBy(asc(clients.clientId))
      return rows.map(rowToClient)
    },

    async saveAuthorizationCode(code) {
      await db.insert(codes).values(codeToRow(code))
    },
    async consumeAuthorizationCode(codeHash, now) {
      // RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more
      // than once." The UPDATE is the compare-and-set: one caller wins.
      const [won] = await consumeCode().all({ hash: codeHash, now })
      return consumeResult(won, async () => findCode().get({ hash: codeHash }), now)
    },

    saveTokens(records) {
      if (records.length === 0) return Promise.resolve()
      // Group commit: the saves of every request that reaches this point in
      // one turn of the event loop go into one INSERT — one commit instead of
      // one per request, which was most of the SQLite token endpoint's time.
      // Each caller's promise settles only after the commit of its rows.
      return new Promise<void>((resolve, reject) => {
        pendingSaves.push({ records, resolve, reject })
        if (pendingSaves.length === 1) setImmediate(flushSaves)
      })
    },
    async findToken(tokenHash) {
      const row = await findToken().get({ hash: tokenHash })
      return row === undefined ? null : rowToToken(row)
    },
    async rotateRefreshToken(tokenHash, now) {
      // RFC 9700 §4.14.2: a refresh token is exchanged at most once.
      const [won] = await rotate().all({ hash: tokenHash, now })
      return rotateResult(won, async () => findToken().get({ hash: tokenHash }))
    },
    async revokeToken(tokenHash, now) {
      const rows = await revoke().all({ hash: tokenHash, now })
      return rows.length > 0
    },
    async revokeTokenFamily(familyId, now) {
      const rows = await revokeFamily().all({ familyId, now })
      return rows.length
    },

    async markUsed(key, expiresAt, now) {
      const rows = await markUsed().all({ key, expiresAt, now })
      return rows.length > 0
    },

    async findUserById(id) {
      const row = await findUserById().get({ id })
      return row === undefined ? null : userToRow(row)
    },
    async findUserByUsername(username) {
      const row = await findUserByUsername().get({ username })
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
