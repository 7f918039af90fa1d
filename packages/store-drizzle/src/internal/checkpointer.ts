import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type BetterSqlite3 from 'better-sqlite3'

/** Options of the WAL checkpointer that {@link openSqlite} starts (its `checkpoint` option). */
export interface SqliteCheckpointOptions {
  /**
   * How often, in milliseconds, the checkpoint thread copies the WAL into the
   * database file (`PRAGMA wal_checkpoint(PASSIVE)`, which never waits for
   * nor blocks a request). It also bounds how long a commit stays only in
   * the WAL before it is synced to disk (`synchronous=NORMAL` syncs at
   * checkpoints). Default 100.
   */
  intervalMillis?: number
  /**
   * Most bytes of the `-wal` file. Once the WAL holds 3/4 of it, the thread
   * asks for a quiet window: the writes of the stores on this connection
   * wait (asynchronously; the event loop keeps serving everything else)
   * while it copies what is left, two disk syncs, and the next write starts
   * the WAL over from its beginning. Each window delays the writes waiting
   * in it by a few milliseconds, so the limit is large by default: the WAL
   * starts over about once per 96 MiB written. Past the whole limit (a long
   * reader, another process writing all the time) the thread truncates the
   * file to zero bytes (`PRAGMA wal_checkpoint(TRUNCATE)`). As a backstop,
   * the request connection checkpoints on its own (SQLite's auto-checkpoint,
   * on the event loop) once the WAL holds twice the limit, should the thread
   * ever fall behind. Default 128 MiB.
   */
  walSizeLimit?: number
  /**
   * `PRAGMA busy_timeout` of the thread's connection, in milliseconds: how
   * long a TRUNCATE checkpoint waits for the writer lock and for readers.
   * Writers wait for it meanwhile, so keep it short; a TRUNCATE that timed
   * out is tried again later, less and less often. Default 20.
   */
  busyTimeout?: number
}

/** What one checkpoint of the thread did (see {@link SqliteCheckpointer.checkpoint}). */
export interface SqliteCheckpointResult {
  /** Frames in the WAL since it last started over. */
  readonly walFrames: number
  /** How many of them are in the database file. */
  readonly checkpointedFrames: number
  /** Whether every frame is in the database file (the next write starts the WAL over). */
  readonly caughtUp: boolean
  /** Whether this process's store writes were held for a quiet window (the WAL held 3/4 of `walSizeLimit`). */
  readonly quiet: boolean
  /** Whether a TRUNCATE checkpoint ran (the file was past `walSizeLimit`). */
  readonly truncateTried: boolean
  /** Whether it truncated the file to zero bytes (`false`: another connection kept it busy; tried again later). */
  readonly truncated: boolean
  /** The size of the `-wal` file afterwards, in bytes. */
  readonly walBytes: number
}

/**
 * The checkpoint thread of a database opened by {@link openSqlite}: a
 * `worker_thread` with its own better-sqlite3 connection to the same file.
 * `db.$client.close()` stops it first (waiting briefly for its connection to
 * close, so that the request connection closes last and removes the WAL).
 */
export interface SqliteCheckpointer {
  /** Runs one checkpoint now, in the thread, as the interval does; resolves with what it did. */
  checkpoint(): Promise<SqliteCheckpointResult>
  /** Whether the thread is checkpointing (false once stopped, or when it failed and the request connection checkpoints on its own again). */
  readonly running: boolean
  /** Settles when the thread has exited, with its exit code. */
  readonly exited: Promise<number>
}

/** SQLite's default `wal_autocheckpoint`, restored on the request connection when the thread is gone. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000
/** How long closing waits for the thread to close its connection, in milliseconds. */
const STOP_WAIT_MILLIS = 2000

