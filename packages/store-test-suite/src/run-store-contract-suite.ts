import { randomInt, randomUUID } from 'node:crypto'
import {
  createClient,
  generateToken,
  hashSecret,
  hashToken,
  storeHasCapability,
  type AuthorizationCodeRecord,
  type Client,
  type DeviceCodeRecord,
  type DeviceCodeStore,
  type GrantkitStore,
  type PurgeableStore,
  type TokenRecord,
  type UserStore,
} from '@grantkit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** What a store gives the contract suite. */
export interface StoreHarness {
  /** The store under test. */
  store: GrantkitStore & Partial<UserStore & PurgeableStore & DeviceCodeStore>
  /** Everything stored, read directly from the backing database (NOT through the store), serialised to one string: used to prove no raw token, code or secret is stored. */
  dumpRaw(): Promise<string>
  /** Releases connections (and may drop the test data). */
  close(): Promise<void>
}

/** Options of {@link runStoreContractSuite}. */
export interface StoreContractOptions {
  /** Skip the whole suite with this reason (e.g. no DATABASE_URL outside CI). Not allowed when process.env.CI is set: then the suite fails instead. */
  skip?: string | undefined
  /** Concurrency of the race tests (default 50). */
  raceConcurrency?: number
}

// Whole-millisecond dates far from "now", so that a store's clock never matters
// and every date must round-trip to the millisecond.
const T0 = new Date('2030-01-01T00:00:00.123Z')
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000)

const id = (prefix: string): string => `${prefix}-${randomUUID()}`

// Dates with NaN time, which the store contract refuses with a TypeError. The
// first is what `new Date(exp * 1000)` gives for a far-future JWT `exp` (past
// the Date range of ±8.64e15 ms), the case that let an assertion be replayed.
const farFutureExp = new Date(Number.MAX_SAFE_INTEGER * 1000)
const notADate = new Date('not a date')

/** Asserts that `call` is refused with a TypeError, whether the store throws synchronously or rejects. */
async function expectTypeError(call: () => Promise<unknown>): Promise<void> {
  await expect((async () => call())()).rejects.toBeInstanceOf(TypeError)
}

function codeRecord(overrides: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord {
  return {
    codeHash: hashToken(generateToken()),
    clientId: id('client'),
    userId: id('user'),
    redirectUri: 'https://client.example/cb',
    scope: 'read write',
    familyId: id('family'),
    codeChallenge: null,
    codeChallengeMethod: null,
    createdAt: T0,
    expiresAt: at(60),
    consumedAt: null,
    ...overrides,
  }
}

function tokenRecord(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    tokenHash: hashToken(generateToken()),
    type: 'access_token',
    clientId: id('client'),
    userId: id('user'),
    scope: 'read',
    familyId: id('family'),
    issuedAt: T0,
    expiresAt: at(3600),
    revokedAt: null,
    rotatedAt: null,
    ...overrides,
  }
}

// RFC 8628 §6.1's example alphabet: 20 consonants, 8 characters (the normalised form: upper case, no dash).
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'
const userCode = (): string => Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('')

function deviceRecord(overrides: Partial<DeviceCodeRecord> = {}): DeviceCodeRecord {
  return {
    deviceCodeHash: hashToken(generateToken()),
    // Random user codes of 8 letters may meet across runs on a shared database: hash a longer one.
    userCodeHash: hashToken(`${userCode()}${userCode()}${userCode()}`),
    clientId: id('client'),
    scope: 'read write',
    status: 'pending',
    userId: null,
    familyId: id('family'),
    interval: 5,
    lastPolledAt: null,
    createdAt: T0,
    expiresAt: at(600),
    ...overrides,
  }
}

/** Removes `undefined` optional fields, which a database need not keep. */
function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Runs `n` copies of `task` at once and returns their results. */
function race<T>(n: number, task: () => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, () => task()))
}

/**
 * Registers the grantkit store contract suite (vitest) for one store. Every
 * capability of `packages/core/src/store.ts` is checked against its documented
 * semantics, including the atomicity of code consumption, refresh rotation,
 * replay marking and the device authorization transitions (decide, redeem,
 * poll) under `raceConcurrency` concurrent calls, and that only hashes of
 * secrets, codes and tokens reach the database (read through `dumpRaw`).
 * Optional capabilities (users, purge, device codes) are tested when the
 * store has them and reported as skipped otherwise.
 *
 * `createHarness` is called once (in `beforeAll`) and `close` once (in
 * `afterAll`); every test uses fresh random ids, so tests are independent.
 *
 * @example
 * ```ts
 * runStoreContractSuite('my store', async () => ({ store, dumpRaw, close }))
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 * @see https://www.rfc-editor.org/rfc/rfc8628#section-3.5
 */
