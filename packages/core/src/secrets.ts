import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto'

/**
 * Generates an opaque, URL-safe random string of `bytes` bytes of entropy
 * (default 32 = 256 bits, RFC 6749 §10.10 / RFC 9700 §4.14 ask for
 * unguessable values).
 */
export function generateToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/**
 * The hash a store receives instead of a code or token: SHA-256, base64url.
 * Tokens are 256-bit random values, so an unsalted fast hash is enough to make
 * a leaked database useless while keeping lookup by hash possible.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** Compares two strings in constant time (for equal lengths). */
export function timingSafeEqualString(a: string, b: string): boolean {
  const ab = Buffer.from(a)
  const bb = Buffer.from(b)
  if (ab.length !== bb.length) {
    // Still spend the comparison so that length is the only thing leaked.
    timingSafeEqual(ab, ab)
    return false
  }
  return timingSafeEqual(ab, bb)
}

/** Which hash {@link hashSecret} uses. */
export type SecretHashAlgorithm = 'sha256' | 'scrypt'

const SCRYPT_N = 16384
const SCRYPT_R = 8
const SCRYPT_P = 1
const SCRYPT_KEYLEN = 32

function scrypt(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, SCRYPT_KEYLEN, { N: n, r, p, maxmem: 256 * n * r }, (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })
}

/**
 * Hashes a client secret or a password for storage. The result is
 * self-describing: `sha256$<salt>$<hash>` or `scrypt$<N>$<r>$<p>$<salt>$<hash>`.
 *
 * Use `scrypt` (the default) for anything a person chose; `sha256` (salted) is
 * for server-generated secrets of ≥ 256 bits, where a slow hash adds nothing
 * but latency on every token request.
 */
export async function hashSecret(secret: string, algorithm: SecretHashAlgorithm = 'scrypt'): Promise<string> {
  const salt = randomBytes(16)
  if (algorithm === 'sha256') {
    const hash = createHash('sha256').update(salt).update(secret).digest('base64url')
    return `sha256$${salt.toString('base64url')}$${hash}`
  }
  const key = await scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
  return `scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

// A fixed hash to compare against when there is nothing to compare, so that an
// unknown client or user takes as long as a wrong secret.
const DUMMY_SHA256 = `sha256$${Buffer.alloc(16).toString('base64url')}$${createHash('sha256').update('x').digest('base64url')}`

/**
 * Verifies a secret against a hash made by {@link hashSecret}, in constant
 * time. A missing or malformed hash verifies nothing (and still spends the work).
 */
export async function verifySecret(secret: string, stored: string | null | undefined): Promise<boolean> {
  const parts = (stored ?? DUMMY_SHA256).split('$')
  const algorithm = parts[0]
  if (algorithm === 'sha256' && parts.length === 3) {
    const expected = Buffer.from(parts[2]!, 'base64url')
    const actual = createHash('sha256').update(Buffer.from(parts[1]!, 'base64url')).update(secret).digest()
    const ok = expected.length === actual.length && timingSafeEqual(expected, actual)
    return ok && stored != null
  }
  if (algorithm === 'scrypt' && parts.length === 6) {
    const n = Number(parts[1])
    const r = Number(parts[2])
    const p = Number(parts[3])
    // N must be a power of two above 1 (Node throws otherwise): a malformed hash verifies nothing.
    const validN = Number.isInteger(n) && n > 1 && n <= 1 << 20 && (n & (n - 1)) === 0
    if (!validN || !Number.isInteger(r) || !Number.isInteger(p) || r < 1 || r > 32 || p < 1 || p > 16) return false
    const expected = Buffer.from(parts[5]!, 'base64url')
    let actual: Buffer
    try {
      actual = await scrypt(secret, Buffer.from(parts[4]!, 'base64url'), n, r, p)
    } catch {
      return false
    }
    return expected.length === actual.length && timingSafeEqual(expected, actual)
  }
  return false
}
