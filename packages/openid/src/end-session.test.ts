// RP-Initiated Logout 1.0 over real HTTP (Koa): the logout URL built by
// openid-client's buildEndSessionUrl, and every refusal shown, never redirected.
import * as client from 'openid-client'
import { describe, expect, it } from 'vitest'
import { TEST_STORES, startProvider, testKeys, type OpenTestStore } from './internal/testing.js'
import { OpenIDKeySet } from './key-set.js'

describe.each(TEST_STORES)('RP-initiated logout (RP-Initiated Logout 1.0 §2, §3) on the %s', (_name, openStore: OpenTestStore) => {
  /** A provider and an ID token it issued to `web` through the code flow. */
  async function signedIn(options: Parameters<typeof startProvider>[1] = {}) {
    const p = await startProvider(openStore, options)
    const config = await p.rp('web')
    const verifier = client.randomPKCECodeVerifier()
    const callback = await p.location(
      client.buildAuthorizationUrl(config, { redirect_uri: 'http://localhost/cb', scope: 'openid', nonce: 'n', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }),
    )
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: 'n' })
    return { ...p, config, idToken: tokens.id_token as string }
  }

  const logout = (issuer: string, params: Record<string, string>, method: 'GET' | 'POST' = 'GET') => {
    const url = new URL(`${issuer}/logout`)
    if (method === 'GET') url.search = new URLSearchParams(params).toString()
    return fetch(url, { method, redirect: 'manual', ...(method === 'POST' ? { body: new URLSearchParams(params) } : {}) })
  }

  /** A refusal: shown to the user (400 HTML page), no redirect, the session kept. */
  async function expectShown(response: Response, ended: readonly unknown[]) {
    expect(response.status).toBe(400)
    expect(response.headers.get('location')).toBeNull()
    expect(response.headers.get('content-type')).toContain('text/html')
    expect(await response.text()).toContain('invalid_request')
    expect(ended).toHaveLength(0)
  }

  it('follows the URL openid-client builds: ends the session, redirects to post_logout_redirect_uri with state (§2, §3)', async () => {
    const p = await signedIn()
    const url = client.buildEndSessionUrl(p.config, { id_token_hint: p.idToken, post_logout_redirect_uri: 'http://localhost/logged-out', state: 'bye-1' })
    expect(url.origin + url.pathname).toBe(`${p.issuer}/logout`)
    const response = await fetch(url, { redirect: 'manual' })
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe('http://localhost/logged-out?state=bye-1')
    expect(p.ended).toHaveLength(1)
    expect(p.ended[0]).toMatchObject({ client: { clientId: 'web' }, idToken: { sub: 'alice', aud: 'web' }, postLogoutRedirectUri: 'http://localhost/logged-out' })
  })

  it('accepts POST (§2: GET and POST) and client_id instead of the hint', async () => {
    const p = await signedIn()
    const response = await logout(p.issuer, { client_id: 'web', post_logout_redirect_uri: 'http://localhost/logged-out', state: 's', ui_locales: 'fr en' }, 'POST')
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('http://localhost/logged-out?state=s')
    expect(p.ended[0]).toMatchObject({ idToken: null, uiLocales: ['fr', 'en'] })
  })

  it('accepts an expired id_token_hint (§2: the OP SHOULD accept it)', async () => {
    const p = await signedIn()
    p.advance(2 * 3600)
    const response = await logout(p.issuer, { id_token_hint: p.idToken, post_logout_redirect_uri: 'http://localhost/logged-out' })
    expect(response.status).toBe(302)
    expect(p.ended).toHaveLength(1)
  })

  it('refuses an id_token_hint signed with a key no longer published (retention over)', async () => {
    let now = Date.now()
    const keys = OpenIDKeySet.from(testKeys(['RS256']).export(), { clock: () => now, retention: 3600 })
    const p = await signedIn({ keys })
    keys.addNext('RS256')
    keys.rotate('RS256')
    now += 3601 * 1000
    await expectShown(await logout(p.issuer, { id_token_hint: p.idToken }), p.ended)
  })

  it('never redirects to an unregistered post_logout_redirect_uri (§3: exact match)', async () => {
    const p = await signedIn()
    for (const uri of ['http://evil.example/', 'http://localhost/logged-out/', 'http://localhost/logged-out?x=1', 'http://localhost/cb']) {
      await expectShown(await logout(p.issuer, { id_token_hint: p.idToken, post_logout_redirect_uri: uri }), p.ended)
    }
  })

  it.each([
    ['post_logout_redirect_uri without client_id or id_token_hint', () => ({ post_logout_redirect_uri: 'http://localhost/logged-out' })],
    ['an unknown client_id', () => ({ client_id: 'nobody' })],
    ['a forged id_token_hint', () => ({ id_token_hint: 'eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJhbGljZSJ9.c2ln' })],
  ])('shows an error for %s', async (_case, params) => {
    const p = await signedIn()
    await expectShown(await logout(p.issuer, params()), p.ended)
  })

  it('shows an error when client_id is not the hint’s audience (§2)', async () => {
    const p = await signedIn()
    await expectShown(await logout(p.issuer, { id_token_hint: p.idToken, client_id: 'spa', post_logout_redirect_uri: 'http://localhost/logged-out' }), p.ended)
  })

  it('shows an error for a repeated parameter', async () => {
    const p = await signedIn()
    const response = await fetch(`${p.issuer}/logout?state=a&state=b`, { redirect: 'manual' })
    expect(response.status).toBe(400)
    expect(response.headers.get('location')).toBeNull()
  })

  it('without a redirect URI: ends the session and answers 204, or redirects to loggedOutPage', async () => {
    const p = await signedIn()
    const response = await logout(p.issuer, {})
    expect(response.status).toBe(204)
    expect(p.ended).toHaveLength(1)
    const q = await signedIn({ provider: { loggedOutPage: 'https://app.example/bye' } })
    const page = await logout(q.issuer, { id_token_hint: q.idToken })
    expect(page.headers.get('location')).toBe('https://app.example/bye')
  })

  it('answers what the endSession hook answers (a confirmation page, §2)', async () => {
    const p = await signedIn({ provider: { endSession: () => ({ kind: 'redirect', status: 302, headers: { location: 'https://app.example/confirm-logout' } }) } })
    const response = await logout(p.issuer, { id_token_hint: p.idToken, post_logout_redirect_uri: 'http://localhost/logged-out' })
    expect(response.headers.get('location')).toBe('https://app.example/confirm-logout')
  })
})
