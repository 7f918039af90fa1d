import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto'
import { configError, type KeySource } from '@grantkit/core'

/**
 * The JWS algorithms an ID token may be signed with. `RS256` is the default
 * (OpenID Connect Core §2: "The ID Token MUST be signed using ... RS256 ...
 * unless ... other algorithms"; Discovery §3 requires it in
 * `id_token_signing_alg_values_supported`). `none` is never offered.
 */
export type IdTokenAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA'

/** The algorithms {@link OpenIDKeySet} signs with. */
export const ID_TOKEN_ALGORITHMS: readonly IdTokenAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA']

/**
 * Where a key is in its life:
 * - `next`: published in the JWK Set, not signing yet (RPs cache JWK Sets:
 *   a key must be known to them before it signs);
 * - `active`: signs new ID tokens of its algorithm (one per algorithm);
 * - `retired`: no longer signs, still published until `retiredAt` plus the
 *   key set's `retention`, so that tokens it signed stay verifiable.
 */
export type KeyStatus = 'next' | 'active' | 'retired'

/** A key given to {@link OpenIDKeySet.from}. */
export interface OpenIDKeyInput {
  /** The private key: a private JWK or a `KeyObject`. */
  readonly key: JsonWebKey | KeyObject
  readonly alg: IdTokenAlgorithm
  /** The `kid`; default: the RFC 7638 thumbprint of the public key. */
  readonly kid?: string | undefined
  /** Default `active`. */
  readonly status?: KeyStatus | undefined
  /** When a `retired` key stopped signing (it stays published `retention` seconds after). Required for `retired`. */
  readonly retiredAt?: Date | undefined
}

/** A key as {@link OpenIDKeySet.export} writes it, for persistence. */
export interface ExportedOpenIDKey {
  readonly key: JsonWebKey
  readonly alg: IdTokenAlgorithm
  readonly kid: string
  readonly status: KeyStatus
  readonly retiredAt?: string | undefined
}

/** Options of {@link OpenIDKeySet}. */
export interface OpenIDKeySetOptions {
  /**
   * Seconds a retired key stays published: at least the longest ID token
   * lifetime, so every token it signed can still be verified until it
   * expires (an expired `id_token_hint` signed with it then fails). Default 86 400.
   */
  retention?: number
  /** Milliseconds since the epoch; inject one in tests. */
  clock?: () => number
}

interface Entry {
  readonly privateKey: KeyObject
  readonly publicJwk: JsonWebKey
  readonly alg: IdTokenAlgorithm
  readonly kid: string
  status: KeyStatus
  retiredAt: Date | undefined
}

/** The key of one signature, for the ID token signer. */
export interface SigningKey {
  readonly key: KeyObject
  readonly kid: string
  readonly alg: IdTokenAlgorithm
}

function generate(alg: IdTokenAlgorithm): KeyObject {
  switch (alg) {
    case 'RS256':
    case 'PS256':
      return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    case 'EdDSA':
      return generateKeyPairSync('ed25519').privateKey
  }
}

/** Whether a key can sign with `alg` (RSA for RS256/PS256, P-256 for ES256, Ed25519 for EdDSA). */
function fits(key: KeyObject, alg: IdTokenAlgorithm): boolean {
  const type = key.asymmetricKeyType
  if (alg === 'RS256' || alg === 'PS256') return type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048
  if (alg === 'ES256') return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  return type === 'ed25519'
}

/** RFC 7638 §3 thumbprint of a public JWK (required members, lexicographic order). */
function thumbprint(jwk: JsonWebKey): string {
  const members = jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x']
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, (jwk as Record<string, unknown>)[m]])))
  return createHash('sha256').update(canonical).digest('base64url')
}

