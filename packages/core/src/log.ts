/**
 * What an unexpected error may say in a log line: its name and its `code`
 * (an errno, a SQLSTATE, a driver code), and those of its causes — never its
 * message, which for a database driver can hold SQL, parameters (a password
 * hash) or a file path, and never a stack.
 *
 * @example `DrizzleQueryError caused by error[23505]`
 */
export function describeError(error: unknown): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (typeof current === 'object' || typeof current === 'function') {
      const { name, code } = current as { name?: unknown; code?: unknown }
      const label = typeof name === 'string' && /^[\w.$-]{1,64}$/.test(name) ? name : 'Error'
      const suffix = (typeof code === 'string' && /^[\w.-]{1,32}$/.test(code)) || typeof code === 'number' ? `[${String(code)}]` : ''
      parts.push(label + suffix)
      current = (current as { cause?: unknown }).cause
    } else {
      parts.push(typeof current)
      break
    }
  }
  return parts.join(' caused by ')
}

/** A logger for unexpected errors; see {@link defaultErrorLogger}. */
export type ErrorLogger = (error: unknown) => void

/**
 * The default logger of every grantkit package for unexpected errors (a
 * failing store, a bug in a hook): one `console.error` line naming where it
 * happened and {@link describeError} — no message, no stack, no request.
 */
export function defaultErrorLogger(where: string): ErrorLogger {
  return (error) => console.error(`[grantkit] unexpected error in ${where}: ${describeError(error)}`)
}

/** Calls a logger, ignoring its own failure: a failing logger must never become a crash or change an answer. */
export function safeLog<A extends unknown[]>(logger: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    logger?.(...args)
  } catch {
    // Logging must never break the protocol.
  }
}
