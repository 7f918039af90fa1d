import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { badRequest, prng, type BadRequest } from './support/bad-requests.js'
import { ADAPTERS, startDemoServer, tempDir, writeSeed, type Adapter, type DemoServer } from './support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, DEVICE_CLIENT, DEVICE_CODE_GRANT, POST_CLIENT, PUBLIC_CLIENT, USER, seed } from './support/fixtures.js'
import { openLoginForm } from './support/login-form.js'
import { RawConnection, type RawRequest, type RawResponse } from './support/raw-http.js'

/** Seeded malformed requests each framework answers (the first ones of hardening/bad-input's corpus). */
const MALFORMED = 1_000
const SEED = Number(process.env['GRANTKIT_FUZZ_SEED'] ?? 20_240_611)

const FORM: [string, string] = ['Content-Type', 'application/x-www-form-urlencoded']
const BASIC: [string, string] = ['Authorization', 'Basic ' + Buffer.from(`${CONFIDENTIAL.client_id}:${CONFIDENTIAL.client_secret}`).toString('base64')]

const servers = new Map<Adapter, DemoServer>()
let removeDir: () => Promise<void>

beforeAll(async () => {
  const tmp = await tempDir()
  removeDir = tmp.remove
  const seedFile = await writeSeed(tmp.dir, seed())
  // One CSRF key for all: a form's token then has the same length everywhere, like every other value.
  for (const adapter of ADAPTERS) servers.set(adapter, await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: 'memory:', OAUTH_SEED: seedFile, OAUTH_CSRF_SECRET: 'wire' }, tmp.dir))
}, 120_000)

afterAll(async () => {
  for (const demo of servers.values()) await demo.stop()
  await removeDir?.()
})

/**
 * An answer as text, with what must differ between two servers replaced:
 * the Date, the port, random values (tokens, codes, CSRF secrets and
 * tokens, user ids, device and user codes; a device code ends with its
 * expiry time) and timestamps. Header fields are sorted and their
 * names lower-cased: HTTP gives neither order nor case a meaning.
 */
function wire(res: RawResponse | null): string {
  if (res === null) return 'no response'
  const scrub = (text: string) =>
    text
      .replace(/127\.0\.0\.1(:|%3A)\d+/g, '127.0.0.1$1<port>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      // RFC 8628 user codes (8 of the grant's 20 consonants, shown with a dash).
      .replace(/[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}/g, '<user-code>')
      // A CSRF token (core's createCsrfProtection): its expiry second, nonce and signature.
      .replace(/v1\.\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/g, '<csrf-token>')
      .replace(/[A-Za-z0-9_-]{40,}(\.[0-9a-z]+)?/g, '<random>')
      .replace(/"(exp|iat)":\d+/g, '"$1":<time>')
  const headers = Object.entries(res.headers)
    .filter(([name]) => name !== 'date')
    .map(([name, value]) => `${name}: ${value}`)
    .sort()
  return scrub([`${res.status} ${res.reason}`, ...headers, '', res.body.toString('latin1')].join('\n'))
}

function request(method: string, target: string, headers: [string, string][] = [], body?: string): RawRequest {
  if (body === undefined) return { method, target, headers }
  return { method, target, headers: [...headers, ['Content-Length', String(Buffer.byteLength(body))]], body: Buffer.from(body) }
}

/**
 * A script of requests covering docs/demo-server.md: the consent page
 * (every branch of the form, CSRF included), each grant's token request,
 * revocation, introspection, metadata, `/api/me`, methods, body shapes,
 * limits, path variants and unknown paths. Later requests use what earlier
 * answers gave (the cookie, the CSRF field, a code, tokens), so each
 * server goes through the same states. Answers `label → wire(answer)`.
 */
