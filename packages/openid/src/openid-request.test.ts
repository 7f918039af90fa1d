// The OpenID parameters of authentication requests (Core §3.1.2.1): refused
// with the right error (redirected to the client once the redirect URI is
// valid), or parsed for the app's authorize hook.
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { TEST_STORES, responseParams, startProvider, type OpenTestStore } from './internal/testing.js'
import { needsReauthentication } from './openid-request.js'
import type { AuthorizationRequest } from '@grantkit/core'

const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
const BASE = { response_type: 'code', client_id: 'web', redirect_uri: 'http://localhost/cb', scope: 'openid', state: 'st', code_challenge: CHALLENGE, code_challenge_method: 'S256' }

describe.each(TEST_STORES)('authentication request parameters (Core §3.1.2.1) on the %s', (_name, openStore: OpenTestStore) => {
  const url = (issuer: string, params: Record<string, string>, query?: string) => {
    const target = new URL(`${issuer}/authorize`)
    target.search = query ?? new URLSearchParams({ ...BASE, ...params }).toString()
    return target
  }

  /** An ID token issued to `clientId` by the code flow, for id_token_hint. */
  async function idTokenFor(p: Awaited<ReturnType<typeof startProvider>>, clientId: 'web' | 'es256' = 'web'): Promise<string> {
    const config = await p.rp(clientId, clientId === 'es256' ? { id_token_signed_response_alg: 'ES256' } : {})
    const verifier = client.randomPKCECodeVerifier()
    const callback = await p.location(
      client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/cb', scope: 'openid', nonce: 'x', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }),
    )
    return (await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: 'x' })).id_token as string
  }

  it.each([
    ['an unknown prompt value', { prompt: 'sometimes' }],
    ['prompt=none with another value', { prompt: 'none login' }],
    ['a repeated prompt value', { prompt: 'login login' }],
    ['a negative max_age', { max_age: '-1' }],
    ['a non-numeric max_age', { max_age: '1e3' }],
    ['an unknown display', { display: 'hologram' }],
    ['a claims parameter that is not JSON', { claims: '{oops' }],
    ['a claims parameter that is not an object', { claims: '[]' }],
    ['a claims member that is not an object', { claims: '{"userinfo":"email"}' }],
    ['a requested claim that is neither null nor an object', { claims: '{"id_token":{"email":true}}' }],
    ['an id_token_hint we did not issue', { id_token_hint: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.' }],
    ['a nonce longer than 512 characters', { nonce: 'n'.repeat(513) }],
  ])('%s → invalid_request, redirected with state', async (_case, params) => {
    const p = await startProvider(openStore)
    const callback = await p.location(url(p.issuer, params))
    expect(Object.fromEntries(responseParams(callback))).toMatchObject({ error: 'invalid_request', state: 'st', iss: p.issuer })
  })

  it('a repeated nonce → invalid_request (RFC 6749 §3.1)', async () => {
    const p = await startProvider(openStore)
    const query = `${new URLSearchParams(BASE).toString()}&nonce=a&nonce=b`
    expect(responseParams(await p.location(url(p.issuer, {}, query))).get('error')).toBe('invalid_request')
  })

  it('an id_token_hint issued to another client → invalid_request', async () => {
    const p = await startProvider(openStore)
    const hint = await idTokenFor(p, 'es256')
    expect(responseParams(await p.location(url(p.issuer, { id_token_hint: hint }))).get('error')).toBe('invalid_request')
  })

  it('ignores the OpenID parameters of a plain OAuth request (no openid scope)', async () => {
    const p = await startProvider(openStore)
    const callback = await p.location(url(p.issuer, { scope: 'profile', prompt: 'sometimes' }))
    expect(callback.searchParams.get('code')).toBeTruthy()
    expect(p.session.seen).toBeNull()
  })

  it('hands the parsed parameters to the authorize hook (openidRequest)', async () => {
    const p = await startProvider(openStore)
    const hint = await idTokenFor(p)
    p.advance(7200) // an expired hint is still a hint
    const claims = JSON.stringify({ userinfo: { email: { essential: true } } })
    await p.location(
      url(p.issuer, { nonce: 'n', prompt: 'login consent', max_age: '0', login_hint: 'alice@example.com', id_token_hint: hint, ui_locales: 'fr-CA fr en', acr_values: 'urn:a urn:b', display: 'popup', claims, claims_locales: 'de' }),
    )
    expect(p.session.seen).toEqual({
      nonce: 'n',
      prompt: ['login', 'consent'],
      maxAge: 0,
      loginHint: 'alice@example.com',
      idTokenHint: expect.objectContaining({ sub: 'alice', aud: 'web', iss: p.issuer }),
      uiLocales: ['fr-CA', 'fr', 'en'],
      claimsLocales: ['de'],
      acrValues: ['urn:a', 'urn:b'],
      display: 'popup',
      claims: { userinfo: { email: { essential: true } }, id_token: {} },
    })
  })

  describe('prompt=none (Core §3.1.2.1, §3.1.2.6)', () => {
    it('without a session: the app throws loginRequired() and the client gets error=login_required', async () => {
      const p = await startProvider(openStore)
      p.session.user = null
      const callback = await p.location(url(p.issuer, { prompt: 'none' }))
      expect(callback.origin + callback.pathname).toBe('http://localhost/cb')
      expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'login_required', state: 'st', iss: p.issuer })
    })

    it('without consent: consentRequired() gives error=consent_required', async () => {
      const p = await startProvider(openStore)
      p.session.consented = false
      expect(Object.fromEntries((await p.location(url(p.issuer, { prompt: 'none' }))).searchParams)).toMatchObject({ error: 'consent_required', state: 'st' })
    })

    it('in the fragment for the implicit flow', async () => {
      const p = await startProvider(openStore)
      p.session.user = null
      const callback = await p.location(url(p.issuer, { response_type: 'id_token', client_id: 'spa', redirect_uri: 'http://localhost/spa', nonce: 'n', prompt: 'none' }))
      expect(callback.search).toBe('')
      expect(responseParams(callback).get('error')).toBe('login_required')
    })

    it('with a session and consent: a code, no page shown', async () => {
      const p = await startProvider(openStore)
      expect((await p.location(url(p.issuer, { prompt: 'none' }))).searchParams.get('code')).toBeTruthy()
    })

    it('without prompt=none and without a session: the login page, not an error', async () => {
      const p = await startProvider(openStore)
      p.session.user = null
      const response = await p.authorize(url(p.issuer, {}))
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('login page')
    })
  })

  it('answers server_error (redirected) when the app approves a max_age request without authTime (Core §3.1.2.1: auth_time REQUIRED)', async () => {
    const p = await startProvider(openStore)
    p.session.user = { id: 'alice' }
    expect(responseParams(await p.location(url(p.issuer, { max_age: '60' }))).get('error')).toBe('server_error')
    expect(p.errors).toEqual([expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('authTime') })])
  })
})

describe('needsReauthentication (OpenID Connect Core §3.1.2.1 max_age, counted in whole seconds like auth_time)', () => {
  // A validated request carries its parsed OpenID parameters under this registry symbol (what openidRequest() reads).
  const withMaxAge = (maxAge: string) => ({ [Symbol.for('grantkit.openid.request')]: { maxAge: Number(maxAge) } }) as unknown as AuthorizationRequest
  const login = new Date(Date.UTC(2030, 0, 1, 12, 0, 0, 100))

  it('accepts max_age=0 right after a login in the same second, and refuses it a second later', () => {
    expect(needsReauthentication(withMaxAge('0'), login, new Date(login.getTime() + 800))).toBe(false)
    expect(needsReauthentication(withMaxAge('0'), login, new Date(login.getTime() + 1000))).toBe(true)
  })

  it('accepts an authentication exactly max_age seconds old, and refuses one older', () => {
    expect(needsReauthentication(withMaxAge('60'), login, new Date(login.getTime() + 60_000))).toBe(false)
    expect(needsReauthentication(withMaxAge('60'), login, new Date(login.getTime() + 61_000))).toBe(true)
    expect(needsReauthentication(withMaxAge('60'), undefined, login)).toBe(true)
  })
})
