import * as core from '@grantkit/core'
import { hashSecret } from '@grantkit/core'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { TEST_STORES, type TestStore } from '../../../test-support/stores.js'
import { authenticateStoreUser } from './authenticate-store-user.js'

// Watch verifySecret to check that an unknown user still costs a scrypt verification.
vi.mock('@grantkit/core', async (importOriginal) => {
  const actual = await importOriginal<typeof core>()
  return { ...actual, verifySecret: vi.fn(actual.verifySecret) }
})

describe.each(TEST_STORES)('authenticateStoreUser (RFC 6749 §4.3.2) on the %s', (_storeName, openStore) => {
  let store: TestStore

  beforeEach(async () => {
    store = await openStore()
    vi.mocked(core.verifySecret).mockClear()
    await store.saveUser({ id: 'u-1', username: 'alice', passwordHash: await hashSecret('correct horse', 'scrypt') })
  })

  it('returns the id and username when the password is right', async () => {
    await expect(authenticateStoreUser(store, 'alice', 'correct horse')).resolves.toEqual({ id: 'u-1', username: 'alice' })
  })

  it('returns null when the password is wrong', async () => {
    await expect(authenticateStoreUser(store, 'alice', 'Correct horse')).resolves.toBeNull()
  })

  it('returns null for an unknown user after verifying against a scrypt hash (no timing oracle)', async () => {
    await expect(authenticateStoreUser(store, 'mallory', 'correct horse')).resolves.toBeNull()
    expect(core.verifySecret).toHaveBeenCalledTimes(1)
    expect(vi.mocked(core.verifySecret).mock.calls[0]?.[1]).toMatch(/^scrypt\$/)
  })

  it('verifies an unknown user against a dummy of the cost it is told the passwords use', async () => {
    const scrypt = { N: 2 ** 13, r: 8, p: 10 }
    await expect(authenticateStoreUser(store, 'mallory', 'x', { scrypt })).resolves.toBeNull()
    expect(vi.mocked(core.verifySecret).mock.calls[0]?.[1]).toMatch(/^scrypt\$8192\$8\$10\$/)
  })
})
