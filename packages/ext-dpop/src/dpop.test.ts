// DPoP (RFC 9449) over real HTTP: a Koa server from @grantkit/adapter-koa
// issuing DPoP-bound tokens and a protected resource behind its requireToken
// (core's resource guard), driven by an unmodified client (oauth4webapi's
// DPoP handle) and by raw proofs made with jose for every refusal, on the
// memory and SQLite stores.
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { oauthRouter, requireToken } from '@grantkit/adapter-koa'
import { AuthorizationServer, DPOP_ALGORITHMS, IntrospectionEndpoint, createClient, type ClientInput, type GrantUser } from '@grantkit/core'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { Router } from '@koa/router'
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import Koa from 'koa'
import * as oauth from 'oauth4webapi'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TEST_STORES, type OpenTestStore } from '../../../test-support/stores.js'
import { DPOP_SIGNING_ALGORITHMS, DPoP, type DPoPOptions } from './dpop.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const
const ALICE: GrantUser = { id: 'user-alice', username: 'alice' }
const REDIRECT = 'https://client.example.com/cb'

class PublicRefreshTokenGrant extends RefreshTokenGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'none']
}

const CLIENTS: Record<string, ClientInput> = {
  svc: { clientId: 'svc', clientSecret: 'svc-secret', grantTypes: ['client_credentials'], scope: 'read write' },
  // RFC 9449 §5.2: this client always uses DPoP.
  strict: { clientId: 'strict', clientSecret: 'strict-secret', grantTypes: ['client_credentials'], scope: 'read', metadata: { dpop_bound_access_tokens: true } },
  app: { clientId: 'app', redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scope: 'read', tokenEndpointAuthMethod: 'none' },
  web: { clientId: 'web', clientSecret: 'web-secret', redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scope: 'read' },
}

