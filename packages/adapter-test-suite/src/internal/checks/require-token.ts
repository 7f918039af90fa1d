import { describe, expect, it } from 'vitest'
import { STACK_FRAME, type SuiteContext } from '../context.js'
import { ISSUER, TOKENS } from '../../fixtures.js'

/** `requireToken` in front of a protected resource (RFC 6750). */
export function requireTokenChecks(ctx: SuiteContext): void {
  describe('requireToken (RFC 6750)', () => {
    it.each(['Bearer', 'bearer', 'BEARER'])('accepts a valid token with the %s scheme and hands the token to the route (§2.1)', async (scheme) => {
      const { url } = await ctx.start({ resource: { scope: 'profile' } })
      const res = await fetch(`${url}/resource`, { headers: { authorization: `${scheme} ${TOKENS.user}` } })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ client_id: 'app', sub: 'user-1', scope: 'profile read' })
    })

    it('accepts a client-only token when no user is required', async () => {
      const { url } = await ctx.start({ resource: { scope: ['read'] } })
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.client}` } })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ client_id: 'app', sub: null, scope: 'profile read' })
    })

    it.each([
      ['no Authorization header', {}, ''],
      ['a Basic Authorization header', { authorization: 'Basic YTpi' }, ''],
      ['a token in the query only (§2.3 is not supported)', {}, `?access_token=${TOKENS.user}`],
    ])('answers %s with 401, the bare challenge WWW-Authenticate: Bearer realm and no error (§3.1)', async (_name, headers: Record<string, string>, query) => {
      const { url } = await ctx.start({ resource: { scope: 'profile' } })
      const res = await fetch(`${url}/resource${query}`, { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${ISSUER}"`)
      expect(await res.text()).toBe('')
    })

    it.each([
      ['an unknown', 'unknown'],
      ['an expired', TOKENS.expired],
      ['a revoked', TOKENS.revoked],
      ['a refresh', TOKENS.refresh],
      ['a malformed', 'not a b64token!'],
    ])('answers %s token with 401 invalid_token (§3.1)', async (_name, token) => {
      const { url } = await ctx.start({ resource: { scope: 'profile' } })
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer realm="${ISSUER}", .*error="invalid_token"`))
      expect(await res.json()).toMatchObject({ error: 'invalid_token' })
    })

    it('answers a token without the required scope with 403 insufficient_scope naming the scope (§3.1)', async () => {
      const { url } = await ctx.start({ resource: { scope: 'profile' } })
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.readOnly}` } })
      expect(res.status).toBe(403)
      expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="profile"/)
      expect(await res.json()).toMatchObject({ error: 'insufficient_scope' })
    })

    it('answers a client-only token with 403 insufficient_scope when a user is required (§3.1)', async () => {
      const { url } = await ctx.start({ resource: { scope: 'profile', user: true } })
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.client}` } })
      expect(res.status).toBe(403)
      expect(res.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/)
      expect(await res.json()).toMatchObject({ error: 'insufficient_scope' })
    })

    it('answers a store failure with 500 server_error without details and hands the error to onError', async () => {
      const { url, store, resourceOnError } = await ctx.start()
      const failure = new Error('connection string postgres://secret')
      store.findToken = async () => {
        throw failure
      }
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.user}` } })
      expect(res.status).toBe(500)
      const text = await res.text()
      expect(JSON.parse(text)).toMatchObject({ error: 'server_error' })
      expect(text).not.toContain('secret')
      expect(text).not.toMatch(STACK_FRAME)
      expect(resourceOnError).toHaveBeenCalledOnce()
      expect(resourceOnError).toHaveBeenCalledWith(failure)
    })

    it('never hands a protocol error (a bad token) to onError', async () => {
      const { url, resourceOnError } = await ctx.start({ resource: { scope: 'profile' } })
      await fetch(`${url}/resource`, { headers: { authorization: 'Bearer unknown' } })
      await fetch(`${url}/resource`)
      expect(resourceOnError).not.toHaveBeenCalled()
    })
  })
}
