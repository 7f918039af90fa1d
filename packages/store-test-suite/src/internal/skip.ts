import { describe, it } from 'vitest'

/**
 * Registers the skipped (or, in CI, failing) stand-in of a suite that cannot
 * run, and answers whether it did: CI never skips a store silently, a
 * missing database is a failure there.
 */
export function registerSkipped(title: string, name: string, reason: string | undefined): boolean {
  if (reason === undefined) return false
  if (process.env['CI']) {
    describe(title, () => {
      it(`cannot run in CI: the database is missing (${reason})`, () => {
        throw new Error(`contract suite "${name}" was asked to skip in CI: the database is missing (${reason})`)
      })
    })
  } else {
    describe.skip(`${title} (skipped: ${reason})`, () => {
      it('needs a database', () => {})
    })
  }
  return true
}