const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`
const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const ath = (token: string) => createHash('sha256').update(token).digest('base64url')

/** A key pair as jose makes it, with its public JWK and thumbprint. */
interface Key {
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  readonly jwk: JWK
  readonly jkt: string
}

async function newKey(alg = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return { privateKey, publicKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
}

/** A DPoP proof JWT (RFC 9449 §4.2), with any header or claim overridden. */
async function proof(key: Key, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header } as never)
    .sign(key.privateKey)
}

describe.each(TEST_STORES)('DPoP over HTTP (RFC 9449) on the %s', (_storeName, openStore: OpenTestStore) => {
  async function start(options: DPoPOptions = {}) {
    // The issuer needs the port: listen first, then hand the requests to the Koa app built below.
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => http.close(() => resolve())))
    const issuer = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}`)
    const store = await openStore()
    // oauth4webapi's proofs carry the real time: the server runs on it.
    const server = new AuthorizationServer({ issuer: issuer.origin, store, onError: () => {} })
    const dpop = new DPoP(options)
    server
      .registerGrant(AuthorizationCodeGrant, [new CodeChallenge(), dpop])
      .registerGrant(ClientCredentialsGrant, [dpop])
      .registerGrant(PublicRefreshTokenGrant, [dpop])
      .registerEndpoint(IntrospectionEndpoint)
    for (const input of Object.values(CLIENTS)) await store.saveClient((await createClient({ ...input, secretHash: 'sha256' })).client)
    const api = new Router()
    api.get('/api/me', requireToken(server, { scope: 'read' }), (ctx) => {
      ctx.body = { client: ctx.state['oauth'].clientId, user: ctx.state['oauth'].userId }
    })
    const app = new Koa()
    app.use(oauthRouter(server, { authorize: () => ({ user: ALICE }) }).routes()).use(api.routes())
    http.on('request', app.callback())
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
    const tokenUrl = `${issuer.origin}/token`
    const apiUrl = new URL('/api/me', issuer)

    /** A raw client-credentials token request of `svc` with these headers. */
    const rawToken = (headers: Headers | Record<string, string>, body: Record<string, string> = { grant_type: 'client_credentials', scope: 'read' }) =>
      fetch(tokenUrl, { method: 'POST', headers: { authorization: basic('svc', 'svc-secret'), 'content-type': 'application/x-www-form-urlencoded', ...Object.fromEntries(new Headers(headers)) }, body: new URLSearchParams(body) })
    /** A raw resource request. */
    const rawApi = (headers: Headers | Record<string, string>, method = 'GET') => fetch(apiUrl, { method, headers })
    /** A DPoP-bound access token of `svc` for `key`, from a raw request. */
    const boundToken = async (key: Key): Promise<string> => {
      const response = await rawToken({ dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) })
      expect(response.status).toBe(200)
      return ((await response.json()) as { access_token: string }).access_token
    }
    /** The authorization code of `client` for a request with these parameters. */
    const authorize = async (clientId: string, params: Record<string, string> = {}) => {
      const verifier = oauth.generateRandomCodeVerifier()
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: REDIRECT,
        scope: 'read',
        state: 'st',
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        ...params,
      })
      const response = await fetch(new URL(`/authorize?${query}`, issuer), { redirect: 'manual' })
      expect(response.status).toBe(302)
      const callback = oauth.validateAuthResponse(as, { client_id: clientId }, new URL(response.headers.get('location') as string), 'st')
      return { callback, verifier }
    }
    const introspect = async (token: string) =>
      (await fetch(`${issuer.origin}/introspect`, { method: 'POST', headers: { authorization: basic('web', 'web-secret') }, body: new URLSearchParams({ token }) })).json() as Promise<Record<string, unknown>>
    return { issuer, as, store, server, tokenUrl, apiUrl, rawToken, rawApi, boundToken, authorize, introspect }
  }

  /** The RFC 9449 §7.1 challenge of a refused resource request. */
  async function dpopRefusal(response: Response, code: string): Promise<void> {
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: code })
    const challenge = response.headers.get('www-authenticate') ?? ''
    expect(challenge.startsWith('DPoP ')).toBe(true)
    expect(challenge).toContain(`error="${code}"`)
    // The resource guard's default algorithms (core's), not the token endpoint's.
    expect(challenge).toContain('algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"')
  }

  it('advertises dpop_signing_alg_values_supported (RFC 9449 §5.1)', async () => {
    const { as } = await start()
    expect(as.dpop_signing_alg_values_supported).toEqual(['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'])
  })

  describe('with oauth4webapi', () => {
    const svc: oauth.Client = { client_id: 'svc' }

    it('issues a DPoP-bound client-credentials token and calls the protected resource with it (RFC 9449 §5, §6, §7)', async () => {
      const { as, apiUrl, introspect } = await start()
      const keyPair = await oauth.generateKeyPair('ES256')
      const handle = oauth.DPoP(svc, keyPair)
      const tokens = await oauth.processClientCredentialsResponse(
        as,
        svc,
        await oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretBasic('svc-secret'), { scope: 'read' }, { ...insecure, DPoP: handle }),
      )
      expect(tokens.token_type).toBe('dpop')
      const resource = await oauth.protectedResourceRequest(tokens.access_token, 'GET', apiUrl, undefined, undefined, { ...insecure, DPoP: handle })
      expect(resource.status).toBe(200)
      expect(await resource.json()).toEqual({ client: 'svc', user: null })
      // RFC 9449 §6.2: introspection shows the binding.
      const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey))
      // Introspection answers only the token's own client: svc introspects.
      void introspect
      const response = await fetch(as.introspection_endpoint as string, { method: 'POST', headers: { authorization: basic('svc', 'svc-secret') }, body: new URLSearchParams({ token: tokens.access_token }) })
      expect(await response.json()).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } })
    })

    it('runs the code flow with PKCE, refreshes with the same key, and calls the resource (RFC 9449 §5, §10)', async () => {
      const { as, apiUrl, authorize } = await start()
      const app: oauth.Client = { client_id: 'app' }
      const keyPair = await oauth.generateKeyPair('ES256')
      const handle = oauth.DPoP(app, keyPair)
      const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey))
      // RFC 9449 §10: the code is bound to the key with dpop_jkt.
      const { callback, verifier } = await authorize('app', { dpop_jkt: jkt })
      const tokens = await oauth.processAuthorizationCodeResponse(
        as,
        app,
        await oauth.authorizationCodeGrantRequest(as, app, oauth.None(), callback, REDIRECT, verifier, { ...insecure, DPoP: handle }),
      )
      expect(tokens).toMatchObject({ token_type: 'dpop', scope: 'read' })
      const refreshed = await oauth.processRefreshTokenResponse(
        as,
        app,
        await oauth.refreshTokenGrantRequest(as, app, oauth.None(), tokens.refresh_token as string, { ...insecure, DPoP: handle }),
      )
      expect(refreshed.token_type).toBe('dpop')
      const resource = await oauth.protectedResourceRequest(refreshed.access_token, 'GET', apiUrl, undefined, undefined, { ...insecure, DPoP: handle })
      expect(await resource.json()).toEqual({ client: 'app', user: 'user-alice' })
    })

    it('retries with the server nonce after use_dpop_nonce (RFC 9449 §8)', async () => {
      const { as, apiUrl } = await start({ nonce: true })
      const keyPair = await oauth.generateKeyPair('ES256')
      const handle = oauth.DPoP(svc, keyPair)
      const request = () => oauth.clientCredentialsGrantRequest(as, svc, oauth.ClientSecretBasic('svc-secret'), { scope: 'read' }, { ...insecure, DPoP: handle })
      const first = await request()
      expect(first.status).toBe(400)
      expect(first.headers.get('dpop-nonce')).toEqual(expect.any(String))
      const error = await oauth.processClientCredentialsResponse(as, svc, first).catch((e: unknown) => e)
      expect(oauth.isDPoPNonceError(error)).toBe(true)
      const tokens = await oauth.processClientCredentialsResponse(as, svc, await request())
      expect(tokens.token_type).toBe('dpop')
      const resource = await oauth.protectedResourceRequest(tokens.access_token, 'GET', apiUrl, undefined, undefined, { ...insecure, DPoP: handle })
      expect(resource.status).toBe(200)
    })
  })

  describe('refused proofs at the token endpoint: 400 invalid_dpop_proof (RFC 9449 §4.3, §5)', () => {
    const NOW = () => Math.floor(Date.now() / 1000)
    it.each<[string, (key: Key, other: Key, tokenUrl: string) => Promise<string | string[]>]>([
      ['a proof for another method (htm)', (key, _, url) => proof(key, { htm: 'GET', htu: url })],
      ['a proof for another URL (htu)', (key) => proof(key, { htm: 'POST', htu: 'https://other.example.com/token' })],
      ['a proof signed by another key than its jwk', (key, other, url) => proof(key, { htm: 'POST', htu: url }, { jwk: other.jwk })],
      ['an expired proof (iat too old)', (key, _, url) => proof(key, { htm: 'POST', htu: url, iat: NOW() - 301 })],
      ['a proof from the future (iat)', (key, _, url) => proof(key, { htm: 'POST', htu: url, iat: NOW() + 120 })],
      ['a proof without jti', (key, _, url) => proof(key, { htm: 'POST', htu: url, jti: undefined })],
      ['a proof with typ JWT', (key, _, url) => proof(key, { htm: 'POST', htu: url }, { typ: 'JWT' })],
      ['an unsigned proof (alg none)', async (key, _, url) => `${b64url({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${b64url({ jti: 'j', htm: 'POST', htu: url, iat: NOW() })}.`],
      [
        'an HMAC proof (HS256)',
        async (key, _, url) =>
          new SignJWT({ jti: 'j', htm: 'POST', htu: url, iat: NOW() }).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk } as never).sign(new Uint8Array(32).fill(7)),
      ],
      [
        'a proof whose jwk is the private key',
        async (key, _, url) => proof(key, { htm: 'POST', htu: url }, { jwk: await exportJWK(key.privateKey) }),
      ],
      ['a malformed proof', async () => 'not-a-jwt'],
      ['two DPoP headers', async (key, _, url) => [await proof(key, { htm: 'POST', htu: url }), await proof(key, { htm: 'POST', htu: url })]],
    ])('refuses %s', async (_, make) => {
      const { rawToken, tokenUrl, store } = await start()
      const made = await make(await newKey(), await newKey(), tokenUrl)
      const headers = new Headers()
      for (const value of Array.isArray(made) ? made : [made]) headers.append('dpop', value)
      const response = await rawToken(headers)
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      expect(store.snapshot().tokens).toHaveLength(0)
    })

    it('refuses a replayed proof (jti, RFC 9449 §11.1)', async () => {
      const { rawToken, tokenUrl } = await start()
      const key = await newKey()
      const once = await proof(key, { htm: 'POST', htu: tokenUrl })
      expect((await rawToken({ dpop: once })).status).toBe(200)
      const replayed = await rawToken({ dpop: once })
      expect(replayed.status).toBe(400)
      expect(await replayed.json()).toMatchObject({ error: 'invalid_dpop_proof' })
    })

    it('honours one proof raced by 20 token requests exactly once', async () => {
      const { rawToken, tokenUrl, store } = await start()
      const once = await proof(await newKey(), { htm: 'POST', htu: tokenUrl })
      const statuses = (await Promise.all(Array.from({ length: 20 }, () => rawToken({ dpop: once })))).map((r) => r.status)
      expect(statuses.filter((s) => s === 200)).toHaveLength(1)
      expect(statuses.filter((s) => s === 400)).toHaveLength(19)
      expect(store.snapshot().tokens).toHaveLength(1)
    })

    it('ignores the query of htu (RFC 9449 §4.3 item 9) and answers a bound Bearer-less token_type DPoP', async () => {
      const { rawToken, tokenUrl } = await start()
      const response = await rawToken({ dpop: await proof(await newKey(), { htm: 'POST', htu: `${tokenUrl}?x=1#f` }) })
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({ token_type: 'DPoP' })
    })

    it('issues Bearer tokens without a proof, but not to a client registered with dpop_bound_access_tokens (RFC 9449 §5.2)', async () => {
      const { rawToken } = await start()
      const plain = await rawToken({})
      expect(await plain.json()).toMatchObject({ token_type: 'Bearer' })
      const strict = await rawToken({ authorization: basic('strict', 'strict-secret') })
      expect(strict.status).toBe(400)
      expect(await strict.json()).toMatchObject({ error: 'invalid_dpop_proof' })
    })

    it('requires a proof of every client with required: true (RFC 9449 §5.2 for all clients)', async () => {
      const { rawToken, tokenUrl, store } = await start({ required: true })
      const plain = await rawToken({})
      expect(plain.status).toBe(400)
      expect(await plain.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      expect(store.snapshot().tokens).toHaveLength(0)
      const bound = await rawToken({ dpop: await proof(await newKey(), { htm: 'POST', htu: tokenUrl }) })
      expect(await bound.json()).toMatchObject({ token_type: 'DPoP' })
    })

    it('refuses an RSA key shorter than 2048 bits, as core\'s verifier does at the resource (RFC 9449 §4.3 item 5)', async () => {
      const { rawToken, tokenUrl } = await start({ algorithms: ['RS256'] })
      // Signed with node:crypto: jose will not make a 1024-bit key.
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
      const input = `${b64url({ alg: 'RS256', typ: 'dpop+jwt', jwk: publicKey.export({ format: 'jwk' }) })}.${b64url({ jti: randomUUID(), htm: 'POST', htu: tokenUrl, iat: Math.floor(Date.now() / 1000) })}`
      const short = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`
      const response = await rawToken({ dpop: short })
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      // The same proof with a 2048-bit key passes: the length is what is refused.
      const long = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const good = `${b64url({ alg: 'RS256', typ: 'dpop+jwt', jwk: long.publicKey.export({ format: 'jwk' }) })}.${b64url({ jti: randomUUID(), htm: 'POST', htu: tokenUrl, iat: Math.floor(Date.now() / 1000) })}`
      expect((await rawToken({ dpop: `${good}.${sign('sha256', Buffer.from(good), long.privateKey).toString('base64url')}` })).status).toBe(200)
    })

    it('refuses a proof without the current nonce when nonces are on, with a DPoP-Nonce header (RFC 9449 §8)', async () => {
      const { rawToken, tokenUrl } = await start({ nonce: true })
      const key = await newKey()
      const first = await rawToken({ dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) })
      expect(first.status).toBe(400)
      expect(await first.json()).toMatchObject({ error: 'use_dpop_nonce' })
      const nonce = first.headers.get('dpop-nonce') as string
      const wrong = await rawToken({ dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce: 'guessed' }) })
      expect(await wrong.json()).toMatchObject({ error: 'use_dpop_nonce' })
      const second = await rawToken({ dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce }) })
      expect(second.status).toBe(200)
    })
  })

  describe('nonces before anything is spent (RFC 9449 §8, core\'s beforeValidateTokenRequest)', () => {
    it('asks a code exchange for a nonce without spending the code: oauth4webapi retries with the same code', async () => {
      const { as, authorize } = await start({ nonce: true })
      const app: oauth.Client = { client_id: 'app' }
      const handle = oauth.DPoP(app, await oauth.generateKeyPair('ES256'))
      const { callback, verifier } = await authorize('app')
      const exchange = () => oauth.authorizationCodeGrantRequest(as, app, oauth.None(), callback, REDIRECT, verifier, { ...insecure, DPoP: handle })
      const first = await exchange()
      expect(first.status).toBe(400)
      expect(first.headers.get('dpop-nonce')).toEqual(expect.any(String))
      expect(oauth.isDPoPNonceError(await oauth.processAuthorizationCodeResponse(as, app, first).catch((e: unknown) => e))).toBe(true)
      const tokens = await oauth.processAuthorizationCodeResponse(as, app, await exchange())
      expect(tokens.token_type).toBe('dpop')
    })

    it('refuses a bad proof before the code is read: the code stays usable', async () => {
      const { authorize, tokenUrl, store } = await start()
      const key = await newKey()
      const { callback, verifier } = await authorize('app')
      const body = () => new URLSearchParams({ grant_type: 'authorization_code', client_id: 'app', code: callback.get('code') as string, redirect_uri: REDIRECT, code_verifier: verifier })
      const bad = await fetch(tokenUrl, { method: 'POST', headers: { dpop: await proof(key, { htm: 'GET', htu: tokenUrl }) }, body: body() })
      expect(await bad.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      expect(store.snapshot().codes[0]?.consumedAt ?? null).toBeNull()
      const good = await fetch(tokenUrl, { method: 'POST', headers: { dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) }, body: body() })
      expect(await good.json()).toMatchObject({ token_type: 'DPoP' })
    })
  })

  describe('codes and refresh tokens bound to a key (RFC 9449 §5, §10)', () => {
    const codeRequest = (tokenUrl: string, clientId: string, callback: URLSearchParams, verifier: string, headers: Record<string, string>) =>
      fetch(tokenUrl, {
        method: 'POST',
        headers: clientId === 'web' ? { ...headers, authorization: basic('web', 'web-secret') } : headers,
        body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.get('code') as string, redirect_uri: REDIRECT, code_verifier: verifier, ...(clientId === 'web' ? {} : { client_id: clientId }) }),
      })
    const refreshRequest = (tokenUrl: string, clientId: string, refreshToken: string, headers: Record<string, string>) =>
      fetch(tokenUrl, {
        method: 'POST',
        headers: clientId === 'web' ? { ...headers, authorization: basic('web', 'web-secret') } : headers,
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, ...(clientId === 'web' ? {} : { client_id: clientId }) }),
      })

    it.each([
      ['without a proof', async () => ({})],
      ['with a proof of another key', async (tokenUrl: string) => ({ dpop: await proof(await newKey(), { htm: 'POST', htu: tokenUrl }) })],
    ])('refuses a code bound with dpop_jkt redeemed %s, and spends it', async (_, headers) => {
      const { authorize, tokenUrl, store } = await start()
      const key = await newKey()
      const { callback, verifier } = await authorize('app', { dpop_jkt: key.jkt })
      const refused = await codeRequest(tokenUrl, 'app', callback, verifier, await headers(tokenUrl))
      expect(refused.status).toBe(400)
      expect(await refused.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      expect(store.snapshot().tokens).toHaveLength(0)
      // A code that failed a check is spent (the authorization code grant's rule).
      const again = await codeRequest(tokenUrl, 'app', callback, verifier, { dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) })
      expect(await again.json()).toMatchObject({ error: 'invalid_grant' })
    })

    it('redeems a code bound with dpop_jkt with a proof of that key (RFC 9449 §10)', async () => {
      const { authorize, tokenUrl, store } = await start()
      const key = await newKey()
      const { callback, verifier } = await authorize('app', { dpop_jkt: key.jkt })
      expect(store.snapshot().codes[0]?.extra).toMatchObject({ dpop_jkt: key.jkt })
      const good = await codeRequest(tokenUrl, 'app', callback, verifier, { dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) })
      expect(await good.json()).toMatchObject({ token_type: 'DPoP' })
    })

    it('refuses a malformed dpop_jkt at the authorization endpoint', async () => {
      const { issuer } = await start()
      const query = new URLSearchParams({ response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'read', state: 'st', dpop_jkt: 'short' })
      const response = await fetch(new URL(`/authorize?${query}`, issuer), { redirect: 'manual' })
      expect(new URL(response.headers.get('location') as string).searchParams.get('error')).toBe('invalid_request')
    })

    it("refuses a public client's refresh without a proof or with another key (RFC 9449 §5)", async () => {
      const { authorize, tokenUrl } = await start()
      const key = await newKey()
      const { callback, verifier } = await authorize('app')
      const tokens = (await (await codeRequest(tokenUrl, 'app', callback, verifier, { dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) })).json()) as { refresh_token: string }
      const none = await refreshRequest(tokenUrl, 'app', tokens.refresh_token, {})
      expect(none.status).toBe(400)
      expect(await none.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      const other = await refreshRequest(tokenUrl, 'app', tokens.refresh_token, { dpop: await proof(await newKey(), { htm: 'POST', htu: tokenUrl }) })
      expect(await other.json()).toMatchObject({ error: 'invalid_dpop_proof' })
      const good = await refreshRequest(tokenUrl, 'app', tokens.refresh_token, { dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) })
      expect(await good.json()).toMatchObject({ token_type: 'DPoP' })
    })

    it("lets a confidential client's refresh use a new key, which the new tokens are bound to", async () => {
      const { authorize, tokenUrl, rawApi, introspect } = await start()
      const { callback, verifier } = await authorize('web')
      const tokens = (await (await codeRequest(tokenUrl, 'web', callback, verifier, { dpop: await proof(await newKey(), { htm: 'POST', htu: tokenUrl }) })).json()) as { refresh_token: string }
      const next = await newKey()
      const refreshed = (await (await refreshRequest(tokenUrl, 'web', tokens.refresh_token, { dpop: await proof(next, { htm: 'POST', htu: tokenUrl }) })).json()) as { access_token: string }
      expect(await introspect(refreshed.access_token)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: next.jkt } })
      const api = await rawApi({ authorization: `DPoP ${refreshed.access_token}`, dpop: await proof(next, { htm: 'GET', htu: 'http://x/api/me'.replace('http://x', new URL(tokenUrl).origin), ath: ath(refreshed.access_token) }) })
      expect(api.status).toBe(200)
    })
  })

  describe('refused requests at the protected resource: 401 with the DPoP challenge (RFC 9449 §7, §7.1)', () => {
    const NOW = () => Math.floor(Date.now() / 1000)
    it.each<[string, string, (key: Key, other: Key, token: string, url: string) => Promise<Record<string, string>>]>([
      ['the bound token as a Bearer token (§7.2)', 'invalid_token', async (_key, _other, token) => ({ authorization: `Bearer ${token}` })],
      ['no DPoP header', 'invalid_dpop_proof', async (_key, _other, token) => ({ authorization: `DPoP ${token}` })],
      ['a proof for another method (htm)', 'invalid_dpop_proof', async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'POST', htu: url, ath: ath(token) }) })],
      ['a proof for another URL (htu)', 'invalid_dpop_proof', async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${url}/other`, ath: ath(token) }) })],
      ['a proof of another key', 'invalid_dpop_proof', async (_key, other, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(other, { htm: 'GET', htu: url, ath: ath(token) }) })],
      ['a proof with the hash of another token (ath)', 'invalid_dpop_proof', async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: url, ath: ath('other') }) })],
      ['a proof without ath', 'invalid_dpop_proof', async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: url }) })],
      ['an expired proof (iat)', 'invalid_dpop_proof', async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: url, ath: ath(token), iat: NOW() - 301 }) })],
      [
        'an unsigned proof (alg none)',
        'invalid_dpop_proof',
        async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: `${b64url({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk })}.${b64url({ jti: 'j', htm: 'GET', htu: url, iat: NOW(), ath: ath(token) })}.` }),
      ],
      [
        'a proof whose jwk is the private key',
        'invalid_dpop_proof',
        async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: url, ath: ath(token) }, { jwk: await exportJWK(key.privateKey) }) }),
      ],
      ['a proof with typ JWT', 'invalid_dpop_proof', async (key, _o, token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: url, ath: ath(token) }, { typ: 'JWT' }) })],
      ['an unknown token', 'invalid_token', async (key, _o, _token, url) => ({ authorization: 'DPoP unknown', dpop: await proof(key, { htm: 'GET', htu: url, ath: ath('unknown') }) })],
    ])('refuses %s with %s', async (_, code, make) => {
      const { boundToken, rawApi, apiUrl } = await start()
      const key = await newKey()
      const token = await boundToken(key)
      await dpopRefusal(await rawApi(await make(key, await newKey(), token, apiUrl.toString())), code)
    })

    it('refuses a replayed proof (RFC 9449 §11.1)', async () => {
      const { boundToken, rawApi, apiUrl } = await start()
      const key = await newKey()
      const token = await boundToken(key)
      const headers = { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: apiUrl.toString(), ath: ath(token) }) }
      expect((await rawApi(headers)).status).toBe(200)
      await dpopRefusal(await rawApi(headers), 'invalid_dpop_proof')
    })

    it('refuses a Bearer token presented with the DPoP scheme', async () => {
      const { rawToken, rawApi, apiUrl } = await start()
      const bearer = ((await (await rawToken({})).json()) as { access_token: string }).access_token
      await dpopRefusal(await rawApi({ authorization: `DPoP ${bearer}`, dpop: await proof(await newKey(), { htm: 'GET', htu: apiUrl.toString(), ath: ath(bearer) }) }), 'invalid_token')
    })

    it('keeps the RFC 6750 Bearer answers for Bearer requests', async () => {
      const { rawToken, rawApi } = await start()
      const bare = await rawApi({})
      expect(bare.status).toBe(401)
      expect(bare.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+"$/)
      const bearer = ((await (await rawToken({})).json()) as { access_token: string }).access_token
      expect((await rawApi({ authorization: `Bearer ${bearer}` })).status).toBe(200)
      const unknown = await rawApi({ authorization: 'Bearer unknown' })
      expect(unknown.status).toBe(401)
      expect(unknown.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token"/)
    })

    it('answers insufficient_scope with the DPoP challenge (403)', async () => {
      const { rawToken, rawApi, apiUrl, tokenUrl } = await start()
      const key = await newKey()
      const response = await rawToken({ dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) }, { grant_type: 'client_credentials', scope: 'write' })
      const token = ((await response.json()) as { access_token: string }).access_token
      const refused = await rawApi({ authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: apiUrl.toString(), ath: ath(token) }) })
      expect(refused.status).toBe(403)
      expect(await refused.json()).toMatchObject({ error: 'insufficient_scope' })
      expect(refused.headers.get('www-authenticate')).toMatch(/^DPoP realm="[^"]+", algs="[^"]+", error="insufficient_scope"/)
    })
  })
})

