import { defaultErrorLogger } from '@grantkit/core'

/** The adapter's default for unexpected errors: core's one-line logger (error name and code, never a message or stack). */
export function logUnexpected(where: string): (error: unknown) => void {
  return defaultErrorLogger(where)
}
