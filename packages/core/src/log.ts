const LABEL = /^[\w.$-]{1,64}$/

/**
 * How an error object is named in a log line: its `name`, or its class's
 * name when `name` says nothing — drizzle's `DrizzleQueryError` leaves the
 * inherited `Error`, node-postgres' `DatabaseError` carries the protocol
 * message name `error`.
 */
function labelOf(value: object): string {
  const { name } = value as { name?: unknown }
  const named = typeof name === 'string' && LABEL.test(name) ? name : undefined
  if (named !== undefined && named !== 'Error' && /^[A-Z]/.test(named)) return named
  const constructor = (value as { constructor?: unknown }).constructor
  const className = typeof constructor === 'function' ? constructor.name : undefined
  if (typeof className === 'string' && LABEL.test(className) && className !== 'Object' && className !== 'Function') return className
  return named ?? 'Error'
}

/**
 * What an unexpected error may say in a log line: its name and its `code`
 * (an errno, a SQLSTATE, a driver code), and those of its causes — never its
 * message, which for a database driver can hold SQL, parameters (a password
 * hash) or a file path, and never a stack. A class that leaves `name` as
 * `Error` is named by its class (`DrizzleQueryError`), so that the line
 * says which layer failed and the driver's code below it.
 *
 * @example `DrizzleQueryError caused by DatabaseError[57P01]`
 */
export function describeError(error: unknown): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (typeof current === 'object' || typeof current === 'function') {
      let label = 'Error'
      let suffix = ''
      let cause: unknown
      try {
        const { code } = current as { code?: unknown }
        label = labelOf(current)
        suffix = (typeof code === 'string' && /^[\w.-]{1,32}$/.test(code)) || (typeof code === 'number' && Number.isFinite(code)) ? `[${String(code)}]` : ''
        cause = (current as { cause?: unknown }).cause
      } catch {
        // A getter that throws: say no more about it.
        cause = undefined
      }
      parts.push(label + suffix)
      current = cause
    } else {
      parts.push(typeof current)
      break
    }
  }
  return parts.join(' caused by ')
}

/** A logger for unexpected errors; see {@link defaultErrorLogger}. */
export type ErrorLogger = (error: unknown) => void

/** Options of {@link defaultErrorLogger}. */
export interface ErrorLoggerOptions {
  /**
   * Milliseconds during which a line identical to one just printed is
   * counted instead of printed; the count is added to the next identical
   * line printed. Default 1000; `0` prints every line.
   */
  readonly repeatInterval?: number
  /** Where the lines go; default `console.error`. */
  readonly write?: (line: string) => void
  /** Milliseconds since the epoch; default `Date.now`. */
  readonly clock?: () => number
}

/** Distinct lines a logger remembers for repeat suppression; the lines only name errors, so a few suffice. */
const REMEMBERED_LINES = 64

/**
 * The default logger of every grantkit package for unexpected errors (a
 * failing store, a bug in a hook): one `console.error` line naming where it
 * happened and {@link describeError} — no message, no stack, no request:
 *
 * ```text
 * [grantkit] unexpected error in the authorization server: DrizzleQueryError caused by DatabaseError[57P01]
 * ```
 *
 * During an outage every request fails the same way, so a line identical to
 * one this logger printed less than a second ago is not printed but counted,
 * and the next identical line printed says how many were left out
 * (`… (1523 identical lines suppressed)`).
 */
export function defaultErrorLogger(where: string, options: ErrorLoggerOptions = {}): ErrorLogger {
  const write = repeatSuppressor(options.write ?? ((line: string) => console.error(line)), options, 'defaultErrorLogger')
  return (error) => write(`[grantkit] unexpected error in ${where}: ${describeError(error)}`)
}

/**
 * Wraps a line writer so that a line identical to one it printed less than
 * `repeatInterval` ms ago (default 1000) is counted instead of printed; the
 * next identical line printed ends with how many were left out
 * (`… (1523 identical lines suppressed)`). For an app's own error log, so
 * that an outage prints a few lines, not one per request.
 *
 * @example
 * ```ts
 * const logError = suppressRepeatedLines((line) => console.error(line))
 * server.onError = (error) => logError(`[error] ${describeError(error)}`)
 * ```
 */
export function suppressRepeatedLines(write: (line: string) => void, options: Omit<ErrorLoggerOptions, 'write'> = {}): (line: string) => void {
  if (typeof write !== 'function') throw new TypeError('suppressRepeatedLines: "write" must be a function')
  return repeatSuppressor(write, options, 'suppressRepeatedLines')
}

function repeatSuppressor(write: (line: string) => void, options: Omit<ErrorLoggerOptions, 'write'>, caller: string): (line: string) => void {
  const interval = options.repeatInterval ?? 1000
  if (!Number.isFinite(interval) || interval < 0) throw new TypeError(`${caller}: "repeatInterval" must be a non-negative number of milliseconds`)
  const clock = options.clock ?? Date.now
  const recent = new Map<string, { printedAt: number; suppressed: number }>()
  return (line) => {
    const now = clock()
    const seen = recent.get(line)
    if (seen !== undefined && now - seen.printedAt < interval) {
      seen.suppressed++
      return
    }
    const suppressed = seen?.suppressed ?? 0
    recent.delete(line)
    recent.set(line, { printedAt: now, suppressed: 0 })
    if (recent.size > REMEMBERED_LINES) recent.delete(recent.keys().next().value as string)
    write(suppressed === 0 ? line : `${line} (${suppressed} identical line${suppressed === 1 ? '' : 's'} suppressed)`)
  }
}

/** Calls a logger, ignoring its own failure: a failing logger must never become a crash or change an answer. */
export function safeLog<A extends unknown[]>(logger: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    logger?.(...args)
  } catch {
    // Logging must never break the protocol.
  }
}
