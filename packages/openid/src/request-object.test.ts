// Request objects (OpenID Connect Core §6) are not supported, and say so:
// `request` is request_not_supported (§6.1), a `request_uri` that no
// resolver answered is request_uri_not_supported (§6.2), both redirected to
// the client (§3.1.2.6); never ignored. The request_uri of a pushed
// authorization request (RFC 9126, @grantkit/par) is not a request object
// and keeps working. Real HTTP (Koa), openid-client 6.9.0 unmodified.
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { TEST_STORES, WEB_SECRET, responseParams, startProvider, type OpenTestStore } from './internal/testing.js'

const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
const CODE = { response_type: 'code', client_id: 'web', redirect_uri: 'http://localhost/cb', scope: 'openid', state: 'st', nonce: 'n-1', code_challenge: CHALLENGE, code_challenge_method: 'S256' }
/** A request object as a client would send it (Core §6.1); its signature is never looked at. */
const REQUEST_OBJECT = 'eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6Im9wZW5pZCBlbWFpbCJ9.c2lnbmF0dXJl'

describe.each(TEST_STORES)('request objects (Core §6) on the %s', (_name, openStore: OpenTestStore) => {
  const authorizeUrl = (issuer: string, params: Record<string, string>) => {
    const url = new URL(`${issuer}/authorize`)
    url.search = new URLSearchParams(params).toString()
    return url
  }

  it('discovery says request_parameter_supported: false, request_uri_parameter_supported: false (Discovery §3), with PAR too', async () => {
    for (const par of [false, true]) {
      const p = await startProvider(openStore, { par })
      const metadata = (await p.rp('web')).serverMetadata()
      expect(metadata).toMatchObject({ request_parameter_supported: false, request_uri_parameter_supported: false })
      expect(metadata.pushed_authorization_request_endpoint).toBe(par ? `${p.issuer}/par` : undefined)
    }
  })

  it('request → request_not_supported, redirected with state and iss, the app never asked (Core §6.1, §3.1.2.6)', async () => {
    const p = await startProvider(openStore)
    const params = responseParams(await p.location(authorizeUrl(p.issuer, { ...CODE, request: REQUEST_OBJECT })))
    expect(Object.fromEntries(params)).toMatchObject({ error: 'request_not_supported', state: 'st', iss: p.issuer })
    expect(params.has('code')).toBe(false)
    expect(p.session.seen).toBeNull()
  })

  it('a request of client_id and request alone (RFC 9101 section 5, openid-client buildAuthorizationUrlWithJAR) → request_not_supported on the error page, never redirected', async () => {
    const p = await startProvider(openStore)
    const config = await p.rp('web')
    const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
    const url = await client.buildAuthorizationUrlWithJAR(config, { ...CODE, client_id: 'web' }, privateKey)
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request'])
    const response = await p.authorize(url)
    expect(response.status).toBe(400)
    expect(response.headers.get('location')).toBeNull()
    expect(await response.text()).toContain('request_not_supported')
    expect(p.session.seen).toBeNull()
  })

  it('request → request_not_supported for a plain OAuth request too (no openid scope): never ignored', async () => {
    const p = await startProvider(openStore)
    const params = responseParams(await p.location(authorizeUrl(p.issuer, { ...CODE, scope: 'profile', request: REQUEST_OBJECT })))
    expect(params.get('error')).toBe('request_not_supported')
    expect(params.has('code')).toBe(false)
  })

  it.each([
    ['an https URL', 'https://rp.example/requests/1.jwt'],
    ['a pushed-request URN with no PAR endpoint to resolve it', 'urn:ietf:params:oauth:request_uri:abc'],
  ])('request_uri of %s → request_uri_not_supported, redirected (Core §6.2)', async (_case, requestUri) => {
    const p = await startProvider(openStore)
    const params = responseParams(await p.location(authorizeUrl(p.issuer, { ...CODE, request_uri: requestUri })))
    expect(Object.fromEntries(params)).toMatchObject({ error: 'request_uri_not_supported', state: 'st', iss: p.issuer })
    expect(params.has('code')).toBe(false)
  })

  it('the implicit and hybrid flows refuse them too, in the fragment (Core §3.2.2.6, §3.3.2.6)', async () => {
    const p = await startProvider(openStore)
    const implicit = await p.location(authorizeUrl(p.issuer, { response_type: 'id_token', client_id: 'spa', redirect_uri: 'http://localhost/spa', scope: 'openid', nonce: 'n', state: 'i', request: REQUEST_OBJECT }))
    expect(implicit.search).toBe('')
    expect(Object.fromEntries(responseParams(implicit))).toMatchObject({ error: 'request_not_supported', state: 'i' })
    const hybrid = await p.location(authorizeUrl(p.issuer, { ...CODE, response_type: 'code id_token', state: 'h', request_uri: 'https://rp.example/r.jwt' }))
    expect(hybrid.search).toBe('')
    expect(Object.fromEntries(responseParams(hybrid))).toMatchObject({ error: 'request_uri_not_supported', state: 'h' })
  })

  it('a pushed request’s request_uri (RFC 9126 §4) is not a request object: the code flow completes with the ID token', async () => {
    const p = await startProvider(openStore, { par: true })
    const config = await p.rp('web')
    const verifier = client.randomPKCECodeVerifier()
    const nonce = client.randomNonce()
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: 'http://localhost/cb',
      scope: 'openid email',
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    })
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)
    const tokens = await client.authorizationCodeGrant(config, await p.location(url), { pkceCodeVerifier: verifier, expectedNonce: nonce })
    expect(tokens.claims()).toMatchObject({ sub: 'alice', aud: 'web', nonce })
    expect(p.session.seen?.nonce).toBe(nonce)
  })

  it('with PAR, a request_uri it did not issue is refused by the PAR resolver: invalid_request_uri on a page, no redirect (RFC 9126 §4)', async () => {
    const p = await startProvider(openStore, { par: true })
    const response = await p.authorize(authorizeUrl(p.issuer, { client_id: 'web', request_uri: 'https://rp.example/requests/1.jwt' }))
    expect(response.status).toBe(400)
    expect(response.headers.get('location')).toBeNull()
    expect(await response.text()).toContain('invalid_request_uri')
  })

  it('with PAR, a pushed request holding request is refused at the push (RFC 9126 §3), no request_uri issued', async () => {
    const p = await startProvider(openStore, { par: true })
    const response = await fetch(`${p.issuer}/par`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`web:${WEB_SECRET}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...CODE, request: REQUEST_OBJECT }),
    })
    expect(response.status).toBe(400)
    const body = (await response.json()) as Record<string, unknown>
    expect(body['error']).toMatch(/^(invalid_request|request_not_supported)$/)
    expect(body).not.toHaveProperty('request_uri')
  })
})
