// The group commit of token saves (group-commit.ts), over a real database: shared by the SQLite and PostgreSQL tests.
import { generateToken, hashToken } from '@grantkit/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Harness } from './testing.js'

/** Runs the group-commit tests on the store of `harness` (one fresh harness for the block). */
export function describeGroupCommit(name: string, harness: () => Promise<Harness<unknown>>, run: (title: string, body: () => void) => void = describe): void {
  run(`${name} saveTokens group commit`, () => {
    let h: Harness<unknown>
    beforeAll(async () => {
      h = await harness()
    })
    afterAll(async () => {
      await h.close()
    })

    const now = new Date('2030-01-01T00:00:00.000Z')
    const later = new Date(now.getTime() + 60_000)
    const token = (familyId: string, type: 'access_token' | 'refresh_token' = 'access_token') => ({
      tokenHash: hashToken(generateToken()),
      type,
      clientId: 'c',
      userId: null,
      scope: 'read',
      familyId,
      issuedAt: now,
      expiresAt: later,
      revokedAt: null,
      rotatedAt: null,
    })

    it('saves every request of one event-loop turn, across several statements, and each settles after its rows are stored', async () => {
      // 100 requests of 2 rows each: more than one multi-row INSERT.
      const requests = Array.from({ length: 100 }, (_, i) => [token(`gc-${i}`), token(`gc-${i}`, 'refresh_token')])
      await Promise.all(requests.map((records) => h.store.saveTokens(records)))
      for (const records of requests) {
        for (const record of records) expect(await h.store.findToken(record.tokenHash)).toEqual(record)
      }
    })

    it('fails only the request whose rows cannot be stored, and stores the others', async () => {
      const existing = token('gc-dup')
      await h.store.saveTokens([existing])
      const good = Array.from({ length: 5 }, (_, i) => [token(`gc-ok-${i}`)])
      // The same token hash again violates the primary key.
      const failing = [token('gc-dup-2'), { ...existing, familyId: 'gc-dup-2' }]
      const results = await Promise.allSettled([
        h.store.saveTokens(good[0]!),
        h.store.saveTokens(good[1]!),
        h.store.saveTokens(failing),
        h.store.saveTokens(good[2]!),
        h.store.saveTokens(good[3]!),
        h.store.saveTokens(good[4]!),
      ])
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'])
      for (const records of good) expect(await h.store.findToken(records[0]!.tokenHash)).not.toBeNull()
      // All or nothing per request: the failed request's other token is not stored either.
      expect(await h.store.findToken(failing[0]!.tokenHash)).toBeNull()
      expect((await h.store.findToken(existing.tokenHash))?.familyId).toBe('gc-dup')
    })
  })
}