// The thread's code, CommonJS evaluated by `new Worker(…, { eval: true })`: no file to ship or
// resolve, so it runs the same from src (tests), dist/*.js, dist/*.cjs and bundled servers.
// `state` is shared: [0] = 1 once a stop is asked, [1] = 1 once the thread's connection is closed.
//
// Each cycle: a PASSIVE checkpoint. Under continuous writes it never quite catches up (the request
// connection commits while it copies), and the WAL starts over from its beginning only when a
// write finds every frame copied. So once the WAL holds 3/4 of the limit, the thread asks the main
// thread for a quiet window (the stores' writes wait, asynchronously, for a few milliseconds),
// copies the rest and lets writes go on: the next one starts the WAL over. Nobody waits for a
// lock. Past the whole limit the file is truncated to zero bytes, inside the window (nothing left
// to copy: quick) or, when no window came, outside it, blocking writers for the copy (backing off
// while another connection keeps it busy). Past twice the limit the request connection's own
// auto-checkpoint (the backstop) takes over, and the thread stays out of its way for a while.
const WORKER_SOURCE = `'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const { statSync } = require('node:fs')
const { driver, file, intervalMillis, walSizeLimit, busyTimeout, quietTimeoutMillis } = workerData
const state = new Int32Array(workerData.state)
const walFile = file + '-wal'
let db = null
let timer = null
let frameBytes = 4120
let truncateBackoff = 0
let truncateSkip = 0
let standAside = 0
let cycling = null
let quietWaiter = null
const walBytes = () => {
  try { return statSync(walFile).size } catch { return 0 }
}
const passive = () => db.pragma('wal_checkpoint(PASSIVE)')[0]
function truncate() {
  const [result] = db.pragma('wal_checkpoint(TRUNCATE)')
  return result.busy === 0
}
// Resolves true once the main thread holds its writes, false when it did not answer in time.
function askQuiet() {
  return new Promise((resolve) => {
    const timeout = setTimeout(() => { quietWaiter = null; resolve(false) }, quietTimeoutMillis)
    quietWaiter = () => { clearTimeout(timeout); quietWaiter = null; resolve(true) }
    parentPort.postMessage({ type: 'quiet' })
  })
}
// Past the backstop (twice the limit) the request connection checkpoints at each commit, and gives
// up whenever it finds this thread's checkpoint running: the thread stays out of its way a while.
function pastBackstop(p) {
  if (p.log * frameBytes < 2 * walSizeLimit) return false
  standAside = 10
  return true
}
const outcome = (p, quiet, truncateTried, truncated) => ({ walFrames: p.log, checkpointedFrames: p.checkpointed, caughtUp: p.checkpointed === p.log, quiet, truncateTried, truncated, walBytes: walBytes() })
async function checkpoint() {
  let p = passive()
  let quiet = false
  let truncated = false
  let truncateTried = false
  if (pastBackstop(p)) return outcome(p, false, false, false)
  if (p.log * frameBytes >= walSizeLimit * 0.75 || walBytes() > walSizeLimit) {
    // Copy once more while writes go on, so that the window only has the frames of that copy left.
    p = passive()
    if (pastBackstop(p)) return outcome(p, false, false, false)
    quiet = await askQuiet()
    if (db === null) throw new Error('stopped')
    try {
      p = passive()
      if (quiet && p.checkpointed === p.log && walBytes() > walSizeLimit) {
        truncateTried = true
        truncated = truncate()
      }
    } finally {
      if (quiet) parentPort.postMessage({ type: 'resume' })
    }
  }
  if (!truncated && walBytes() > walSizeLimit) {
    if (truncateSkip > 0) truncateSkip--
    else {
      truncateTried = true
      truncated = truncate()
      // Another connection held it: back off (1, 2, 4 … 64 cycles) rather than block writers again soon.
      truncateBackoff = truncated ? 0 : Math.min(Math.max(1, truncateBackoff * 2), 64)
      truncateSkip = truncateBackoff
    }
  }
  return outcome(truncated ? { log: 0, checkpointed: 0 } : p, quiet, truncateTried, truncated)
}
// One cycle at a time: the interval's and those asked for.
function cycle() {
  const run = (cycling ?? Promise.resolve()).then(checkpoint)
  cycling = run.then(() => undefined, () => undefined)
  return run
}
const describe = (error) => ({ message: String(error && error.message), code: error && typeof error.code === 'string' ? error.code : undefined })
function schedule() {
  // Stopped meanwhile: no timer may keep the thread alive.
  if (db === null) return
  timer = setTimeout(() => {
    if (standAside > 0) {
      standAside--
      return schedule()
    }
    cycle().then(schedule, (error) => {
      if (db === null) return
      parentPort.postMessage({ type: 'error', error: describe(error) })
      schedule()
    })
  }, intervalMillis)
}
function stop() {
  if (timer !== null) clearTimeout(timer)
  timer = null
  if (quietWaiter !== null) quietWaiter()
  if (db !== null) {
    try { db.close() } catch {}
    db = null
  }
  Atomics.store(state, 1, 1)
  Atomics.notify(state, 1)
  parentPort.close()
}
process.on('exit', () => {
  Atomics.store(state, 1, 1)
  Atomics.notify(state, 1)
})
parentPort.on('message', (message) => {
  if (message.type === 'stop') stop()
  // A window that came too late: let the writes go on at once.
  else if (message.type === 'quiet') { if (quietWaiter !== null) quietWaiter(); else parentPort.postMessage({ type: 'resume' }) }
  else if (message.type === 'checkpoint') {
    cycle().then(
      (result) => parentPort.postMessage({ type: 'result', id: message.id, result }),
      (error) => parentPort.postMessage({ type: 'result', id: message.id, error: describe(error) }),
    )
  }
})
if (Atomics.load(state, 0) === 1) stop()
else {
  try {
    const Database = require(driver)
    db = new Database(file, { fileMustExist: true })
    db.pragma('busy_timeout = ' + busyTimeout)
    frameBytes = db.pragma('page_size', { simple: true }) + 24
    schedule()
    parentPort.postMessage({ type: 'ready' })
  } catch (error) {
    parentPort.postMessage({ type: 'failed', error: describe(error) })
    stop()
  }
}
`

