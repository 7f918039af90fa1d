import { describe, expect, it } from 'vitest'
import { createClient, clientScopes, isPublicClient } from './client.js'
import { formatScope, parseScope, resolveScope } from './scope.js'
import { scryptSync } from 'node:crypto'
import { DEFAULT_SCRYPT_PARAMETERS, dummySecretHash, generateToken, hashSecret, hashToken, meetsScryptFloor, secretNeedsRehash, timingSafeEqualString, verifySecret } from './secrets.js'
import { opaqueTokens } from './token-strategy.js'

describe('secrets', () => {
  describe.each(['sha256', 'scrypt'] as const)('hashSecret / verifySecret with %s', (algorithm) => {
    it('verifies the right secret and refuses a wrong one', async () => {
      const hash = await hashSecret('s3cret: with spaces & ünïcode', algorithm)
      expect(hash.startsWith(`${algorithm}$`)).toBe(true)
      expect(hash).not.toContain('s3cret')
      expect(await verifySecret('s3cret: with spaces & ünïcode', hash)).toBe(true)
      expect(await verifySecret('s3cret: with spaces & unicode', hash)).toBe(false)
      expect(await verifySecret('', hash)).toBe(false)
    })

    it('salts: the same secret hashes differently each time', async () => {
      expect(await hashSecret('same', algorithm)).not.toBe(await hashSecret('same', algorithm))
    })
  })

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['empty', ''],
    ['an unknown algorithm', 'md5$abc$def'],
    ['a sha256 hash missing a part', 'sha256$abc'],
    ['an scrypt hash missing a part', 'scrypt$16384$8$1$salt'],
    ['an scrypt hash with a non-numeric cost', 'scrypt$x$8$1$c2FsdA$aGFzaA'],
    ['an scrypt hash with a cost that is not a power of two', 'scrypt$1000$8$1$c2FsdA$aGFzaA'],
    ['an scrypt hash with a zero cost', 'scrypt$0$8$1$c2FsdA$aGFzaA'],
    ['an scrypt hash with an excessive cost', `scrypt$${2 ** 21}$8$1$c2FsdA$aGFzaA`],
  ])('verifySecret answers false (never throws) for a hash that is %s', async (_, stored) => {
    await expect(verifySecret('anything', stored)).resolves.toBe(false)
  })

  it('the dummy hash used for absent secrets verifies nothing, not even its own pre-image', async () => {
    await expect(verifySecret('x', null)).resolves.toBe(false)
  })

  it('generateToken makes at least 256-bit base64url strings (≥ 43 characters), all different', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => generateToken()))
    expect(tokens.size).toBe(100)
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43,}$/)
    expect(generateToken(16)).toMatch(/^[A-Za-z0-9_-]{22}$/)
  })

  it('hashToken is a deterministic SHA-256 in base64url', () => {
    expect(hashToken('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
    expect(hashToken('abc')).toBe(hashToken('abc'))
  })

  it('timingSafeEqualString compares strings of any length', () => {
    expect(timingSafeEqualString('abc', 'abc')).toBe(true)
    expect(timingSafeEqualString('abc', 'abd')).toBe(false)
    expect(timingSafeEqualString('abc', 'abcd')).toBe(false)
  })
})

describe('scrypt cost: configurable, never below the OWASP Password Storage Cheat Sheet minimum', () => {
  it('defaults to N=2^14, r=8, p=5 (the minimum in its 16 MiB form) and writes it into the hash', async () => {
    expect(DEFAULT_SCRYPT_PARAMETERS).toEqual({ N: 2 ** 14, r: 8, p: 5 })
    expect(meetsScryptFloor(DEFAULT_SCRYPT_PARAMETERS)).toBe(true)
    expect(await hashSecret('pw')).toMatch(/^scrypt\$16384\$8\$5\$/)
  })

  it.each([
    [2 ** 17, 8, 1],
    [2 ** 16, 8, 2],
    [2 ** 15, 8, 3],
    [2 ** 14, 8, 5],
    [2 ** 13, 8, 10],
    [2 ** 18, 16, 1],
  ])('accepts N=%i, r=%i, p=%i', (N, r, p) => {
    expect(meetsScryptFloor({ N, r, p })).toBe(true)
  })

  it('hashes with the cost it is given, and verifies with the cost the hash names', async () => {
    const hash = await hashSecret('pw', 'scrypt', { scrypt: { N: 2 ** 13, r: 8, p: 10 } })
    expect(hash).toMatch(/^scrypt\$8192\$8\$10\$/)
    expect(await verifySecret('pw', hash)).toBe(true)
    expect(await verifySecret('pW', hash)).toBe(false)
  })

  it.each([
    ['the former default N=2^14, p=1', { N: 2 ** 14, r: 8, p: 1 }],
    ['N=2^16 with p=1', { N: 2 ** 16, r: 8, p: 1 }],
    ['N=2^17 with r=4', { N: 2 ** 17, r: 4, p: 1 }],
    ['N=2^12, whatever p', { N: 2 ** 12, r: 8, p: 16 }],
    ['an N that is not a power of two', { N: 100_000, r: 8, p: 2 }],
    ['an N above 2^20', { N: 2 ** 21, r: 8, p: 1 }],
    ['a fractional p', { N: 2 ** 17, r: 8, p: 1.5 }],
  ])('refuses %s with a TypeError', async (_, scrypt) => {
    expect(meetsScryptFloor(scrypt)).toBe(false)
    await expect(hashSecret('pw', 'scrypt', { scrypt })).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' })
    expect(() => dummySecretHash(scrypt)).toThrow(TypeError)
  })

  it('still verifies a hash made below the floor by an earlier version, and says it needs rehashing', async () => {
    const salt = Buffer.from('0123456789abcdef')
    const legacy = `scrypt$16384$8$1$${salt.toString('base64url')}$${scryptSync('pw', salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64url')}`
    expect(await verifySecret('pw', legacy)).toBe(true)
    expect(secretNeedsRehash(legacy)).toBe(true)
    expect(secretNeedsRehash(await hashSecret('pw'))).toBe(false)
    expect(secretNeedsRehash(await hashSecret('pw', 'sha256'))).toBe(true)
    expect(secretNeedsRehash(await hashSecret('pw'), { N: 2 ** 17, r: 8, p: 1 })).toBe(true)
  })

  it('dummySecretHash is one scrypt hash per cost, at that cost, that no secret verifies', async () => {
    const dummy = await dummySecretHash()
    expect(dummy).toMatch(/^scrypt\$16384\$8\$5\$/)
    expect(await dummySecretHash()).toBe(dummy)
    expect(await dummySecretHash({ N: 2 ** 13, r: 8, p: 10 })).toMatch(/^scrypt\$8192\$8\$10\$/)
    await expect(verifySecret('', dummy)).resolves.toBe(false)
  })
})

