import * as crypto from 'node:crypto'
import { createHash, randomBytes, randomFillSync, scrypt as scryptCb, timingSafeEqual } from 'node:crypto'
import { configError } from './config-error.js'

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

/**
 * The scrypt cost of a hash made by {@link hashSecret} (RFC 7914 §2): `N`
 * (CPU/memory cost, a power of two), `r` (block size) and `p`
 * (parallelization). Memory is about 128 · N · r bytes per hash.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7914#section-2
 */
export interface ScryptParameters {
  readonly N: number
  readonly r: number
  readonly p: number
}

/**
 * The least scrypt cost {@link hashSecret} accepts: OWASP's Password Storage
 * Cheat Sheet asks for N = 2^17 with r = 8 and p = 1, or an equivalent that
 * trades memory for CPU (2^16 with p = 2, 2^15 with p = 3, 2^14 with p = 5,
 * 2^13 with p = 10). For each N, the least p; r must be at least 8.
 *
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#scrypt
 */
const OWASP_MIN_P: ReadonlyMap<number, number> = new Map([
  [2 ** 13, 10],
  [2 ** 14, 5],
  [2 ** 15, 3],
  [2 ** 16, 2],
])

/**
 * The default scrypt cost: N = 2^14, r = 8, p = 5, OWASP's minimum in its
 * 16 MiB form, so that two verifications at once (the bound below) stay at
 * 32 MiB; the work is five sequential passes instead of one larger one.
 */
export const DEFAULT_SCRYPT_PARAMETERS: ScryptParameters = Object.freeze({ N: 2 ** 14, r: 8, p: 5 })

const MAX_SCRYPT_N = 2 ** 20

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 1 && n <= MAX_SCRYPT_N && (n & (n - 1)) === 0
}

/** Whether scrypt parameters reach the OWASP floor ({@link DEFAULT_SCRYPT_PARAMETERS} does). */
export function meetsScryptFloor({ N, r, p }: ScryptParameters): boolean {
  if (!isPowerOfTwo(N) || !Number.isInteger(r) || !Number.isInteger(p) || r < 8 || r > 32 || p < 1 || p > 16) return false
  if (N >= 2 ** 17) return true
  const least = OWASP_MIN_P.get(N)
  return least !== undefined && p >= least
}

function checkScryptParameters(parameters: ScryptParameters | undefined, name: string): ScryptParameters {
  if (parameters === undefined) return DEFAULT_SCRYPT_PARAMETERS
  if (typeof parameters !== 'object' || parameters === null || !meetsScryptFloor(parameters)) {
    throw configError(
      `${name}: scrypt parameters must be at least OWASP's minimum (N=2^17, r=8, p=1, or N=2^16/p=2, 2^15/p=3, 2^14/p=5, 2^13/p=10; N a power of two up to 2^20, r 8 to 32, p up to 16)`,
    )
  }
  return { N: parameters.N, r: parameters.r, p: parameters.p }
}

/** Options of {@link hashSecret}. */
export interface HashSecretOptions {
  /** The scrypt cost; never below OWASP's minimum. Default {@link DEFAULT_SCRYPT_PARAMETERS}. */
  readonly scrypt?: ScryptParameters
}

const SCRYPT_KEYLEN = 32

// scrypt is memory-hard on purpose (16 MiB at N=16384, r=8): at most this
// many run at once, so a burst of logins or client authentications queues
// for CPU instead of growing the process by 16 MiB a request.
const SCRYPT_CONCURRENCY = 2
let running = 0
const waiting: Array<() => void> = []

async function scrypt(password: string, salt: Buffer, { N, r, p }: ScryptParameters): Promise<Buffer> {
  // A finished call hands its slot straight to the next waiter, so the bound holds exactly.
  if (running >= SCRYPT_CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve))
  else running++
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scryptCb(password, salt, SCRYPT_KEYLEN, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? reject(err) : resolve(key)))
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
 * but latency on every token request. `options.scrypt` raises the cost;
 * parameters below OWASP's minimum are a `TypeError`.
 */
export async function hashSecret(secret: string, algorithm: SecretHashAlgorithm = 'scrypt', options: HashSecretOptions = {}): Promise<string> {
  const salt = randomBytes(16)
  if (algorithm === 'sha256') {
    const hash = createHash('sha256').update(salt).update(secret).digest('base64url')
    return `sha256$${salt.toString('base64url')}$${hash}`
  }
  const parameters = checkScryptParameters(options.scrypt, 'hashSecret')
  const key = await scrypt(secret, salt, parameters)
  return `scrypt$${parameters.N}$${parameters.r}$${parameters.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

/**
 * Whether a stored hash should be replaced at the next successful login:
 * it is not scrypt, or its cost is below `parameters` (default
 * {@link DEFAULT_SCRYPT_PARAMETERS}), e.g. a hash made before the default
 * was raised. Call it only after {@link verifySecret} said yes, and store
 * `hashSecret(secret, 'scrypt', { scrypt: parameters })`.
 */
export function secretNeedsRehash(stored: string, parameters: ScryptParameters = DEFAULT_SCRYPT_PARAMETERS): boolean {
  const parts = stored.split('$')
  if (parts[0] !== 'scrypt' || parts.length !== 6) return true
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
  return N < parameters.N || r < parameters.r || p < parameters.p
}

// A fixed hash to compare against when there is nothing to compare, so that an
// unknown client or user takes as long as a wrong secret.
const DUMMY_SHA256 = `sha256$${Buffer.alloc(16).toString('base64url')}$${createHash('sha256').update('x').digest('base64url')}`

// One scrypt hash of a random secret per parameter set, made on first use.
const dummies = new Map<string, Promise<string>>()

/**
 * An scrypt hash of a random secret nobody knows, with `parameters` (default
 * {@link DEFAULT_SCRYPT_PARAMETERS}), made once per parameter set. Verify
 * against it when there is no stored hash (an unknown client or user), so
 * that the failure runs the same scrypt as a wrong secret and timing does
 * not tell which ids exist. {@link verifySecret} against it is always false.
 */
export function dummySecretHash(parameters?: ScryptParameters): Promise<string> {
  const checked = checkScryptParameters(parameters, 'dummySecretHash')
  const key = `${checked.N}$${checked.r}$${checked.p}`
  let hash = dummies.get(key)
  if (hash === undefined) {
    // Bounded: an application uses one or two parameter sets.
    if (dummies.size >= 16) dummies.clear()
    hash = hashSecret(randomBytes(32).toString('base64url'), 'scrypt', { scrypt: checked })
    dummies.set(key, hash)
  }
  return hash
}

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
    const actual = createHash('sha256').update(salt).update(secret, 'utf8').digest()
    const ok = expected.length === actual.length && timingSafeEqual(expected, actual)
    return ok && stored != null
  }
  if (algorithm === 'scrypt' && parts.length === 6) {
    const N = Number(parts[1])
    const r = Number(parts[2])
    const p = Number(parts[3])
    // N must be a power of two above 1 (Node throws otherwise): a malformed hash verifies nothing.
    // Hashes below today's floor (made by an older version) still verify; see secretNeedsRehash.
    if (!isPowerOfTwo(N) || !Number.isInteger(r) || !Number.isInteger(p) || r < 1 || r > 32 || p < 1 || p > 16) return false
    const expected = Buffer.from(parts[5]!, 'base64url')
    let actual: Buffer
    try {
      actual = await scrypt(secret, Buffer.from(parts[4]!, 'base64url'), { N, r, p })
    } catch {
      return false
    }
    return expected.length === actual.length && timingSafeEqual(expected, actual)
  }
  return false
}
