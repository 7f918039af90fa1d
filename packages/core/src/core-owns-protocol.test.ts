// What the "core decides every protocol rule" change guarantees, each rule
// with the mistake it catches: validation runs once, configuration fails at
// registration, adapters get typed outcomes, and the HTTP layer never hangs.
import { describe, expect, it } from 'vitest'
import { createClient, defaultResponseTypes } from './client.js'
import { isOAuthError, OAuthError } from './errors.js'
import { BaseGrant, type GrantExtension, type GrantUser } from './grant.js'
import { createHttpHandler, type HttpOutcome } from './http-handler.js'
import { basic, ISSUER, saveClient, setup, TestCodeGrant, TestTokenGrant } from './internal/test-fixtures.js'
import { createOAuthRequest } from './request.js'
import type { OAuthResponse } from './response.js'
import { createResourceGuard } from './resource-guard.js'

const REDIRECT = 'https://client.example/cb'

/** Counts how often each hook point runs, and calls the client lookup through a spy. */
function counting() {
  const calls = { afterValidateAuthorizationRequest: 0, beforeAuthorizationResponse: 0 }
  const extension: GrantExtension = {
    afterValidateAuthorizationRequest() {
      calls.afterValidateAuthorizationRequest++
    },
    beforeAuthorizationResponse() {
      calls.beforeAuthorizationResponse++
    },
  }
  return { calls, extension }
}

async function codeWorld() {
  const s = setup()
  const { calls, extension } = counting()
  s.server.registerGrant(TestCodeGrant, [extension])
  await saveClient(s.store, { clientId: 'web', redirectUris: [REDIRECT], responseTypes: ['code'] })
  let lookups = 0
  const findClient = s.store.findClient.bind(s.store)
  s.store.findClient = async (id) => {
    lookups++
    return findClient(id)
  }
  return { ...s, calls, lookups: () => lookups }
}

