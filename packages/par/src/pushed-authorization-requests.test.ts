// Pushed authorization requests (RFC 9126) over real HTTP: a Koa server from
// @grantkit/adapter-koa with a login and consent page that posts back to
// core's actionUrl, driven by an unmodified client (oauth4webapi) and by raw
// requests for every refusal, on the memory and SQLite stores.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { oauthRouter } from '@grantkit/adapter-koa'
import { AuthorizationServer, createClient, createOAuthRequest, memoryStore, type ClientInput, type GrantUser } from '@grantkit/core'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { calculateJwkThumbprint, exportJWK } from 'jose'
import Koa from 'koa'
import * as oauth from 'oauth4webapi'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TEST_STORES, type OpenTestStore } from '../../../test-support/stores.js'
import { REQUEST_URI_PREFIX, pushedAuthorizationRequestEndpoint, type PushedAuthorizationRequestOptions } from './pushed-authorization-request-endpoint.js'
import { memoryPushedRequestStore, type PushedRequestStore } from './pushed-request-store.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const
const T0 = Date.UTC(2026, 0, 1)
const ALICE: GrantUser = { id: 'user-alice', username: 'alice' }
const REDIRECT = 'https://client.example.com/cb'

const CLIENTS: Record<string, ClientInput> = {
  web: { clientId: 'web', clientSecret: 'web-secret', redirectUris: [REDIRECT], scope: 'read write' },
  spa: { clientId: 'spa', redirectUris: [REDIRECT], scope: 'read', tokenEndpointAuthMethod: 'none' },
  post: { clientId: 'post', clientSecret: 'post-secret', redirectUris: [REDIRECT], scope: 'read', tokenEndpointAuthMethod: 'client_secret_post' },
  // RFC 9126 §6: this client must push.
  strict: { clientId: 'strict', clientSecret: 'strict-secret', redirectUris: [REDIRECT], scope: 'read', metadata: { require_pushed_authorization_requests: true } },
}

