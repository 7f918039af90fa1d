import { configError } from '@grantkit/core'
import { userCodeEntropy } from './user-code.js'

/** The device-flow statics of a `DeviceCodeGrant` class, as the endpoint reads them. */
export interface DeviceFlowStatics {
  readonly name: string
  readonly GRANT_TYPE: string | null
  readonly TOKEN_ENDPOINT_AUTH_METHODS: readonly string[]
  readonly DEVICE_CODE_LIFETIME: number
  readonly INTERVAL: number
  readonly USER_CODE_LENGTH: number
  readonly USER_CODE_CHARSET: string
  readonly VERIFICATION_URI: string
}

/** RFC 8628 §5.1: a user code must not be guessable within its lifetime; below this many bits it is refused. */
export const MIN_USER_CODE_BITS = 20
/** The longest device-code lifetime accepted, in seconds. */
export const MAX_DEVICE_CODE_LIFETIME = 1800
/** The longest polling interval accepted, in seconds. */
export const MAX_INTERVAL = 60

function integer(value: unknown, name: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(`${name} must be an integer between ${min} and ${max}`)
  }
}

/**
 * Checks the device-flow statics once, at registration, with a `TypeError`
 * carrying `code: 'ERR_GRANTKIT_CONFIG'`.
 */
export function checkDeviceFlowStatics(grant: DeviceFlowStatics): void {
  const name = grant.name || 'DeviceCodeGrant'
  integer(grant.DEVICE_CODE_LIFETIME, `${name}.DEVICE_CODE_LIFETIME`, 1, MAX_DEVICE_CODE_LIFETIME)
  integer(grant.INTERVAL, `${name}.INTERVAL`, 1, MAX_INTERVAL)
  integer(grant.USER_CODE_LENGTH, `${name}.USER_CODE_LENGTH`, 4, 32)
  const charset: unknown = grant.USER_CODE_CHARSET
  // Upper-case letters and digits only: user input is upper-cased before it is compared.
  if (typeof charset !== 'string' || !/^[A-Z0-9]{2,}$/.test(charset) || new Set(charset).size !== charset.length) {
    throw configError(`${name}.USER_CODE_CHARSET must be a string of distinct upper-case letters and digits (at least two)`)
  }
  const bits = userCodeEntropy(charset, grant.USER_CODE_LENGTH)
  if (bits < MIN_USER_CODE_BITS) {
    throw configError(`${name}: a user code of ${grant.USER_CODE_LENGTH} characters from ${charset.length} has ${bits.toFixed(1)} bits; at least ${MIN_USER_CODE_BITS} are needed (RFC 8628 §5.1)`)
  }
  verificationUri(grant.VERIFICATION_URI, 'https://issuer.invalid', name)
}

/**
 * The verification URI (RFC 8628 §3.2): `uri` under the issuer when it is a
 * path, else `uri` itself (an absolute http(s) URL without fragment).
 */
export function verificationUri(uri: unknown, issuer: string, name = 'DeviceCodeGrant'): string {
  if (typeof uri === 'string' && uri.startsWith('/') && !uri.startsWith('//') && !uri.includes('#')) return issuer + uri
  let url: URL | undefined
  try {
    url = typeof uri === 'string' ? new URL(uri) : undefined
  } catch {
    url = undefined
  }
  if (url === undefined || !/^https?:$/.test(url.protocol) || url.hash !== '' || (uri as string).includes('#')) {
    throw configError(`${name}.VERIFICATION_URI must be a path starting with "/" or an absolute http(s) URL without fragment`)
  }
  return uri as string
}