export function runStoreContractSuite(
  name: string,
  createHarness: () => Promise<StoreHarness>,
  options: StoreContractOptions = {},
): void {
  const concurrency = options.raceConcurrency ?? 50
  if (!Number.isInteger(concurrency) || concurrency < 2) {
    throw new TypeError('runStoreContractSuite: "raceConcurrency" must be an integer of at least 2')
  }
  const title = `store contract: ${name}`
  if (options.skip !== undefined) {
    const reason = options.skip
    if (process.env['CI']) {
      // CI must never skip a store silently: a missing database is a failure there.
      describe(title, () => {
        it(`cannot run in CI: the database is missing (${reason})`, () => {
          throw new Error(`store contract suite "${name}" was asked to skip in CI: the database is missing (${reason})`)
        })
      })
    } else {
      describe.skip(`${title} (skipped: ${reason})`, () => {
        it('needs a database', () => {})
      })
    }
    return
  }

  describe(title, () => {
    let harness: StoreHarness | undefined
    const h = (): StoreHarness => {
      if (harness === undefined) throw new Error('the store harness was not created')
      return harness
    }
    const store = () => h().store

    beforeAll(async () => {
      harness = await createHarness()
    })
    afterAll(async () => {
      await harness?.close()
    })

    describe('ClientStore', () => {
      async function newClient(overrides: Partial<Client> = {}): Promise<Client> {
        const { client } = await createClient({
          clientId: id('client'),
          clientName: 'Contract client',
          redirectUris: ['https://client.example/cb', 'https://client.example/other?x=1'],
          grantTypes: ['authorization_code', 'refresh_token'],
          scope: 'read write',
          secretHash: 'sha256',
          metadata: { jwks: { keys: [{ kty: 'EC', crv: 'P-256' }] }, n: 1, ok: true },
        })
        return { ...client, ...overrides }
      }

      it('returns null for an unknown client', async () => {
        expect(await store().findClient(id('unknown'))).toBeNull()
      })

      it('saves a client and finds it with every field, metadata included', async () => {
        const client = await newClient()
        await store().saveClient(client)
        expect(await store().findClient(client.clientId)).toEqual(defined(client))
      })

      it('keeps a public client without a secret hash', async () => {
        const client = await newClient({ clientSecretHash: null, tokenEndpointAuthMethod: 'none', metadata: undefined, clientName: undefined })
        await store().saveClient(client)
        const found = await store().findClient(client.clientId)
        expect(found).toMatchObject({ clientId: client.clientId, clientSecretHash: null, tokenEndpointAuthMethod: 'none' })
      })

      it('replaces a client saved again under the same id (upsert)', async () => {
        const client = await newClient()
        await store().saveClient(client)
        const updated: Client = { ...client, clientName: 'Renamed', redirectUris: ['https://new.example/cb'], scope: 'read' }
        await store().saveClient(updated)
        expect(await store().findClient(client.clientId)).toEqual(defined(updated))
      })

      it('keeps its own copy: changing a saved or found record afterwards changes nothing stored', async () => {
        const client = await newClient()
        await store().saveClient(client)
        ;(client.redirectUris as string[]).push('https://evil.example/cb')
        ;(client.metadata as Record<string, unknown>)['n'] = 2
        const found = await store().findClient(client.clientId)
        expect(found?.redirectUris).toEqual(['https://client.example/cb', 'https://client.example/other?x=1'])
        expect(found?.metadata?.['n']).toBe(1)
        ;(found?.grantTypes as string[]).push('password')
        expect((await store().findClient(client.clientId))?.grantTypes).toEqual(['authorization_code', 'refresh_token'])
      })

      it('deletes a client, answering true once and false afterwards', async () => {
        const client = await newClient()
        await store().saveClient(client)
        expect(await store().deleteClient(client.clientId)).toBe(true)
        expect(await store().findClient(client.clientId)).toBeNull()
        expect(await store().deleteClient(client.clientId)).toBe(false)
      })

      it('deleting a client deletes its tokens and authorization codes, and no other client\'s (RFC 7592 section 2.3)', async () => {
        const client = await newClient()
        const other = await newClient()
        await store().saveClient(client)
        await store().saveClient(other)
        const mine = [tokenRecord({ clientId: client.clientId }), tokenRecord({ clientId: client.clientId, type: 'refresh_token' })]
        const theirs = tokenRecord({ clientId: other.clientId })
        await store().saveTokens([...mine, theirs])
        const myCode = codeRecord({ clientId: client.clientId })
        const theirCode = codeRecord({ clientId: other.clientId })
        await store().saveAuthorizationCode(myCode)
        await store().saveAuthorizationCode(theirCode)
        expect(await store().deleteClient(client.clientId)).toBe(true)
        for (const token of mine) expect(await store().findToken(token.tokenHash)).toBeNull()
        expect(await store().findToken(theirs.tokenHash)).not.toBeNull()
        expect(await store().consumeAuthorizationCode(myCode.codeHash, at(5))).toBeNull()
        expect(await store().consumeAuthorizationCode(theirCode.codeHash, at(5))).not.toBeNull()
      })

      it('lists clients ordered by clientId', async () => {
        const prefix = id('list')
        const ids = [`${prefix}-c`, `${prefix}-a`, `${prefix}-b`]
        for (const clientId of ids) await store().saveClient(await newClient({ clientId }))
        const listed = (await store().listClients()).map((c) => c.clientId)
        const ours = listed.filter((clientId) => clientId.startsWith(prefix))
        expect(ours).toEqual([`${prefix}-a`, `${prefix}-b`, `${prefix}-c`])
      })
    })

    describe('AuthorizationCodeStore (RFC 6749 §4.1.2)', () => {
      it('returns null when consuming an unknown code', async () => {
        expect(await store().consumeAuthorizationCode(hashToken(generateToken()), at(1))).toBeNull()
      })

      it('consumes a code once: consumed:true with the record as it was before the call', async () => {
        const code = codeRecord({ extra: { nonce: 'n-0S6_WzA2Mj', claims: ['email'] } })
        await store().saveAuthorizationCode(code)
        const result = await store().consumeAuthorizationCode(code.codeHash, at(5))
        expect(result).not.toBeNull()
        expect(result?.consumed).toBe(true)
        expect(result?.code).toEqual(defined(code))
      })

      it('answers consumed:false on a second consume (a replay) and remembers when it was consumed', async () => {
        const code = codeRecord()
        await store().saveAuthorizationCode(code)
        await store().consumeAuthorizationCode(code.codeHash, at(5))
        const replay = await store().consumeAuthorizationCode(code.codeHash, at(6))
        expect(replay?.consumed).toBe(false)
        expect(replay?.code.consumedAt?.getTime()).toBe(at(5).getTime())
        expect(replay?.code.clientId).toBe(code.clientId)
      })

      it('returns null for an expired code (expiresAt <= now), consumed or not', async () => {
        const fresh = codeRecord()
        await store().saveAuthorizationCode(fresh)
        expect(await store().consumeAuthorizationCode(fresh.codeHash, fresh.expiresAt)).toBeNull()
        expect(await store().consumeAuthorizationCode(fresh.codeHash, at(61))).toBeNull()

        const used = codeRecord()
        await store().saveAuthorizationCode(used)
        expect((await store().consumeAuthorizationCode(used.codeHash, at(1)))?.consumed).toBe(true)
        expect(await store().consumeAuthorizationCode(used.codeHash, at(120))).toBeNull()
      })

      it('round-trips a null redirectUri, a PKCE challenge and extension data', async () => {
        const code = codeRecord({
          redirectUri: null,
          scope: '',
          codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          codeChallengeMethod: 'S256',
          extra: { nonce: 'abc', nested: { list: [1, 'two', null], flag: false } },
        })
        await store().saveAuthorizationCode(code)
        const result = await store().consumeAuthorizationCode(code.codeHash, at(1))
        expect(result?.code).toEqual(defined(code))
        expect(result?.code.createdAt).toBeInstanceOf(Date)
        expect(result?.code.createdAt.getTime()).toBe(T0.getTime())
        expect(result?.code.expiresAt.getTime()).toBe(at(60).getTime())
      })

      it(`lets exactly one of ${concurrency} concurrent consumers of one code get consumed:true`, async () => {
        const code = codeRecord()
        await store().saveAuthorizationCode(code)
        const results = await race(concurrency, () => store().consumeAuthorizationCode(code.codeHash, at(2)))
        expect(results.filter((r) => r?.consumed === true)).toHaveLength(1)
        expect(results.filter((r) => r?.consumed === false)).toHaveLength(concurrency - 1)
      })

      // The token endpoint reads the code, checks the request against it, saves the tokens and only
      // then consumes it (store contract), so finding must never consume.
      describe('findAuthorizationCode', () => {
        it('returns null for an unknown code', async () => {
          expect(await store().findAuthorizationCode(hashToken(generateToken()), at(1))).toBeNull()
        })

        it('returns an unused code with every field, consumedAt null', async () => {
          const code = codeRecord({ codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', codeChallengeMethod: 'S256', extra: { nonce: 'n-1' } })
          await store().saveAuthorizationCode(code)
          expect(await store().findAuthorizationCode(code.codeHash, at(1))).toEqual(defined(code))
        })

        it('returns a consumed code unchanged, so a replay is detectable (RFC 6749 §4.1.2)', async () => {
          const code = codeRecord()
          await store().saveAuthorizationCode(code)
          expect((await store().consumeAuthorizationCode(code.codeHash, at(5)))?.consumed).toBe(true)
          const found = await store().findAuthorizationCode(code.codeHash, at(6))
          expect(found).toEqual({ ...defined(code), consumedAt: at(5) })
        })

        it('returns null for an expired code (expiresAt <= now), consumed or not', async () => {
          const fresh = codeRecord()
          await store().saveAuthorizationCode(fresh)
          expect(await store().findAuthorizationCode(fresh.codeHash, at(59))).not.toBeNull()
          expect(await store().findAuthorizationCode(fresh.codeHash, fresh.expiresAt)).toBeNull()
          expect(await store().findAuthorizationCode(fresh.codeHash, at(61))).toBeNull()

          const used = codeRecord()
          await store().saveAuthorizationCode(used)
          await store().consumeAuthorizationCode(used.codeHash, at(1))
          expect(await store().findAuthorizationCode(used.codeHash, at(120))).toBeNull()
        })

        it('does not consume: a consume after it still gets consumed:true (RFC 6749 §4.1.2)', async () => {
          const code = codeRecord()
          await store().saveAuthorizationCode(code)
          expect((await store().findAuthorizationCode(code.codeHash, at(1)))?.consumedAt).toBeNull()
          expect((await store().findAuthorizationCode(code.codeHash, at(2)))?.consumedAt).toBeNull()
          expect(await store().consumeAuthorizationCode(code.codeHash, at(3))).toEqual({ consumed: true, code: defined(code) })
        })
      })
    })

    describe('TokenStore', () => {
      function family(overrides: Partial<TokenRecord> = {}): [TokenRecord, TokenRecord] {
        const shared = { clientId: id('client'), userId: id('user'), familyId: id('family'), scope: 'read write', ...overrides }
        return [
          tokenRecord({ ...shared, type: 'access_token', expiresAt: at(3600) }),
          tokenRecord({ ...shared, type: 'refresh_token', expiresAt: at(86400) }),
        ]
      }

      it('returns null for an unknown token', async () => {
        expect(await store().findToken(hashToken(generateToken()))).toBeNull()
      })

      it('saves an access and a refresh token together and finds each with every field', async () => {
        const [access, refresh] = family({ extra: { cnf: { jkt: 'thumb' } } })
        await store().saveTokens([access, refresh])
        expect(await store().findToken(access.tokenHash)).toEqual(defined(access))
        expect(await store().findToken(refresh.tokenHash)).toEqual(defined(refresh))
      })

      it('keeps a client-only token with a null userId', async () => {
        const token = tokenRecord({ userId: null, scope: '' })
        await store().saveTokens([token])
        expect(await store().findToken(token.tokenHash)).toEqual(defined(token))
      })

      it('finds a token in any state: expired, revoked or rotated', async () => {
        const expired = tokenRecord({ expiresAt: at(-10) })
        const revoked = tokenRecord({ revokedAt: at(1) })
        const rotated = tokenRecord({ type: 'refresh_token', rotatedAt: at(2) })
        await store().saveTokens([expired, revoked, rotated])
        expect(await store().findToken(expired.tokenHash)).toEqual(defined(expired))
        expect((await store().findToken(revoked.tokenHash))?.revokedAt?.getTime()).toBe(at(1).getTime())
        expect((await store().findToken(rotated.tokenHash))?.rotatedAt?.getTime()).toBe(at(2).getTime())
      })

      describe('rotateRefreshToken (RFC 9700 §4.14.2, compare-and-set)', () => {
        it('rotates once: rotated:true with the record as before, then rotated:false', async () => {
          const [, refresh] = family()
          await store().saveTokens([refresh])
          const first = await store().rotateRefreshToken(refresh.tokenHash, at(10))
          expect(first?.rotated).toBe(true)
          expect(first?.token).toEqual(defined(refresh))
          const second = await store().rotateRefreshToken(refresh.tokenHash, at(11))
          expect(second?.rotated).toBe(false)
          expect(second?.token.rotatedAt?.getTime()).toBe(at(10).getTime())
          expect((await store().findToken(refresh.tokenHash))?.rotatedAt?.getTime()).toBe(at(10).getTime())
        })

        it('answers rotated:false for a revoked refresh token', async () => {
          const [, refresh] = family()
          await store().saveTokens([refresh])
          await store().revokeToken(refresh.tokenHash, at(1))
          const result = await store().rotateRefreshToken(refresh.tokenHash, at(2))
          expect(result?.rotated).toBe(false)
          expect(result?.token.revokedAt?.getTime()).toBe(at(1).getTime())
        })

        it('answers rotated:false for an expired refresh token (expiresAt <= now)', async () => {
          const [, refresh] = family()
          await store().saveTokens([refresh])
          expect((await store().rotateRefreshToken(refresh.tokenHash, refresh.expiresAt))?.rotated).toBe(false)
          expect((await store().findToken(refresh.tokenHash))?.rotatedAt).toBeNull()
        })

        it('answers null for an access token and for an unknown token', async () => {
          const [access] = family()
          await store().saveTokens([access])
          expect(await store().rotateRefreshToken(access.tokenHash, at(1))).toBeNull()
          expect((await store().findToken(access.tokenHash))?.rotatedAt).toBeNull()
          expect(await store().rotateRefreshToken(hashToken(generateToken()), at(1))).toBeNull()
        })

        it(`lets exactly one of ${concurrency} concurrent rotations of one token get rotated:true`, async () => {
          const [, refresh] = family()
          await store().saveTokens([refresh])
          const results = await race(concurrency, () => store().rotateRefreshToken(refresh.tokenHash, at(3)))
          expect(results.filter((r) => r?.rotated === true)).toHaveLength(1)
          expect(results.filter((r) => r?.rotated === false)).toHaveLength(concurrency - 1)
        })
      })

      describe('revokeToken', () => {
        it('marks a token revoked at now and answers true', async () => {
          const token = tokenRecord()
          await store().saveTokens([token])
          expect(await store().revokeToken(token.tokenHash, at(7))).toBe(true)
          expect((await store().findToken(token.tokenHash))?.revokedAt?.getTime()).toBe(at(7).getTime())
        })

        it('keeps the first revocation time when revoked again, still answering true', async () => {
          const token = tokenRecord()
          await store().saveTokens([token])
          await store().revokeToken(token.tokenHash, at(7))
          expect(await store().revokeToken(token.tokenHash, at(9))).toBe(true)
          expect((await store().findToken(token.tokenHash))?.revokedAt?.getTime()).toBe(at(7).getTime())
        })

        it('answers false for an unknown token', async () => {
          expect(await store().revokeToken(hashToken(generateToken()), at(1))).toBe(false)
        })
      })

      describe('revokeTokenFamily', () => {
        it('revokes every token of the family and counts only the newly revoked ones', async () => {
          const [access, refresh] = family()
          const already = tokenRecord({ familyId: access.familyId, clientId: access.clientId, revokedAt: at(1) })
          await store().saveTokens([access, refresh])
          await store().saveTokens([already])
          expect(await store().revokeTokenFamily(access.familyId, at(5))).toBe(2)
          expect((await store().findToken(access.tokenHash))?.revokedAt?.getTime()).toBe(at(5).getTime())
          expect((await store().findToken(refresh.tokenHash))?.revokedAt?.getTime()).toBe(at(5).getTime())
          expect((await store().findToken(already.tokenHash))?.revokedAt?.getTime()).toBe(at(1).getTime())
          expect(await store().revokeTokenFamily(access.familyId, at(6))).toBe(0)
        })

        it('does not touch other families, even of the same client', async () => {
          const [access] = family()
          const [otherAccess, otherRefresh] = family({ clientId: access.clientId, userId: access.userId })
          await store().saveTokens([access])
          await store().saveTokens([otherAccess, otherRefresh])
          expect(await store().revokeTokenFamily(access.familyId, at(5))).toBe(1)
          expect((await store().findToken(otherAccess.tokenHash))?.revokedAt).toBeNull()
          expect((await store().findToken(otherRefresh.tokenHash))?.revokedAt).toBeNull()
        })

        it('answers 0 for an unknown family', async () => {
          expect(await store().revokeTokenFamily(id('family'), at(1))).toBe(0)
        })
      })
    })

    describe('ReplayStore (RFC 7523 §3 jti)', () => {
      it('answers true the first time and false while the key is recorded', async () => {
        const key = id('jti')
        expect(await store().markUsed(key, at(60), at(0))).toBe(true)
        expect(await store().markUsed(key, at(60), at(1))).toBe(false)
        expect(await store().markUsed(key, at(120), at(59))).toBe(false)
      })

      it('answers true again once the record expired', async () => {
        const key = id('jti')
        expect(await store().markUsed(key, at(60), at(0))).toBe(true)
        expect(await store().markUsed(key, at(200), at(60))).toBe(true)
        expect(await store().markUsed(key, at(300), at(61))).toBe(false)
      })

      it('keeps keys apart', async () => {
        expect(await store().markUsed(id('jti'), at(60), at(0))).toBe(true)
        expect(await store().markUsed(id('jti'), at(60), at(0))).toBe(true)
      })

      it(`lets exactly one of ${concurrency} concurrent markUsed calls with one key get true`, async () => {
        const key = id('jti')
        const results = await race(concurrency, () => store().markUsed(key, at(60), at(0)))
        expect(results.filter((r) => r)).toHaveLength(1)
      })
    })

    describe('invalid dates (store contract: refused with a TypeError before anything is written)', () => {
      it('markUsed refuses an invalid expiresAt (a far-future JWT exp) and records nothing, so the jti cannot be replayed (RFC 7523 §3)', async () => {
        const key = id('jti')
        await expectTypeError(() => store().markUsed(key, farFutureExp, at(0)))
        expect(await store().markUsed(key, at(60), at(0))).toBe(true)
        expect(await store().markUsed(key, at(60), at(1))).toBe(false)
      })

      it('markUsed refuses an invalid now, recording nothing and leaving a recorded key as it was', async () => {
        const fresh = id('jti')
        await expectTypeError(() => store().markUsed(fresh, at(60), notADate))
        expect(await store().markUsed(fresh, at(60), at(0))).toBe(true)

        const recorded = id('jti')
        expect(await store().markUsed(recorded, at(60), at(0))).toBe(true)
        await expectTypeError(() => store().markUsed(recorded, at(600), notADate))
        // Still the first record, which expired at 60 s: not replaced by one until 600 s.
        expect(await store().markUsed(recorded, at(120), at(61))).toBe(true)
      })

      it.each(['issuedAt', 'expiresAt', 'revokedAt', 'rotatedAt'] as const)(
        'saveTokens refuses a token with an invalid %s and saves none of the tokens given with it',
        async (field) => {
          const access = tokenRecord()
          const refresh = tokenRecord({ type: 'refresh_token', familyId: access.familyId, clientId: access.clientId, [field]: notADate })
          await expectTypeError(() => store().saveTokens([access, refresh]))
          expect(await store().findToken(access.tokenHash)).toBeNull()
          expect(await store().findToken(refresh.tokenHash)).toBeNull()
        },
      )

      it.each(['createdAt', 'expiresAt', 'consumedAt'] as const)(
        'saveAuthorizationCode refuses a code with an invalid %s and stores nothing (RFC 6749 §4.1.2)',
        async (field) => {
          const code = codeRecord({ [field]: field === 'expiresAt' ? farFutureExp : notADate })
          await expectTypeError(() => store().saveAuthorizationCode(code))
          expect(await h().dumpRaw()).not.toContain(code.codeHash)
          expect(await store().consumeAuthorizationCode(code.codeHash, at(1))).toBeNull()
        },
      )

      it('consumeAuthorizationCode refuses an invalid now and leaves the code unconsumed (RFC 6749 §4.1.2)', async () => {
        const code = codeRecord()
        await store().saveAuthorizationCode(code)
        await expectTypeError(() => store().consumeAuthorizationCode(code.codeHash, notADate))
        expect(await store().consumeAuthorizationCode(code.codeHash, at(1))).toEqual({ consumed: true, code: defined(code) })
      })

      it('rotateRefreshToken refuses an invalid now and leaves the token rotatable (RFC 9700 §4.14.2)', async () => {
        const refresh = tokenRecord({ type: 'refresh_token', expiresAt: at(86400) })
        await store().saveTokens([refresh])
        await expectTypeError(() => store().rotateRefreshToken(refresh.tokenHash, notADate))
        expect((await store().findToken(refresh.tokenHash))?.rotatedAt).toBeNull()
        expect(await store().rotateRefreshToken(refresh.tokenHash, at(1))).toEqual({ rotated: true, token: defined(refresh) })
      })

      it('revokeToken and revokeTokenFamily refuse an invalid now and revoke nothing', async () => {
        const token = tokenRecord()
        await store().saveTokens([token])
        await expectTypeError(() => store().revokeToken(token.tokenHash, notADate))
        await expectTypeError(() => store().revokeTokenFamily(token.familyId, notADate))
        expect((await store().findToken(token.tokenHash))?.revokedAt).toBeNull()
        expect(await store().revokeTokenFamily(token.familyId, at(1))).toBe(1)
      })

      it('findAuthorizationCode refuses an invalid now rather than answering as if the code never expired', async () => {
        const code = codeRecord()
        await store().saveAuthorizationCode(code)
        await expectTypeError(() => store().findAuthorizationCode(code.codeHash, notADate))
      })

      it('purgeExpired (when the store has one) refuses an invalid now', async (ctx) => {
        const s = store()
        if (typeof s.purgeExpired !== 'function') return ctx.skip()
        const purge = s.purgeExpired.bind(s)
        await expectTypeError(() => purge(notADate))
      })
    })

    describe('UserStore (when the store has one)', () => {
      const userStore = () => {
        const s = store()
        if (typeof s.findUserById !== 'function' || typeof s.findUserByUsername !== 'function' || typeof s.saveUser !== 'function') return null
        return s as GrantkitStore & UserStore
      }

      it('is complete or absent (findUserById, findUserByUsername and saveUser together)', () => {
        const s = store()
        const present = [s.findUserById, s.findUserByUsername, s.saveUser].filter((f) => typeof f === 'function').length
        expect([0, 3]).toContain(present)
      })

      it('saves a user and finds it by id and by username; unknown is null', async (ctx) => {
        const users = userStore()
        if (users === null) return ctx.skip()
        const user = { id: id('user'), username: id('alice'), passwordHash: await hashSecret('correct horse', 'sha256') }
        await users.saveUser(user)
        expect(await users.findUserById(user.id)).toEqual(user)
        expect(await users.findUserByUsername(user.username)).toEqual(user)
        expect(await users.findUserById(id('nobody'))).toBeNull()
        expect(await users.findUserByUsername(id('nobody'))).toBeNull()
      })

      it('replaces a user saved again under the same id, following a username change', async (ctx) => {
        const users = userStore()
        if (users === null) return ctx.skip()
        const user = { id: id('user'), username: id('bob'), passwordHash: await hashSecret('pw-1', 'sha256') }
        await users.saveUser(user)
        const renamed = { ...user, username: id('robert'), passwordHash: await hashSecret('pw-2', 'sha256') }
        await users.saveUser(renamed)
        expect(await users.findUserById(user.id)).toEqual(renamed)
        expect(await users.findUserByUsername(renamed.username)).toEqual(renamed)
        expect(await users.findUserByUsername(user.username)).toBeNull()
      })

      it('rejects a username taken by another user and leaves both users as they were', async (ctx) => {
        const users = userStore()
        if (users === null) return ctx.skip()
        const owner = { id: id('user'), username: id('carol'), passwordHash: await hashSecret('pw-1', 'sha256') }
        const other = { id: id('user'), username: id('dave'), passwordHash: await hashSecret('pw-2', 'sha256') }
        await users.saveUser(owner)
        await users.saveUser(other)
        await expect(users.saveUser({ ...other, username: owner.username })).rejects.toThrow()
        expect(await users.findUserByUsername(owner.username)).toEqual(owner)
        expect(await users.findUserByUsername(other.username)).toEqual(other)
        expect(await users.findUserById(other.id)).toEqual(other)
      })
    })

    describe('PurgeableStore (when the store has one)', () => {
      it('deletes codes, tokens and replay keys that expired before now and keeps the rest', async (ctx) => {
        const s = store()
        if (typeof s.purgeExpired !== 'function') return ctx.skip()
        // Far in the past, so that only this test's expired records fall before
        // "now" (every other test uses 2030 dates); a lower bound on the count
        // keeps the test independent of leftovers in a shared database.
        const base = new Date(Date.UTC(1990, 0, 1) + Math.floor(Math.random() * 1e9))
        const later = (seconds: number) => new Date(base.getTime() + seconds * 1000)
        const oldCode = codeRecord({ createdAt: later(-120), expiresAt: later(-60) })
        const liveCode = codeRecord({ createdAt: later(0), expiresAt: later(3600) })
        const oldToken = tokenRecord({ issuedAt: later(-7200), expiresAt: later(-1) })
        const liveToken = tokenRecord({ issuedAt: later(0), expiresAt: later(3600) })
        const oldKey = id('jti')
        const liveKey = id('jti')
        await s.saveAuthorizationCode(oldCode)
        await s.saveAuthorizationCode(liveCode)
        await s.saveTokens([oldToken, liveToken])
        await s.markUsed(oldKey, later(-5), later(-10))
        await s.markUsed(liveKey, later(3600), later(-10))

        expect(await s.purgeExpired(base)).toBeGreaterThanOrEqual(3)
        expect(await s.findToken(oldToken.tokenHash)).toBeNull()
        expect(await s.findToken(liveToken.tokenHash)).not.toBeNull()
        // Asked at a time it was still valid, the purged code is gone.
        expect(await s.consumeAuthorizationCode(oldCode.codeHash, later(-100))).toBeNull()
        expect(await s.consumeAuthorizationCode(liveCode.codeHash, base)).toMatchObject({ consumed: true })
        // The purged replay key is free again; the live one is still recorded.
        expect(await s.markUsed(oldKey, later(60), later(-20))).toBe(true)
        expect(await s.markUsed(liveKey, later(60), base)).toBe(false)
      })

      it('deletes at most `limit` records of each kind per call, and everything expired over repeated calls', async (ctx) => {
        const s = store()
        if (typeof s.purgeExpired !== 'function') return ctx.skip()
        const base = new Date(Date.UTC(1980, 0, 1) + Math.floor(Math.random() * 1e9))
        const later = (seconds: number) => new Date(base.getTime() + seconds * 1000)
        const old = Array.from({ length: 5 }, (_, i) => tokenRecord({ issuedAt: later(-7200 - i), expiresAt: later(-1 - i) }))
        const live = tokenRecord({ issuedAt: later(0), expiresAt: later(3600) })
        await s.saveTokens([...old, live])
        const remaining = async () => (await Promise.all(old.map((t) => s.findToken(t.tokenHash)))).filter((t) => t !== null).length
        const first = await s.purgeExpired(base, { limit: 2 })
        // At most 2 of each of the four kinds; leftovers of other tests may be among them.
        expect(first).toBeGreaterThan(0)
        expect(first).toBeLessThanOrEqual(8)
        expect(await remaining()).toBeGreaterThanOrEqual(3)
        let calls = 1
        while ((await s.purgeExpired(base, { limit: 2 })) > 0 && calls < 1000) calls++
        expect(await remaining()).toBe(0)
        expect(await s.findToken(live.tokenHash)).not.toBeNull()
      })

      it('refuses a limit that is not a positive integer', async (ctx) => {
        const s = store()
        if (typeof s.purgeExpired !== 'function') return ctx.skip()
        const purge = s.purgeExpired.bind(s)
        for (const limit of [0, -1, 1.5, Number.NaN]) await expectTypeError(() => purge(new Date(), { limit }))
      })
    })

    describe('device authorizations (RFC 8628, when the store has the deviceCodes capability)', () => {
      /** The store, or `null` (the test then reports itself skipped) when it lacks the capability. */
      const devices = (): (GrantkitStore & DeviceCodeStore) | null => {
        const s = store()
        return storeHasCapability(s, 'deviceCodes') ? (s as GrantkitStore & DeviceCodeStore) : null
      }
      const approve = (userId: string, scope?: string) => (scope === undefined ? { approved: true as const, userId } : { approved: true as const, userId, scope })
      const deny = { approved: false as const }
      /** Saves a pending authorization, optionally moved on to `status` (through the store's own methods). */
      async function saved(s: DeviceCodeStore, status: DeviceCodeRecord['status'] = 'pending', overrides: Partial<DeviceCodeRecord> = {}): Promise<DeviceCodeRecord> {
        const record = deviceRecord(overrides)
        await s.saveDeviceCode(record)
        if (status === 'denied') await s.decideDeviceCode(record.userCodeHash, deny, at(1))
        if (status === 'approved' || status === 'redeemed') await s.decideDeviceCode(record.userCodeHash, approve(id('user')), at(1))
        if (status === 'redeemed') await s.redeemDeviceCode(record.deviceCodeHash, at(2))
        expect((await s.findDeviceCodeByUserCode(record.userCodeHash, at(3)))?.status).toBe(status)
        return record
      }

      it('is complete or absent (every method of the capability together)', () => {
        const s = store() as Partial<DeviceCodeStore>
        const present = [s.saveDeviceCode, s.findDeviceCodeByUserCode, s.decideDeviceCode, s.pollDeviceCode, s.redeemDeviceCode].filter((f) => typeof f === 'function')
        expect([0, 5]).toContain(present.length)
      })

      describe('saveDeviceCode and findDeviceCodeByUserCode (RFC 8628 §3.2, §3.3)', () => {
        it('saves an authorization and finds it by its user code hash with every field, extension data included', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = deviceRecord({ extra: { resource: ['https://api.example/'], nested: { n: 1, ok: true } } })
          await s.saveDeviceCode(record)
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(1))).toEqual(defined(record))
        })

        it('round-trips every status, a user, a last poll and a grown interval', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          for (const status of ['pending', 'approved', 'denied', 'redeemed'] as const) {
            const record = deviceRecord({ status, userId: status === 'pending' ? null : id('user'), interval: 15, lastPolledAt: at(2), scope: '' })
            await s.saveDeviceCode(record)
            expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(3))).toEqual(defined(record))
          }
        })

        it('answers null for an unknown user code and for an expired authorization (expiresAt <= now), whatever its status', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          expect(await s.findDeviceCodeByUserCode(hashToken(userCode()), at(1))).toBeNull()
          const pending = await saved(s)
          expect(await s.findDeviceCodeByUserCode(pending.userCodeHash, at(599))).not.toBeNull()
          expect(await s.findDeviceCodeByUserCode(pending.userCodeHash, pending.expiresAt)).toBeNull()
          expect(await s.findDeviceCodeByUserCode(pending.userCodeHash, at(601))).toBeNull()
          const approved = await saved(s, 'approved')
          expect(await s.findDeviceCodeByUserCode(approved.userCodeHash, at(600))).toBeNull()
        })

        it('finds by the user code only: a device code hash is not a user code hash', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          expect(await s.findDeviceCodeByUserCode(record.deviceCodeHash, at(1))).toBeNull()
        })

        it('reads without changing anything: no poll is recorded and the authorization stays pending', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          await s.findDeviceCodeByUserCode(record.userCodeHash, at(1))
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(2))).toEqual(defined(record))
        })

        it.for(['deviceCodeHash', 'userCodeHash'] as const)('refuses a second authorization with the same %s (unique: user codes are short, RFC 8628 §6.1) and keeps the first', async (field, ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const first = await saved(s)
          const second = deviceRecord({ [field]: first[field], clientId: id('other-client') })
          await expect(s.saveDeviceCode(second)).rejects.toThrow()
          expect(await s.findDeviceCodeByUserCode(first.userCodeHash, at(3))).toEqual(defined(first))
          if (field === 'deviceCodeHash') expect(await s.findDeviceCodeByUserCode(second.userCodeHash, at(3))).toBeNull()
        })
      })

      describe('decideDeviceCode (RFC 8628 §3.3: the user approves or denies, once)', () => {
        it('approves a pending authorization with the user, keeping the requested scope, and answers the new record', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          const userId = id('user')
          const decided = await s.decideDeviceCode(record.userCodeHash, approve(userId), at(5))
          expect(decided).toEqual({ ...defined(record), status: 'approved', userId })
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(6))).toEqual(decided)
        })

        it('approves with the scope the user granted when one is given', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          const userId = id('user')
          expect(await s.decideDeviceCode(record.userCodeHash, approve(userId, 'read'), at(5))).toEqual({ ...defined(record), status: 'approved', userId, scope: 'read' })
          expect((await s.findDeviceCodeByUserCode(record.userCodeHash, at(6)))?.scope).toBe('read')
        })

        it('denies a pending authorization, with no user', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          expect(await s.decideDeviceCode(record.userCodeHash, deny, at(5))).toEqual({ ...defined(record), status: 'denied', userId: null })
          expect((await s.findDeviceCodeByUserCode(record.userCodeHash, at(6)))?.status).toBe('denied')
        })

        it.for([
          { status: 'approved', what: 'an approval', decision: () => approve(id('user')) },
          { status: 'approved', what: 'a denial', decision: () => deny },
          { status: 'denied', what: 'an approval', decision: () => approve(id('user')) },
          { status: 'redeemed', what: 'an approval', decision: () => approve(id('user')) },
        ] as const)('answers null to $what of an authorization already $status, leaving it unchanged (a user code is single use)', async ({ status, decision }, ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s, status)
          const before = await s.findDeviceCodeByUserCode(record.userCodeHash, at(4))
          expect(await s.decideDeviceCode(record.userCodeHash, decision(), at(5))).toBeNull()
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(6))).toEqual(before)
        })

        it('answers null for an unknown user code and for an expired authorization (expiresAt <= now), deciding nothing', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          expect(await s.decideDeviceCode(hashToken(userCode()), approve(id('user')), at(1))).toBeNull()
          const record = await saved(s)
          expect(await s.decideDeviceCode(record.userCodeHash, approve(id('user')), record.expiresAt)).toBeNull()
          expect(await s.decideDeviceCode(record.userCodeHash, deny, at(700))).toBeNull()
          expect((await s.findDeviceCodeByUserCode(record.userCodeHash, at(599)))?.status).toBe('pending')
        })

        it(`lets exactly one of ${concurrency} concurrent decisions on one user code succeed, and stores that one`, async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          let n = 0
          const results = await race(concurrency, () => {
            const i = n++
            return s.decideDeviceCode(record.userCodeHash, i % 2 === 0 ? approve(`user-${i}`) : deny, at(5))
          })
          const winners = results.filter((r) => r !== null)
          expect(winners).toHaveLength(1)
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(6))).toEqual(winners[0])
        })
      })

      describe('pollDeviceCode (RFC 8628 §3.4, §3.5 slow_down)', () => {
        it('records the first poll without slow_down, in any status, and answers the record after it', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          for (const status of ['pending', 'approved', 'denied', 'redeemed'] as const) {
            const record = await saved(s, status)
            const result = await s.pollDeviceCode(record.deviceCodeHash, at(10))
            expect(result?.slowDown).toBe(false)
            expect(result?.record).toMatchObject({ deviceCodeHash: record.deviceCodeHash, status, interval: 5, lastPolledAt: at(10) })
            expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(11))).toEqual(result?.record)
          }
        })

        it('answers slowDown:true to a poll sooner than interval seconds after the previous one, and adds 5 seconds to the interval', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          await s.pollDeviceCode(record.deviceCodeHash, at(10))
          const early = await s.pollDeviceCode(record.deviceCodeHash, at(14.999))
          expect(early).toEqual({ slowDown: true, record: { ...defined(record), interval: 10, lastPolledAt: at(14.999) } })
          // "for this and all subsequent requests" (§3.5): 6 s later is too soon for the grown interval.
          const stillEarly = await s.pollDeviceCode(record.deviceCodeHash, at(20.999))
          expect(stillEarly).toEqual({ slowDown: true, record: { ...defined(record), interval: 15, lastPolledAt: at(20.999) } })
        })

        it('answers slowDown:false to a poll interval seconds or more after the previous one, keeping the interval', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          await s.pollDeviceCode(record.deviceCodeHash, at(10))
          expect(await s.pollDeviceCode(record.deviceCodeHash, at(15))).toEqual({ slowDown: false, record: { ...defined(record), lastPolledAt: at(15) } })
          expect(await s.pollDeviceCode(record.deviceCodeHash, at(60))).toEqual({ slowDown: false, record: { ...defined(record), lastPolledAt: at(60) } })
        })

        it('answers null for an unknown device code and for an expired authorization (expiresAt <= now), recording nothing', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          expect(await s.pollDeviceCode(hashToken(generateToken()), at(1))).toBeNull()
          const record = await saved(s)
          expect(await s.pollDeviceCode(record.userCodeHash, at(1))).toBeNull()
          expect(await s.pollDeviceCode(record.deviceCodeHash, record.expiresAt)).toBeNull()
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(599))).toEqual(defined(record))
        })

        it(`answers ${concurrency} concurrent polls of one device code each with a well-formed result, and keeps the slow_down`, async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          await s.pollDeviceCode(record.deviceCodeHash, at(10))
          const results = await race(concurrency, () => s.pollDeviceCode(record.deviceCodeHash, at(12)))
          for (const result of results) {
            expect(result?.record).toEqual({ ...defined(record), interval: expect.any(Number), lastPolledAt: at(12) })
            const grownBy = (result?.record.interval ?? 0) - record.interval
            expect(grownBy % 5).toBe(0)
            expect(grownBy).toBeGreaterThanOrEqual(result?.slowDown ? 5 : 0)
          }
          // Every one of them came 2 s after the first poll: too soon (5 s).
          expect(results.filter((r) => r?.slowDown)).not.toHaveLength(0)
          const after = await s.findDeviceCodeByUserCode(record.userCodeHash, at(13))
          expect(after?.interval).toBeGreaterThanOrEqual(record.interval + 5)
          expect(after?.lastPolledAt).toEqual(at(12))
        })
      })

      describe('redeemDeviceCode (RFC 8628 §3.5: tokens once the user approved, once)', () => {
        it('redeems an approved authorization once, answering it as it was, and marks it redeemed', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s, 'approved')
          const approved = await s.findDeviceCodeByUserCode(record.userCodeHash, at(4))
          expect(await s.redeemDeviceCode(record.deviceCodeHash, at(5))).toEqual(approved)
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(6))).toEqual({ ...approved, status: 'redeemed' })
          expect(await s.redeemDeviceCode(record.deviceCodeHash, at(7))).toBeNull()
        })

        it.for(['pending', 'denied', 'redeemed'] as const)('answers null for a %s authorization and leaves it as it was', async (status, ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s, status)
          const before = await s.findDeviceCodeByUserCode(record.userCodeHash, at(4))
          expect(await s.redeemDeviceCode(record.deviceCodeHash, at(5))).toBeNull()
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(6))).toEqual(before)
        })

        it('answers null for an unknown device code and for an expired approved authorization (expiresAt <= now)', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          expect(await s.redeemDeviceCode(hashToken(generateToken()), at(5))).toBeNull()
          const record = await saved(s, 'approved')
          expect(await s.redeemDeviceCode(record.userCodeHash, at(5))).toBeNull()
          expect(await s.redeemDeviceCode(record.deviceCodeHash, record.expiresAt)).toBeNull()
          expect((await s.findDeviceCodeByUserCode(record.userCodeHash, at(599)))?.status).toBe('approved')
        })

        it(`gives exactly one of ${concurrency} concurrent redeems of one device code the record`, async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s, 'approved')
          const results = await race(concurrency, () => s.redeemDeviceCode(record.deviceCodeHash, at(5)))
          const winners = results.filter((r) => r !== null)
          expect(winners).toHaveLength(1)
          expect(winners[0]).toMatchObject({ deviceCodeHash: record.deviceCodeHash, status: 'approved' })
          expect((await s.findDeviceCodeByUserCode(record.userCodeHash, at(6)))?.status).toBe('redeemed')
        })
      })

      describe('invalid dates (refused with a TypeError before anything is written)', () => {
        it.for(['createdAt', 'expiresAt', 'lastPolledAt'] as const)('saveDeviceCode refuses an authorization with an invalid %s and stores nothing', async (field, ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const valid = deviceRecord()
          const record = { ...valid, [field]: field === 'expiresAt' ? farFutureExp : notADate }
          await expectTypeError(() => s.saveDeviceCode(record))
          expect(await h().dumpRaw()).not.toContain(record.deviceCodeHash)
          // Neither code was taken: the valid record saves.
          await s.saveDeviceCode(valid)
          expect(await s.findDeviceCodeByUserCode(valid.userCodeHash, at(1))).toEqual(defined(valid))
        })

        it('findDeviceCodeByUserCode, decideDeviceCode, pollDeviceCode and redeemDeviceCode refuse an invalid now and change nothing', async (ctx) => {
          const s = devices()
          if (s === null) return ctx.skip()
          const record = await saved(s)
          await expectTypeError(() => s.findDeviceCodeByUserCode(record.userCodeHash, notADate))
          await expectTypeError(() => s.decideDeviceCode(record.userCodeHash, approve(id('user')), notADate))
          await expectTypeError(() => s.pollDeviceCode(record.deviceCodeHash, notADate))
          expect(await s.findDeviceCodeByUserCode(record.userCodeHash, at(4))).toEqual(defined(record))
          expect(await s.pollDeviceCode(record.deviceCodeHash, at(5))).toMatchObject({ slowDown: false })
          expect(await s.decideDeviceCode(record.userCodeHash, approve(id('user')), at(6))).not.toBeNull()
          await expectTypeError(() => s.redeemDeviceCode(record.deviceCodeHash, notADate))
          expect(await s.redeemDeviceCode(record.deviceCodeHash, at(7))).toMatchObject({ status: 'approved' })
        })
      })

      it('purgeExpired (when the store has one) removes expired authorizations, frees their user codes and keeps live ones', async (ctx) => {
        const s = devices() as (GrantkitStore & DeviceCodeStore & Partial<PurgeableStore>) | null
        if (s === null || typeof s.purgeExpired !== 'function') return ctx.skip()
        // Far in the past, as in the PurgeableStore test, so that only this test's records are purged.
        const base = new Date(Date.UTC(1991, 0, 1) + Math.floor(Math.random() * 1e9))
        const later = (seconds: number) => new Date(base.getTime() + seconds * 1000)
        const old = deviceRecord({ createdAt: later(-900), expiresAt: later(-300) })
        const live = deviceRecord({ createdAt: later(0), expiresAt: later(600) })
        await s.saveDeviceCode(old)
        await s.saveDeviceCode(live)
        await s.decideDeviceCode(old.userCodeHash, approve(id('user')), later(-600))
        expect(await s.purgeExpired(base)).toBeGreaterThanOrEqual(1)
        expect(await s.findDeviceCodeByUserCode(live.userCodeHash, base)).toEqual(defined(live))
        expect(await h().dumpRaw()).not.toContain(old.deviceCodeHash)
        // The purged authorization's user code may be used again.
        const reused = deviceRecord({ userCodeHash: old.userCodeHash, createdAt: base, expiresAt: later(600) })
        await s.saveDeviceCode(reused)
        expect(await s.findDeviceCodeByUserCode(old.userCodeHash, base)).toEqual(defined(reused))
      })

      it('stores hashes of the device code and the user code, never the codes', async (ctx) => {
        const s = devices()
        if (s === null) return ctx.skip()
        const rawDeviceCode = generateToken()
        const rawUserCode = userCode()
        const record = deviceRecord({ deviceCodeHash: hashToken(rawDeviceCode), userCodeHash: hashToken(rawUserCode) })
        await s.saveDeviceCode(record)
        await s.pollDeviceCode(record.deviceCodeHash, at(1))
        await s.decideDeviceCode(record.userCodeHash, approve(id('user')), at(2))
        const dump = await h().dumpRaw()
        expect(dump).toContain(record.deviceCodeHash)
        expect(dump).toContain(record.userCodeHash)
        expect(dump).not.toContain(rawDeviceCode)
        expect(dump).not.toContain(rawUserCode)
      })
    })

    describe('secrets at rest (only hashes reach the database)', () => {
      it('stores hashes of client secrets, codes and tokens, never the raw values', async () => {
        const secret = `secret-${generateToken()}`
        const { client } = await createClient({ clientId: id('client'), clientSecret: secret, secretHash: 'sha256', redirectUris: ['https://client.example/cb'] })
        expect(client.clientSecretHash).not.toBeNull()
        const rawCode = generateToken()
        const rawAccess = generateToken()
        const rawRefresh = generateToken()
        const code = codeRecord({ codeHash: hashToken(rawCode), clientId: client.clientId })
        const access = tokenRecord({ tokenHash: hashToken(rawAccess), clientId: client.clientId })
        const refresh = tokenRecord({ tokenHash: hashToken(rawRefresh), clientId: client.clientId, familyId: access.familyId, type: 'refresh_token' })
        await store().saveClient(client)
        await store().saveAuthorizationCode(code)
        await store().saveTokens([access, refresh])

        const dump = await h().dumpRaw()
        for (const hash of [client.clientSecretHash as string, code.codeHash, access.tokenHash, refresh.tokenHash]) {
          expect(dump).toContain(hash)
        }
        for (const raw of [secret, rawCode, rawAccess, rawRefresh]) {
          expect(dump).not.toContain(raw)
        }
      })
    })
  })
}
