import { AuthorizationServer, memoryStore, type GrantUser } from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { memoryAttemptLimiter, type AttemptLimiter } from './attempt-limiter.js'
import { deviceVerification } from './device-verification.js'
import { ALICE, CLIENTS, ISSUER, T0, deviceStores, setupDevice, type OpenDeviceStore } from './internal/testing.js'

const KEY = { key: 'session-1' }
const BOB = { id: 'user-bob' }
/** A well-formed user code no authorization has (codes are drawn from consonants only). */
const WRONG = 'AAAA-AAAA'

describe.each(await deviceStores())('deviceVerification, the user step (RFC 8628 §3.3) on the %s', (_storeName, openStore: OpenDeviceStore) => {
  const setup = (options?: Parameters<typeof setupDevice>[1]) => setupDevice(openStore, options)

  describe('lookup', () => {
    it('answers the client, the scopes asked for, the canonical user code and the expiry', async () => {
      const { start, verification } = await setup()
      const body = await start(CLIENTS.tv.clientId, 'profile read')
      const found = await verification.lookup(body.user_code, KEY)
      expect(found).toMatchObject({ ok: true, scopes: ['profile', 'read'], userCode: body.user_code, expiresAt: new Date(T0 + 600_000) })
      expect(found.ok && found.client.clientId).toBe(CLIENTS.tv.clientId)
    })

    it.each([
      ['in lower case', (code: string) => code.toLowerCase()],
      ['without the dash', (code: string) => code.replace('-', '')],
      ['with spaces instead of the dash', (code: string) => code.replace('-', ' ')],
      ['with spaces around and between', (code: string) => ` ${code.split('').join(' ')} `],
      ['with extra dashes', (code: string) => code.replace('-', '--').split('').join('-')],
      ['in mixed case without the dash', (code: string) => code.replace('-', '').replace(/^(..)/, (m) => m.toLowerCase())],
    ])('finds the code typed %s (RFC 8628 §6.1)', async (_case, typed) => {
      const { start, verification } = await setup()
      const body = await start()
      expect(await verification.lookup(typed(body.user_code), KEY)).toMatchObject({ ok: true, userCode: body.user_code })
    })

    it.each([
      ['an unknown code', WRONG],
      ['an empty entry', ''],
      ['dashes only', '----'],
      ['an entry over 64 characters', 'B'.repeat(65)],
      ['an entry with a NUL', 'BCDF\u0000GHJK'],
    ])('answers invalid for %s', async (_case, entry) => {
      const { start, verification } = await setup()
      await start()
      expect(await verification.lookup(entry, KEY)).toEqual({ ok: false, error: 'invalid' })
    })

    it('answers invalid once the code expired: the store forgets it (RFC 8628 §3.2 expires_in)', async () => {
      const { start, verification, clock } = await setup()
      const body = await start()
      clock.advance(600)
      expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'invalid' })
    })

    it('answers expired when the store still returns an expired authorization', async () => {
      const { start, verification, clock } = await setup({
        wrap: (store) => ({ ...store, findDeviceCodeByUserCode: (hash) => store.findDeviceCodeByUserCode(hash, new Date(T0)) }),
      })
      const body = await start()
      clock.advance(600)
      expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'expired' })
    })

    it('answers invalid when the client was deleted since', async () => {
      const { start, verification, store } = await setup()
      const body = await start()
      await store.deleteClient(CLIENTS.tv.clientId)
      expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'invalid' })
    })

    it('changes nothing', async () => {
      const { start, verification, poll } = await setup()
      const body = await start()
      await verification.lookup(body.user_code, KEY)
      await verification.lookup(body.user_code, KEY)
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'authorization_pending' })
    })
  })

  describe('approve', () => {
    it('approves for the user: the device’s next poll gets tokens for that user (§3.5)', async () => {
      const { start, verification, poll, store } = await setup()
      const body = await start()
      const approved = await verification.approve(body.user_code.toLowerCase(), ALICE, KEY)
      expect(approved).toMatchObject({ ok: true, scopes: ['profile', 'read', 'write'] })
      expect(approved.ok && approved.client.clientId).toBe(CLIENTS.tv.clientId)
      const response = await poll(body.device_code)
      expect(response.status).toBe(200)
      const access = store.snapshot().tokens.find((t) => t.type === 'access_token')
      expect(access).toMatchObject({ userId: ALICE.id, scope: 'profile read write' })
    })

    it('grants a subset of the scopes asked for when the app passes one', async () => {
      const { start, verification, poll } = await setup()
      const body = await start()
      expect(await verification.approve(body.user_code, ALICE, { key: 'k', scopes: ['read', 'read'] })).toMatchObject({ ok: true, scopes: ['read'] })
      expect((await poll(body.device_code)).body).toMatchObject({ scope: 'read' })
    })

    it('refuses with a TypeError a scope that was not asked for (the app’s mistake), and leaves the code pending', async () => {
      const { start, verification } = await setup()
      const body = await start(CLIENTS.tv.clientId, 'read')
      await expect(verification.approve(body.user_code, ALICE, { key: 'k', scopes: ['write'] })).rejects.toThrow(TypeError)
      expect(await verification.lookup(body.user_code, KEY)).toMatchObject({ ok: true })
    })

    it.each([
      ['no user', undefined],
      ['a user without id', {}],
      ['a user with an empty id', { id: '' }],
    ])('throws a TypeError for %s', async (_case, user) => {
      const { start, verification } = await setup()
      const body = await start()
      await expect(verification.approve(body.user_code, user as never, KEY)).rejects.toThrow(TypeError)
    })

    it('answers invalid for an unknown code', async () => {
      const { verification } = await setup()
      expect(await verification.approve(WRONG, ALICE, KEY)).toEqual({ ok: false, error: 'invalid' })
    })

    it('answers invalid after the code expired, and the device gets expired_token', async () => {
      const { start, verification, poll, clock } = await setup()
      const body = await start()
      clock.advance(600)
      expect(await verification.approve(body.user_code, ALICE, KEY)).toEqual({ ok: false, error: 'invalid' })
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'expired_token' })
    })
  })

  describe('deny', () => {
    it('denies: the device’s next poll gets access_denied (§3.5)', async () => {
      const { start, verification, poll } = await setup()
      const body = await start()
      expect(await verification.deny(body.user_code, KEY)).toEqual({ ok: true })
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'access_denied' })
    })

    it('answers invalid for an unknown code', async () => {
      const { verification } = await setup()
      expect(await verification.deny(WRONG, KEY)).toEqual({ ok: false, error: 'invalid' })
    })
  })

  describe('a user code is single use', () => {
    it.each([
      ['approve', 'lookup'],
      ['approve', 'approve'],
      ['approve', 'deny'],
      ['deny', 'approve'],
      ['deny', 'deny'],
      ['deny', 'lookup'],
    ] as const)('after %s, answers used to %s', async (first, then) => {
      const { start, verification } = await setup()
      const body = await start()
      const call = (what: 'lookup' | 'approve' | 'deny', user: GrantUser = ALICE) =>
        what === 'lookup' ? verification.lookup(body.user_code, KEY) : what === 'approve' ? verification.approve(body.user_code, user, KEY) : verification.deny(body.user_code, KEY)
      expect(await call(first)).toMatchObject({ ok: true })
      expect(await call(then, BOB)).toEqual({ ok: false, error: 'used' })
    })

    it('lets exactly one of concurrent approvals and denials win; the others answer used', async () => {
      const { start, verification, poll } = await setup()
      const body = await start()
      const results = await Promise.all([
        ...Array.from({ length: 5 }, (_, i) => verification.approve(body.user_code, { id: `user-${i}` }, { key: `session-${i}` })),
        ...Array.from({ length: 5 }, (_, i) => verification.deny(body.user_code, { key: `other-${i}` })),
      ])
      expect(results.filter((r) => r.ok)).toHaveLength(1)
      for (const r of results.filter((r) => !r.ok)) expect(r).toEqual({ ok: false, error: 'used' })
      const response = await poll(body.device_code)
      expect([200, 400]).toContain(response.status)
    })
  })

  describe('wrong entries are rate limited per key (RFC 8628 §5.1)', () => {
    it('answers too_many_attempts after 5 wrong codes in a minute, even to the right code', async () => {
      const { start, verification } = await setup()
      const body = await start()
      for (let i = 0; i < 5; i++) expect(await verification.lookup(WRONG, KEY)).toEqual({ ok: false, error: 'invalid' })
      expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'too_many_attempts' })
      expect(await verification.approve(body.user_code, ALICE, KEY)).toEqual({ ok: false, error: 'too_many_attempts' })
      expect(await verification.deny(body.user_code, KEY)).toEqual({ ok: false, error: 'too_many_attempts' })
    })

    it('counts wrong approvals and denials as well as lookups', async () => {
      const { start, verification } = await setup()
      const body = await start()
      await verification.lookup(WRONG, KEY)
      await verification.approve(WRONG, ALICE, KEY)
      await verification.deny(WRONG, KEY)
      await verification.lookup('', KEY)
      await verification.approve('B'.repeat(65), ALICE, KEY)
      expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'too_many_attempts' })
    })

    it('does not count right codes', async () => {
      const { start, verification } = await setup()
      const body = await start()
      for (let i = 0; i < 20; i++) expect(await verification.lookup(body.user_code, KEY)).toMatchObject({ ok: true })
      for (let i = 0; i < 4; i++) await verification.lookup(WRONG, KEY)
      expect(await verification.approve(body.user_code, ALICE, KEY)).toMatchObject({ ok: true })
    })

    it('does not count used codes', async () => {
      const { start, verification } = await setup()
      const body = await start()
      await verification.deny(body.user_code, KEY)
      for (let i = 0; i < 10; i++) expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'used' })
      expect(await verification.lookup(WRONG, KEY)).toEqual({ ok: false, error: 'invalid' })
    })

    it('limits each key on its own', async () => {
      const { start, verification } = await setup()
      const body = await start()
      for (let i = 0; i < 5; i++) await verification.lookup(WRONG, { key: 'attacker' })
      expect(await verification.lookup(body.user_code, { key: 'attacker' })).toEqual({ ok: false, error: 'too_many_attempts' })
      expect(await verification.lookup(body.user_code, { key: 'user' })).toMatchObject({ ok: true })
    })

    it('lets a key try again once its wrong entries are a minute old', async () => {
      const { start, verification, clock } = await setup()
      const body = await start()
      for (let i = 0; i < 5; i++) await verification.lookup(WRONG, KEY)
      clock.advance(59)
      expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'too_many_attempts' })
      clock.advance(1)
      expect(await verification.lookup(body.user_code, KEY)).toMatchObject({ ok: true })
    })

    it('bounds concurrent wrong entries too: of 20 at once, 5 are looked up', async () => {
      const { verification } = await setup()
      const results = await Promise.all(Array.from({ length: 20 }, () => verification.lookup(WRONG, KEY)))
      expect(results.filter((r) => !r.ok && r.error === 'invalid')).toHaveLength(5)
      expect(results.filter((r) => !r.ok && r.error === 'too_many_attempts')).toHaveLength(15)
    })

    it('uses the app’s limiter: consume for every entry, refund for right codes, with the key and the server time', async () => {
      const calls: string[] = []
      const limiter: AttemptLimiter = {
        consume: async (key, now) => {
          calls.push(`consume ${key} ${now.getTime() - T0}`)
          return true
        },
        refund: (key, now) => void calls.push(`refund ${key} ${now.getTime() - T0}`),
      }
      const { start, verification, clock } = await setup({ verification: { limiter } })
      const body = await start()
      clock.advance(3)
      await verification.lookup(WRONG, { key: 'ip:203.0.113.7' })
      await verification.lookup(body.user_code, { key: 'ip:203.0.113.7' })
      expect(calls).toEqual(['consume ip:203.0.113.7 3000', 'consume ip:203.0.113.7 3000', 'refund ip:203.0.113.7 3000'])
    })

    it('answers too_many_attempts without a lookup when the app’s limiter says no', async () => {
      let looked = 0
      const { start, verification } = await setup({
        verification: { limiter: { consume: () => false, refund: () => undefined } },
        wrap: (store) => ({ ...store, findDeviceCodeByUserCode: (hash, now) => (looked++, store.findDeviceCodeByUserCode(hash, now)) }),
      })
      const body = await start()
      looked = 0
      expect(await verification.lookup(body.user_code, KEY)).toEqual({ ok: false, error: 'too_many_attempts' })
      expect(looked).toBe(0)
    })

    it.each([
      ['no options', undefined],
      ['no key', {}],
      ['an empty key', { key: '' }],
      ['a key that is not a string', { key: 42 }],
    ])('throws a TypeError for %s (the app must pass a session id or IP address)', async (_case, options) => {
      const { verification } = await setup()
      await expect(verification.lookup(WRONG, options as never)).rejects.toThrow(TypeError)
      await expect(verification.deny(WRONG, options as never)).rejects.toThrow(TypeError)
      await expect(verification.approve(WRONG, ALICE, options as never)).rejects.toThrow(TypeError)
    })
  })
})

