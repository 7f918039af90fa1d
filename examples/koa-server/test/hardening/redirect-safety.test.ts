import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterCases, startDemoServer, tempDir, writeSeed, type DemoServer } from '../support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, PUBLIC_CLIENT, USER, seed } from '../support/fixtures.js'
import { authorize } from '../support/login-form.js'
import { obtainCode, pkce, post } from '../support/oauth-http.js'

const REGISTERED = 'https://client.example/cb'
const REDIRECT_CLIENT = {
  client_id: 'redirect-app',
  client_secret: 'redirect-app-secret',
  redirect_uris: [REGISTERED],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  scope: 'profile',
  token_endpoint_auth_method: 'client_secret_basic',
}
const APPROVE = { username: USER.username, password: USER.password, decision: 'approve' }

describe.each(adapterCases())('redirects of the demo server on $adapter', ({ adapter }) => {
  let demo: DemoServer
  let removeDir: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    const base = seed()
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: 'memory:', OAUTH_SEED: await writeSeed(tmp.dir, { ...base, clients: [...base.clients, REDIRECT_CLIENT] }), OAUTH_LOG: 'off' }, tmp.dir)
  })

  afterAll(async () => {
    await demo?.stop()
    await removeDir?.()
  })

  function authorizationUrl(params: Record<string, string>): URL {
    const url = new URL(`${demo.issuer}/authorize`)
    url.search = new URLSearchParams({ response_type: 'code', client_id: REDIRECT_CLIENT.client_id, redirect_uri: REGISTERED, state: 'st', scope: 'profile', ...params }).toString()
    return url
  }

  describe('no open redirect: redirect URIs are matched exactly before any redirect (RFC 6749 §3.1.2.4, §4.1.2.1; RFC 9700 §4.1.3)', () => {
    const attempts: [string, string][] = [
      ['an unregistered URI', 'https://evil.example/cb'],
      ['a path traversal after the registered path', 'https://client.example/cb/../evil'],
      ['a longer path with the registered prefix', 'https://client.example/cbx'],
      ['a sub-path', 'https://client.example/cb/evil'],
      ['a trailing slash', 'https://client.example/cb/'],
      ['an added query', 'https://client.example/cb?x=1'],
      ['a query that smuggles a second redirect', 'https://client.example/cb?redirect=https://evil.example'],
      ['a fragment', 'https://client.example/cb#frag'],
      ['an empty fragment', 'https://client.example/cb#'],
      ['a host suffix', 'https://client.example.evil.com/cb'],
      ['userinfo that names the client host', 'https://client.example@evil.com/cb'],
      ['userinfo before the client host', 'https://evil.com@client.example/cb'],
      ['a backslash host trick', 'https://client.example\\@evil.com/cb'],
      ['a javascript: URI', 'javascript:alert(1)//https://client.example/cb'],
      ['a data: URI', 'data:text/html,<script>alert(1)</script>'],
      ['a scheme-relative URI', '//evil.example/cb'],
      ['another scheme', 'http://client.example/cb'],
      ['an explicit default port', 'https://client.example:443/cb'],
      ['an upper-case host', 'https://CLIENT.EXAMPLE/cb'],
      ['an upper-case scheme', 'HTTPS://client.example/cb'],
      ['an upper-case path', 'https://client.example/CB'],
      ['a percent-encoded path', 'https://client.example/%63b'],
      ['a percent-encoded slash in the host', 'https://client.example%2Fcb'],
      ['an encoded CRLF header injection', 'https://client.example/cb%0d%0aLocation:%20https://evil.example'],
      ['a NUL byte', 'https://client.example/cb\u0000'],
      ['a leading space', ' https://client.example/cb'],
      ['a trailing space', 'https://client.example/cb '],
      ['a unicode look-alike host', 'https://client.exampl\u0435/cb'],
    ]

    it.each(attempts)('answers %s with the 400 HTML page and no Location', async (_name, redirectUri) => {
      const res = await fetch(authorizationUrl({ redirect_uri: redirectUri }), { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await res.text()).toContain('invalid_request')
    })

    it.each([
      ['a valid and an evil redirect_uri (repeated parameter)', (url: URL) => url.searchParams.append('redirect_uri', 'https://evil.example/cb')],
      ['an evil redirect_uri and an unsupported response_type', (url: URL) => (url.searchParams.set('redirect_uri', 'https://evil.example/cb'), url.searchParams.set('response_type', 'bogus'))],
      ['an evil redirect_uri and an unknown client', (url: URL) => (url.searchParams.set('redirect_uri', 'https://evil.example/cb'), url.searchParams.set('client_id', 'nobody'))],
      ['an evil redirect_uri for the implicit grant', (url: URL) => (url.searchParams.set('redirect_uri', 'https://evil.example/cb'), url.searchParams.set('response_type', 'token'), url.searchParams.set('client_id', PUBLIC_CLIENT.client_id))],
    ])('never redirects %s', async (_name, change) => {
      const url = authorizationUrl({})
      change(url)
      const res = await fetch(url, { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
    })

    it('never redirects an evil redirect_uri in a POSTed authorization request (RFC 6749 §3.1)', async () => {
      const res = await fetch(`${demo.issuer}/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: authorizationUrl({ redirect_uri: 'https://client.example@evil.com/cb' }).searchParams,
      })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
    })

    it('redirects the exact registered URI (the control case)', async () => {
      const res = await authorize(authorizationUrl({}), APPROVE)
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toMatch(/^https:\/\/client\.example\/cb\?code=/)
    })
  })

  describe('state is echoed verbatim and nothing is injected into the redirect (RFC 6749 §4.1.2, §10.12; RFC 9207)', () => {
    const states = [
      ['an ampersand', 'a&b'],
      ['an injected code parameter', 'x&code=evil'],
      ['an injected iss parameter', 'x&iss=https://evil.example'],
      ['an injected fragment token', 'x#access_token=evil'],
      ['percent sequences', '%41%zz%'],
      ['an encoded ampersand', '%26code%3Devil'],
      ['plus signs and spaces', 'a+b c'],
      ['equals signs', '=a=b='],
      ['unicode', '\u2713 \u00fc \u{1D11E} \u65e5\u672c'],
      ['quotes and angle brackets', `'"<script>`],
      ['a CRLF', 'a\r\nSet-Cookie: x=1'],
      ['a question mark and a slash', '?/x?y'],
    ]

    it.each(states)('keeps %s inside state after approval', async (_name, state) => {
      const res = await authorize(authorizationUrl({ state }), APPROVE)
      expect(res.status).toBe(303)
      const location = new URL(res.headers.get('location')!)
      expect(location.origin + location.pathname).toBe(REGISTERED)
      expect(location.hash).toBe('')
      expect(location.searchParams.getAll('state')).toEqual([state])
      expect(location.searchParams.getAll('code')).toHaveLength(1)
      expect(location.searchParams.get('code')).not.toBe('evil')
      // RFC 9207: the issuer, once, unchanged, so a client can detect a mix-up.
      expect(location.searchParams.getAll('iss')).toEqual([demo.issuer])
      expect([...location.searchParams.keys()].sort()).toEqual(['code', 'iss', 'state'])
    })

    it.each(states)('keeps %s inside state in an error redirect (access_denied)', async (_name, state) => {
      const res = await authorize(authorizationUrl({ state }), { decision: 'deny' })
      const location = new URL(res.headers.get('location')!)
      expect(location.searchParams.getAll('state')).toEqual([state])
      expect(location.searchParams.getAll('error')).toEqual(['access_denied'])
      expect(location.searchParams.has('code')).toBe(false)
    })

    it.each(states)('keeps %s inside state in an implicit-grant fragment (RFC 6749 §4.2.2)', async (_name, state) => {
      const url = new URL(`${demo.issuer}/authorize`)
      url.search = new URLSearchParams({ response_type: 'token', client_id: PUBLIC_CLIENT.client_id, redirect_uri: CALLBACK, state, scope: 'profile' }).toString()
      const res = await authorize(url, APPROVE)
      const location = new URL(res.headers.get('location')!)
      expect(location.search).toBe('')
      const fragment = new URLSearchParams(location.hash.slice(1))
      expect(fragment.getAll('state')).toEqual([state])
      expect(fragment.getAll('access_token')).toHaveLength(1)
      expect(fragment.get('access_token')).not.toBe('evil')
    })
  })

  describe('authorization code injection and PKCE downgrade (RFC 9700 §4.5, §4.8.2; RFC 7636 §4.6)', () => {
    const confidential = { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] as [string, string] }
    const publicClient = { clientId: PUBLIC_CLIENT.client_id }

    it.each([
      ['without the code_verifier', (): Record<string, string> => ({})],
      ['with another code_verifier', (): Record<string, string> => ({ code_verifier: pkce().verifier })],
      ['with a different redirect_uri', (verifier: string): Record<string, string> => ({ code_verifier: verifier, redirect_uri: 'http://127.0.0.1:9/other' })],
    ])('refuses a PKCE-bound code redeemed %s with invalid_grant', async (_name, extra) => {
      const { code, verifier } = await obtainCode(demo.issuer, PUBLIC_CLIENT.client_id)
      const res = await post(demo.issuer, '/token', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, ...extra(verifier) }, publicClient)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_grant' })
    })

    it('refuses a code issued without a challenge when a code_verifier is sent (PKCE downgrade, RFC 9700 §4.8.2)', async () => {
      const url = new URL(`${demo.issuer}/authorize`)
      url.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 's', scope: 'profile' }).toString()
      const res = await authorize(url, APPROVE)
      const code = new URL(res.headers.get('location')!).searchParams.get('code')!
      const token = await post(demo.issuer, '/token', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: pkce().verifier }, confidential)
      expect(token.status).toBe(400)
      expect(await token.json()).toMatchObject({ error: 'invalid_grant' })
    })

    it('refuses a code injected into another client’s token request (codes are bound to their client, RFC 6749 §4.1.3)', async () => {
      const { code, verifier } = await obtainCode(demo.issuer, PUBLIC_CLIENT.client_id)
      const res = await post(demo.issuer, '/token', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, confidential)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_grant' })
    })
  })
})
