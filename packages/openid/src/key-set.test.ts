import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { SignJWT, importJWK, jwtVerify } from 'jose'
import { describe, expect, it } from 'vitest'
import { testKeys } from './internal/testing.js'
import { OpenIDKeySet } from './key-set.js'

const kids = (set: OpenIDKeySet) => set.jwks().keys.map((k) => (k as { kid: string }).kid)

describe('OpenIDKeySet: ID token signing keys with kids and rotation (Core §10.1.1)', () => {
  it('publishes public keys only, each with kid, alg and use=sig (RFC 7517 §4)', () => {
    const set = testKeys()
    const { keys } = set.jwks()
    expect(keys.map((k) => (k as { alg: string }).alg).sort()).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256'])
    for (const key of keys as Array<Record<string, unknown>>) {
      expect(key).toMatchObject({ use: 'sig', kid: expect.any(String) })
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(secret)
    }
    expect(new Set(kids(set)).size).toBe(4)
  })

  it('names a key by its RFC 7638 thumbprint when no kid is given', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const set = OpenIDKeySet.from([{ key: privateKey, alg: 'ES256' }])
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
    const { calculateJwkThumbprint } = await import('jose')
    expect(kids(set)).toEqual([await calculateJwkThumbprint(jwk as Parameters<typeof calculateJwkThumbprint>[0])])
  })

  it('signs with the active key; a next key is published before it signs, the old one stays published for the retention', async () => {
    let now = 1_000_000_000_000
    const set = OpenIDKeySet.from(testKeys(['RS256']).export(), { clock: () => now, retention: 3600 })
    const first = set.signingKey('RS256')?.kid as string
    const next = set.addNext('RS256')
    expect(kids(set)).toEqual([first, next])
    expect(set.signingKey('RS256')?.kid).toBe(first)
    expect(set.rotate('RS256')).toBe(next)
    expect(set.signingKey('RS256')?.kid).toBe(next)
    now += 3599 * 1000
    expect(kids(set)).toEqual([first, next])
    expect(set.verificationKey(first)).not.toBeNull()
    now += 1000
    expect(kids(set)).toEqual([next])
    expect(set.verificationKey(first)).toBeNull()
  })

  it('refuses to rotate to a key that was never published', () => {
    const set = OpenIDKeySet.from(testKeys(['RS256']).export())
    expect(() => set.rotate('RS256')).toThrow(/addNext/)
  })

  it('round-trips through export() and from(), so several processes share the keys', async () => {
    const set = OpenIDKeySet.from(testKeys(['RS256', 'ES256']).export())
    set.addNext('ES256')
    const copy = OpenIDKeySet.from(set.export())
    expect(copy.jwks()).toEqual(set.jwks())
    const signer = set.signingKey('ES256')
    if (signer === null) throw new Error('no ES256 key')
    const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid: signer.kid }).sign(signer.key)
    const published = copy.jwks().keys.find((k) => (k as { kid: string }).kid === signer.kid) as Parameters<typeof importJWK>[0]
    await expect(jwtVerify(token, await importJWK(published, 'ES256'))).resolves.toBeTruthy()
  })

  it.each([
    ['an empty list', () => OpenIDKeySet.from([])],
    ['a public key', () => OpenIDKeySet.from([{ key: createPublicKey(generateKeyPairSync('ed25519').privateKey), alg: 'EdDSA' }])],
    ['a key that does not fit its alg', () => OpenIDKeySet.from([{ key: generateKeyPairSync('ed25519').privateKey, alg: 'RS256' }])],
    ['an RSA key under 2048 bits', () => OpenIDKeySet.from([{ key: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey, alg: 'RS256' }])],
    ['an unsupported alg', () => OpenIDKeySet.from([{ key: generateKeyPairSync('ed25519').privateKey, alg: 'none' as 'EdDSA' }])],
    ['two active keys of one alg', () => OpenIDKeySet.from([{ key: generateKeyPairSync('ed25519').privateKey, alg: 'EdDSA' }, { key: generateKeyPairSync('ed25519').privateKey, alg: 'EdDSA' }])],
    ['a duplicate kid', () => OpenIDKeySet.from([{ key: generateKeyPairSync('ed25519').privateKey, alg: 'EdDSA', kid: 'k' }, { key: generateKeyPairSync('ed25519').privateKey, alg: 'EdDSA', kid: 'k', status: 'next' }])],
    ['a retired key without retiredAt', () => OpenIDKeySet.from([{ key: generateKeyPairSync('ed25519').privateKey, alg: 'EdDSA', status: 'retired' }])],
    ['a negative retention', () => OpenIDKeySet.generate(['EdDSA'], { retention: -1 })],
    ['a JWK that is not a key', () => OpenIDKeySet.from([{ key: { kty: 'oops' }, alg: 'EdDSA' }])],
  ])('refuses %s with a TypeError at configuration', (_case, build) => {
    expect(build).toThrow(TypeError)
  })
})