describe('an authorization request is validated once (RFC 6749 §4.1.1)', () => {
  it('runs every afterValidateAuthorizationRequest hook and the client lookup once per approved request', async () => {
    const { server, calls, lookups } = await codeWorld()
    const handle = await server.validateAuthorizationRequest(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web', state: 's' } }))
    const response = await server.createAuthorizationResponse(handle, { id: 'u' })
    expect(response.kind).toBe('redirect')
    expect(new URL(response.headers['location']!).searchParams.get('code')).toBe('code-for-u')
    expect(calls).toEqual({ afterValidateAuthorizationRequest: 1, beforeAuthorizationResponse: 1 })
    expect(lookups()).toBe(1)
  })

  it('runs the hooks once through the HTTP handler too, from the GET to the approval', async () => {
    const { server, calls, lookups } = await codeWorld()
    const handler = createHttpHandler(server)
    const outcome = await handler.handle(
      { method: 'GET', path: '/authorize', query: 'response_type=code&client_id=web', url: '/authorize?response_type=code&client_id=web', headers: {}, body: { kind: 'none' } },
      { authorize: () => ({ user: { id: 'u' } }) },
    )
    expect(outcome).toMatchObject({ kind: 'redirect', status: 302 })
    expect(calls.afterValidateAuthorizationRequest).toBe(1)
    expect(lookups()).toBe(1)
  })

  it('hands the consent page the validated request itself: client, scopes, redirect URI and state', async () => {
    const { server } = await codeWorld()
    const handle = await server.validateAuthorizationRequest(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web', state: 's' } }))
    expect(handle).toMatchObject({ responseType: 'code', redirectUri: REDIRECT, state: 's', client: { clientId: 'web' } })
    expect(handle.grant).toBeInstanceOf(TestCodeGrant)
  })

  it('refuses to answer one handle twice, so a code is never issued twice for one approval', async () => {
    const { server } = await codeWorld()
    const handle = await server.validateAuthorizationRequest(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web' } }))
    await server.createAuthorizationResponse(handle, { id: 'u' })
    await expect(server.createAuthorizationResponse(handle, { id: 'u' })).rejects.toThrow(TypeError)
  })

  it('still accepts a request instead of a handle, validating it once', async () => {
    const { server, calls } = await codeWorld()
    const response = await server.createAuthorizationResponse(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web' } }), { id: 'u' })
    expect(response.kind).toBe('redirect')
    expect(calls.afterValidateAuthorizationRequest).toBe(1)
  })
})

describe('configuration fails at registration, with a TypeError carrying a code', () => {
  class CustomWithoutTokenMethods extends BaseGrant {
    static override GRANT_TYPE = 'urn:test:custom'
    static override TOKEN_ENDPOINT = true
  }
  class CustomWithoutAuthorizationResponse extends BaseGrant {
    static override RESPONSE_TYPES: readonly string[] = ['urn:test']
    static override AUTHORIZATION_ENDPOINT = true
  }
  class BadResponseMode extends TestCodeGrant {
    static override DEFAULT_RESPONSE_MODE = 'form_post' as never
  }
  class BadAuthMethods extends TestTokenGrant {
    static override TOKEN_ENDPOINT_AUTH_METHODS = 'client_secret_basic' as never
  }
  it.each<[string, typeof BaseGrant, RegExp]>([
    ['a custom token grant that overrides neither token method', CustomWithoutTokenMethods as never, /overrides neither validateTokenRequest nor createTokenResponse/],
    ['a custom authorization grant without createAuthorizationResponse', CustomWithoutAuthorizationResponse as never, /does not override createAuthorizationResponse/],
    ['an unknown DEFAULT_RESPONSE_MODE', BadResponseMode as never, /DEFAULT_RESPONSE_MODE/],
    ['TOKEN_ENDPOINT_AUTH_METHODS that is not a list', BadAuthMethods as never, /TOKEN_ENDPOINT_AUTH_METHODS/],
  ])('refuses %s', (_, grantClass, message) => {
    const { server } = setup()
    expect(() => server.registerGrant(grantClass as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG', message: expect.stringMatching(message) }))
  })

  it('gives a duplicate registration its own code', () => {
    const { server } = setup()
    server.registerGrant(TestTokenGrant)
    expect(() => server.registerGrant(TestTokenGrant)).toThrow(expect.objectContaining({ code: 'ERR_GRANTKIT_DUPLICATE' }))
  })

  it('gives a bad server option a code too', () => {
    expect(() => setup({ authorizationCodeLifetime: 601 })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
  })
})

describe('custom response types choose their response mode (RFC 6749 §4.2.2)', () => {
  it('sends a custom response type in the fragment when the grant says so', async () => {
    class TokenLike extends BaseGrant {
      static override RESPONSE_TYPES: readonly string[] = ['urn:test:token-like']
      static override AUTHORIZATION_ENDPOINT = true
      static override DEFAULT_RESPONSE_MODE = 'fragment' as const
      override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
        return this.authorizationRedirect(user, { secret: 'for-the-fragment' })
      }
    }
    const { server, store } = setup()
    server.registerGrant(TokenLike)
    await saveClient(store, { clientId: 'spa', redirectUris: [REDIRECT], responseTypes: ['urn:test:token-like'], grantTypes: [] })
    const response = await server.createAuthorizationResponse(createOAuthRequest({ url: '/authorize', query: { response_type: 'urn:test:token-like', client_id: 'spa' } }), { id: 'u' })
    const url = new URL(response.headers['location']!)
    expect(url.search).toBe('')
    expect(new URLSearchParams(url.hash.slice(1)).get('secret')).toBe('for-the-fragment')
    expect(server.metadata()['response_modes_supported']).toEqual(['fragment'])
  })
})

describe('createClient derives its defaults as RFC 7591 §2 does', () => {
  it.each([
    [undefined, ['authorization_code'], ['code']],
    [['authorization_code', 'refresh_token'], ['authorization_code', 'refresh_token'], ['code']],
    [['implicit'], ['implicit'], ['token']],
    [['client_credentials'], ['client_credentials'], []],
  ])('gives grant types %j the response types they need', async (grantTypes, expectedGrants, expectedResponses) => {
    const { client } = await createClient(grantTypes === undefined ? {} : { grantTypes })
    expect(client.grantTypes).toEqual(expectedGrants)
    expect(client.responseTypes).toEqual(expectedResponses)
    expect(defaultResponseTypes(expectedGrants)).toEqual(expectedResponses)
  })
})

describe('refresh tokens only for clients that can use them (RFC 6749 §1.5)', () => {
  class ConfidentialOnlyRefresh extends TestTokenGrant {
    static override GRANT_TYPE = 'refresh_token'
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic']
  }
  it('gives a public client no refresh token when the refresh grant does not accept "none"', async () => {
    const { server, store } = setup()
    server.registerGrant(TestTokenGrant).registerGrant(ConfidentialOnlyRefresh)
    const { clientId } = await saveClient(store, { tokenEndpointAuthMethod: 'none', grantTypes: ['urn:test:token', 'refresh_token'] })
    const { clientId: confidential, clientSecret } = await saveClient(store, { grantTypes: ['urn:test:token', 'refresh_token'] })
    const asPublic = await server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', body: { grant_type: 'urn:test:token', client_id: clientId, with_refresh: 'true' } }))
    expect(asPublic.status).toBe(200)
    // TestTokenGrant asks includeRefreshToken through the `with_refresh` flag; check the hook itself:
    const grant = new TestTokenGrant(server, createOAuthRequest(), [])
    expect(grant.includeRefreshToken((await store.findClient(clientId))!, null)).toBe(false)
    expect(grant.includeRefreshToken((await store.findClient(confidential))!, null)).toBe(true)
    expect(clientSecret).not.toBe('')
  })
})

describe('errors are recognised by their brand, not their class (dual-package hazard)', () => {
  it('treats an OAuthError of another copy of grantkit as an OAuthError', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('grantkit.oauth-error')]: true, code: 'invalid_client' })
    expect(isOAuthError(foreign)).toBe(true)
    expect(foreign instanceof OAuthError).toBe(true)
    expect(new Error('plain') instanceof OAuthError).toBe(false)
  })
})

describe('the HTTP handler (what every adapter converts to)', () => {
  async function tokenWorld(options: Parameters<typeof createHttpHandler>[1] = {}) {
    const s = setup()
    s.server.registerGrant(TestTokenGrant)
    const client = await saveClient(s.store, { grantTypes: ['urn:test:token'] })
    const handler = createHttpHandler(s.server, { onError: () => {}, ...options })
    const headers = { authorization: basic(client.clientId, client.clientSecret), 'content-type': 'application/x-www-form-urlencoded', 'content-length': '25' }
    return { ...s, handler, headers }
  }
  const post = (headers: Record<string, string>, body: Parameters<ReturnType<typeof createHttpHandler>['handle']>[0]['body']) => ({
    method: 'POST',
    path: '/token',
    query: '',
    url: '/token',
    headers,
    body,
  })

  it('uses a form an app body parser already read (a global bodyParser() before the OAuth routes)', async () => {
    const { handler, headers } = await tokenWorld()
    const outcome = await handler.handle(post(headers, { kind: 'parsed', value: { grant_type: 'urn:test:token' } }))
    expect(outcome).toMatchObject({ kind: 'json', status: 200 })
  })

  it.each<[string, Parameters<typeof post>[1]]>([
    ['a JSON value parsed from a form request', { kind: 'parsed', value: ['not', 'a', 'form'] }],
    ['a stream another middleware consumed', { kind: 'consumed' }],
    ['parameters rewritten by an "extended" parser', { kind: 'parsed', value: { grant_type: { nested: 'x' } } }],
  ])('answers %s with 400 invalid_request instead of hanging', async (_, body) => {
    const { handler, headers } = await tokenWorld()
    const outcome = (await handler.handle(post(headers, body))) as Extract<HttpOutcome, { body: string }>
    expect(outcome).toMatchObject({ kind: 'json', status: 400 })
    expect(JSON.parse(outcome.body)).toMatchObject({ error: 'invalid_request' })
  })

  it('bounds reading the body by requestTimeout: a body that never ends is answered', async () => {
    const { handler, headers } = await tokenWorld({ requestTimeout: 200 })
    const outcome = (await handler.handle(post(headers, { kind: 'bytes', read: () => new Promise<Uint8Array>(() => {}) }))) as Extract<HttpOutcome, { body: string }>
    expect(outcome).toMatchObject({ kind: 'json', status: 500 })
    expect(JSON.parse(outcome.body)).toEqual({ error: 'server_error', error_description: 'the server failed to process the request' })
  })

  it('builds actionUrl from the authorization parameters only, never from a password the user typed', async () => {
    const { server } = await codeWorld()
    const handler = createHttpHandler(server)
    let actionUrl = ''
    const body = 'response_type=code&client_id=web&state=s&username=alice&password=hunter2&decision=approve'
    await handler.handle(
      {
        method: 'POST',
        path: '/authorize',
        query: '',
        url: '/authorize',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
        body: { kind: 'text', text: body },
      },
      {
        authorize: (interaction) => {
          actionUrl = interaction.actionUrl
          return undefined
        },
      },
    )
    expect(actionUrl).toBe('/authorize?response_type=code&client_id=web&state=s')
  })

  it('answers 303 to an approval posted back, 302 to a GET (RFC 9700 §4.12)', async () => {
    const { server } = await codeWorld()
    const handler = createHttpHandler(server)
    const query = 'response_type=code&client_id=web'
    const request = (method: string) => ({ method, path: '/authorize', query, url: `/authorize?${query}`, headers: {}, body: { kind: 'none' } as const })
    expect(await handler.handle(request('GET'), { authorize: () => ({ user: { id: 'u' } }) })).toMatchObject({ kind: 'redirect', status: 302 })
    expect(await handler.handle(request('POST'), { authorize: () => ({ user: { id: 'u' } }) })).toMatchObject({ kind: 'redirect', status: 303 })
  })
})

describe('the resource guard builds every RFC 6750 §3 answer', () => {
  it('answers a request without a token with the bare 401 challenge and no body (§3.1)', async () => {
    const { server } = setup()
    const guard = createResourceGuard(server)
    const result = await guard({ method: 'GET', url: '/api', headers: {} })
    expect(result).toEqual({ ok: false, outcome: { kind: 'empty', status: 401, headers: expect.objectContaining({ 'www-authenticate': `Bearer realm="${ISSUER}"` }) } })
  })
})

describe('hardening, second round (core findings)', () => {
  it('parses 16,000 distinct scopes in linear time and refuses more than the bound (RFC 6819 §4.4.1.11)', async () => {
    const { parseScope, SCOPE_LIMITS } = await import('./scope.js')
    const many = Array.from({ length: 16_000 }, (_, i) => `s${i}`).join(' ')
    expect(() => parseScope(many)).toThrow(expect.objectContaining({ code: 'invalid_scope' }))
    const allowed = Array.from({ length: SCOPE_LIMITS.maxTokens }, (_, i) => `s${i}`)
    expect(parseScope([...allowed, ...allowed].join(' '))).toEqual(allowed)
    expect(() => parseScope('x'.repeat(SCOPE_LIMITS.maxTokenLength + 1))).toThrow(expect.objectContaining({ code: 'invalid_scope' }))
  })

  it.each([
    ['a description with quotes and a section sign', 'parameter "code" is missing (RFC 6749 §4.1.3)', "parameter 'code' is missing (RFC 6749 section 4.1.3)"],
    ['a backslash and a newline', 'a\\b\nc', 'a/b c'],
    ['typographic quotes and non-ASCII', 'the client’s “name” — é', "the client's 'name' - "],
  ])('keeps error_description to the RFC 6749 §5.2 characters: %s', (_, raw, expected) => {
    const error = new OAuthError('invalid_request', raw)
    expect(error.description).toBe(expected)
    expect(error.toJSON().error_description).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]*$/)
  })

  it('never echoes a requested scope or response type into the client callback (RFC 6749 §4.1.2.1)', async () => {
    const { server, store } = setup()
    server.registerGrant(TestCodeGrant)
    await saveClient(store, { clientId: 'web', redirectUris: [REDIRECT], responseTypes: ['code'], scope: 'read' })
    const queries: Record<string, string>[] = [
      { response_type: 'code', client_id: 'web', scope: '<script>alert(1)</script>' },
      { response_type: 'evil<b>', client_id: 'web' },
    ]
    for (const query of queries) {
      const response = await server.createAuthorizationResponse(createOAuthRequest({ url: '/authorize', query }), { id: 'u' })
      const description = new URL(response.headers['location']!).searchParams.get('error_description')!
      expect(description).not.toMatch(/script|evil/)
    }
  })

  it.each([
    ['a form parameter', { grant_type: 'urn:test:token', scope: 'a\u0000b' }, undefined],
    ['a client_id', { grant_type: 'urn:test:token', client_id: 'x\u0000' }, undefined],
    ['Basic credentials', { grant_type: 'urn:test:token' }, `Basic ${Buffer.from('x\u0000:y').toString('base64')}`],
  ])('refuses a NUL byte in %s with invalid_request before any store call', async (_, body, authorization) => {
    const { server, store } = setup()
    server.registerGrant(TestTokenGrant)
    let calls = 0
    store.findClient = async () => {
      calls++
      return null
    }
    const encoded = new URLSearchParams(body).toString()
    const response = await createHttpHandler(server, { onError: () => {} }).handle({
      method: 'POST',
      path: '/token',
      query: '',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(encoded.length), ...(authorization === undefined ? {} : { authorization }) },
      body: { kind: 'text', text: encoded },
    })
    expect(response).toMatchObject({ status: 400 })
    expect(JSON.parse((response as { body: string }).body)).toMatchObject({ error: 'invalid_request' })
    expect(calls).toBe(0)
  })

  it.each([
    ['an empty client_secret in the body', (id: string) => ({ body: { grant_type: 'urn:test:token', client_id: id, client_secret: '' }, headers: {} })],
    ['Basic credentials with an empty secret', (id: string) => ({ body: { grant_type: 'urn:test:token' }, headers: { authorization: `Basic ${Buffer.from(`${id}:`).toString('base64')}` } })],
  ])('authenticates a public client that sends %s as "none" (RFC 6749 §2.3.1)', async (_, build) => {
    const { server, store } = setup()
    server.registerGrant(TestTokenGrant)
    const { clientId } = await saveClient(store, { tokenEndpointAuthMethod: 'none', grantTypes: ['urn:test:token'] })
    const { body, headers } = build(clientId)
    const response = await server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))
    expect(response.status).toBe(200)
  })

})

describe('redirect URIs are checked at registration (RFC 6749 §3.1.2, RFC 8252 §7)', () => {
  it.each([
    ['javascript:alert(1)'],
    ['data:text/html,<script>alert(1)</script>'],
    ['not a url'],
    ['https://client.example/cb#fragment'],
    ['http://client.example/cb'],
    ['file:///etc/passwd'],
    ['myapp:/cb'],
  ])('refuses %s with a TypeError', async (uri) => {
    await expect(createClient({ redirectUris: [uri] })).rejects.toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
  })

  it.each([['https://client.example/cb?x=1'], ['http://127.0.0.1:8080/cb'], ['http://[::1]/cb'], ['http://localhost/cb'], ['com.example.app:/oauth2redirect']])('accepts %s', async (uri) => {
    await expect(createClient({ redirectUris: [uri] })).resolves.toMatchObject({ client: { redirectUris: [uri] } })
  })
})
