/**
 * Codes of the `TypeError`s grantkit throws for a caller's mistake at set-up
 * (never per request), so that `switch (error.code)` can tell them apart:
 *
 * - `ERR_GRANTKIT_CONFIG`: an invalid option or grant static;
 * - `ERR_GRANTKIT_STORE_CAPABILITY`: the store lacks what a grant or endpoint needs;
 * - `ERR_GRANTKIT_DUPLICATE`: a grant type, response type or endpoint registered twice.
 */
export type ConfigErrorCode = 'ERR_GRANTKIT_CONFIG' | 'ERR_GRANTKIT_STORE_CAPABILITY' | 'ERR_GRANTKIT_DUPLICATE'

/** A `TypeError` with a {@link ConfigErrorCode}. */
export interface ConfigError extends TypeError {
  readonly code: ConfigErrorCode
}

/**
 * Builds the `TypeError` of a configuration mistake (after oauth4webapi's
 * Node-style codes): thrown by constructors and `register*` methods, never
 * while answering a request.
 */
export function configError(message: string, code: ConfigErrorCode = 'ERR_GRANTKIT_CONFIG'): ConfigError {
  const error = new TypeError(message) as TypeError & { code: ConfigErrorCode }
  error.code = code
  return error
}

/** Throws unless `value` is an integer in `[min, max]`. */
export function assertInteger(value: unknown, name: string, min = 1, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(`${name} must be an integer between ${min} and ${max}`)
  }
}

/** Throws unless `value` is a boolean. */
export function assertBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw configError(`${name} must be a boolean`)
}

/** Throws unless `value` is a function (or, when `optional`, undefined). */
export function assertFunction(value: unknown, name: string, optional = false): void {
  if (optional && value === undefined) return
  if (typeof value !== 'function') throw configError(`${name} must be a function`)
}
