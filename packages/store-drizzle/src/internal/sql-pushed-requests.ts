import { purgeLimit, refuseInvalidDates } from '@grantkit/core'
import { and, eq, gt, lte, sql } from 'drizzle-orm'
import { lazy, param, ph } from './params.js'
import type { SharedStateDialect } from './shared-state-sql.js'
import type { SqlTable } from './sql-dialect.js'
import type { DrizzlePushedRequestStore } from '../pushed-request-store.js'

/** A row of the pushed requests table. */
export interface PushedRequestRow {
  uriHash: string
  clientId: string
  params: string
  expiresAt: Date
}

/** Expired rows a save deletes on the way (more than the one row it adds). */
const EXPIRED_PER_SAVE = 2

/** The pushed request store over one SQL table, written once for both dialects. */
export function sqlPushedRequests(dialect: SharedStateDialect, table: SqlTable<PushedRequestRow>): DrizzlePushedRequestStore {
  const { db, prepare, name } = dialect
  const save = lazy(() =>
    prepare(
      db
        .insert(table)
        .values({ uriHash: ph('uriHash'), clientId: ph('clientId'), params: ph('params'), expiresAt: sql`${param('expiresAt', table.expiresAt)}` })
        .onConflictDoUpdate({ target: table.uriHash, set: { clientId: ph('clientId'), params: ph('params'), expiresAt: sql`${param('expiresAt', table.expiresAt)}` } }),
    ),
  )
  const find = lazy(() => prepare(db.select().from(table).where(and(eq(table.uriHash, ph('uriHash')), gt(table.expiresAt, param('now', table.expiresAt))))))
  const remove = lazy(() => prepare(db.delete(table).where(eq(table.uriHash, ph('uriHash')))))
  const dropExpired = lazy(() =>
    prepare(
      db
        .delete(table)
        .where(
          sql`${table.uriHash} in (select ${table.uriHash} from ${table} where ${lte(table.expiresAt, param('now', table.expiresAt))} order by ${table.expiresAt} limit ${sql.raw(String(EXPIRED_PER_SAVE))}${dialect.skipLocked})`,
        ),
    ),
  )
  const text = (where: string, field: string, value: unknown): string => {
    if (typeof value !== 'string') throw new TypeError(`${name}.${where}: "${field}" must be a string`)
    return value
  }

  return {
    async savePushedRequest(uriHash, record, now) {
      refuseInvalidDates(`${name}.savePushedRequest`, { expiresAt: record.expiresAt, now })
      await save().run({
        uriHash: text('savePushedRequest', 'uriHash', uriHash),
        clientId: text('savePushedRequest', 'clientId', record.clientId),
        params: text('savePushedRequest', 'params', record.params),
        expiresAt: record.expiresAt,
      })
      await dropExpired().run({ now })
    },
    async findPushedRequest(uriHash, now) {
      refuseInvalidDates(`${name}.findPushedRequest`, { now })
      const [row] = (await find().all({ uriHash: text('findPushedRequest', 'uriHash', uriHash), now })) as PushedRequestRow[]
      return row === undefined ? null : { clientId: row.clientId, params: row.params, expiresAt: row.expiresAt }
    },
    async deletePushedRequest(uriHash) {
      await remove().run({ uriHash: text('deletePushedRequest', 'uriHash', uriHash) })
    },
    async purgeExpired(now, options) {
      refuseInvalidDates(`${name}.purgeExpired`, { now })
      const limit = purgeLimit(`${name}.purgeExpired`, options)
      const expired = lte(table.expiresAt, now)
      const condition = limit === Number.POSITIVE_INFINITY ? expired : sql`${table.uriHash} in (select ${table.uriHash} from ${table} where ${expired} limit ${limit})`
      return dialect.changes(await dialect.execute(db.delete(table).where(condition)))
    },
  }
}