describe('createClient (RFC 6749 §2, RFC 7591 §2)', () => {
  it('returns the clear secret once and never puts it inside the record', async () => {
    const { client, clientSecret } = await createClient({ clientName: 'App', redirectUris: ['https://app.example/cb'] })
    expect(clientSecret).toMatch(/^[A-Za-z0-9_-]{43,}$/)
    expect(JSON.stringify(client)).not.toContain(clientSecret)
    expect(client.clientSecretHash).toMatch(/^sha256\$/)
    expect(await verifySecret(clientSecret!, client.clientSecretHash)).toBe(true)
    expect(client).toMatchObject({ tokenEndpointAuthMethod: 'client_secret_basic', grantTypes: ['authorization_code'], responseTypes: ['code'], scope: '' })
  })

  it('hashes a secret chosen by a person with scrypt by default', async () => {
    const { client, clientSecret } = await createClient({ clientId: 'c', clientSecret: 'chosen by a human' })
    expect(clientSecret).toBe('chosen by a human')
    expect(client.clientSecretHash).toMatch(/^scrypt\$/)
    expect(JSON.stringify(client)).not.toContain('chosen by a human')
  })

  it('makes a public client without a secret', async () => {
    const { client, clientSecret } = await createClient({ tokenEndpointAuthMethod: 'none', clientSecret: 'ignored' })
    expect(clientSecret).toBeNull()
    expect(client.clientSecretHash).toBeNull()
    expect(isPublicClient(client)).toBe(true)
  })

  it('gives no response types to a client that lists only non-redirect grant types', async () => {
    const { client } = await createClient({ grantTypes: ['client_credentials'], scope: 'a  b' })
    expect(client.responseTypes).toEqual([])
    expect(clientScopes(client)).toEqual(['a', 'b'])
  })
})

describe('scope (RFC 6749 §3.3)', () => {
  it('parses space-delimited, case-sensitive tokens, dropping duplicates', () => {
    expect(parseScope('read  Write read')).toEqual(['read', 'Write'])
    expect(parseScope(undefined)).toEqual([])
    expect(formatScope(['a', 'b'])).toBe('a b')
  })

  it.each(['read "x"', 'a\\b', 'tab\there', 'é'])('rejects %j with invalid_scope', (scope) => {
    expect(() => parseScope(scope)).toThrow(expect.objectContaining({ code: 'invalid_scope' }))
  })

  it('resolves an omitted scope to the allowed default and refuses anything beyond it', () => {
    expect(resolveScope(undefined, ['a', 'b'])).toEqual(['a', 'b'])
    expect(resolveScope('b', ['a', 'b'])).toEqual(['b'])
    expect(() => resolveScope('c', ['a', 'b'])).toThrow(expect.objectContaining({ code: 'invalid_scope' }))
  })
})

describe('opaqueTokens', () => {
  it('makes distinct 256-bit tokens and refuses fewer than 32 bytes', async () => {
    const strategy = opaqueTokens()
    const context = {} as Parameters<typeof strategy.generateAccessToken>[0]
    expect(await strategy.generateAccessToken(context)).not.toBe(await strategy.generateAccessToken(context))
    expect(await strategy.generateRefreshToken(context)).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(() => opaqueTokens({ bytes: 16 })).toThrow(TypeError)
  })
})
