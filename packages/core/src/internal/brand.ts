// Brands recognise grantkit objects across copies of a package: an ESM
// server given a grant, an error or a request made by the CommonJS build (the
// dual-package hazard) cannot rely on `instanceof`, whose classes differ per
// copy. `Symbol.for` gives every copy the same key.

/** Static brand of `BaseGrant` and every subclass. */
export const GRANT_BRAND: unique symbol = Symbol.for('grantkit.grant') as never
/** Instance brand of `OAuthError`. */
export const OAUTH_ERROR_BRAND: unique symbol = Symbol.for('grantkit.oauth-error') as never
/** Instance brand of a request made by `createOAuthRequest` or an adapter. */
export const REQUEST_BRAND: unique symbol = Symbol.for('grantkit.request') as never
/** Instance brand of an `AuthorizationHandle`. */
export const HANDLE_BRAND: unique symbol = Symbol.for('grantkit.authorization-handle') as never

/** Whether `value` is an object carrying `brand: true`. */
export function hasBrand(value: unknown, brand: symbol): boolean {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && (value as Record<symbol, unknown>)[brand] === true
}
