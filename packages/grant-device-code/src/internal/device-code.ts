import { generateToken } from '@grantkit/core'

// A device code is 256 random bits (base64url, 43 characters), a dot and the
// second it expires at (base 36). The store is the only authority on whether
// a code is valid; the suffix only lets the token endpoint answer
// `expired_token` rather than `invalid_grant` for a code the store no longer
// returns (expired, or purged since). It is neither secret nor trusted for
// anything else: a client that forges it gets another error code, no more.
const DEVICE_CODE = /^[A-Za-z0-9_-]{43}\.([0-9a-z]{1,11})$/

/** A new device code expiring at `expiresAt`. */
export function newDeviceCode(expiresAt: Date): string {
  return `${generateToken(32)}.${Math.floor(expiresAt.getTime() / 1000).toString(36)}`
}

/** The expiry a device code carries, or `null` when it is not one this package made. */
export function deviceCodeExpiry(deviceCode: string): Date | null {
  const match = DEVICE_CODE.exec(deviceCode)
  if (match === null) return null
  const seconds = Number.parseInt(match[1] as string, 36)
  const date = new Date(seconds * 1000)
  return Number.isNaN(date.getTime()) ? null : date
}
