import * as crypto from 'node:crypto'
import { createHash, randomBytes, randomFillSync, scrypt as scryptCb, timingSafeEqual } from 'node:crypto'

type OneShotHash = (algorithm: string, data: string | Buffer, outputEncoding: 'base64url' | 'buffer') => string | Buffer
// `crypto.hash` (Node ≥ 20.12) hashes in one call, about three times faster
// than `createHash().update().digest()` for token-sized inputs.
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash

function sha256(data: string | Buffer, encoding: 'base64url'): string
function sha256(data: string | Buffer, encoding: 'buffer'): Buffer
function sha256(data: string | Buffer, encoding: 'base64url' | 'buffer'): string | Buffer {
  if (oneShot !== undefined) return oneShot('sha256', data, encoding)
  const hash = createHash('sha256').update(data)
  return encoding === 'buffer' ? hash.digest() : hash.digest('base64url')
}

// Random bytes are drawn from the CSPRNG a pool at a time: one
// `randomFillSync` per 128 tokens instead of one per token (it was a quarter
// of the token endpoint's CPU time). Each byte is handed out once.
const POOL_SIZE = 4096
const pool = Buffer.allocUnsafeSlow(POOL_SIZE)
let poolOffset = POOL_SIZE

/**
 * Generates an opaque, URL-safe random string of `bytes` bytes of entropy
 * (default 32 = 256 bits, RFC 6749 §10.10 / RFC 9700 §4.14 ask for
 * unguessable values) from `crypto`'s CSPRNG.
 */
export function generateToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 1) throw new TypeError('generateToken: "bytes" must be a positive integer')
  if (bytes > POOL_SIZE / 8) return randomBytes(bytes).toString('base64url')
  if (poolOffset + bytes > POOL_SIZE) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const token = pool.toString('base64url', poolOffset, poolOffset + bytes)
  // Don't keep a handed-out value in memory.
  pool.fill(0, poolOffset, poolOffset + bytes)
  poolOffset += bytes
  return token
}

/**
 * The hash a store receives instead of a code or token: SHA-256, base64url.
 * Tokens are 256-bit random values, so an unsalted fast hash is enough to make
 * a leaked database useless while keeping lookup by hash possible.
 */
export function hashToken(token: string): string {
  return sha256(token, 'base64url')
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

// scrypt is memory-hard on purpose (16 MiB at N=16384, r=8): at most this
// many run at once, so a burst of logins or client authentications queues
// for CPU instead of growing the process by 16 MiB a request.
const SCRYPT_CONCURRENCY = 2
let running = 0
const waiting: Array<() => void> = []

async function scrypt(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  // A finished call hands its slot straight to the next waiter, so the bound holds exactly.
  if (running >= SCRYPT_CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve))
  else running++
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scryptCb(password, salt, SCRYPT_KEYLEN, { N: n, r, p, maxmem: 256 * n * r }, (err, key) => (err ? reject(err) : resolve(key)))
    })
  } finally {
    const next = waiting.shift()
    if (next === undefined) running--
    else next()
  }
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

// Decoded salts and hashes of the stored sha256 hashes last verified: a
// client's hash is decoded once, not on every token request. Bounded.
const decoded = new Map<string, { salt: Buffer; expected: Buffer }>()

function decodeSha256(salt: string, hash: string): { salt: Buffer; expected: Buffer } {
  const key = `${salt}$${hash}`
  let entry = decoded.get(key)
  if (entry === undefined) {
    if (decoded.size >= 1024) decoded.clear()
    entry = { salt: Buffer.from(salt, 'base64url'), expected: Buffer.from(hash, 'base64url') }
    decoded.set(key, entry)
  }
  return entry
}

/**
 * Verifies a secret against a hash made by {@link hashSecret}, in constant
 * time. A missing or malformed hash verifies nothing (and still spends the work).
 */
export async function verifySecret(secret: string, stored: string | null | undefined): Promise<boolean> {
  const parts = (stored ?? DUMMY_SHA256).split('$')
  const algorithm = parts[0]
  if (algorithm === 'sha256' && parts.length === 3) {
    const { salt, expected } = decodeSha256(parts[1]!, parts[2]!)
    const actual = sha256(Buffer.concat([salt, Buffer.from(secret)]), 'buffer')
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
