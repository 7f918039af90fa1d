/** Options of {@link groupCommit}. */
export interface GroupCommitOptions<T> {
  /** Stores these rows in one atomic statement: all of them or, when it throws, none. */
  readonly insert: (rows: readonly T[]) => Promise<void>
  /** Most rows per `insert`; a single request with more rows still goes alone, in one `insert`. */
  readonly maxRows: number
}

/** Saves one request's rows; settles once they are committed, or rejects when they could not be. */
export type GroupCommit<T> = (rows: readonly T[]) => Promise<void>

/** A request waiting for the next flush. */
interface Pending<T> {
  readonly rows: readonly T[]
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

/**
 * Group commit: the requests that arrive in one turn of the event loop are
 * written by as few `insert` calls as `maxRows` allows, in the order they
 * arrived — one commit for many requests instead of one each (on SQLite the
 * commit was most of a token save's time).
 *
 * A request's rows never span two inserts, so each request is stored all
 * together or not at all, and each caller's promise settles only after the
 * insert holding its rows. When an insert of several requests fails, each of
 * them is retried on its own, so only the request that cannot be stored fails,
 * with its own error.
 */
export function groupCommit<T>({ insert, maxRows }: GroupCommitOptions<T>): GroupCommit<T> {
  if (!Number.isInteger(maxRows) || maxRows < 1) throw new TypeError('groupCommit: "maxRows" must be a positive integer')
  let pending: Pending<T>[] = []
  // An insert that throws instead of rejecting must still settle its callers.
  const write = async (rows: readonly T[]): Promise<void> => insert(rows)

  async function flush(): Promise<void> {
    const batch = pending
    pending = []
    let start = 0
    while (start < batch.length) {
      // Whole requests, as many as fit; the first one always goes, however large.
      let end = start + 1
      let rows = (batch[start] as Pending<T>).rows.length
      while (end < batch.length && rows + (batch[end] as Pending<T>).rows.length <= maxRows) rows += (batch[end++] as Pending<T>).rows.length
      const group = batch.slice(start, end)
      start = end
      try {
        await write(group.flatMap((request) => request.rows))
        for (const request of group) request.resolve()
      } catch (error) {
        if (group.length === 1) (group[0] as Pending<T>).reject(error)
        // One bad request must not fail the others: retry each on its own.
        else for (const request of group) await write(request.rows).then(request.resolve, request.reject)
      }
    }
  }

  return (rows) => {
    if (rows.length === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      // A copy, so that a caller reusing its array cannot change a waiting request.
      pending.push({ rows: [...rows], resolve, reject })
      // The first request of a turn schedules the flush; the rest of the turn joins it.
      if (pending.length === 1) setImmediate(flush)
    })
  }
}
