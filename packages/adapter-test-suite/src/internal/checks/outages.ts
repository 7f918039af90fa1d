import { connect, createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { STACK_FRAME, type SuiteContext } from '../context.js'
import { CLIENT_FORM, REDIRECT_URI, TOKENS, authorizeQuery } from '../../fixtures.js'

/** A port nothing listens on: one a server just released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * The real error of a TCP connect to a closed port, as a database driver
 * gets it while its server is down (`ECONNREFUSED`), under a wrapper whose
 * message holds what must never be answered or logged (as drizzle's
 * `DrizzleQueryError` holds the SQL and its parameters).
 */
async function databaseDown(): Promise<Error> {
  const port = await closedPort()
  const refused = await new Promise<Error>((resolve) => connect(port, '127.0.0.1').on('error', resolve))
  return new Error(`Failed query: select * from clients\nparams: hunter2 127.0.0.1:${port}`, { cause: refused })
}

/**
 * A passing outage of the store (the database restarting or unreachable)
 * is answered 503 with `Retry-After`, never 500, on every endpoint:
 * `server_error` at the JSON endpoints (the RFC 6749 §5.2 code),
 * `temporarily_unavailable` at the authorization endpoint (RFC 6749
 * §4.1.2.1, on the error page or in the redirect to the client).
 */
export function outageChecks(ctx: SuiteContext): void {
  describe('outages: a store that is down answers 503 with Retry-After (RFC 9110 §15.6.4, §10.2.3)', () => {
    it.each([
      { where: 'the token endpoint', path: '/token' },
      { where: 'revocation', path: '/revoke' },
      { where: 'introspection', path: '/introspect' },
    ])('answers 503 server_error with Retry-After at $where, with no internals, and reports the error', async ({ path }) => {
      const { url, store, serverOnError } = await ctx.start()
      const down = await databaseDown()
      store.findClient = async () => {
        throw down
      }
      const res = await fetch(url + path, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&token=x' })
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      const text = await res.text()
      expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: expect.any(String) })
      expect(text).not.toMatch(/hunter2|127\.0\.0\.1|ECONNREFUSED/)
      expect(text).not.toMatch(STACK_FRAME)
      expect(serverOnError).toHaveBeenCalledWith(down)
    })

    it('recovers once the store is back: the next token request is 200', async () => {
      const { url, store } = await ctx.start()
      const findClient = store.findClient.bind(store)
      const down = await databaseDown()
      store.findClient = async () => {
        throw down
      }
      expect((await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })).status).toBe(503)
      store.findClient = findClient
      expect((await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })).status).toBe(200)
    })

    it('shows the 503 temporarily_unavailable page with Retry-After at the authorization endpoint before the client is known, never a redirect', async () => {
      const { url, store, authorize } = await ctx.start()
      const down = await databaseDown()
      store.findClient = async () => {
        throw down
      }
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      const html = await res.text()
      expect(html).toContain('temporarily_unavailable')
      expect(html).not.toMatch(/hunter2|ECONNREFUSED/)
      expect(authorize).not.toHaveBeenCalled()
    })

    it('redirects temporarily_unavailable with the state to the client when the store fails after approval (RFC 6749 §4.1.2.1)', async () => {
      const { url, server } = await ctx.start({ oauth: { authorize: () => ({ user: { id: 'user-1' } }) } })
      const down = await databaseDown()
      // The approval reaches the store once the redirect URI is valid, as consuming a pushed request (RFC 9126 §4) does.
      server.registerAuthorizationRequestResolver({
        resolve: async (params) => ({
          params,
          onAnswer: async () => {
            throw down
          },
        }),
      })
      const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect([302, 303]).toContain(res.status)
      const location = new URL(res.headers.get('location') ?? 'about:blank')
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI)
      expect(location.searchParams.get('error')).toBe('temporarily_unavailable')
      expect(location.searchParams.get('state')).toBe('s t')
      expect(location.searchParams.has('code')).toBe(false)
      expect(location.searchParams.get('error_description') ?? '').not.toMatch(/hunter2|ECONNREFUSED/)
    })

    it('answers requireToken 503 server_error with Retry-After when the token lookup finds the store down, and hands the error to onError', async () => {
      const { url, store, resourceOnError } = await ctx.start()
      const down = await databaseDown()
      store.findToken = async () => {
        throw down
      }
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.user}` } })
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      const text = await res.text()
      expect(JSON.parse(text)).toMatchObject({ error: 'server_error' })
      expect(text).not.toMatch(/hunter2|ECONNREFUSED/)
      expect(resourceOnError).toHaveBeenCalledWith(down)
    })
  })
}
