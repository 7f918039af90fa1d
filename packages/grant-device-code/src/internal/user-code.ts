import { randomInt } from 'node:crypto'

/** Upper case, without dashes or white space: how a user code is hashed (RFC 8628 §6.1). */
export function normalizeUserCode(input: string): string {
  return input.replace(/[\s-]+/g, '').toUpperCase()
}

/** A normalised user code in groups of four, e.g. `WDJB-MJHT` (RFC 8628 §6.1). */
export function formatUserCode(normalized: string): string {
  return normalized.match(/.{1,4}/g)?.join('-') ?? normalized
}

/** A new normalised user code: `length` characters drawn uniformly from `charset` by the CSPRNG. */
export function newUserCode(charset: string, length: number): string {
  let code = ''
  for (let i = 0; i < length; i++) code += charset[randomInt(charset.length)]
  return code
}

/** Bits of entropy of a user code of `length` characters from `charset`. */
export function userCodeEntropy(charset: string, length: number): number {
  return length * Math.log2(charset.length)
}