/**
 * The ID token signing keys, each with a `kid`, with rotation: register it
 * as the server's key source (the {@link OpenIDProvider} does) and its
 * public keys are served in the server's JWK Set (`jwks_uri`) on every adapter.
 *
 * Rotation (OpenID Connect Core §10.1.1: "The JWK Set document at the
 * jwks_uri SHOULD retain recently decommissioned signing keys for a
 * reasonable period of time"; RPs fetch a new JWK Set when they meet an
 * unknown `kid`):
 * 1. `addNext(alg)` publishes a new key that does not sign yet;
 * 2. once RPs had time to refresh their cache, `rotate(alg)` makes it the
 *    signer and retires the previous one, still published for `retention`
 *    seconds, until every token it signed has expired.
 *
 * Keys generated at start ({@link OpenIDKeySet.generate}) live in this
 * process only: with several processes, or across restarts, persist them
 * (`export()`, then `OpenIDKeySet.from(saved)`) so every process signs and
 * publishes the same keys.
 */
export class OpenIDKeySet implements KeySource {
  readonly retention: number
  readonly #clock: () => number
  readonly #entries: Entry[] = []

  private constructor(options: OpenIDKeySetOptions) {
    const retention = options.retention ?? 86_400
    if (!Number.isSafeInteger(retention) || retention < 0) throw configError('OpenIDKeySet: "retention" must be a number of seconds, 0 or more')
    if (options.clock !== undefined && typeof options.clock !== 'function') throw configError('OpenIDKeySet: "clock" must be a function')
    this.retention = retention
    this.#clock = options.clock ?? Date.now
  }

  /** A key set with a new active key for each algorithm (default `['RS256']`). Process-local: see the class notes. */
  static generate(algorithms: readonly IdTokenAlgorithm[] = ['RS256'], options: OpenIDKeySetOptions = {}): OpenIDKeySet {
    const set = new OpenIDKeySet(options)
    for (const alg of algorithms) set.#add(generate(alg), alg, undefined, 'active', undefined)
    return set
  }

  /** A key set of given keys (private JWKs or `KeyObject`s), e.g. read back from {@link export}. */
  static from(keys: ReadonlyArray<OpenIDKeyInput | ExportedOpenIDKey>, options: OpenIDKeySetOptions = {}): OpenIDKeySet {
    if (!Array.isArray(keys) || keys.length === 0) throw configError('OpenIDKeySet.from: expected a non-empty array of keys')
    const set = new OpenIDKeySet(options)
    for (const input of keys) {
      let key: KeyObject
      try {
        key = typeof (input.key as KeyObject).export === 'function' ? (input.key as KeyObject) : createPrivateKey({ key: input.key as JsonWebKey, format: 'jwk' })
      } catch {
        throw configError('OpenIDKeySet.from: a key is not a private key (JWK or KeyObject)')
      }
      const retiredAt = typeof input.retiredAt === 'string' ? new Date(input.retiredAt) : input.retiredAt
      set.#add(key, input.alg, input.kid, input.status ?? 'active', retiredAt)
    }
    return set
  }