/**
 * Where the writes of the stores on one connection wait while the checkpoint
 * thread catches up (a few milliseconds, once per 3/4 `walSizeLimit` of
 * WAL). Reads never wait.
 */
export interface WriteGate {
  /** Whether writes wait now. */
  readonly closed: boolean
  /** Resolves when writes may go on. */
  opened(): Promise<void>
}

/** The gate of each connection that has a checkpoint thread. */
const gates = new WeakMap<object, WriteGate>()

/** The write gate of a better-sqlite3 connection that {@link openSqlite} gave a checkpoint thread, if any. */
export function writeGateOf(client: unknown): WriteGate | undefined {
  return typeof client === 'object' && client !== null ? gates.get(client) : undefined
}

/** A message of the checkpoint thread. */
type FromWorker =
  | { type: 'ready' | 'quiet' | 'resume' }
  | { type: 'failed' | 'error'; error: { message: string; code?: string } }
  | { type: 'result'; id: number; result?: SqliteCheckpointResult; error?: { message: string; code?: string } }

function positiveInteger(options: SqliteCheckpointOptions, name: keyof SqliteCheckpointOptions, fallback: number, min: number): number {
  const value = options[name] ?? fallback
  if (!Number.isSafeInteger(value) || value < min) throw new TypeError(`openSqlite: "checkpoint.${name}" must be an integer of at least ${min}`)
  return value
}

/** A write gate, opened and closed by the checkpoint thread's messages. */
class Gate implements WriteGate {
  #opened: Promise<void> | null = null
  #open: (() => void) | null = null
  #timer: ReturnType<typeof setTimeout> | null = null

  get closed(): boolean {
    return this.#opened !== null
  }

  opened(): Promise<void> {
    return this.#opened ?? Promise.resolve()
  }

  /** Holds writes until {@link open}, or `limit` milliseconds at most (a thread that never answers cannot stop them for long). */
  close(limit: number): void {
    if (this.#opened !== null) return
    this.#opened = new Promise((resolve) => (this.#open = resolve))
    this.#timer = setTimeout(() => this.open(), limit)
    this.#timer.unref()
  }

  open(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    const open = this.#open
    this.#opened = this.#open = this.#timer = null
    open?.()
  }
}

/** How long the thread waits for the main thread to hold its writes, in milliseconds. */
const QUIET_TIMEOUT_MILLIS = 100
/** How long writes are held at most, in milliseconds, whatever the thread does. */
const QUIET_LIMIT_MILLIS = 250

/**
 * The checkpoint thread of one request connection (internal: {@link openSqlite}
 * starts it; the public face is {@link SqliteCheckpointer}).
 */
export class Checkpointer implements SqliteCheckpointer {
  /** The thread (tests reach it to simulate a crash). */
  readonly worker: Worker
  readonly exited: Promise<number>
  #running = true
  #stopping = false
  #warned = false
  #nextId = 0
  readonly #pending = new Map<number, { resolve: (result: SqliteCheckpointResult) => void; reject: (error: Error) => void }>()
  readonly #state = new Int32Array(new SharedArrayBuffer(8))
  readonly #gate = new Gate()
  readonly #client: BetterSqlite3.Database