describe('DPoP options', () => {
  it('offers the algorithms of core\'s DPoP verifier, which checks every proof (one verifier for the token endpoint and the resources)', () => {
    expect([...DPOP_SIGNING_ALGORITHMS]).toEqual([...DPOP_ALGORITHMS])
  })

  it.each([
    ['options are not an object', null],
    ['"algorithms" has HS256', { algorithms: ['HS256'] }],
    ['"algorithms" has none', { algorithms: ['none'] }],
    ['"algorithms" is empty', { algorithms: [] }],
    ['"maxAge" is 0', { maxAge: 0 }],
    ['"nonce.secret" is short', { nonce: { secret: 'short' } }],
    ['"nonce.lifetime" is not an integer', { nonce: { lifetime: 1.5 } }],
    ['"required" is not a boolean', { required: 'yes' }],
  ])('throws a TypeError when %s', (_, options) => {
    expect(() => new DPoP(options as DPoPOptions)).toThrow(TypeError)
  })

  it('refuses a store without the replay capability at registration', () => {
    const store = { findClient: async () => null, saveTokens: async () => {}, findToken: async () => null, revokeToken: async () => false, revokeTokenFamily: async () => 0 }
    const server = new AuthorizationServer({ issuer: 'https://auth.example.com', store })
    expect(() => server.registerGrant(ClientCredentialsGrant, [new DPoP()])).toThrow(TypeError)
  })
})
