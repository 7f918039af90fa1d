import { describe, expect, it } from 'vitest'
import { isRegisteredRedirectUri } from './client.js'
import { OAuthError } from './errors.js'
import { saveClient, setup, TestCodeGrant } from './internal/test-fixtures.js'
import { createOAuthRequest } from './request.js'

describe('loopback redirect URIs with any port (RFC 8252 section 7.3), an explicit option', () => {
  const client = { redirectUris: ['http://127.0.0.1/callback', 'http://[::1]:8080/cb?x=1', 'http://localhost/done', 'https://app.example/cb'] }

  it.each([
    ['http://127.0.0.1:54321/callback', true],
    ['http://127.0.0.1/callback', true],
    ['http://[::1]:1/cb?x=1', true],
    ['http://[::1]/cb?x=1', true],
    ['http://localhost:3000/done', true],
    ['http://LOCALHOST:3000/done', true],
    ['http://127.0.0.1:54321/callback/extra', false],
    ['http://127.0.0.1:54321/Callback', false],
    ['http://127.0.0.1:54321/callback?x=1', false],
    ['http://127.0.0.1:54321/callback#f', false],
    ['http://127.0.0.1:99999/callback', false],
    ['http://127.0.0.2:5000/callback', false],
    ['http://[::1]:1/cb', false],
    ['https://127.0.0.1:5000/callback', false],
    ['https://app.example:8443/cb', false],
    ['http://app.example:80/cb', false],
    ['http://127.0.0.1:5000@evil.example/callback', false],
  ])('anyLoopbackPort: %s matches: %s', (uri, matches) => {
    expect(isRegisteredRedirectUri(client, uri, { anyLoopbackPort: true })).toBe(matches)
  })

  it('compares by exact string without the option (RFC 9700 section 4.1.3)', () => {
    expect(isRegisteredRedirectUri(client, 'http://127.0.0.1/callback')).toBe(true)
    expect(isRegisteredRedirectUri(client, 'http://127.0.0.1:54321/callback')).toBe(false)
  })

  async function authorize(anyLoopbackPort: boolean, redirectUri: string): Promise<unknown> {
    const { server, store } = setup({ anyLoopbackPort })
    server.registerGrant(TestCodeGrant)
    const { clientId } = await saveClient(store, { redirectUris: ['http://127.0.0.1/callback'], grantTypes: ['authorization_code'], tokenEndpointAuthMethod: 'none' })
    return server
      .validateAuthorizationRequest(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: clientId, redirect_uri: redirectUri } }))
      .catch((error: unknown) => error)
  }

  it('the authorization endpoint redirects to the requested port only with the option', async () => {
    expect(await authorize(true, 'http://127.0.0.1:54321/callback')).toMatchObject({ redirectUri: 'http://127.0.0.1:54321/callback', redirectUriProvided: true })
    const refused = await authorize(false, 'http://127.0.0.1:54321/callback')
    expect(refused).toBeInstanceOf(OAuthError)
    expect(refused).toMatchObject({ code: 'invalid_request', redirect: undefined })
  })
})