describe('deviceVerification configuration', () => {
  it('needs a store with device codes (ERR_GRANTKIT_STORE_CAPABILITY)', () => {
    const { findClient } = memoryStore()
    const server = new AuthorizationServer({ issuer: ISSUER, store: { findClient } })
    expect(() => deviceVerification(server)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_STORE_CAPABILITY' }))
  })

  it.each([
    ['no server', undefined, {}],
    ['options that are not an object', 'server', 'x'],
    ['a limiter without refund', 'server', { limiter: { consume: () => true } }],
  ])('refuses %s (ERR_GRANTKIT_CONFIG)', (_case, server, options) => {
    const real = new AuthorizationServer({ issuer: ISSUER, store: memoryStore() })
    expect(() => deviceVerification((server === 'server' ? real : server) as never, options as never)).toThrow(expect.objectContaining({ code: 'ERR_GRANTKIT_CONFIG' }))
  })
})

describe('memoryAttemptLimiter (RFC 8628 §5.1)', () => {
  const at = (seconds: number) => new Date(T0 + seconds * 1000)

  it('allows maxAttempts per key in a sliding window', () => {
    const limiter = memoryAttemptLimiter({ maxAttempts: 2, windowSeconds: 10 })
    expect(limiter.consume('k', at(0))).toBe(true)
    expect(limiter.consume('k', at(5))).toBe(true)
    expect(limiter.consume('k', at(9))).toBe(false)
    expect(limiter.consume('k', at(10))).toBe(true) // the first has left the window
    expect(limiter.consume('k', at(14))).toBe(false)
    expect(limiter.consume('k', at(15))).toBe(true)
  })

  it('gives an attempt back on refund', () => {
    const limiter = memoryAttemptLimiter({ maxAttempts: 1 })
    expect(limiter.consume('k', at(0))).toBe(true)
    limiter.refund('k', at(0))
    expect(limiter.consume('k', at(0))).toBe(true)
    expect(limiter.consume('k', at(0))).toBe(false)
  })

  it('ignores a refund for a key it does not know', () => {
    const limiter = memoryAttemptLimiter({ maxAttempts: 1 })
    limiter.refund('unknown', at(0))
    expect(limiter.consume('unknown', at(0))).toBe(true)
    expect(limiter.consume('unknown', at(0))).toBe(false)
  })

  it('remembers at most maxKeys keys, forgetting expired ones first, then the oldest', () => {
    const limiter = memoryAttemptLimiter({ maxAttempts: 1, windowSeconds: 10, maxKeys: 2 })
    limiter.consume('a', at(0))
    limiter.consume('b', at(5))
    // 'a' expired at 10: it goes first, 'b' stays limited.
    limiter.consume('c', at(12))
    expect(limiter.consume('b', at(12))).toBe(false)
    // Full of live keys: the oldest ('b') is forgotten.
    limiter.consume('d', at(13))
    expect(limiter.consume('c', at(13))).toBe(false)
    expect(limiter.consume('b', at(13))).toBe(true)
  })

  it.each([
    ['maxAttempts of 0', { maxAttempts: 0 }],
    ['a fractional windowSeconds', { windowSeconds: 1.5 }],
    ['maxKeys as a string', { maxKeys: '10' }],
  ])('refuses %s (ERR_GRANTKIT_CONFIG)', (_case, options) => {
    expect(() => memoryAttemptLimiter(options as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
  })
})
