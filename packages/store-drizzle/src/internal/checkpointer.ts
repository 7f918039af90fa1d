import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type BetterSqlite3 from 'better-sqlite3'

/** Options of the WAL checkpoint thread that {@link openSqlite} starts (its `checkpoint` option). */
export interface SqliteCheckpointOptions {
  /**
   * How often, in milliseconds, the thread copies the WAL into the database
   * file (`PRAGMA wal_checkpoint(PASSIVE)`, which neither waits for nor
   * blocks anyone). It also bounds how long a commit stays only in the WAL
   * before it is synced to disk (`synchronous=NORMAL` syncs at checkpoints).
   * Default 100.
   */
  intervalMillis?: number
  /**
   * Most bytes of the `-wal` file. Under continuous writes a PASSIVE
   * checkpoint never quite catches up, so the WAL never starts over; once
   * the file is past this size, the thread truncates it to zero bytes
   * (`PRAGMA wal_checkpoint(TRUNCATE)`, right after a PASSIVE one, so little
   * is left to copy). That holds SQLite's writer lock for a few milliseconds
   * (the disk syncs): the writes of the stores on this connection wait for it
   * asynchronously, and reads go on. Default 128 MiB.
   */
  walSizeLimit?: number
  /**
   * `PRAGMA busy_timeout` of the thread's connection, in milliseconds: how
   * long a TRUNCATE checkpoint waits for the writer lock and for readers of
   * other connections. Writers wait for it meanwhile, so keep it short; a
   * TRUNCATE that timed out is tried again later, less and less often.
   * Default 20.
   */
  busyTimeout?: number
}

/** What one checkpoint of the thread did (see {@link SqliteCheckpointer.checkpoint}). */
export interface SqliteCheckpointResult {
  /** Frames in the WAL since it last started over (0 once truncated). */
  readonly walFrames: number
  /** How many of them are in the database file. */
  readonly checkpointedFrames: number
  /** Whether the `-wal` file was past `walSizeLimit` and truncated to zero bytes. */
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
  /** Whether the thread is checkpointing (false once stopped, or once it failed and the request connection checkpoints on its own again). */
  readonly running: boolean
}

/** SQLite's default `wal_autocheckpoint`, restored on the request connection when the thread is gone. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000
/** How long closing waits for the thread to close its connection, in milliseconds. */
const STOP_WAIT_MILLIS = 2000

// Slots of the Int32Array both threads share.
/** 1 while the thread's TRUNCATE checkpoint holds (or waits for) SQLite's writer lock. */
const HELD = 0
/** 1 once a stop is asked. */
const STOP = 1
/** 1 once the thread's connection is closed. */
const CLOSED = 2

// The thread's code, CommonJS evaluated by `new Worker(…, { eval: true })`: no file to ship or
// resolve, so it runs the same from src (tests), dist/*.js, dist/*.cjs and bundled servers.
//
// Each cycle is synchronous: a PASSIVE checkpoint; then, when the -wal file is past the limit, a
// TRUNCATE, with HELD raised meanwhile so that the stores of the request connection hold their writes
// (asynchronously) instead of blocking the event loop on the writer lock. A TRUNCATE another
// connection kept busy is tried again after 1, 2, 4 … 64 cycles, so as not to hold writers often.
const WORKER_SOURCE = `'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const { statSync } = require('node:fs')
const { driver, file, intervalMillis, walSizeLimit, busyTimeout } = workerData
const shared = new Int32Array(workerData.shared)
const walFile = file + '-wal'
let db = null
let timer = null
let backoff = 0
let skip = 0
let warned = false
const walBytes = () => {
  try { return statSync(walFile).size } catch { return 0 }
}
function checkpoint() {
  let result = db.pragma('wal_checkpoint(PASSIVE)')[0]
  let truncated = false
  if (walBytes() > walSizeLimit) {
    if (skip > 0) skip--
    else {
      Atomics.store(shared, ${HELD}, 1)
      try {
        result = db.pragma('wal_checkpoint(TRUNCATE)')[0]
      } finally {
        Atomics.store(shared, ${HELD}, 0)
        Atomics.notify(shared, ${HELD})
      }
      truncated = result.busy === 0
      backoff = truncated ? 0 : Math.min(Math.max(1, backoff * 2), 64)
      skip = backoff
    }
  }
  return { walFrames: Math.max(0, result.log), checkpointedFrames: Math.max(0, result.checkpointed), truncated, walBytes: walBytes() }
}
const describe = (error) => ({ message: String(error && error.message), code: error && typeof error.code === 'string' ? error.code : undefined })
function schedule() {
  // Stopped meanwhile: no timer may keep the thread alive.
  if (db === null) return
  timer = setTimeout(() => {
    try {
      checkpoint()
    } catch (error) {
      // Told once: a failing disk would otherwise say so every interval.
      if (!warned) parentPort.postMessage({ type: 'error', error: describe(error) })
      warned = true
    }
    schedule()
  }, intervalMillis)
}
function stop() {
  if (timer !== null) clearTimeout(timer)
  timer = null
  if (db !== null) {
    try { db.close() } catch {}
    db = null
  }
  Atomics.store(shared, ${CLOSED}, 1)
  Atomics.notify(shared, ${CLOSED})
  parentPort.close()
}
process.on('exit', () => {
  Atomics.store(shared, ${HELD}, 0)
  Atomics.notify(shared, ${HELD})
  Atomics.store(shared, ${CLOSED}, 1)
  Atomics.notify(shared, ${CLOSED})
})
parentPort.on('message', (message) => {
  if (message.type === 'stop') stop()
  else if (message.type === 'checkpoint') {
    try {
      parentPort.postMessage({ type: 'result', id: message.id, result: checkpoint() })
    } catch (error) {
      parentPort.postMessage({ type: 'result', id: message.id, error: describe(error) })
    }
  }
})
if (Atomics.load(shared, ${STOP}) === 1) stop()
else {
  try {
    const Database = require(driver)
    db = new Database(file, { fileMustExist: true })
    db.pragma('busy_timeout = ' + busyTimeout)
    schedule()
  } catch (error) {
    parentPort.postMessage({ type: 'failed', error: describe(error) })
    stop()
  }
}
`

