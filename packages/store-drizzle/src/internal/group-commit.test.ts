import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { groupCommit } from './group-commit.js'

/** One row of the test table: `caller` says which request wrote it. */
interface Row {
  id: string
  caller: string
}

/** Resolves after the flush that the calls of this turn scheduled (setImmediate callbacks run in order). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

const rows = (caller: string, n: number): Row[] => Array.from({ length: n }, (_, i) => ({ id: `${caller}-${i}`, caller }))

// A real SQLite table as the sink, so that commits and constraint failures are real.
describe('groupCommit', () => {
  let db: Database.Database
  /** The ids of each insert, in the order they ran. */
  let inserts: string[][]
  const insert = async (batch: readonly Row[]) => {
    inserts.push(batch.map((r) => r.id))
    db.prepare(`INSERT INTO t (id, caller) VALUES ${batch.map(() => '(?, ?)').join(', ')}`).run(batch.flatMap((r) => [r.id, r.caller]))
  }
  const stored = (): string[] => db.prepare<[], { id: string }>('SELECT id FROM t ORDER BY rowid').all().map((r) => r.id)

  beforeEach(() => {
    db = new Database(':memory:')
    db.exec('CREATE TABLE t (id TEXT PRIMARY KEY, caller TEXT NOT NULL)')
    inserts = []
  })
  afterEach(() => db.close())

  it('writes every request of one event-loop turn with one insert, in the order they came', async () => {
    const save = groupCommit({ insert, maxRows: 32 })
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((caller) => save(rows(caller, 2))))
    expect(inserts).toEqual([['a-0', 'a-1', 'b-0', 'b-1', 'c-0', 'c-1', 'd-0', 'd-1', 'e-0', 'e-1']])
    expect(stored()).toEqual(inserts[0])
  })

  it('writes requests of a later turn with a later insert', async () => {
    const save = groupCommit({ insert, maxRows: 32 })
    const first = save(rows('a', 1))
    await nextTurn()
    const second = save(rows('b', 1))
    await Promise.all([first, second])
    expect(inserts).toEqual([['a-0'], ['b-0']])
  })

  it('settles no caller before the flush, and each only once its rows are stored', async () => {
    const save = groupCommit({ insert, maxRows: 32 })
    const seen: string[][] = []
    const settled = ['a', 'b'].map((caller) => save(rows(caller, 1)).then(() => void seen.push(stored())))
    await Promise.resolve()
    expect(seen).toEqual([])
    expect(inserts).toEqual([])
    await Promise.all(settled)
    expect(seen).toEqual([
      ['a-0', 'b-0'],
      ['a-0', 'b-0'],
    ])
  })

  it('settles the callers in the order they came, across several inserts', async () => {
    const save = groupCommit({ insert, maxRows: 4 })
    const order: string[] = []
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((caller) => save(rows(caller, 2)).then(() => void order.push(caller))))
    expect(order).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(stored()).toEqual(['a', 'b', 'c', 'd', 'e'].flatMap((caller) => [`${caller}-0`, `${caller}-1`]))
  })

  it('puts at most maxRows rows in one insert, and never splits a request', async () => {
    const save = groupCommit({ insert, maxRows: 8 })
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((caller) => save(rows(caller, 3))))
    expect(inserts.map((batch) => batch.length)).toEqual([6, 6, 3])
    expect(inserts[0]).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1', 'b-2'])
  })

  it('writes a request larger than maxRows alone, in one insert', async () => {
    const save = groupCommit({ insert, maxRows: 8 })
    await Promise.all([save(rows('a', 2)), save(rows('big', 10)), save(rows('c', 2))])
    expect(inserts.map((batch) => batch.length)).toEqual([2, 10, 2])
  })

  it('fails only the request that cannot be stored, stores the others, and stores none of the failed one', async () => {
    db.exec(`INSERT INTO t VALUES ('taken', 'earlier')`)
    const save = groupCommit({ insert, maxRows: 32 })
    const results = await Promise.allSettled([save(rows('a', 1)), save([{ id: 'bad-0', caller: 'bad' }, { id: 'taken', caller: 'bad' }]), save(rows('c', 1))])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' })
    // The whole batch first, then each request on its own.
    expect(inserts).toEqual([['a-0', 'bad-0', 'taken', 'c-0'], ['a-0'], ['bad-0', 'taken'], ['c-0']])
    expect(stored()).toEqual(['taken', 'a-0', 'c-0'])
  })

  it('rejects a lone failing request with its error, without a retry', async () => {
    db.exec(`INSERT INTO t VALUES ('taken', 'earlier')`)
    const save = groupCommit({ insert, maxRows: 32 })
    await expect(save([{ id: 'taken', caller: 'again' }])).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' })
    expect(inserts).toEqual([['taken']])
  })

  it('settles its callers even when the insert throws instead of rejecting', async () => {
    const save = groupCommit<Row>({
      insert: (batch) => {
        if (batch.some((r) => r.caller === 'bad')) throw new Error('thrown')
        return insert(batch)
      },
      maxRows: 32,
    })
    const results = await Promise.allSettled([save(rows('a', 1)), save(rows('bad', 1))])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected'])
    expect(stored()).toEqual(['a-0'])
  })

  it('keeps the rows as they were when save was called', async () => {
    const save = groupCommit({ insert, maxRows: 32 })
    const batch = rows('a', 2)
    const saved = save(batch)
    batch.pop()
    await saved
    expect(stored()).toEqual(['a-0', 'a-1'])
  })

  it('resolves an empty request at once, without an insert', async () => {
    const save = groupCommit({ insert, maxRows: 32 })
    await save([])
    await nextTurn()
    expect(inserts).toEqual([])
  })

  it.each([0, -1, 1.5, Number.NaN])('refuses maxRows %s with a TypeError', (maxRows) => {
    expect(() => groupCommit({ insert, maxRows })).toThrow(TypeError)
  })
})
