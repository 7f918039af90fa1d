import { request as httpRequest, createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest'
import { createClient } from './client.js'
import { createCsrfProtection, type CsrfOptions, type CsrfRequest } from './csrf.js'
import { escapeHtml } from './error-page.js'
import { createHttpHandler } from './http-handler.js'
import { TestCodeGrant } from './internal/test-fixtures.js'
import { memoryStore } from './memory-store.js'
import { nodeBodySource } from './node-body.js'
import type { RequestHeaders } from './request.js'
import * as secrets from './secrets.js'
import { AuthorizationServer } from './server.js'

// Watch the comparison (the real one runs) to prove the token is compared in constant time.
vi.mock('./secrets.js', async (importOriginal) => {
  const actual = await importOriginal<typeof secrets>()
  return { ...actual, timingSafeEqualString: vi.fn(actual.timingSafeEqualString) }
})

const ORIGIN = 'https://auth.example.com'
const KEY = 'k'.repeat(32)
const OLD_KEY = 'o'.repeat(32)
const T0 = Date.UTC(2030, 0, 1)

function csrfWorld(options: Partial<CsrfOptions> = {}) {
  const clock = { t: T0 }
  const csrf = createCsrfProtection({ secret: KEY, origin: ORIGIN, clock: () => clock.t, ...(options.secrets !== undefined ? { secret: undefined } : {}), ...options })
  /** A browser: the cookie the server set, then the form's token. */
  const page = (purpose = 'consent', headers: RequestHeaders = {}) => {
    const issued = csrf.issue({ headers }, purpose)
    const cookie = issued.setCookie === undefined ? String(headers['cookie']) : issued.setCookie.split(';')[0]!
    return { ...issued, cookie }
  }
  /** The POST of the form, from the issuer's own page by default. */
  const post = (cookie: string | undefined, headers: RequestHeaders = { origin: ORIGIN, 'sec-fetch-site': 'same-origin' }): CsrfRequest => ({
    headers: { ...headers, ...(cookie === undefined ? {} : { cookie }) },
  })
  return { csrf, clock, page, post }
}

describe('createCsrfProtection (RFC 6749 §10.12, RFC 6819 §4.4.1.8)', () => {
  describe('the double-submit cookie', () => {
    it('is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/ and has no Domain (RFC 6265bis §4.1.3.2)', () => {
      const { page } = csrfWorld()
      const { setCookie, token } = page()
      expect(setCookie).toMatch(/^__Host-grantkit-csrf=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax$/)
      expect(setCookie).not.toMatch(/domain/i)
      expect(token).toMatch(/^v1\.\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/)
    })

    it('is reused when the browser already has a well-formed one', () => {
      const { page } = csrfWorld()
      const first = page()
      const second = page('consent', { cookie: `other=1; ${first.cookie}` })
      expect(second.setCookie).toBeUndefined()
    })

    it('comes with a fresh token on every render, each good for the same cookie', () => {
      const { csrf, page, post } = csrfWorld()
      const first = page()
      const tokens = Array.from({ length: 5 }, () => csrf.issue({ headers: { cookie: first.cookie } }, 'consent').token)
      expect(new Set([first.token, ...tokens]).size).toBe(6)
      for (const token of tokens) expect(csrf.verify(post(first.cookie), token, 'consent')).toEqual({ ok: true })
    })

    it('can drop __Host- and Secure for plain-HTTP development, explicitly', () => {
      const { setCookie } = createCsrfProtection({ secret: KEY, origin: 'http://localhost:3000', secureCookie: false }).issue({ headers: {} }, 'login')
      expect(setCookie).toMatch(/^grantkit-csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)
    })
  })

  describe('verify', () => {
    it('accepts the token of the form, from the same origin, with its cookie', () => {
      const { csrf, page, post } = csrfWorld()
      const { token, cookie } = page()
      expect(csrf.verify(post(cookie), token, 'consent')).toEqual({ ok: true })
    })

    it('accepts a POST without Origin or Sec-Fetch-Site (older browsers), or with Origin: null (a no-referrer page), when the token is right', () => {
      const { csrf, page, post } = csrfWorld()
      const { token, cookie } = page()
      expect(csrf.verify(post(cookie, {}), token, 'consent')).toEqual({ ok: true })
      expect(csrf.verify(post(cookie, { origin: 'null', 'sec-fetch-site': 'same-origin' }), token, 'consent')).toEqual({ ok: true })
      expect(csrf.verify(post(cookie, { origin: 'null' }), 'v1.1.' + 'n'.repeat(22) + '.' + 'A'.repeat(43), 'consent')).toEqual({ ok: false, reason: 'invalid_token' })
    })

    it.each([
      ['a forged token', (t: string) => `v1.${t.split('.')[1]}.${t.split('.')[2]}.${'A'.repeat(43)}`],
      ['a token one character off', (t: string) => t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A')],
      ['a token with a later expiry than it was signed for', (t: string) => `v1.${Number(t.split('.')[1]) + 3600}.${t.split('.')[2]}.${t.split('.')[3]}`],
      ['a token with another nonce than it was signed for', (t: string) => `v1.${t.split('.')[1]}.${'n'.repeat(22)}.${t.split('.')[3]}`],
    ])('refuses %s as invalid_token', (_, tamper) => {
      const { csrf, page, post } = csrfWorld()
      const { token, cookie } = page()
      expect(csrf.verify(post(cookie), tamper(token), 'consent')).toEqual({ ok: false, reason: 'invalid_token' })
    })

    it('refuses an expired token (maxAge, default one hour), and only once it has expired', () => {
      const { csrf, page, post, clock } = csrfWorld()
      const { token, cookie } = page()
      clock.t += 3599_000
      expect(csrf.verify(post(cookie), token, 'consent')).toEqual({ ok: true })
      clock.t += 1000
      expect(csrf.verify(post(cookie), token, 'consent')).toEqual({ ok: false, reason: 'expired_token' })
    })

    it("refuses a token issued to another browser's cookie (a token the attacker got for their own session)", () => {
      const { csrf, page, post } = csrfWorld()
      const attacker = page()
      const victim = page()
      expect(victim.cookie).not.toBe(attacker.cookie)
      expect(csrf.verify(post(victim.cookie), attacker.token, 'consent')).toEqual({ ok: false, reason: 'invalid_token' })
    })

    it('refuses a token issued for another purpose (the login form’s token on the consent form)', () => {
      const { csrf, page, post } = csrfWorld()
      const { token, cookie } = page('login')
      expect(csrf.verify(post(cookie), token, 'consent')).toEqual({ ok: false, reason: 'invalid_token' })
      expect(csrf.verify(post(cookie), token, 'login')).toEqual({ ok: true })
    })

    it('refuses the consent token of one authorization request for another (the actionUrl in the purpose)', () => {
      const { csrf, page, post } = csrfWorld()
      const mine = '/authorize?response_type=code&client_id=web&state=mine'
      const other = '/authorize?response_type=code&client_id=evil&state=other'
      const { token, cookie } = page(`consent ${mine}`)
      expect(csrf.verify(post(cookie), token, `consent ${other}`)).toEqual({ ok: false, reason: 'invalid_token' })
      expect(csrf.verify(post(cookie), token, `consent ${mine}`)).toEqual({ ok: true })
    })

    it('accepts a token signed with the previous key after a rotation, and not once that key is dropped', () => {
      const before = csrfWorld({ secrets: [OLD_KEY] })
      const { token, cookie } = before.page()
      const rotated = csrfWorld({ secrets: [KEY, OLD_KEY] })
      expect(rotated.csrf.verify(rotated.post(cookie), token, 'consent')).toEqual({ ok: true })
      // New tokens are signed with the new key…
      const fresh = rotated.page('consent', { cookie })
      expect(csrfWorld({ secrets: [KEY] }).csrf.verify(rotated.post(cookie), fresh.token, 'consent')).toEqual({ ok: true })
      // …and the old key's tokens stop working once it is removed.
      const dropped = csrfWorld({ secrets: [KEY] })
      expect(dropped.csrf.verify(dropped.post(cookie), token, 'consent')).toEqual({ ok: false, reason: 'invalid_token' })
    })

    it.each([
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site', origin: ORIGIN }, 'cross_site'],
      ['Sec-Fetch-Site: cross-site with Origin: null', { 'sec-fetch-site': 'cross-site', origin: 'null' }, 'cross_site'],
      ['Sec-Fetch-Site: same-site from a sibling subdomain', { 'sec-fetch-site': 'same-site', origin: 'https://evil.example.com' }, 'cross_site'],
      ['an unknown Sec-Fetch-Site value', { 'sec-fetch-site': 'bogus' }, 'cross_site'],
      ['a foreign Origin', { origin: 'https://evil.example' }, 'foreign_origin'],
      ['a foreign Origin claiming same-origin', { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' }, 'foreign_origin'],
      ['the issuer host on another scheme', { origin: 'http://auth.example.com' }, 'foreign_origin'],
      ['the issuer host on another port', { origin: 'https://auth.example.com:8443' }, 'foreign_origin'],
      ['a repeated Origin header', { origin: [ORIGIN, ORIGIN] }, 'foreign_origin'],
    ])('refuses a POST with %s even with a right token', (_, headers: RequestHeaders, reason) => {
      const { csrf, page, post } = csrfWorld()
      const { token, cookie } = page()
      expect(csrf.verify(post(cookie, headers), token, 'consent')).toEqual({ ok: false, reason })
    })

    it('accepts Sec-Fetch-Site: same-site from an origin it lists', () => {
      const csrf = createCsrfProtection({ secret: KEY, origin: [ORIGIN, 'https://login.example.com'] })
      const { token, setCookie } = csrf.issue({ headers: {} }, 'login')
      const cookie = setCookie!.split(';')[0]!
      expect(csrf.verify({ headers: { cookie, origin: 'https://login.example.com', 'sec-fetch-site': 'same-site' } }, token, 'login')).toEqual({ ok: true })
    })

    it.each([
      ['no cookie', undefined, 'missing_cookie'],
      ['a malformed cookie', '__Host-grantkit-csrf=short', 'missing_cookie'],
      ['the cookie twice (one tossed by a subdomain)', 'twice', 'missing_cookie'],
    ])('refuses %s', (_, cookieCase, reason) => {
      const { csrf, page, post } = csrfWorld()
      const { token, cookie } = page()
      const sent = cookieCase === 'twice' ? `${cookie}; __Host-grantkit-csrf=${'x'.repeat(43)}` : cookieCase
      expect(csrf.verify(post(sent), token, 'consent')).toEqual({ ok: false, reason })
    })

    it.each([
      ['no token', undefined, 'missing_token'],
      ['an empty token', '', 'missing_token'],
      ['a token of another shape', 'abc', 'malformed_token'],
      ['a token of another version', 'v2.1.' + 'n'.repeat(22) + '.' + 'A'.repeat(43), 'malformed_token'],
      ['a token without a nonce', 'v1.9999999999.' + 'A'.repeat(43), 'malformed_token'],
    ])('refuses %s', (_, token, reason) => {
      const { csrf, page, post } = csrfWorld()
      const { cookie } = page()
      expect(csrf.verify(post(cookie), token, 'consent')).toEqual({ ok: false, reason })
    })

    describe('consume: each token accepted once (the replay option)', () => {
      const world = () => {
        const store = memoryStore()
        return { ...csrfWorld({ replay: store }), store }
      }

      it('accepts a token the first time and refuses it as used_token after, while a fresh one passes', async () => {
        const { csrf, page, post } = world()
        const { token, cookie } = page()
        expect(await csrf.consume(post(cookie), token, 'consent')).toEqual({ ok: true })
        expect(await csrf.consume(post(cookie), token, 'consent')).toEqual({ ok: false, reason: 'used_token' })
        const fresh = csrf.issue({ headers: { cookie } }, 'consent').token
        expect(await csrf.consume(post(cookie), fresh, 'consent')).toEqual({ ok: true })
      })

      it('accepts exactly one of 20 concurrent posts of one token', async () => {
        const { csrf, page, post } = world()
        const { token, cookie } = page()
        const verdicts = await Promise.all(Array.from({ length: 20 }, () => csrf.consume(post(cookie), token, 'consent')))
        expect(verdicts.filter((v) => v.ok)).toHaveLength(1)
        expect(verdicts.filter((v) => !v.ok && v.reason === 'used_token')).toHaveLength(19)
      })

      it('spends nothing on a refused post: the user’s own post of the token still passes', async () => {
        const { csrf, page, post } = world()
        const { token, cookie } = page()
        expect(await csrf.consume(post(cookie, { origin: 'https://evil.example' }), token, 'consent')).toEqual({ ok: false, reason: 'foreign_origin' })
        expect(await csrf.consume(post(cookie), token, 'other purpose')).toEqual({ ok: false, reason: 'invalid_token' })
        expect(await csrf.consume(post(cookie), token, 'consent')).toEqual({ ok: true })
      })

      it('records the token until it expires, with the injected clock', async () => {
        const markUsed = vi.fn(async () => true)
        const { csrf, page, post, clock } = csrfWorld({ replay: { markUsed } })
        const { token, cookie } = page()
        clock.t += 10_000
        expect(await csrf.consume(post(cookie), token, 'consent')).toEqual({ ok: true })
        expect(markUsed).toHaveBeenCalledWith(`grantkit-csrf:${token.split('.')[3]}`, new Date(T0 + 3600_000), new Date(T0 + 10_000))
      })

      it('refuses an expired token as expired_token, used or not', async () => {
        const { csrf, page, post, clock } = world()
        const used = page()
        const unused = page()
        expect(await csrf.consume(post(used.cookie), used.token, 'consent')).toEqual({ ok: true })
        clock.t += 3600_000
        expect(await csrf.consume(post(used.cookie), used.token, 'consent')).toEqual({ ok: false, reason: 'expired_token' })
        expect(await csrf.consume(post(unused.cookie), unused.token, 'consent')).toEqual({ ok: false, reason: 'expired_token' })
      })

      it('throws what the store throws, so that an outage is not answered as a CSRF refusal', async () => {
        const failure = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })
        const { csrf, page, post } = csrfWorld({ replay: { markUsed: async () => Promise.reject(failure) } })
        const { token, cookie } = page()
        await expect(csrf.consume(post(cookie), token, 'consent')).rejects.toBe(failure)
      })

      it('cannot be called without the replay option', async () => {
        const { csrf, page, post } = csrfWorld()
        const { token, cookie } = page()
        await expect(csrf.consume(post(cookie), token, 'consent')).rejects.toThrow(TypeError)
      })
    })

    describe('compares in constant time', () => {
      const compare = vi.mocked(secrets.timingSafeEqualString)
      beforeEach(() => {
        compare.mockClear()
      })

      it('with timingSafeEqualString, against every key even when the first matches', () => {
        const { csrf, page, post } = csrfWorld({ secrets: [KEY, OLD_KEY] })
        const { token, cookie } = page()
        compare.mockClear()
        expect(csrf.verify(post(cookie), token, 'consent')).toEqual({ ok: true })
        expect(compare).toHaveBeenCalledTimes(2)
        expect(compare.mock.calls.every(([, given]) => given === token.split('.')[3])).toBe(true)
      })
    })
  })

  describe('configuration', () => {
    it.each([
      ['no key', { origin: ORIGIN }],
      ['both secret and secrets', { secret: KEY, secrets: [KEY], origin: ORIGIN }],
      ['a key under 32 bytes', { secret: 'short', origin: ORIGIN }],
      ['an empty key list', { secrets: [], origin: ORIGIN }],
      ['no origin', { secret: KEY }],
      ['an origin that is not a URL', { secret: KEY, origin: 'auth.example.com' }],
      ['a Secure cookie without the __Host- prefix', { secret: KEY, origin: ORIGIN, cookieName: 'csrf' }],
      ['a __Host- cookie without Secure', { secret: KEY, origin: ORIGIN, secureCookie: false, cookieName: '__Host-csrf' }],
      ['a cookie name with a separator', { secret: KEY, origin: ORIGIN, cookieName: '__Host-a;b' }],
      ['a maxAge of zero', { secret: KEY, origin: ORIGIN, maxAge: 0 }],
      ['a replay option without markUsed', { secret: KEY, origin: ORIGIN, replay: {} }],
    ])('refuses %s with a TypeError', (_, options) => {
      expect(() => createCsrfProtection(options as unknown as CsrfOptions)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
    })

    it('refuses an empty purpose or one with NUL', () => {
      const { csrf } = csrfWorld()
      expect(() => csrf.issue({ headers: {} }, '')).toThrow(TypeError)
      expect(() => csrf.verify({ headers: {} }, 'x', 'a\u0000b')).toThrow(TypeError)
    })
  })
})

describe('a consent form protected by createCsrfProtection over real HTTP (core HTTP handler)', () => {
  function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { method, headers }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
      })
      req.on('error', reject)
      req.end(body)
    })
  }

  async function start() {
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => http.close(() => resolve())))
    const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
    const store = memoryStore()
    const server = new AuthorizationServer({ issuer, store })
    server.registerGrant(TestCodeGrant)
    await store.saveClient((await createClient({ clientId: 'web', redirectUris: ['https://app.example/cb'], responseTypes: ['code'], secretHash: 'sha256' })).client)
    const csrf = createCsrfProtection({ secret: KEY, origin: issuer, secureCookie: false, replay: store })
    const handler = createHttpHandler(server)
    http.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', issuer)
      void handler
        .handle(
          { method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), url: req.url ?? '/', headers: req.headers, body: nodeBodySource(req) },
          {
            async authorize({ form, actionUrl, headers }) {
              // The token is good for this authorization request only, and once.
              const purpose = `consent ${actionUrl}`
              if (req.method === 'POST') {
                if ((await csrf.consume(req, form.get('csrf_token'), purpose)).ok) return { user: { id: 'alice' } }
                res.writeHead(403, headers).end('forbidden')
                return undefined
              }
              const { token, setCookie } = csrf.issue(req, purpose)
              res.writeHead(200, { ...headers, 'content-type': 'text/html', ...(setCookie === undefined ? {} : { 'set-cookie': setCookie }) })
              res.end(`<form method="post" action="${escapeHtml(actionUrl)}"><input name="csrf_token" value="${escapeHtml(token)}"></form>`)
              return undefined
            },
          },
        )
        .then((outcome) => {
          if (outcome.kind === 'handled') return
          res.writeHead(outcome.status, outcome.headers)
          res.end(outcome.kind === 'json' || outcome.kind === 'html' ? outcome.body : outcome.kind === 'error_page' ? outcome.html : undefined)
        })
    })
    const open = async (state: string, cookie?: string) => {
      const authorize = `${issuer}/authorize?response_type=code&client_id=web&redirect_uri=${encodeURIComponent('https://app.example/cb')}&state=${state}`
      const page = await send(authorize, 'GET', { 'sec-fetch-site': 'cross-site', ...(cookie === undefined ? {} : { cookie }) })
      return {
        cookie: cookie ?? String(page.headers['set-cookie']?.[0]).split(';')[0]!,
        token: /name="csrf_token" value="([^"]+)"/.exec(page.text)![1]!,
        action: issuer + /action="([^"]+)"/.exec(page.text)![1]!.replace(/&amp;/g, '&'),
      }
    }
    const { cookie, token, action } = await open('s1')
    const submit = (headers: Record<string, string>, fields = `csrf_token=${encodeURIComponent(token)}`, to = action) =>
      send(to, 'POST', { 'content-type': 'application/x-www-form-urlencoded', ...headers }, fields)
    return { issuer, cookie, token, action, open, submit }
  }

  it('redirects with a code when the form posts back from the same origin with its cookie and token', async () => {
    const { issuer, cookie, submit } = await start()
    const res = await submit({ cookie, origin: issuer, 'sec-fetch-site': 'same-origin' })
    expect(res.status).toBe(303)
    expect(res.headers.location).toMatch(/^https:\/\/app\.example\/cb\?code=code-for-alice&state=s1/)
  })

  it('answers a replay of the same POST with 403 and no code', async () => {
    const { issuer, cookie, submit } = await start()
    expect((await submit({ cookie, origin: issuer })).status).toBe(303)
    const replayed = await submit({ cookie, origin: issuer })
    expect(replayed.status).toBe(403)
    expect(replayed.headers.location).toBeUndefined()
  })

  it('answers a token of another authorization request (same browser) with 403, and that request’s own token with a code', async () => {
    const { issuer, cookie, token, open, submit } = await start()
    const other = await open('s2', cookie)
    const res = await submit({ cookie, origin: issuer }, `csrf_token=${encodeURIComponent(token)}`, other.action)
    expect(res.status).toBe(403)
    expect(res.headers.location).toBeUndefined()
    const own = await submit({ cookie, origin: issuer }, `csrf_token=${encodeURIComponent(other.token)}`, other.action)
    expect(own.headers.location).toMatch(/[?&]state=s2(&|$)/)
  })

  it.each([
    ['a cross-site POST', (issuer: string, cookie: string) => ({ cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }), undefined],
    ['a POST from a foreign Origin', (_: string, cookie: string) => ({ cookie, origin: 'https://evil.example' }), undefined],
    ['a POST without the cookie', (issuer: string) => ({ origin: issuer }), undefined],
    ['a POST with a forged token', (issuer: string, cookie: string) => ({ cookie, origin: issuer }), `csrf_token=v1.9999999999.${'n'.repeat(22)}.${'A'.repeat(43)}`],
  ])('answers %s with 403 and no code', async (_, headers, fields) => {
    const { issuer, cookie, submit } = await start()
    const res = await submit(headers(issuer, cookie), fields)
    expect(res.status).toBe(403)
    expect(res.headers.location).toBeUndefined()
  })
})