/**
 * What the stores of one connection wait for before a write: the TRUNCATE
 * checkpoint of its thread, which holds SQLite's writer lock for a few
 * milliseconds. Reads never wait.
 */
export interface WriteHold {
  /** Whether the thread holds (or is about to take) the writer lock now. */
  readonly held: boolean
  /** Resolves once it is released, or after `millis` at most. */
  released(millis: number): Promise<void>
}

/** The hold of each connection that has a checkpoint thread. */
const holds = new WeakMap<object, WriteHold>()

/** The write hold of a better-sqlite3 connection that {@link openSqlite} gave a checkpoint thread, if any. */
export function writeHoldOf(client: unknown): WriteHold | undefined {
  return typeof client === 'object' && client !== null ? holds.get(client) : undefined
}

/** `Atomics.waitAsync` (Node.js 16+; typed from ES2024 on, this package's lib is ES2022). */
const waitAsync = (Atomics as unknown as { waitAsync: (array: Int32Array, index: number, value: number, timeout: number) => { async: boolean; value: Promise<string> | string } }).waitAsync

/** A message of the checkpoint thread. */
type FromWorker =
  | { type: 'failed' | 'error'; error: { message: string; code?: string } }
  | { type: 'result'; id: number; result?: SqliteCheckpointResult; error?: { message: string; code?: string } }

function integerOption(options: SqliteCheckpointOptions, name: keyof SqliteCheckpointOptions, fallback: number, min: number): number {
  const value = options[name] ?? fallback
  if (!Number.isSafeInteger(value) || value < min) throw new TypeError(`openSqlite: "checkpoint.${name}" must be an integer of at least ${min}`)
  return value
}

/**
 * The checkpoint thread of one request connection (internal: {@link openSqlite}
 * starts it; the public face is {@link SqliteCheckpointer}).
 */
export class Checkpointer implements SqliteCheckpointer {
  /** The thread (tests reach it to simulate a crash). */
  readonly worker: Worker
  #running = true
  #stopping = false
  #warned = false
  #nextId = 0
  readonly #pending = new Map<number, { resolve: (result: SqliteCheckpointResult) => void; reject: (error: Error) => void }>()
  readonly #shared = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT))
  readonly #client: BetterSqlite3.Database

  /**
   * Turns the request connection's auto-checkpoint off (the thread does it),
   * starts the thread on `file` (an absolute path), gives the connection a
   * write hold (see {@link writeHoldOf}) and makes `client.close()` stop the
   * thread first.
   */
  constructor(client: BetterSqlite3.Database, file: string, options: SqliteCheckpointOptions = {}) {
    const intervalMillis = integerOption(options, 'intervalMillis', 100, 1)
    const walSizeLimit = integerOption(options, 'walSizeLimit', 128 * 1024 * 1024, 1)
    const busyTimeout = integerOption(options, 'busyTimeout', 20, 0)
    // Where `import('better-sqlite3')` in open-sqlite.ts found the driver: the thread loads the same one.
    const driver = createRequire(import.meta.url).resolve('better-sqlite3')
    this.#client = client
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file, intervalMillis, walSizeLimit, busyTimeout, shared: this.#shared.buffer },
      // A small heap: the thread holds one connection and a timer.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    })
    // Never keeps the process alive; it ends with it.
    this.worker.unref()
    client.pragma('wal_autocheckpoint = 0')
    const shared = this.#shared
    holds.set(client, {
      get held() {
        return Atomics.load(shared, HELD) === 1
      },
      async released(millis) {
        const wait = waitAsync(shared, HELD, 1, millis)
        if (wait.async) await wait.value
      },
    })
    this.worker.on('exit', (code) => this.#gone(new Error(`the SQLite checkpoint thread exited (code ${code})`)))
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
    Atomics.store(this.#shared, STOP, 1)
    this.#rejectPending(new Error('the SQLite checkpoint thread was stopped'))
    // A thread already gone (it failed, or was terminated) has no connection to wait for.
    if (!running) return
    this.worker.postMessage({ type: 'stop' })
    Atomics.wait(this.#shared, CLOSED, 0, STOP_WAIT_MILLIS)
    if (Atomics.load(this.#shared, CLOSED) === 0) void this.worker.terminate()
  }

  #receive(message: FromWorker): void {
    if (message.type === 'result') {
      const pending = this.#pending.get(message.id)
      this.#pending.delete(message.id)
      if (message.result !== undefined) pending?.resolve(message.result)
      else pending?.reject(Object.assign(new Error(message.error?.message ?? 'checkpoint failed'), { code: message.error?.code }))
      return
    }
    this.#warn(`SQLite checkpoint ${message.type === 'failed' ? 'thread could not start' : 'failed'}: ${message.error.message}`)
  }

  /** The thread is gone: unless it was stopped, the request connection checkpoints on its own again. */
  #gone(error: Error): void {
    // A thread that died holding writes must not keep them waiting.
    Atomics.store(this.#shared, HELD, 0)
    Atomics.notify(this.#shared, HELD)
    this.#rejectPending(error)
    if (this.#stopping || !this.#running) return
    this.#running = false
    holds.delete(this.#client)
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