async function script(demo: DemoServer): Promise<[string, string][]> {
  const answers: [string, string][] = []
  const connection = new RawConnection(demo.issuer)
  const send = async (label: string, req: RawRequest, options: { fresh?: boolean } = {}) => {
    let res: RawResponse | null
    if (options.fresh === true) {
      // Bytes that leave the connection unusable (a body the server will not read) get one of their own.
      const once = new RawConnection(demo.issuer)
      try {
        res = await once.send(req)
      } finally {
        once.close()
      }
    } else {
      res = await connection.send(req)
    }
    answers.push([label, wire(res)])
    return res
  }
  const json = (res: RawResponse | null) => JSON.parse(res?.body.toString('utf8') || '{}') as Record<string, string>
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
  const query = (extra: Record<string, string> = {}) => form({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 'st', scope: 'profile', ...extra })
  const csrfField = (res: RawResponse | null) => /name="csrf_token" value="([^"]+)"/.exec(res?.body.toString('utf8') ?? '')?.[1] ?? ''
  try {
    // The consent page (docs/demo-server.md "Login and consent").
    const page = await send('GET /authorize', request('GET', `/authorize?${query()}`))
    const cookie = (page?.headers['set-cookie'] ?? '').split(';')[0] as string
    const csrf = csrfField(page)
    // A CSRF token is accepted once: each POST that must pass gets a fresh one (a GET not part of the compared answers).
    const freshCsrf = async (path: string, cookieValue: string) => csrfField(await connection.send(request('GET', path, [['Cookie', cookieValue]])))
    await send('GET /authorize with the cookie', request('GET', `/authorize?${query()}`, [['Cookie', cookie]]))
    await send('GET /authorize with a quoted cookie among others', request('GET', `/authorize?${query()}`, [['Cookie', `a=b; ${cookie.replace('=', '="')}"`]]))
    await send('HEAD /authorize', request('HEAD', `/authorize?${query()}`, [['Cookie', cookie]]))
    for (const method of ['OPTIONS', 'PUT', 'TRACE', 'PROPFIND']) await send(`${method} /authorize`, request(method, `/authorize?${query()}`))
    const post = (fields: Record<string, string>, headers: [string, string][] = [FORM, ['Cookie', cookie]]) => request('POST', `/authorize?${query()}`, headers, form(fields))
    await send('POST a wrong password', post({ csrf_token: csrf, username: USER.username, password: 'wrong', decision: 'approve' }))
    await send('POST no decision', post({ csrf_token: await freshCsrf(`/authorize?${query()}`, cookie), username: USER.username, password: USER.password }))
    await send('POST without the cookie', post({ csrf_token: csrf, username: USER.username, password: USER.password, decision: 'approve' }, [FORM]))
    await send('POST another CSRF field', post({ csrf_token: 'A'.repeat(43), username: USER.username, password: USER.password, decision: 'approve' }))
    await send('POST deny', post({ csrf_token: await freshCsrf(`/authorize?${query()}`, cookie), decision: 'deny' }))
    await send('POST the authorization request itself (RFC 6749 §3.1)', request('POST', '/authorize', [FORM], query()))
    await send('POST an authorization request with an evil redirect_uri', request('POST', '/authorize', [FORM], query({ redirect_uri: 'https://evil.example/cb' })))
    const approved = await send('POST approve', post({ csrf_token: await freshCsrf(`/authorize?${query()}`, cookie), username: USER.username, password: USER.password, decision: 'approve' }))
    const code = new URL(approved?.headers['location'] ?? 'http://invalid/').searchParams.get('code') ?? ''
    const implicit = form({ response_type: 'token', client_id: PUBLIC_CLIENT.client_id, redirect_uri: CALLBACK, state: 'i', scope: 'profile' })
    const implicitPage = await send('GET /authorize response_type=token', request('GET', `/authorize?${implicit}`, [['Cookie', cookie]]))
    await send('POST approve response_type=token', request('POST', `/authorize?${implicit}`, [FORM, ['Cookie', cookie]], form({ csrf_token: csrfField(implicitPage), username: USER.username, password: USER.password, decision: 'approve' })))
    await send('GET an unknown client', request('GET', `/authorize?${query({ client_id: 'nobody' })}`))
    await send('GET a scope outside the client', request('GET', `/authorize?${query({ scope: 'admin' })}`))
    await send('GET malformed percent-encoding', request('GET', `/authorize?${query()}&state=%E2%28`))

    // The token endpoint (docs/demo-server.md "Tokens and errors").
    const token = (body: string, headers: [string, string][] = [FORM, BASIC]) => request('POST', '/token', headers, body)
    await send('POST /token authorization_code', token(form({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK })))
    await send('POST /token the same code again', token(form({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK })))
    const user = json(await send('POST /token password', token(form({ grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile' }))))
    const client = json(await send('POST /token client_credentials', token(form({ grant_type: 'client_credentials', scope: 'profile' }))))
    const readOnly = json(await send('POST /token password, scope read', token(form({ grant_type: 'password', username: USER.username, password: USER.password, scope: 'read' }))))
    await send('POST /token refresh_token', token(form({ grant_type: 'refresh_token', refresh_token: user['refresh_token'] ?? '' })))
    await send('POST /token a wrong secret', token('grant_type=client_credentials', [FORM, ['Authorization', 'Basic ' + Buffer.from(`${CONFIDENTIAL.client_id}:wrong`).toString('base64')]]))
    await send('POST /token without a body', request('POST', '/token', [BASIC]))
    await send('POST /token without a media type', request('POST', '/token', [BASIC], 'grant_type=client_credentials'))
    await send('POST /token JSON', token('{"grant_type":"client_credentials"}', [['Content-Type', 'application/json'], BASIC]))
    await send('POST /token Content-Length: 0', request('POST', '/token', [FORM, BASIC, ['Content-Length', '0']]))
    await send('POST /token invalid UTF-8', { method: 'POST', target: '/token', headers: [FORM, BASIC, ['Content-Length', '4']], body: Buffer.from([0x61, 0x3d, 0xc3, 0x28]) })
    await send('POST /token over 64 KiB', token('grant_type=client_credentials&pad=' + 'a'.repeat(70 * 1024)), { fresh: true })
    await send('POST /token announcing over 64 KiB', request('POST', '/token', [FORM, BASIC, ['Content-Length', '99999']]), { fresh: true })
    await send('POST /token chunked', { method: 'POST', target: '/token', headers: [FORM, BASIC, ['Transfer-Encoding', 'chunked']], body: Buffer.from('1d\r\ngrant_type=client_credentials\r\n0\r\n\r\n') })
    await send('POST /token chunked over 64 KiB', { method: 'POST', target: '/token', headers: [FORM, BASIC, ['Transfer-Encoding', 'chunked']], body: Buffer.from(`11800\r\n${'a'.repeat(0x11800)}\r\n0\r\n\r\n`) }, { fresh: true })
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE', 'PROPFIND']) await send(`${method} /token`, request(method, '/token'))
    await send('OPTIONS /token preflight', request('OPTIONS', '/token', [['Origin', 'https://app.example'], ['Access-Control-Request-Method', 'POST']]))
    for (const target of ['/TOKEN', '/token/', '/token//', '/x/../token', '/t%6Fken', '/token;x', 'http://evil.example/token', '/token#fragment', '/token?a=b#fragment']) {
      await send(`POST ${target}`, request('POST', target, [FORM, BASIC], 'grant_type=client_credentials'))
    }

    // Revocation and introspection.
    await send('POST /revoke', request('POST', '/revoke', [FORM, BASIC], form({ token: client['access_token'] ?? '' })))
    await send('POST /introspect an active token', request('POST', '/introspect', [FORM, BASIC], form({ token: user['access_token'] ?? '' })))
    await send('POST /introspect a revoked token', request('POST', '/introspect', [FORM, BASIC], form({ token: client['access_token'] ?? '' })))
    await send('GET /revoke', request('GET', '/revoke'))

    // Metadata (RFC 8414).
    const metadata = '/.well-known/oauth-authorization-server'
    for (const method of ['GET', 'HEAD', 'POST', 'TRACE']) await send(`${method} metadata`, request(method, metadata))
    await send('GET metadata in upper case, with a trailing slash', request('GET', `${metadata.toUpperCase()}/`))

    // The protected resource.
    const bearer = (value: string): [string, string] => ['Authorization', `Bearer ${value}`]
    for (const target of ['/api/me', '/API/ME/', '/api/me?x=1']) {
      await send(`GET ${target}`, request('GET', target, [bearer(user['access_token'] ?? '')]))
      await send(`HEAD ${target}`, request('HEAD', target, [['Authorization', `bearer ${user['access_token'] ?? ''}`]]))
    }
    await send('GET /api/me without a token', request('GET', '/api/me'))
    await send('HEAD /api/me without a token', request('HEAD', '/api/me'))
    await send('GET /api/me a token without profile', request('GET', '/api/me', [bearer(readOnly['access_token'] ?? '')]))
    await send('GET /api/me a revoked token', request('GET', '/api/me', [bearer(client['access_token'] ?? '')]))
    await send('GET /api/me an unknown token', request('GET', '/api/me', [bearer('not-a-token')]))
    await send('GET /api/me Basic', request('GET', '/api/me', [BASIC]))
    for (const method of ['OPTIONS', 'DELETE', 'TRACE', 'PROPFIND', 'M-SEARCH']) await send(`${method} /api/me`, request(method, '/api/me'))
    await send('POST /api/me malformed JSON', request('POST', '/api/me', [['Content-Type', 'application/json']], '{'))
    await send('POST /api/me a media type that does not parse', request('POST', '/api/me', [['Content-Type', ';;;']], 'x'))
    await send('POST /api/me a 2 MB body', request('POST', '/api/me', [['Content-Type', 'application/json']], 'x'.repeat(2_000_000)), { fresh: true })
    await send('GET /api/m%65', request('GET', '/api/m%65', [bearer(user['access_token'] ?? '')]))

    // The device flow (docs/demo-server.md "Device authorization"): the endpoint, the verification page, polling.
    const device = (fields: Record<string, string>) => request('POST', '/device_authorization', [FORM], form({ client_id: DEVICE_CLIENT.client_id, ...fields }))
    const deviceCodes = json(await send('POST /device_authorization', device({ scope: 'profile' })))
    await send('POST /device_authorization a scope outside the client', device({ scope: 'admin' }))
    await send('GET /device_authorization', request('GET', '/device_authorization'))
    const poll = () => request('POST', '/token', [FORM], form({ grant_type: DEVICE_CODE_GRANT, client_id: DEVICE_CLIENT.client_id, device_code: deviceCodes['device_code'] ?? '' }))
    await send('POST /token device_code, pending', poll())
    await send('POST /token device_code, too soon', poll())
    const devicePage = await send('GET /device', request('GET', '/device'))
    const deviceCookie = (devicePage?.headers['set-cookie'] ?? '').split(';')[0] as string
    const deviceCsrf = csrfField(devicePage)
    const userCode = deviceCodes['user_code'] ?? ''
    await send('GET /device?user_code (verification_uri_complete)', request('GET', `/device?user_code=${userCode}`, [['Cookie', deviceCookie]]))
    await send('GET /device?user_code unknown', request('GET', '/device?user_code=nothing', [['Cookie', deviceCookie]]))
    await send('GET /device?user_code malformed percent-encoding', request('GET', '/device?user_code=%E2%28'))
    await send('HEAD /device', request('HEAD', '/device', [['Cookie', deviceCookie]]))
    await send('GET /DEVICE/', request('GET', '/DEVICE/', [['Cookie', deviceCookie]]))
    for (const method of ['OPTIONS', 'PUT', 'TRACE', 'PROPFIND']) await send(`${method} /device`, request(method, '/device'))
    const verify = (fields: Record<string, string>, headers: [string, string][] = [FORM, ['Cookie', deviceCookie]]) => request('POST', '/device', headers, form(fields))
    const signIn = { username: USER.username, password: USER.password }
    await send('POST /device without the cookie', verify({ csrf_token: deviceCsrf, user_code: userCode, ...signIn, decision: 'approve' }, [FORM]))
    await send('POST /device a wrong password', verify({ csrf_token: deviceCsrf, user_code: userCode, username: USER.username, password: 'wrong', decision: 'approve' }))
    await send('POST /device no decision', verify({ csrf_token: await freshCsrf('/device', deviceCookie), user_code: userCode, ...signIn }))
    await send('POST /device an unknown code', verify({ csrf_token: await freshCsrf('/device', deviceCookie), user_code: 'BCDF-GHJK', ...signIn, decision: 'approve' }))
    await send('POST /device JSON', request('POST', '/device', [['Content-Type', 'application/json'], ['Cookie', deviceCookie]], '{}'))
    await send('POST /device invalid UTF-8', { method: 'POST', target: '/device', headers: [FORM, ['Cookie', deviceCookie], ['Content-Length', '4']], body: Buffer.from([0x61, 0x3d, 0xc3, 0x28]) })
    await send('POST /device over 64 KiB', verify({ csrf_token: deviceCsrf, pad: 'a'.repeat(70 * 1024) }), { fresh: true })
    await send('POST /device chunked, approve (lower case, no dash)', {
      method: 'POST',
      target: '/device',
      headers: [FORM, ['Cookie', deviceCookie], ['Transfer-Encoding', 'chunked']],
      body: ((text) => Buffer.from(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`))(form({ csrf_token: await freshCsrf('/device', deviceCookie), user_code: userCode.replace('-', '').toLowerCase(), ...signIn, decision: 'approve' })),
    })
    await send('POST /device the used code again', verify({ csrf_token: await freshCsrf('/device', deviceCookie), user_code: userCode, ...signIn, decision: 'deny' }))
    await send('POST /token device_code, approved', poll())
    await send('POST /token device_code, redeemed', poll())

    // Other paths.
    for (const target of ['/', '/favicon.ico', '/api', '/authorize/x', '/%ZZ', '/%2e%2e/etc/passwd', '//evil.example', '/authorize%ZZ']) {
      await send(`GET ${target}`, request('GET', target))
      await send(`HEAD ${target}`, request('HEAD', target))
    }
    await send('POST / malformed JSON', request('POST', '/', [['Content-Type', 'application/json']], '{'))
    await send('POST / without a media type', request('POST', '/', [], 'x'))
    await send('OPTIONS *', request('OPTIONS', '*'))
    await send('GET /token without Host (RFC 9112 §3.2)', { method: 'GET', target: '/token', headers: [], noHost: true }, { fresh: true })
    await send('GET /api/me without Host', { method: 'GET', target: '/api/me', headers: [], noHost: true }, { fresh: true })
  } finally {
    connection.close()
  }
  return answers
}

/** The first {@link MALFORMED} requests of the seeded corpus hardening/bad-input sends, each answered. */
async function malformed(demo: DemoServer): Promise<string[]> {
  const consentUrl = new URL(`${demo.issuer}/authorize`)
  consentUrl.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 's' }).toString()
  const form = await openLoginForm(consentUrl)
  const target = {
    clientIds: [CONFIDENTIAL.client_id, POST_CLIENT.client_id, PUBLIC_CLIENT.client_id],
    redirectUri: CALLBACK,
    consentQuery: consentUrl.search.slice(1),
    csrfCookie: form.cookie,
    csrfField: form.hidden['csrf_token'] ?? '',
  }
  const rng = prng(SEED)
  const connection = new RawConnection(demo.issuer)
  const answers: string[] = []
  try {
    for (let i = 0; i < MALFORMED; i++) {
      const bad: BadRequest = badRequest(rng, target)
      // As hardening/bad-input sends them: bytes that may frame as several requests (or none) on a connection of their own.
      const alone = bad.truncate !== undefined || /poisoned|bad-chunks|two-lengths|length-and-chunked|bogus-length/.test(bad.label) || /[\r\n]/.test(bad.request.target)
      let res: RawResponse | null
      if (alone) {
        const once = new RawConnection(demo.issuer)
        try {
          res = await once.send(bad.request, { ...(bad.truncate === undefined ? {} : { truncate: bad.truncate }), timeoutMs: 5_000 })
        } finally {
          once.close()
        }
      } else {
        res = await connection.send(bad.request)
      }
      answers.push(`#${i} ${bad.label}\n${wire(res)}`)
    }
  } finally {
    connection.close()
  }
  return answers
}

/**
 * The request log so far: method, path and status of each line (not the
 * duration). A last request to a path of its own marks the end: its line
 * comes after every earlier one on the server's standard output.
 */
async function requestLog(demo: DemoServer, end: string): Promise<string[]> {
  const marker = `GET ${end} 404`
  const lines = () =>
    demo
      .output()
      .split('\n')
      .filter((line) => /^[A-Z-]+ \S+ \d{3} \d+ms$/.test(line))
      .map((line) => line.replace(/ \d+ms$/, ''))
  await fetch(demo.issuer + end)
  for (let waited = 0; !lines().includes(marker) && waited < 10_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
  return lines()
}

describe('the same answers whichever framework serves the demo (docs/demo-server.md "HTTP frameworks")', () => {
  let koa: { script: [string, string][]; malformed: string[]; log: string[] }

  beforeAll(async () => {
    const demo = servers.get('koa') as DemoServer
    koa = { script: await script(demo), malformed: await malformed(demo), log: await requestLog(demo, '/end-of-the-script') }
  }, 120_000)

  it('the script reaches every kind of answer on Koa (the reference)', () => {
    const statuses = new Set(koa.script.map(([, answer]) => Number(answer.slice(0, 3))))
    expect([...statuses]).toEqual(expect.arrayContaining([200, 204, 302, 303, 400, 401, 403, 404, 405, 413]))
    expect(koa.script.filter(([, answer]) => answer === 'no response')).toEqual([])
    expect(koa.log.length).toBeGreaterThan(koa.script.length)
  })

  describe.each(ADAPTERS.filter((adapter) => adapter !== 'koa'))('%s', (adapter) => {
    let answers: { script: [string, string][]; malformed: string[]; log: string[] }

    beforeAll(async () => {
      const demo = servers.get(adapter) as DemoServer
      answers = { script: await script(demo), malformed: await malformed(demo), log: await requestLog(demo, '/end-of-the-script') }
    }, 120_000)

    it('answers the script as Koa does: status, header fields, cookies, body', () => {
      expect(answers.script).toEqual(koa.script)
    })

    it(`answers ${MALFORMED} seeded malformed requests as Koa does`, () => {
      expect(answers.malformed).toHaveLength(koa.malformed.length)
      // The differing answers only, beside Koa's, so that a failure shows what differs.
      const differing = answers.malformed.map((answer, i) => ({ [adapter]: answer, koa: koa.malformed[i] })).filter((pair) => pair[adapter] !== pair.koa)
      expect(differing).toEqual([])
    })

    it('writes the same request log as Koa', () => {
      expect(answers.log).toEqual(koa.log)
    })
  })
})
