import { codeDates, deviceCodeDates, purgeLimit, refuseInvalidDates, tokenDates, type FullStore, type TokenRecord } from '@grantkit/core'
import { and, eq, getTableColumns, gt, isNotNull, isNull, lte, sql } from 'drizzle-orm'
import type { ClientCache } from './client-cache.js'
import { groupCommit } from './group-commit.js'
import { encode, lazy, param, ph } from './params.js'
import {
  clientToRow,
  codeToRow,
  consumeResult,
  deviceCodeToRow,
  rotateResult,
  rowToClient,
  rowToCode,
  rowToDeviceCode,
  rowToToken,
  tokenToRow,
  userToRow,
  type TokenRow,
} from './records.js'
import type { SqlDialect, SqlTable } from './sql-dialect.js'

/** RFC 8628 §3.5: each `slow_down` adds 5 seconds to the polling interval. */
const SLOW_DOWN_SECONDS = 5

/**
 * The SQL store, written once for every dialect: `dialect` says how a
 * statement is prepared and run, and the rest is the same SQL. Every
 * check-and-set is one statement — an `UPDATE … WHERE <still usable>
 * RETURNING` or an `INSERT … ON CONFLICT DO UPDATE … WHERE` — so it is atomic
 * across connections and processes; hot statements are prepared on first use
 * (tables may not exist yet when the store is created) and reused.
 */