  #add(key: KeyObject, alg: IdTokenAlgorithm, kid: string | undefined, status: KeyStatus, retiredAt: Date | undefined): Entry {
    if (!ID_TOKEN_ALGORITHMS.includes(alg)) throw configError(`OpenIDKeySet: unsupported algorithm ${JSON.stringify(String(alg))}`)
    if (key.type !== 'private') throw configError('OpenIDKeySet: signing keys must be private keys')
    if (!fits(key, alg)) throw configError(`OpenIDKeySet: the key does not fit ${alg}`)
    if (status !== 'next' && status !== 'active' && status !== 'retired') throw configError('OpenIDKeySet: "status" must be next, active or retired')
    if (status === 'retired' && (!(retiredAt instanceof Date) || Number.isNaN(retiredAt.getTime()))) throw configError('OpenIDKeySet: a retired key needs "retiredAt"')
    const publicJwk = createPublicKey(key).export({ format: 'jwk' })
    const id = kid ?? thumbprint(publicJwk)
    if (typeof id !== 'string' || id === '') throw configError('OpenIDKeySet: "kid" must be a non-empty string')
    if (this.#entries.some((e) => e.kid === id)) throw configError(`OpenIDKeySet: duplicate kid ${JSON.stringify(id)}`)
    if (status === 'active' && this.#entries.some((e) => e.alg === alg && e.status === 'active')) throw configError(`OpenIDKeySet: more than one active ${alg} key`)
    const entry: Entry = { privateKey: key, publicJwk, alg, kid: id, status, retiredAt: status === 'retired' ? retiredAt : undefined }
    this.#entries.push(entry)
    return entry
  }

  /** The algorithms with an active key, the first one the default. */
  algorithms(): IdTokenAlgorithm[] {
    return [...new Set(this.#entries.filter((e) => e.status === 'active').map((e) => e.alg))]
  }

  /** The key that signs `alg` now, or `null` when none does. */
  signingKey(alg: IdTokenAlgorithm): SigningKey | null {
    const entry = this.#entries.find((e) => e.alg === alg && e.status === 'active')
    return entry === undefined ? null : { key: entry.privateKey, kid: entry.kid, alg: entry.alg }
  }

  /**
   * Publishes a new key for `alg` that does not sign yet (step 1 of a
   * rotation); returns its `kid`. A `key` may be given, else one is generated.
   */
  addNext(alg: IdTokenAlgorithm, key?: KeyObject, kid?: string): string {
    if (this.#entries.some((e) => e.alg === alg && e.status === 'next')) throw configError(`OpenIDKeySet.addNext: a next ${alg} key is already published`)
    return this.#add(key ?? generate(alg), alg, kid, 'next', undefined).kid
  }

  /**
   * Makes the published next key of `alg` the signer and retires the
   * previous signer (published `retention` seconds more). A key must have
   * been published with {@link addNext} first: a key never signs before RPs
   * could see it.
   */
  rotate(alg: IdTokenAlgorithm): string {
    const next = this.#entries.find((e) => e.alg === alg && e.status === 'next')
    if (next === undefined) throw configError(`OpenIDKeySet.rotate: publish a next ${alg} key with addNext() first`)
    const now = new Date(this.#clock())
    for (const e of this.#entries) {
      if (e.alg === alg && e.status === 'active') {
        e.status = 'retired'
        e.retiredAt = now
      }
    }
    next.status = 'active'
    this.#purge()
    return next.kid
  }

  /** Drops retired keys whose retention is over. */
  #purge(): void {
    const now = this.#clock()
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const e = this.#entries[i] as Entry
      if (e.status === 'retired' && (e.retiredAt as Date).getTime() + this.retention * 1000 <= now) this.#entries.splice(i, 1)
    }
  }

  /** The public keys to publish: active, next, and retired ones within their retention (RFC 7517 §5). */
  jwks(): { keys: object[] } {
    this.#purge()
    return { keys: this.#entries.map((e) => ({ ...e.publicJwk, kid: e.kid, alg: e.alg, use: 'sig' })) }
  }

  /** The public key of a published `kid`, for verifying our own ID tokens (an `id_token_hint`). */
  verificationKey(kid: string): { key: KeyObject; alg: IdTokenAlgorithm } | null {
    this.#purge()
    const entry = this.#entries.find((e) => e.kid === kid)
    return entry === undefined ? null : { key: createPublicKey(entry.privateKey), alg: entry.alg }
  }

  /** Every key with its private part and status, to persist and read back with {@link OpenIDKeySet.from}. Keep it secret. */
  export(): ExportedOpenIDKey[] {
    this.#purge()
    return this.#entries.map((e) => ({
      key: e.privateKey.export({ format: 'jwk' }),
      alg: e.alg,
      kid: e.kid,
      status: e.status,
      ...(e.retiredAt === undefined ? {} : { retiredAt: e.retiredAt.toISOString() }),
    }))
  }
}
