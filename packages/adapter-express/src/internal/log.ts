/** Calls the app's logger, ignoring its own failure: a failing logger must never change an answer. */
export function safeLog<A extends unknown[]>(logger: (...args: A) => void, ...args: A): void {
  try {
    logger(...args)
  } catch {
    // Logging must never break the protocol.
  }
}