export function sqlStore(dialect: SqlDialect, extras: { readonly clientCache?: ClientCache | undefined } = {}): FullStore {
  const { db, tables, prepare } = dialect
  // SQLite only (client-cache.ts): PostgreSQL has no change counter a lookup could read without a round trip.
  const cache = extras.clientCache
  const { clients, authorizationCodes: codes, tokens, replayKeys, users, deviceCodes: devices } = tables
  const where = (method: string) => `${dialect.name}.${method}`
  const run = <T>(query: PromiseLike<T>): Promise<T> => dialect.execute(query)

  const findClient = lazy(() => prepare(db.select().from(clients).where(eq(clients.clientId, ph('clientId')))))
  const consumeCode = lazy(() =>
    prepare(
      db
        .update(codes)
        .set({ consumedAt: sql`${param('now', codes.consumedAt)}` })
        .where(and(eq(codes.codeHash, ph('hash')), isNull(codes.consumedAt), gt(codes.expiresAt, param('now', codes.expiresAt))))
        .returning(),
    ),
  )
  // Expiry is checked in the query, as the contract asks of every read.
  const findLiveCode = lazy(() =>
    prepare(db.select().from(codes).where(and(eq(codes.codeHash, ph('hash')), gt(codes.expiresAt, param('now', codes.expiresAt))))),
  )
  const findToken = lazy(() => prepare(db.select().from(tokens).where(eq(tokens.tokenHash, ph('hash')))))
  const rotate = lazy(() =>
    prepare(
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
    prepare(
      db
        .update(tokens)
        // Keeps the first revocation time; one statement answers "did it exist".
        .set({ revokedAt: sql`coalesce(${tokens.revokedAt}, ${param('now', tokens.revokedAt)})` })
        .where(eq(tokens.tokenHash, ph('hash')))
        .returning({ tokenHash: tokens.tokenHash }),
    ),
  )
  const revokeFamily = lazy(() =>
    prepare(
      db
        .update(tokens)
        .set({ revokedAt: sql`${param('now', tokens.revokedAt)}` })
        .where(and(eq(tokens.familyId, ph('familyId')), isNull(tokens.revokedAt)))
        .returning({ tokenHash: tokens.tokenHash }),
    ),
  )
  const markUsed = lazy(() =>
    prepare(
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
  const findUserById = lazy(() => prepare(db.select().from(users).where(eq(users.id, ph('id')))))
  const findUserByUsername = lazy(() => prepare(db.select().from(users).where(eq(users.username, ph('username')))))

  // Device authorizations (RFC 8628): every transition is one conditional UPDATE … RETURNING.
  const unexpiredDevice = () => gt(devices.expiresAt, param('now', devices.expiresAt))
  const findDevice = lazy(() => prepare(db.select().from(devices).where(and(eq(devices.userCodeHash, ph('hash')), unexpiredDevice()))))
  const decideDevice = lazy(() =>
    prepare(
      db
        .update(devices)
        // A null scope keeps the requested one.
        .set({ status: ph('status'), userId: ph('userId'), scope: sql`coalesce(${ph('scope')}, ${devices.scope})` })
        .where(and(eq(devices.userCodeHash, ph('hash')), eq(devices.status, 'pending'), unexpiredDevice()))
        .returning(),
    ),
  )
  const pollDevice = lazy(() => {
    // RFC 8628 §3.5: sooner than `interval` seconds after the previous poll. Every SET expression
    // reads the row as it was before the UPDATE, so the slow_down answer, the grown interval and
    // the new last poll are decided together, under the row's write lock.
    const tooSoon = and(isNotNull(devices.lastPolledAt), gt(dialect.plusSeconds(devices.lastPolledAt, devices.interval), param('now', devices.lastPolledAt)))
    return prepare(
      db
        .update(devices)
        .set({
          lastPollSlowDown: sql`${tooSoon}`,
          interval: sql`case when ${tooSoon} then ${devices.interval} + ${sql.raw(String(SLOW_DOWN_SECONDS))} else ${devices.interval} end`,
          lastPolledAt: sql`${param('now', devices.lastPolledAt)}`,
        })
        .where(and(eq(devices.deviceCodeHash, ph('hash')), unexpiredDevice()))
        .returning(),
    )
  })
  const redeemDevice = lazy(() =>
    prepare(
      db
        .update(devices)
        .set({ status: 'redeemed' })
        .where(and(eq(devices.deviceCodeHash, ph('hash')), eq(devices.status, 'approved'), unexpiredDevice()))
        .returning(),
    ),
  )

  const tokenColumns = Object.keys(getTableColumns(tokens)) as (keyof TokenRow)[]
  /** Prepared multi-row token inserts, one per row count. */
  const insertTokens = new Map<number, ReturnType<typeof prepareInsertTokens>>()
  function prepareInsertTokens(n: number) {
    const rows = Array.from({ length: n }, (_, i) => Object.fromEntries(tokenColumns.map((c) => [c, sql`${ph(`${c}${i}`)}`])))
    return prepare(db.insert(tokens).values(rows))
  }
  /** One multi-row INSERT: atomic, one commit. */
  async function insertTokenRows(records: readonly TokenRecord[]): Promise<void> {
    if (records.length > dialect.preparedTokenRows) {
      await run(db.insert(tokens).values(records.map(tokenToRow)))
      return
    }
    let insert = insertTokens.get(records.length)
    if (insert === undefined) insertTokens.set(records.length, (insert = prepareInsertTokens(records.length)))
    const values: Record<string, unknown> = {}
    records.forEach((record, i) => {
      const row = tokenToRow(record)
      for (const c of tokenColumns) values[`${c}${i}`] = encode(tokens[c], row[c])
    })
    await insert.run(values)
  }
  const saveTokenRows = dialect.groupCommit ? groupCommit({ insert: insertTokenRows, maxRows: dialect.preparedTokenRows }) : insertTokenRows

  return {
    async findClient(clientId) {
      const cached = cache?.lookup(clientId)
      if (cached?.hit === true) return cached.client
      const [row] = await findClient().all({ clientId })
      if (row === undefined) return null
      const client = rowToClient(row)
      cache?.keep(cached?.tag, clientId, client)
      return client
    },
    async saveClient(client) {
      const { clientId: _, ...update } = clientToRow(client)
      cache?.invalidate()
      try {
        await run(db.insert(clients).values(clientToRow(client)).onConflictDoUpdate({ target: clients.clientId, set: update }))
      } finally {
        cache?.invalidate()
      }
    },
    async deleteClient(clientId) {
      cache?.invalidate()
      try {
        // RFC 7592 §2.3: the client's tokens and codes go with it (first, so that a failure leaves the client to delete again).
        await run(db.delete(tokens).where(eq(tokens.clientId, clientId)))
        await run(db.delete(codes).where(eq(codes.clientId, clientId)))
        const deleted = await run(db.delete(clients).where(eq(clients.clientId, clientId)).returning({ clientId: clients.clientId }))
        return deleted.length > 0
      } finally {
        cache?.invalidate()
      }
    },
    async listClients() {
      const rows = await run(db.select().from(clients).orderBy(dialect.byteOrder(clients.clientId)))
      return rows.map(rowToClient)
    },

    async saveAuthorizationCode(code) {
      refuseInvalidDates(where('saveAuthorizationCode'), codeDates(code).required, codeDates(code).nullable)
      await run(db.insert(codes).values(codeToRow(code)))
    },
    async findAuthorizationCode(codeHash, now) {
      refuseInvalidDates(where('findAuthorizationCode'), { now })
      // Read-only: the token endpoint consumes the code only after it saved the tokens.
      const [row] = await findLiveCode().all({ hash: codeHash, now })
      return row === undefined ? null : rowToCode(row)
    },
    async consumeAuthorizationCode(codeHash, now) {
      refuseInvalidDates(where('consumeAuthorizationCode'), { now })
      // RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more
      // than once." The UPDATE is the compare-and-set: a concurrent caller
      // waits on the row lock (PostgreSQL) or the write lock (SQLite),
      // re-checks `consumed_at IS NULL` and loses.
      const [won] = await consumeCode().all({ hash: codeHash, now })
      return consumeResult(won, async () => (await findLiveCode().all({ hash: codeHash, now }))[0], now)
    },

    async saveTokens(records) {
      // Every record is checked before any of them joins an insert.
      records.forEach((record, i) => refuseInvalidDates(`${where('saveTokens')} (tokens[${i}])`, tokenDates(record).required, tokenDates(record).nullable))
      // drizzle refuses an INSERT without rows.
      if (records.length > 0) await saveTokenRows(records)
    },
    async findToken(tokenHash) {
      const [row] = await findToken().all({ hash: tokenHash })
      return row === undefined ? null : rowToToken(row)
    },
    async rotateRefreshToken(tokenHash, now) {
      refuseInvalidDates(where('rotateRefreshToken'), { now })
      // RFC 9700 §4.14.2: a refresh token is exchanged at most once.
      const [won] = await rotate().all({ hash: tokenHash, now })
      return rotateResult(won, async () => (await findToken().all({ hash: tokenHash }))[0])
    },
    async revokeToken(tokenHash, now) {
      refuseInvalidDates(where('revokeToken'), { now })
      const rows = await revoke().all({ hash: tokenHash, now })
      return rows.length > 0
    },
    async revokeTokenFamily(familyId, now) {
      refuseInvalidDates(where('revokeTokenFamily'), { now })
      const rows = await revokeFamily().all({ familyId, now })
      return rows.length
    },

    async markUsed(key, expiresAt, now) {
      refuseInvalidDates(where('markUsed'), { expiresAt, now })
      const rows = await markUsed().all({ key, expiresAt, now })
      return rows.length > 0
    },

    async findUserById(id) {
      const [row] = await findUserById().all({ id })
      return row === undefined ? null : userToRow(row)
    },
    async findUserByUsername(username) {
      const [row] = await findUserByUsername().all({ username })
      return row === undefined ? null : userToRow(row)
    },
    async saveUser(user) {
      const row = userToRow(user)
      await run(db.insert(users).values(row).onConflictDoUpdate({ target: users.id, set: { username: row.username, passwordHash: row.passwordHash } }))
    },

    async saveDeviceCode(record) {
      refuseInvalidDates(where('saveDeviceCode'), deviceCodeDates(record).required, deviceCodeDates(record).nullable)
      // The primary key and the unique user code index refuse a code already stored.
      await run(db.insert(devices).values(deviceCodeToRow(record)))
    },
    async findDeviceCodeByUserCode(userCodeHash, now) {
      refuseInvalidDates(where('findDeviceCodeByUserCode'), { now })
      const [row] = await findDevice().all({ hash: userCodeHash, now })
      return row === undefined ? null : rowToDeviceCode(row)
    },
    async decideDeviceCode(userCodeHash, decision, now) {
      refuseInvalidDates(where('decideDeviceCode'), { now })
      // `status = 'pending'` in the WHERE is the compare-and-set: of concurrent decisions one updates
      // the row, the others wait on its lock, re-check and match nothing (a user code is single use).
      const values = decision.approved
        ? { hash: userCodeHash, now, status: 'approved', userId: decision.userId, scope: decision.scope ?? null }
        : { hash: userCodeHash, now, status: 'denied', userId: null, scope: null }
      const [row] = await decideDevice().all(values)
      return row === undefined ? null : rowToDeviceCode(row)
    },
    async pollDeviceCode(deviceCodeHash, now) {
      refuseInvalidDates(where('pollDeviceCode'), { now })
      const [row] = await pollDevice().all({ hash: deviceCodeHash, now })
      return row === undefined ? null : { record: rowToDeviceCode(row), slowDown: row.lastPollSlowDown }
    },
    async redeemDeviceCode(deviceCodeHash, now) {
      refuseInvalidDates(where('redeemDeviceCode'), { now })
      const [row] = await redeemDevice().all({ hash: deviceCodeHash, now })
      // The record as it was: only an approved authorization is redeemed.
      return row === undefined ? null : rowToDeviceCode({ ...row, status: 'approved' })
    },

    async purgeExpired(now, options) {
      refuseInvalidDates(where('purgeExpired'), { now })
      const limit = purgeLimit(where('purgeExpired'), options)
      let count = 0
      for (const [table, key] of [
        [codes, codes.codeHash],
        [tokens, tokens.tokenHash],
        [replayKeys, replayKeys.key],
        [devices, devices.deviceCodeHash],
      ] as const) {
        const expired = lte(table.expiresAt, now)
        // A bounded batch is one short statement: the keys of at most `limit`
        // expired rows, deleted by key, and only the count comes back.
        const condition = limit === Number.POSITIVE_INFINITY ? expired : sql`${key} in (select ${key} from ${table} where ${expired} limit ${limit})`
        count += dialect.changes(await run(db.delete(table as SqlTable<unknown>).where(condition)))
      }
      return count
    },
  }
}
