import { generateToken, hashToken, storeHasCapability, type AuthorizationCodeRecord, type DeviceCodeRecord, type FullStore, type TokenRecord } from '@grantkit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pgHarness, pgSkipReason, sqliteHarness, type Harness } from './testing.js'

// The one SQL store body, through both public dialect stores.
const dialects = [
  { name: 'sqliteStore', harness: sqliteHarness, skip: false },
  { name: 'pgStore', harness: () => pgHarness(), skip: pgSkipReason !== undefined && !process.env['CI'] },
] as const

const now = new Date('2030-01-01T00:00:00.000Z')
const at = (ms: number) => new Date(now.getTime() + ms)
const invalid = new Date(Number.NaN)
// What `new Date(exp * 1000)` gives for a far-future JWT `exp`: beyond ±8.64e15 ms.
const farFutureExp = new Date(9e15 * 1000)

const code = (overrides: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord => ({
  codeHash: hashToken(generateToken()),
  clientId: 'c',
  userId: 'u',
  redirectUri: 'https://client.example/cb',
  scope: 'read',
  familyId: `f-${generateToken(6)}`,
  codeChallenge: null,
  codeChallengeMethod: null,
  createdAt: now,
  expiresAt: at(60_000),
  consumedAt: null,
  ...overrides,
})

const token = (overrides: Partial<TokenRecord> = {}): TokenRecord => ({
  tokenHash: hashToken(generateToken()),
  type: 'refresh_token',
  clientId: 'c',
  userId: 'u',
  scope: 'read',
  familyId: `f-${generateToken(6)}`,
  issuedAt: now,
  expiresAt: at(60_000),
  revokedAt: null,
  rotatedAt: null,
  ...overrides,
})

const device = (overrides: Partial<DeviceCodeRecord> = {}): DeviceCodeRecord => ({
  deviceCodeHash: hashToken(generateToken()),
  userCodeHash: hashToken(generateToken()),
  clientId: 'c',
  scope: 'read',
  status: 'pending',
  userId: null,
  familyId: `f-${generateToken(6)}`,
  interval: 5,
  lastPolledAt: null,
  createdAt: now,
  expiresAt: at(600_000),
  ...overrides,
})

describe.each(dialects.filter((d) => !d.skip))('$name', ({ harness }) => {
  let h: Harness<unknown>
  let store: FullStore
  beforeAll(async () => {
    h = await harness()
    store = h.store
  })
  afterAll(async () => {
    await h?.close()
  })

  describe('findAuthorizationCode (RFC 6749 §4.1.2: the token endpoint reads the code before it consumes it)', () => {
    it('finds an unused code with every field, and leaves it unused', async () => {
      const saved = code({ codeChallenge: 'x'.repeat(43), codeChallengeMethod: 'S256', extra: { nonce: 'n' } })
      await store.saveAuthorizationCode(saved)
      const before = await h.dumpRaw()
      expect(await store.findAuthorizationCode(saved.codeHash, now)).toEqual(saved)
      expect(await store.findAuthorizationCode(saved.codeHash, now)).toEqual(saved)
      expect(await h.dumpRaw()).toBe(before)
      expect(await store.consumeAuthorizationCode(saved.codeHash, now)).toEqual({ consumed: true, code: saved })
    })

    it('finds a consumed code, with when it was consumed', async () => {
      const saved = code()
      await store.saveAuthorizationCode(saved)
      await store.consumeAuthorizationCode(saved.codeHash, at(1_000))
      expect(await store.findAuthorizationCode(saved.codeHash, at(2_000))).toEqual({ ...saved, consumedAt: at(1_000) })
    })

    it('answers null for an unknown code', async () => {
      expect(await store.findAuthorizationCode(hashToken(generateToken()), now)).toBeNull()
    })

    it('answers null once expiresAt <= now, consumed or not, and finds it the millisecond before', async () => {
      const unused = code()
      const consumed = code()
      await store.saveAuthorizationCode(unused)
      await store.saveAuthorizationCode(consumed)
      await store.consumeAuthorizationCode(consumed.codeHash, now)
      for (const saved of [unused, consumed]) {
        expect(await store.findAuthorizationCode(saved.codeHash, at(59_999))).not.toBeNull()
        expect(await store.findAuthorizationCode(saved.codeHash, saved.expiresAt)).toBeNull()
        expect(await store.findAuthorizationCode(saved.codeHash, at(120_000))).toBeNull()
      }
    })
  })

  describe('device authorizations (RFC 8628)', () => {
    it('has the deviceCodes capability, so the contract suite runs its device authorization tests', () => {
      expect(storeHasCapability(store, 'deviceCodes')).toBe(true)
    })

    it('loses no slow_down among 50 concurrent polls: each one too soon adds 5 seconds (RFC 8628 §3.5)', async () => {
      const saved = device()
      await store.saveDeviceCode(saved)
      expect((await store.pollDeviceCode(saved.deviceCodeHash, now))?.slowDown).toBe(false)
      const results = await Promise.all(Array.from({ length: 50 }, () => store.pollDeviceCode(saved.deviceCodeHash, at(1_000))))
      expect(results.every((r) => r?.slowDown === true)).toBe(true)
      // One statement per poll, serialised on the row: every poll saw the one before it.
      expect(results.map((r) => r?.record.interval).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 50 }, (_, i) => 10 + 5 * i))
      expect((await store.findDeviceCodeByUserCode(saved.userCodeHash, at(2_000)))?.interval).toBe(255)
    })

    it('keeps the slow_down flag out of the record: a poll on time after a slow_down answers slowDown:false', async () => {
      const saved = device()
      await store.saveDeviceCode(saved)
      await store.pollDeviceCode(saved.deviceCodeHash, now)
      expect(await store.pollDeviceCode(saved.deviceCodeHash, at(1_000))).toEqual({ slowDown: true, record: { ...saved, interval: 10, lastPolledAt: at(1_000) } })
      expect(await store.pollDeviceCode(saved.deviceCodeHash, at(11_000))).toEqual({ slowDown: false, record: { ...saved, interval: 10, lastPolledAt: at(11_000) } })
      expect(await store.findDeviceCodeByUserCode(saved.userCodeHash, at(12_000))).toEqual({ ...saved, interval: 10, lastPolledAt: at(11_000) })
    })
  })

  it('saves nothing, and succeeds, for an empty list of tokens', async () => {
    const before = await h.dumpRaw()
    await expect(store.saveTokens([])).resolves.toBeUndefined()
    expect(await h.dumpRaw()).toBe(before)
  })

  describe('invalid dates (NaN time) are refused with a TypeError before anything is written', () => {
    let liveCode: AuthorizationCodeRecord
    let liveToken: TokenRecord
    const key = `jti-${generateToken()}`
    const pendingDevice = device()
    const approvedDevice = device()
    beforeAll(async () => {
      await store.saveDeviceCode(pendingDevice)
      await store.saveDeviceCode(approvedDevice)
      await store.decideDeviceCode(approvedDevice.userCodeHash, { approved: true, userId: 'u' }, now)
      // Usable records, so that each call below would write if it got through.
      liveCode = code()
      liveToken = token()
      await store.saveAuthorizationCode(liveCode)
      await store.saveTokens([liveToken])
      await store.markUsed(key, at(-1_000), at(-2_000))
    })

    const calls: [string, (s: FullStore) => Promise<unknown>][] = [
      ['saveAuthorizationCode, createdAt', (s) => s.saveAuthorizationCode(code({ createdAt: invalid }))],
      ['saveAuthorizationCode, expiresAt', (s) => s.saveAuthorizationCode(code({ expiresAt: invalid }))],
      ['saveAuthorizationCode, consumedAt', (s) => s.saveAuthorizationCode(code({ consumedAt: invalid }))],
      ['findAuthorizationCode, now', (s) => s.findAuthorizationCode(liveCode.codeHash, invalid)],
      ['consumeAuthorizationCode, now', (s) => s.consumeAuthorizationCode(liveCode.codeHash, invalid)],
      ['saveTokens, issuedAt of the second token', (s) => s.saveTokens([token(), token({ issuedAt: invalid })])],
      ['saveTokens, expiresAt from a far-future JWT exp', (s) => s.saveTokens([token({ type: 'access_token', expiresAt: farFutureExp }), token()])],
      ['saveTokens, revokedAt', (s) => s.saveTokens([token({ revokedAt: invalid })])],
      ['saveTokens, rotatedAt', (s) => s.saveTokens([token({ rotatedAt: invalid })])],
      ['rotateRefreshToken, now', (s) => s.rotateRefreshToken(liveToken.tokenHash, invalid)],
      ['revokeToken, now', (s) => s.revokeToken(liveToken.tokenHash, invalid)],
      ['revokeTokenFamily, now', (s) => s.revokeTokenFamily(liveToken.familyId, invalid)],
      ['markUsed, expiresAt', (s) => s.markUsed(key, invalid, now)],
      ['markUsed, now', (s) => s.markUsed(key, at(60_000), invalid)],
      ['saveDeviceCode, createdAt', (s) => s.saveDeviceCode(device({ createdAt: invalid }))],
      ['saveDeviceCode, expiresAt from a far-future exp', (s) => s.saveDeviceCode(device({ expiresAt: farFutureExp }))],
      ['saveDeviceCode, lastPolledAt', (s) => s.saveDeviceCode(device({ lastPolledAt: invalid }))],
      ['findDeviceCodeByUserCode, now', (s) => s.findDeviceCodeByUserCode(pendingDevice.userCodeHash, invalid)],
      ['decideDeviceCode, now', (s) => s.decideDeviceCode(pendingDevice.userCodeHash, { approved: false }, invalid)],
      ['pollDeviceCode, now', (s) => s.pollDeviceCode(pendingDevice.deviceCodeHash, invalid)],
      ['redeemDeviceCode, now', (s) => s.redeemDeviceCode(approvedDevice.deviceCodeHash, invalid)],
      ['purgeExpired, now', (s) => s.purgeExpired(invalid)],
    ]
    it.each(calls)('%s', async (title, call) => {
      const before = await h.dumpRaw()
      const [method, field] = title.split(', ') as [string, string]
      const error = await call(store).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(TypeError)
      expect((error as TypeError).message).toContain(method)
      expect((error as TypeError).message).toContain(`"${field.split(' ')[0]}"`)
      expect(await h.dumpRaw()).toBe(before)
    })

    it('fails only the save with an invalid date among saves of one event-loop turn', async () => {
      const good = [token(), token(), token()]
      const results = await Promise.allSettled([store.saveTokens([good[0]!]), store.saveTokens([token({ expiresAt: invalid })]), store.saveTokens([good[1]!, good[2]!])])
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError)
      for (const saved of good) expect(await store.findToken(saved.tokenHash)).toEqual(saved)
    })
  })
})
