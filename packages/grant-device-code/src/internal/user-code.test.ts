import { describe, expect, it } from 'vitest'
import { formatUserCode, newUserCode, normalizeUserCode, userCodeEntropy } from './user-code.js'

const CONSONANTS = 'BCDFGHJKLMNPQRSTVWXZ'

describe('user codes (RFC 8628 §6.1)', () => {
  it('draws each character of the charset uniformly (4000 draws, every count within 5 σ of 200)', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 500; i++) for (const c of newUserCode(CONSONANTS, 8)) counts.set(c, (counts.get(c) ?? 0) + 1)
    expect([...counts.keys()].sort().join('')).toBe(CONSONANTS)
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(130)
      expect(count).toBeLessThan(270)
    }
  })

  it('has 34.5 bits of entropy at the default 8 characters from 20 (§6.1’s example)', () => {
    expect(userCodeEntropy(CONSONANTS, 8)).toBeCloseTo(34.58, 2)
  })

  it.each([
    ['wdjb-mjht', 'WDJBMJHT'],
    ['WDJBMJHT', 'WDJBMJHT'],
    [' wdjb mjht ', 'WDJBMJHT'],
    ['W-D-J-B-M-J-H-T', 'WDJBMJHT'],
    ['wdjb\tmjht\n', 'WDJBMJHT'],
    ['1234-5678-9', '123456789'],
  ])('normalises %j to %s: upper case, no dashes or white space', (input, normalized) => {
    expect(normalizeUserCode(input)).toBe(normalized)
  })

  it.each([
    ['WDJBMJHT', 'WDJB-MJHT'],
    ['123456789', '1234-5678-9'],
    ['BCDFGH', 'BCDF-GH'],
  ])('shows %s as %s, in groups of four', (normalized, shown) => {
    expect(formatUserCode(normalized)).toBe(shown)
  })
})
