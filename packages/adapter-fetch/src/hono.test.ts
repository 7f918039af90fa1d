import { Hono } from 'hono'
import { afterEach, describe, expect, it } from 'vitest'
import { CLIENT_FORM, FORM, REDIRECT_URI, testServer } from '@grantkit/adapter-test-suite'
import { oauthHandler, requireToken } from './index.js'
import { serveFetch } from './internal/testing.js'

let closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.map((close) => close()))
  closers = []
})

const query = new URLSearchParams({ response_type: 'code', client_id: 'app', redirect_uri: REDIRECT_URI, state: 'xyz', scope: 'profile' }).toString()

/** The README's Hono example: the OAuth endpoints mounted first, then the app's routes, one of them protected. */
async function honoApp() {
  const { server } = await testServer({ issuer: 'http://localhost' })
  const oauth = oauthHandler(server, {
    authorize: async (request, { request: authorization, form, actionUrl }) => {
      // A real app reads its session cookie here.
      if (request.method === 'POST' && form.get('approve') === 'yes') return { user: { id: 'ada' } }
      return new Response(`<form method="post" action="${actionUrl}">Allow ${authorization.client.clientName}?<button name="approve" value="yes">Allow</button></form>`, {
        headers: { 'content-type': 'text/html; charset=utf-8', 'set-cookie': 'csrf=1; HttpOnly' },
      })
    },
  })
  const guard = requireToken(server, { scope: 'read' })
  const app = new Hono()
  app.use(async (c, next) => (oauth.serves(c.req.path) ? oauth(c.req.raw) : next()))
  app.get('/api/me', async (c) => {
    const auth = await guard(c.req.raw)
    if (!auth.ok) return auth.response
    return c.json({ client: auth.token.clientId, scopes: auth.token.scopes })
  })
  app.get('/health', (c) => c.text('ok'))
  return app
}

describe('with Hono', () => {
  it('issues a token and protects a route, in process (app.request: no Content-Length)', async () => {
    const app = await honoApp()
    const issued = await app.request('/token', { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&scope=read' })
    expect(issued.status).toBe(200)
    const { access_token } = (await issued.json()) as { access_token: string }
    const me = await app.request('/api/me', { headers: { authorization: `Bearer ${access_token}` } })
    expect(await me.json()).toEqual({ client: 'app', scopes: ['read'] })
    const anonymous = await app.request('/api/me')
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="http://localhost"')
    expect(await (await app.request('/health')).text()).toBe('ok')
  })

  it('runs the consent page and the redirect (RFC 6749 §4.1) with the page headers on the app page', async () => {
    const app = await honoApp()
    const page = await app.request(`/authorize?${query}`)
    expect(page.status).toBe(200)
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    expect(page.headers.get('cache-control')).toBe('no-store')
    expect(page.headers.get('set-cookie')).toBe('csrf=1; HttpOnly')
    const html = await page.text()
    const action = /action="([^"]+)"/.exec(html)![1]!.replaceAll('&amp;', '&')
    const approved = await app.request(action, { method: 'POST', headers: FORM, body: 'approve=yes' })
    expect(approved.status).toBe(303)
    const location = new URL(approved.headers.get('location')!)
    expect(Object.fromEntries(location.searchParams)).toMatchObject({ code: 'code-for-ada', state: 'xyz' })
  })

  it('serves the same app over real HTTP', async () => {
    const app = await honoApp()
    const { url, close } = await serveFetch(async (request) => app.fetch(request))
    closers.push(close)
    const metadata = await fetch(`${url}/.well-known/oauth-authorization-server`)
    expect(await metadata.json()).toMatchObject({ token_endpoint: 'http://localhost/token' })
    const issued = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&scope=read' })
    expect(issued.status).toBe(200)
    expect((await fetch(`${url}/api/me`)).status).toBe(401)
  })
})