  /**
   * Turns the request connection's auto-checkpoint into a backstop (twice
   * `walSizeLimit`), starts the thread on `file` (an absolute path), gives
   * the connection a write gate (see {@link writeGateOf}) and makes
   * `client.close()` stop the thread first.
   */
  constructor(client: BetterSqlite3.Database, file: string, options: SqliteCheckpointOptions = {}) {
    const intervalMillis = positiveInteger(options, 'intervalMillis', 100, 1)
    const walSizeLimit = positiveInteger(options, 'walSizeLimit', 128 * 1024 * 1024, 1)
    const busyTimeout = positiveInteger(options, 'busyTimeout', 20, 0)
    // Where `import('better-sqlite3')` in open-sqlite.ts found the driver: the thread loads the same one.
    const driver = createRequire(import.meta.url).resolve('better-sqlite3')
    this.#client = client
    const pageSize = Number(client.pragma('page_size', { simple: true }))
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file, intervalMillis, walSizeLimit, busyTimeout, quietTimeoutMillis: QUIET_TIMEOUT_MILLIS, state: this.#state.buffer },
      // A small heap: the thread holds one connection and a timer.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    })
    // Never keeps the process alive; it ends with it.
    this.worker.unref()
    // The backstop, in pages: a WAL frame is a page and a 24-byte header.
    client.pragma(`wal_autocheckpoint = ${Math.max(1, Math.ceil((2 * walSizeLimit) / (pageSize + 24)))}`)
    gates.set(client, this.#gate)
    this.exited = new Promise((resolve) => {
      this.worker.on('exit', (code) => {
        this.#gone(new Error(`the SQLite checkpoint thread exited (code ${code})`))
        resolve(code)
      })
    })
    this.worker.on('error', (error) => this.#gone(error))
    this.worker.on('message', (message: FromWorker) => this.#receive(message))
    const close = client.close
    const stop = () => this.stop()
    client.close = function (this: BetterSqlite3.Database) {
      stop()
      return close.call(this)
    }
  }

  get running(): boolean {
    return this.#running
  }

  checkpoint(): Promise<SqliteCheckpointResult> {
    if (!this.#running) return Promise.reject(new Error('the SQLite checkpoint thread is not running'))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.worker.postMessage({ type: 'checkpoint', id })
    })
  }

  /**
   * Stops the thread and waits (at most 2 s, blocking: `close()` is
   * synchronous) until its connection is closed, so that the request
   * connection, closing next, is the last one and removes the WAL.
   */
  stop(): void {
    if (this.#stopping) return
    this.#stopping = true
    const running = this.#running
    this.#running = false
    this.#gate.open()
    Atomics.store(this.#state, 0, 1)
    // A thread already gone (it failed, or was terminated) has no connection to wait for.
    if (!running) return
    this.worker.postMessage({ type: 'stop' })
    Atomics.wait(this.#state, 1, 0, STOP_WAIT_MILLIS)
    if (Atomics.load(this.#state, 1) === 0) void this.worker.terminate()
    this.#rejectPending(new Error('the SQLite checkpoint thread was stopped'))
  }

  #receive(message: FromWorker): void {
    switch (message.type) {
      case 'quiet':
        // This thread runs no statement now (the driver is synchronous): from here on the stores' writes wait.
        if (this.#stopping) return
        this.#gate.close(QUIET_LIMIT_MILLIS)
        this.worker.postMessage({ type: 'quiet' })
        return
      case 'resume':
        this.#gate.open()
        return
      case 'result': {
        const pending = this.#pending.get(message.id)
        this.#pending.delete(message.id)
        if (message.result !== undefined) pending?.resolve(message.result)
        else pending?.reject(Object.assign(new Error(message.error?.message ?? 'checkpoint failed'), { code: message.error?.code }))
        return
      }
      case 'error':
      case 'failed':
        this.#warn(`SQLite checkpoint ${message.type === 'failed' ? 'thread could not start' : 'failed'}: ${message.error.message}`)
        return
      default:
    }
  }

  /** The thread is gone: unless it was stopped, the request connection checkpoints on its own again. */
  #gone(error: Error): void {
    this.#gate.open()
    this.#rejectPending(error)
    if (this.#stopping || !this.#running) return
    this.#running = false
    gates.delete(this.#client)
    if (this.#client.open) this.#client.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`)
    this.#warn(`${error.message}; the request connection checkpoints the WAL itself again (wal_autocheckpoint=${SQLITE_DEFAULT_AUTOCHECKPOINT})`)
  }

  #rejectPending(error: Error): void {
    for (const { reject } of this.#pending.values()) reject(error)
    this.#pending.clear()
  }

  /** One process warning per checkpointer: a failing disk would otherwise warn every interval. */
  #warn(message: string): void {
    if (this.#warned) return
    this.#warned = true
    process.emitWarning(message, { type: 'GrantkitSqliteCheckpoint' })
  }
}
