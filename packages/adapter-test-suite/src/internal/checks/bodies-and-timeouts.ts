import { describe, expect, it } from 'vitest'
import type { PreBodyParser } from '../../harness.js'
import { never, type SuiteContext } from '../context.js'
import { CLIENT_FORM, FORM, TOKENS, authorizeQuery, basicAuth } from '../../fixtures.js'
import { stalledRequest } from '../raw-http.js'

const ALL_PARSERS: readonly PreBodyParser[] = ['form', 'json', 'consume']
const JSON_TOKEN_REQUEST = { method: 'POST', headers: { 'content-type': 'application/json', authorization: basicAuth() }, body: '{"grant_type":"client_credentials"}' }

/** A global body parser mounted before the OAuth routes, and requests that take too long. */
export function bodyAndTimeoutChecks(ctx: SuiteContext): void {
  const parsers = ctx.harness.preBodyParsers ?? ALL_PARSERS

  describe('a body already read by a global body parser mounted before the OAuth routes', () => {
    if (parsers.includes('form')) {
      describe('the form parser', () => {
        it('leaves a working token endpoint (RFC 6749 §3.2)', async () => {
          const { url } = await ctx.start({ preBodyParser: 'form' })
          const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&scope=read' })
          expect(res.status).toBe(200)
          expect(await res.json()).toMatchObject({ token_type: 'Bearer', scope: 'read' })
        })

        it('keeps a repeated parameter repeated, so that it is still refused (RFC 6749 §3.2)', async () => {
          const { url } = await ctx.start({ preBodyParser: 'form' })
          const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&scope=read&scope=profile' })
          expect(res.status).toBe(400)
          expect(await res.json()).toMatchObject({ error: 'invalid_request' })
        })

        it('leaves a working login form at the authorization endpoint', async () => {
          const { url, authorize } = await ctx.start({
            preBodyParser: 'form',
            oauth: { authorize: ({ form }) => (form.get('username') === 'ada' ? { user: { id: 'ada' } } : { page: 'login' }) },
          })
          const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: FORM, body: 'username=ada', redirect: 'manual' })
          expect(res.status).toBe(303)
          expect(new URL(res.headers.get('location') as string).searchParams.get('code')).toBe('code-for-ada')
          expect(authorize).toHaveBeenCalledOnce()
        })

        it('still refuses a JSON body at the token endpoint with 400 invalid_request', async () => {
          const { url } = await ctx.start({ preBodyParser: 'form' })
          const res = await fetch(`${url}/token`, JSON_TOKEN_REQUEST)
          expect(res.status).toBe(400)
          expect(await res.json()).toMatchObject({ error: 'invalid_request' })
        })
      })
    }

    if (parsers.includes('json')) {
      describe('the JSON parser', () => {
        it('does not make a JSON token request acceptable: 400 invalid_request (RFC 6749 Appendix B)', async () => {
          const { url } = await ctx.start({ preBodyParser: 'json' })
          const res = await fetch(`${url}/token`, JSON_TOKEN_REQUEST)
          expect(res.status).toBe(400)
          expect(await res.json()).toMatchObject({ error: 'invalid_request' })
        })

        it('leaves a form token request it did not parse working', async () => {
          const { url } = await ctx.start({ preBodyParser: 'json' })
          const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&scope=read' })
          expect(res.status).toBe(200)
          expect(await res.json()).toMatchObject({ scope: 'read' })
        })
      })
    }

    if (parsers.includes('consume')) {
      describe('middleware that read the stream and kept nothing', () => {
        it('answers the token endpoint 400 invalid_request at once, never waiting for the gone body', async () => {
          // The default requestTimeout (10 s) would answer 500: a 400 proves the adapter did not wait.
          const { url } = await ctx.start({ preBodyParser: 'consume' })
          const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
          expect(res.status).toBe(400)
          expect(await res.json()).toMatchObject({ error: 'invalid_request' })
        })

        it('answers a form posted to the authorization endpoint with a 400 page', async () => {
          const { url, authorize } = await ctx.start({ preBodyParser: 'consume' })
          const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { method: 'POST', headers: FORM, body: 'username=ada', redirect: 'manual' })
          expect(res.status).toBe(400)
          expect(res.headers.get('content-type')).toMatch(/^text\/html/)
          expect(res.headers.get('location')).toBeNull()
          expect(authorize).not.toHaveBeenCalled()
        })

        it('leaves a GET to the authorization endpoint working', async () => {
          const { url } = await ctx.start({ preBodyParser: 'consume', oauth: { authorize: () => ({ page: 'consent' }) } })
          const res = await fetch(`${url}/authorize?${authorizeQuery()}`)
          expect(res.status).toBe(200)
          expect(await res.text()).toBe('consent')
        })
      })
    }
  })

  describe('requestTimeout (a hanging store, client or hook cannot hold a request open)', () => {
    it(
      'answers the token endpoint 503 server_error with Retry-After when the store hangs, reports it, and recovers',
      async () => {
        const { url, store, onError } = await ctx.start({ oauth: { requestTimeout: ctx.timeout } })
        const findClient = store.findClient.bind(store)
        store.findClient = () => never()
        const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
        expect(res.status).toBe(503)
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
        expect(res.headers.get('cache-control')).toBe('no-store')
        expect(await res.json()).toEqual({ error: 'server_error', error_description: expect.any(String) })
        expect(onError).toHaveBeenCalledWith(expect.objectContaining({ name: 'RequestTimeoutError' }))
        store.findClient = findClient
        const again = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
        expect(again.status).toBe(200)
      },
      ctx.slowTestTimeout,
    )

    it(
      'answers a body that stops arriving with 500 server_error instead of waiting for it (the client, not an outage)',
      async () => {
        const { url, onError } = await ctx.start({ oauth: { requestTimeout: ctx.timeout } })
        const res = await stalledRequest(`${url}/token`, { headers: { ...CLIENT_FORM, 'content-length': '100' }, sent: 'grant_type=client' })
        expect(res.status).toBe(500)
        expect(JSON.parse(res.body)).toMatchObject({ error: 'server_error' })
        expect(onError).toHaveBeenCalledWith(expect.objectContaining({ name: 'RequestTimeoutError' }))
      },
      ctx.slowTestTimeout,
    )

    it(
      'answers a login form that stops arriving with the 500 page, never a redirect',
      async () => {
        const { url, authorize } = await ctx.start({ oauth: { requestTimeout: ctx.timeout } })
        const res = await stalledRequest(`${url}/authorize?${authorizeQuery()}`, { headers: { ...FORM, 'content-length': '100' }, sent: 'username=' })
        expect(res.status).toBe(500)
        expect(res.headers['content-type']).toMatch(/^text\/html/)
        expect(res.headers['location']).toBeUndefined()
        expect(authorize).not.toHaveBeenCalled()
      },
      ctx.slowTestTimeout,
    )

    it(
      'answers the 503 temporarily_unavailable page with Retry-After, never a redirect, when the authorize hook hangs',
      async () => {
        const { url, onError, authorize } = await ctx.start({ oauth: { requestTimeout: ctx.timeout, authorize: () => never() } })
        const res = await fetch(`${url}/authorize?${authorizeQuery()}`, { redirect: 'manual' })
        expect(res.status).toBe(503)
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
        expect(res.headers.get('location')).toBeNull()
        expect(res.headers.get('content-type')).toMatch(/^text\/html/)
        expect(await res.text()).toContain('temporarily_unavailable')
        expect(onError).toHaveBeenCalledWith(expect.objectContaining({ name: 'RequestTimeoutError' }))
        expect(authorize).toHaveBeenCalledOnce()
      },
      ctx.slowTestTimeout,
    )

    it(
      'answers requireToken 503 server_error with Retry-After when the token lookup outlives its timeout',
      async () => {
        const { url, store, resourceOnError } = await ctx.start({ resource: { timeout: ctx.timeout } })
        store.findToken = () => never()
        const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.user}` } })
        expect(res.status).toBe(503)
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
        expect(await res.json()).toMatchObject({ error: 'server_error' })
        expect(resourceOnError).toHaveBeenCalledWith(expect.objectContaining({ name: 'RequestTimeoutError' }))
      },
      ctx.slowTestTimeout,
    )
  })
}
