import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { STACK_FRAME, type SuiteContext } from '../context.js'
import { CLIENT_FORM, TOKENS, authorizeQuery } from '../../fixtures.js'

const SECRET = 'hunter2-in-the-message'

/** Unexpected errors: answered `server_error` without details, and logged without them (RFC 6749 §5.2). */
export function errorDetailChecks(ctx: SuiteContext): void {
  describe('unexpected errors: no error message or stack in any response (RFC 6749 §5.2 server_error)', () => {
    const failure = () => {
      const error = new Error(SECRET)
      error.stack = `Error: ${SECRET}\n    at secretFrame (/srv/app.js:1:1)`
      return error
    }

    it.each([
      { where: 'the token endpoint', path: '/token', type: /^application\/json/ },
      { where: 'revocation', path: '/revoke', type: /^application\/json/ },
      { where: 'introspection', path: '/introspect', type: /^application\/json/ },
    ])('answers a store failure at $where with 500 server_error, and the server reports it', async ({ path, type }) => {
      const { url, store, serverOnError } = await ctx.start()
      store.findClient = async () => {
        throw failure()
      }
      const res = await fetch(url + path, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&token=x' })
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toMatch(type)
      const text = await res.text()
      expect(JSON.parse(text)).toMatchObject({ error: 'server_error' })
      expect(text).not.toContain(SECRET)
      expect(text).not.toMatch(STACK_FRAME)
      expect(serverOnError).toHaveBeenCalledWith(expect.objectContaining({ message: SECRET }))
    })

    it('answers a store failure at the authorization endpoint with the 500 page, never a redirect', async () => {
      const { url, store, authorize } = await ctx.start()
      store.findClient = async () => {
        throw failure()
      }
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      expect(res.headers.get('location')).toBeNull()
      const text = await res.text()
      expect(text).toContain('server_error')
      expect(text).not.toContain(SECRET)
      expect(text).not.toMatch(STACK_FRAME)
      expect(authorize).not.toHaveBeenCalled()
    })

    it('logs an error of the authorize hook by default (no onError) without its message or stack', async () => {
      const errors = ctx.consoleErrors()
      const { url } = await ctx.start({
        oauth: {
          onError: undefined,
          authorize: () => {
            throw failure()
          },
        },
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(500)
      expect(await res.text()).not.toContain(SECRET)
      expect(errors).toHaveBeenCalledOnce()
      // inspect, not JSON: an Error logged as is would stringify to {} and hide its message.
      const logged = inspect(errors.mock.calls, { depth: 5 })
      expect(logged).not.toContain(SECRET)
      expect(logged).not.toContain('secretFrame')
    })

    it('logs a store failure of requireToken by default (no onError) without its message or stack', async () => {
      const errors = ctx.consoleErrors()
      const { url, store } = await ctx.start({ resource: { onError: undefined } })
      store.findToken = async () => {
        throw failure()
      }
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.user}` } })
      expect(res.status).toBe(500)
      expect(await res.text()).not.toContain(SECRET)
      expect(errors).toHaveBeenCalledOnce()
      const logged = inspect(errors.mock.calls, { depth: 5 })
      expect(logged).not.toContain(SECRET)
      expect(logged).not.toContain('secretFrame')
    })
  })
}