const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`

/** Holds approvals until `size` of them arrived, so that a race really interleaves: every answer is validated before any is answered. */
function barrier(size: number): () => Promise<void> {
  let arrived = 0
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => (open = resolve))
  return () => {
    arrived += 1
    if (arrived === size) open()
    return opened
  }
}

/** The consent page: a form posting `decision` to actionUrl; the signed-in user is Alice. */
function consentPage(seen: Array<{ scopes: readonly string[]; state: string | undefined }>, gate: { wait: (() => Promise<void>) | undefined }) {
  return async (ctx: Koa.Context, { request, form, actionUrl }: { request: { scopes: readonly string[]; state: string | undefined }; form: URLSearchParams; actionUrl: string }) => {
    seen.push({ scopes: [...request.scopes], state: request.state })
    const decision = form.get('decision')
    if (decision === 'approve') {
      await gate.wait?.()
      return { user: ALICE }
    }
    if (decision === 'deny') return { deny: true as const }
    ctx.type = 'html'
    ctx.body = `<form method="post" action="${actionUrl.replace(/&/g, '&amp;')}"><button name="decision" value="approve">Allow</button></form>`
    return undefined
  }
}

describe.each(TEST_STORES)('pushed authorization requests over HTTP (RFC 9126) on the %s', (_storeName, openStore: OpenTestStore) => {
  async function start(options: PushedAuthorizationRequestOptions = {}) {
    let now = T0
    // The issuer needs the port: listen first, then hand the requests to the Koa app built below.
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => http.close(() => resolve())))
    const issuer = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}`)
    const store = await openStore()
    const server = new AuthorizationServer({ issuer: issuer.origin, store, clock: () => now, onError: () => {} })
    server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge()])
    server.registerEndpoint(pushedAuthorizationRequestEndpoint(options))
    for (const input of Object.values(CLIENTS)) await store.saveClient((await createClient({ ...input, secretHash: 'sha256' })).client)
    const seen: Array<{ scopes: readonly string[]; state: string | undefined }> = []
    const gate: { wait: (() => Promise<void>) | undefined } = { wait: undefined }
    const app = new Koa()
    app.use(oauthRouter(server, { authorize: consentPage(seen, gate) }).routes())
    http.on('request', app.callback())
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))

    /** Pushes with oauth4webapi; returns the parsed 201 body. */
    const push = async (client: oauth.Client, auth: oauth.ClientAuth, params: Record<string, string>) =>
      oauth.processPushedAuthorizationResponse(as, client, await oauth.pushedAuthorizationRequest(as, client, auth, params, insecure))
    /** A raw push: the Response. */
    const rawPush = (body: Record<string, string> | string, headers: Record<string, string> = {}, method = 'POST') =>
      fetch(new URL('/par', issuer), {
        method,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        ...(method === 'GET' ? {} : { body: typeof body === 'string' ? body : new URLSearchParams(body) }),
      })
    /** The browser opens the authorization endpoint; returns the page (200 form, redirect or error page). */
    const open = (query: Record<string, string>) => fetch(new URL(`/authorize?${new URLSearchParams(query)}`, issuer), { redirect: 'manual' })
    /** The action URL of a consent page. */
    const actionOf = async (page: Response) => {
      expect(page.status).toBe(200)
      const match = /action="([^"]+)"/.exec(await page.text())
      if (match === null) throw new Error('no form on the page')
      return new URL((match[1] as string).replace(/&amp;/g, '&'), issuer)
    }
    /** The user submits the consent form. */
    const answer = (action: URL, decision = 'approve') => fetch(action, { method: 'POST', body: new URLSearchParams({ decision }), redirect: 'manual' })
    const advance = (seconds: number) => void (now += seconds * 1000)
    return { issuer, as, store, server, seen, gate, push, rawPush, open, actionOf, answer, advance }
  }

  /** The parameters of a redirect to the client. */
  function redirected(response: Response): URLSearchParams {
    expect([302, 303]).toContain(response.status)
    const location = new URL(response.headers.get('location') as string)
    expect(location.origin + location.pathname).toBe(REDIRECT)
    return location.searchParams
  }

  /** The error code of an error page (never redirected, RFC 6749 §4.1.2.1). */
  async function errorPage(response: Response): Promise<string> {
    expect(response.status).toBe(400)
    expect(response.headers.get('location')).toBeNull()
    const html = await response.text()
    const code = /invalid_request_uri|invalid_request|invalid_client/.exec(html)
    return code === null ? html : code[0]
  }

  const web: oauth.Client = { client_id: 'web' }
  const spa: oauth.Client = { client_id: 'spa' }

  describe('metadata (RFC 9126 §5)', () => {
    it('advertises the endpoint and that pushing is optional by default', async () => {
      const { as, issuer } = await start()
      expect(as.pushed_authorization_request_endpoint).toBe(`${issuer.origin}/par`)
      expect(as.require_pushed_authorization_requests).toBe(false)
    })

    it('advertises require_pushed_authorization_requests when required', async () => {
      const { as } = await start({ required: true })
      expect(as.require_pushed_authorization_requests).toBe(true)
    })
  })

  describe('the code flow with PKCE through a pushed request, with oauth4webapi', () => {
    it.each([
      ['a confidential client (client_secret_basic)', web, () => oauth.ClientSecretBasic('web-secret'), 'read write'],
      ['a public client (none)', spa, () => oauth.None(), 'read'],
    ])('issues tokens to %s', async (_, client, auth, scope) => {
      const { as, push, open, actionOf, answer } = await start()
      const verifier = oauth.generateRandomCodeVerifier()
      const challenge = await oauth.calculatePKCECodeChallenge(verifier)
      const pushed = await push(client, auth(), { response_type: 'code', redirect_uri: REDIRECT, scope, state: 'st-1', code_challenge: challenge, code_challenge_method: 'S256' })
      // RFC 9126 §2.2: a URN request_uri and its lifetime.
      expect(pushed.request_uri.startsWith(REQUEST_URI_PREFIX)).toBe(true)
      expect(pushed.expires_in).toBe(300)
      // RFC 9126 §4: the authorization request carries client_id and request_uri only.
      const action = await actionOf(await open({ client_id: client.client_id, request_uri: pushed.request_uri }))
      const callback = redirected(await answer(action))
      const params = oauth.validateAuthResponse(as, client, callback, 'st-1')
      const tokens = await oauth.processAuthorizationCodeResponse(
        as,
        client,
        await oauth.authorizationCodeGrantRequest(as, client, auth(), params, REDIRECT, verifier, insecure),
      )
      expect(tokens).toMatchObject({ token_type: 'bearer', scope })
    })

    it('uses only the pushed parameters, ignoring any others in the authorization request (RFC 9126 §4)', async () => {
      const { push, open, actionOf, answer, seen } = await start()
      const pushed = await push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read', state: 'pushed' })
      const action = await actionOf(await open({ client_id: 'web', request_uri: pushed.request_uri, scope: 'read write', state: 'other', redirect_uri: 'https://evil.example/cb' }))
      const callback = redirected(await answer(action))
      expect(callback.get('state')).toBe('pushed')
      expect(seen.every((s) => s.scopes.join(' ') === 'read' && s.state === 'pushed')).toBe(true)
    })

    it('validates the pushed request with the grant extensions: a public client without PKCE is refused at push time (RFC 9126 §2.1, §2.3)', async () => {
      const { push } = await start()
      const error = await push(spa, oauth.None(), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(oauth.ResponseBodyError)
      expect(error).toMatchObject({ status: 400, error: 'invalid_request' })
    })
  })

  describe('a DPoP proof at the pushed authorization request endpoint (RFC 9449 section 10.1)', () => {
    async function keyPair() {
      return oauth.generateKeyPair('ES256')
    }

    it('binds the request to the proof key as dpop_jkt, and accepts a matching dpop_jkt beside it', async () => {
      const parStore = memoryPushedRequestStore()
      const { as, push, advance } = await start({ store: parStore })
      // Proofs carry the real time (iat): the server's clock must be near it.
      advance((Date.now() - T0) / 1000)
      const keys = await keyPair()
      const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey))
      const saved: string[] = []
      const save = parStore.savePushedRequest.bind(parStore)
      parStore.savePushedRequest = async (hash, record, now) => {
        saved.push(record.params)
        return save(hash, record, now)
      }
      const pushWithProof = async (params: Record<string, string>) => {
        const res = await oauth.pushedAuthorizationRequest(as, web, oauth.ClientSecretBasic('web-secret'), params, { ...insecure, DPoP: oauth.DPoP(web, keys) })
        return oauth.processPushedAuthorizationResponse(as, web, res)
      }
      expect(await pushWithProof({ response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })).toHaveProperty('request_uri')
      expect(await pushWithProof({ response_type: 'code', redirect_uri: REDIRECT, scope: 'read', dpop_jkt: jkt })).toHaveProperty('request_uri')
      expect(saved.map((p) => new URLSearchParams(p).get('dpop_jkt'))).toEqual([jkt, jkt])
      // Without a proof nothing is added.
      await push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })
      expect(new URLSearchParams(saved[2]).get('dpop_jkt')).toBeNull()
    })

    it('refuses a dpop_jkt of another key (invalid_request), a proof for another URL, and a replayed proof (invalid_dpop_proof)', async () => {
      const { as, rawPush, advance } = await start()
      advance((Date.now() - T0) / 1000)
      const keys = await keyPair()
      const other = await calculateJwkThumbprint(await exportJWK((await keyPair()).publicKey))
      const mismatch = await oauth.pushedAuthorizationRequest(as, web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read', dpop_jkt: other }, { ...insecure, DPoP: oauth.DPoP(web, keys) })
      expect(mismatch.status).toBe(400)
      expect(await mismatch.json()).toMatchObject({ error: 'invalid_request' })
      const body = { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' }
      // A proof made for the token endpoint (htu) is not one for this endpoint.
      let captured = ''
      await oauth.pushedAuthorizationRequest({ ...as, pushed_authorization_request_endpoint: `${as.issuer}/token` }, web, oauth.ClientSecretBasic('web-secret'), body, {
        ...insecure,
        DPoP: oauth.DPoP(web, keys),
        [oauth.customFetch]: async (_url: string, init: RequestInit) => {
          captured = new Headers(init.headers).get('dpop') ?? ''
          return new Response('{}', { status: 500 })
        },
      }).catch(() => undefined)
      const wrongUrl = await rawPush(body, { authorization: basic('web', 'web-secret'), dpop: captured })
      expect(wrongUrl.status).toBe(400)
      expect(await wrongUrl.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      let proof = ''
      const first = await oauth.pushedAuthorizationRequest(as, web, oauth.ClientSecretBasic('web-secret'), body, {
        ...insecure,
        DPoP: oauth.DPoP(web, keys),
        [oauth.customFetch]: async (url: string, init: RequestInit) => {
          proof = new Headers(init.headers).get('dpop') ?? ''
          return fetch(url, init)
        },
      })
      expect(first.status).toBe(201)
      const replayed = await rawPush(body, { authorization: basic('web', 'web-secret'), dpop: proof })
      expect(replayed.status).toBe(400)
      expect(await replayed.json()).toMatchObject({ error: 'invalid_dpop_proof' })
    })
  })

  describe('one-time use through the consent round trip (RFC 9126 §4, §7.3)', () => {
    async function pushWeb(ctx: Awaited<ReturnType<typeof start>>) {
      return (await ctx.push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read', state: 'st' })).request_uri
    }

    it('shows the request any number of times (a reload), then answers it once; a reuse is invalid_request_uri', async () => {
      const ctx = await start()
      const requestUri = await pushWeb(ctx)
      await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
      const action = await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
      // The form posts back client_id and request_uri only: the pushed parameters stay out of the browser (RFC 9126 §1).
      expect([...action.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
      expect(action.searchParams.get('request_uri')).toBe(requestUri)
      expect(redirected(await ctx.answer(action)).get('code')).toEqual(expect.any(String))
      expect(await errorPage(await ctx.answer(action))).toBe('invalid_request_uri')
      expect(await errorPage(await ctx.open({ client_id: 'web', request_uri: requestUri }))).toBe('invalid_request_uri')
    })

    it('consumes the request_uri when the user denies too', async () => {
      const ctx = await start()
      const requestUri = await pushWeb(ctx)
      const action = await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
      expect(redirected(await ctx.answer(action, 'deny')).get('error')).toBe('access_denied')
      expect(await errorPage(await ctx.answer(action))).toBe('invalid_request_uri')
    })

    it('honours a request_uri raced by 20 authorization answers exactly once', async () => {
      const ctx = await start()
      const requestUri = await pushWeb(ctx)
      const action = await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
      ctx.gate.wait = barrier(20)
      const responses = await Promise.all(Array.from({ length: 20 }, () => ctx.answer(action)))
      const outcomes = await Promise.all(
        responses.map(async (response) => {
          if (response.status === 303) {
            const params = redirected(response)
            return params.get('code') !== null ? 'code' : params.get('error')
          }
          return errorPage(response)
        }),
      )
      expect(outcomes.filter((o) => o === 'code')).toHaveLength(1)
      // Every loser was validated before the winner answered: refused at the answer, back to the client.
      expect(outcomes.filter((o) => o === 'invalid_request_uri')).toHaveLength(19)
      expect(ctx.store.snapshot().codes).toHaveLength(1)
    })
  })

  describe('refused request_uri values at the authorization endpoint (RFC 9126 §4, §2.2)', () => {
    it('refuses an expired request_uri', async () => {
      const ctx = await start({ lifetime: 60 })
      const { request_uri: requestUri, expires_in: expiresIn } = await ctx.push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })
      expect(expiresIn).toBe(60)
      const action = await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
      ctx.advance(60)
      expect(await errorPage(await ctx.open({ client_id: 'web', request_uri: requestUri }))).toBe('invalid_request_uri')
      expect(await errorPage(await ctx.answer(action))).toBe('invalid_request_uri')
    })

    it('takes any positive lifetime: 1 second answers expires_in 1 and expires a second later (§2.2 "a positive integer")', async () => {
      const ctx = await start({ lifetime: 1 })
      const { request_uri: requestUri, expires_in: expiresIn } = await ctx.push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })
      expect(expiresIn).toBe(1)
      await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
      ctx.advance(1)
      expect(await errorPage(await ctx.open({ client_id: 'web', request_uri: requestUri }))).toBe('invalid_request_uri')
    })

    it('refuses the request_uri of another client', async () => {
      const ctx = await start()
      const { request_uri: requestUri } = await ctx.push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })
      expect(await errorPage(await ctx.open({ client_id: 'spa', request_uri: requestUri }))).toBe('invalid_request_uri')
      // Still usable by its own client.
      await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
    })

    it.each([
      ['a request_uri the endpoint never issued', `${REQUEST_URI_PREFIX}forged`],
      ['a request_uri by reference (RFC 9101), not from the endpoint', 'https://client.example.com/request.jwt'],
    ])('refuses %s', async (_, requestUri) => {
      const ctx = await start()
      expect(await errorPage(await ctx.open({ client_id: 'web', request_uri: requestUri }))).toBe('invalid_request_uri')
    })

    it('refuses a request_uri without client_id', async () => {
      const ctx = await start()
      const { request_uri: requestUri } = await ctx.push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })
      expect(await errorPage(await ctx.open({ request_uri: requestUri }))).toBe('invalid_request')
    })
  })

  describe('requiring pushed requests (RFC 9126 §4, §5, §6)', () => {
    const plain = { response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'read' }

    it('accepts a request that was not pushed by default', async () => {
      const ctx = await start()
      await ctx.actionOf(await ctx.open(plain))
    })

    it('refuses every request that was not pushed when required server-wide', async () => {
      const ctx = await start({ required: true })
      expect(await errorPage(await ctx.open(plain))).toBe('invalid_request')
      const { request_uri: requestUri } = await ctx.push(web, oauth.ClientSecretBasic('web-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })
      await ctx.actionOf(await ctx.open({ client_id: 'web', request_uri: requestUri }))
    })

    it('refuses a request that was not pushed for a client registered with require_pushed_authorization_requests', async () => {
      const ctx = await start()
      expect(await errorPage(await ctx.open({ ...plain, client_id: 'strict' }))).toBe('invalid_request')
      const strict: oauth.Client = { client_id: 'strict' }
      const { request_uri: requestUri } = await ctx.push(strict, oauth.ClientSecretBasic('strict-secret'), { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' })
      await ctx.actionOf(await ctx.open({ client_id: 'strict', request_uri: requestUri }))
    })
  })

  describe('refused pushes: JSON errors straight to the client (RFC 9126 §2.3)', () => {
    const auth = { authorization: basic('web', 'web-secret') }
    const good = { response_type: 'code', redirect_uri: REDIRECT, scope: 'read' }

    it.each([
      ['an unregistered redirect_uri', { ...good, redirect_uri: 'https://evil.example/cb' }, 'invalid_request'],
      ['a scope the client may not have', { ...good, scope: 'admin' }, 'invalid_scope'],
      ['an unsupported response_type', { ...good, response_type: 'token' }, 'unsupported_response_type'],
      ['a request_uri (RFC 9126 §2.1)', { ...good, request_uri: `${REQUEST_URI_PREFIX}x` }, 'invalid_request'],
      ['a request object', { ...good, request: 'eyJhbGciOiJub25lIn0.e30.' }, 'invalid_request'],
      ['a client_id of another client', { ...good, client_id: 'spa' }, 'invalid_request'],
      ['a repeated parameter', 'response_type=code&scope=read&scope=write', 'invalid_request'],
      ['an unknown code_challenge_method', { ...good, code_challenge: 'a'.repeat(43), code_challenge_method: 'S512' }, 'invalid_request'],
    ])('refuses %s with 400', async (_, body, code) => {
      const { rawPush, store } = await start()
      const response = await rawPush(body, auth)
      expect(response.status).toBe(400)
      expect(response.headers.get('cache-control')).toBe('no-store')
      expect(await response.json()).toMatchObject({ error: code })
      expect(store.snapshot().codes).toHaveLength(0)
    })

    it.each([
      ['a wrong secret', { authorization: basic('web', 'wrong') }],
      ['no client authentication', {}],
      ['an unknown client', { authorization: basic('nobody', 'x') }],
    ])('refuses %s with 401 invalid_client', async (_, headers) => {
      const { rawPush } = await start()
      const response = await rawPush(good, headers)
      expect(response.status).toBe(401)
      expect(await response.json()).toMatchObject({ error: 'invalid_client' })
    })

    it('answers 405 to a GET', async () => {
      const { rawPush } = await start()
      const response = await rawPush({}, auth, 'GET')
      expect(response.status).toBe(405)
      expect(await response.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('refuses a JSON body', async () => {
      const { rawPush } = await start()
      const response = await rawPush(JSON.stringify(good), { ...auth, 'content-type': 'application/json' })
      expect(response.status).toBeGreaterThanOrEqual(400)
      expect(response.status).toBeLessThan(500)
      expect(await response.json()).toMatchObject({ error: 'invalid_request' })
    })
  })
})

describe('the pushed request store', () => {
  it('stores only the hash of the request_uri, with the client and expiry, and no client credentials (RFC 9126 §2.2)', async () => {
    const saved: Array<[string, unknown]> = []
    const inner = memoryPushedRequestStore()
    const store: PushedRequestStore = {
      ...inner,
      savePushedRequest: async (hash, record, now) => {
        saved.push([hash, record])
        await inner.savePushedRequest(hash, record, now)
      },
    }
    const server = new AuthorizationServer({ issuer: 'https://auth.example.com', store: memoryStore(), clock: () => T0 })
    server.registerGrant(AuthorizationCodeGrant).registerEndpoint(pushedAuthorizationRequestEndpoint({ store }))
    await server.store.saveClient((await createClient({ ...(CLIENTS['post'] as ClientInput), secretHash: 'sha256' })).client)
    const response = await server.createEndpointResponse(
      'pushed_authorization_request',
      createOAuthRequest({ method: 'POST', url: '/par', body: { response_type: 'code', scope: 'read', client_id: 'post', client_secret: 'post-secret' } }),
    )
    expect(response.status).toBe(201)
    const requestUri = String(response.body?.['request_uri'])
    expect(saved).toHaveLength(1)
    const [hash, record] = saved[0] as [string, { clientId: string; params: string; expiresAt: Date }]
    expect(hash).not.toContain(requestUri.slice(REQUEST_URI_PREFIX.length))
    expect(record).toMatchObject({ clientId: 'post', expiresAt: new Date(T0 + 300_000) })
    expect(Object.fromEntries(new URLSearchParams(record.params))).toEqual({ response_type: 'code', scope: 'read', client_id: 'post' })
  })

  it.each([
    ['options are not an object', null],
    ['"lifetime" is not positive', { lifetime: 0 }],
    ['"lifetime" is not a whole number of seconds', { lifetime: 1.5 }],
    ['"lifetime" is above 600 seconds', { lifetime: 601 }],
    ['"required" is not a boolean', { required: 'yes' }],
    ['"store" lacks a method', { store: { savePushedRequest: async () => {} } }],
    ['"clientAuthMethods" is empty', { clientAuthMethods: [] }],
    ['"path" has no leading slash', { path: 'par' }],
  ])('throws a TypeError when %s', (_, options) => {
    expect(() => pushedAuthorizationRequestEndpoint(options as PushedAuthorizationRequestOptions)).toThrow(TypeError)
  })
})
