import { describe, expect, it } from 'vitest'
import { OAuthError } from './errors.js'
import { BaseGrant, type GrantClass, type GrantExtension } from './grant.js'
import { basic, ISSUER, saveClient, setup, TestCodeGrant, TestTokenGrant } from './internal/test-fixtures.js'
import { IntrospectionEndpoint } from './introspection-endpoint.js'
import { memoryStore } from './memory-store.js'
import { createOAuthRequest } from './request.js'
import { RevocationEndpoint } from './revocation-endpoint.js'
import { AuthorizationServer } from './server.js'
import type { EndpointClass } from './endpoint.js'
import type { GrantkitStore } from './store.js'

describe('AuthorizationServer configuration (fail fast with a TypeError)', () => {
  it.each([
    ['a trailing slash', 'https://auth.example.com/'],
    ['a query', 'https://auth.example.com?tenant=1'],
    ['a fragment', 'https://auth.example.com#x'],
    ['not a URL', 'auth.example.com'],
    ['a non-http scheme', 'ftp://auth.example.com'],
  ])('rejects an issuer with %s (RFC 8414 §2)', (_, issuer) => {
    expect(() => new AuthorizationServer({ issuer, store: memoryStore() })).toThrow(TypeError)
  })

  it('accepts an issuer with a path', () => {
    expect(new AuthorizationServer({ issuer: 'https://example.com/tenant-a', store: memoryStore() }).issuer).toBe('https://example.com/tenant-a')
  })

  it.each([
    ['authorizationCodeLifetime above 600 s (RFC 6749 §4.1.2)', { authorizationCodeLifetime: 601 }],
    ['a zero authorizationCodeLifetime', { authorizationCodeLifetime: 0 }],
    ['a fractional accessTokenLifetime', { accessTokenLifetime: 1.5 }],
    ['a negative refreshTokenLifetime', { refreshTokenLifetime: -1 }],
    ['an onSecurityEvent that is not a function', { onSecurityEvent: 'alert' as never }],
  ])('rejects %s', (_, options) => {
    expect(() => new AuthorizationServer({ issuer: ISSUER, store: memoryStore(), ...options })).toThrow(TypeError)
  })

  it('rejects a store missing findClient, which every server uses', () => {
    const store = { ...memoryStore(), findClient: undefined } as unknown as GrantkitStore
    expect(() => new AuthorizationServer({ issuer: ISSUER, store })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_STORE_CAPABILITY', message: expect.stringMatching(/findClient/) }))
  })

  it('accepts a store with only what its grants need: client credentials needs no authorization codes', () => {
    const { findClient, saveTokens, findToken, revokeToken, revokeTokenFamily } = memoryStore()
    const server = new AuthorizationServer({ issuer: ISSUER, store: { findClient, saveTokens, findToken, revokeToken, revokeTokenFamily } })
    expect(() => server.registerGrant(TestTokenGrant)).not.toThrow()
  })

  it.each([
    ['consumeAuthorizationCode', 'authorizationCodes'],
    ['findAuthorizationCode', 'authorizationCodes'],
    ['rotateRefreshToken', 'refreshRotation'],
    ['saveTokens', 'tokens'],
  ] as const)('refuses at registration a grant needing %s from a store without it', (method, capability) => {
    class NeedsIt extends TestTokenGrant {
      static override GRANT_TYPE = 'urn:test:needs'
      static override STORE_CAPABILITIES = ['clients', capability] as const
    }
    const store = { ...memoryStore(), [method]: undefined } as unknown as GrantkitStore
    const server = new AuthorizationServer({ issuer: ISSUER, store })
    expect(() => server.registerGrant(NeedsIt)).toThrow(expect.objectContaining({ code: 'ERR_GRANTKIT_STORE_CAPABILITY', message: expect.stringContaining(method) }))
  })

  it('rejects a missing store', () => {
    expect(() => new AuthorizationServer({ issuer: ISSUER } as never)).toThrow(TypeError)
  })
})

describe('reportSecurityEvent', () => {
  const event = { type: 'refresh_token_reuse', clientId: 'c', userId: null, familyId: 'f' } as const

  it('hands the event to onSecurityEvent', () => {
    const seen: unknown[] = []
    new AuthorizationServer({ issuer: ISSUER, store: memoryStore(), onSecurityEvent: (e) => seen.push(e) }).reportSecurityEvent(event)
    expect(seen).toEqual([event])
  })

  it('ignores a failing hook, so alerting never changes the answer to a request', () => {
    const server = new AuthorizationServer({
      issuer: ISSUER,
      store: memoryStore(),
      onSecurityEvent: () => {
        throw new Error('pager down')
      },
    })
    expect(() => server.reportSecurityEvent(event)).not.toThrow()
  })
})

describe('registerGrant (fail fast with a TypeError)', () => {
  class NoEndpointGrant extends BaseGrant {
    static override GRANT_TYPE = 'urn:test:nothing'
  }
  class NoGrantTypeGrant extends BaseGrant {
    static override TOKEN_ENDPOINT = true
  }
  class NoResponseTypesGrant extends BaseGrant {
    static override AUTHORIZATION_ENDPOINT = true
  }
  class SameGrantType extends TestTokenGrant {}
  class SameResponseType extends TestCodeGrant {
    static override RESPONSE_TYPES: readonly string[] = ['token', 'code']
  }
  class NotAGrant {
    static GRANT_TYPE = 'urn:test:x'
    static TOKEN_ENDPOINT = true
  }

  it.each<[string, (server: AuthorizationServer) => void]>([
    ['a class that does not extend BaseGrant', (s) => s.registerGrant(NotAGrant as unknown as GrantClass)],
    ['a plain function', (s) => s.registerGrant((() => {}) as unknown as GrantClass)],
    ['BaseGrant itself', (s) => s.registerGrant(BaseGrant as unknown as GrantClass)],
    ['a grant serving no endpoint', (s) => s.registerGrant(NoEndpointGrant)],
    ['a token grant without GRANT_TYPE', (s) => s.registerGrant(NoGrantTypeGrant)],
    ['an authorization grant without RESPONSE_TYPES', (s) => s.registerGrant(NoResponseTypesGrant)],
    ['a second grant with the same GRANT_TYPE', (s) => s.registerGrant(TestTokenGrant).registerGrant(SameGrantType)],
    ['a second grant with the same RESPONSE_TYPE', (s) => s.registerGrant(TestCodeGrant).registerGrant(SameResponseType)],
    ['extensions that are not an array', (s) => s.registerGrant(TestTokenGrant, {} as unknown as GrantExtension[])],
    ['an extension that is not an object', (s) => s.registerGrant(TestTokenGrant, [null as unknown as GrantExtension])],
  ])('throws for %s', (_, register) => {
    const { server } = setup()
    expect(() => register(server)).toThrow(TypeError)
  })

  it('registers nothing when an extension refuses the grant in register()', async () => {
    const { server } = setup()
    const refusing: GrantExtension = {
      register() {
        throw new TypeError('not for this grant')
      },
    }
    expect(() => server.registerGrant(TestTokenGrant, [refusing])).toThrow('not for this grant')
    expect(server.hasGrantType('urn:test:token')).toBe(false)
    expect(() => server.registerGrant(TestTokenGrant)).not.toThrow()
  })
})

describe('registerEndpoint', () => {
  it('throws a TypeError when an endpoint is registered twice', () => {
    const { server } = setup()
    server.registerEndpoint(RevocationEndpoint)
    expect(() => server.registerEndpoint(RevocationEndpoint)).toThrow(TypeError)
  })

  it.each([
    ['a class without ENDPOINT_NAME', class {}],
    ['an endpoint without handle()', class { static ENDPOINT_NAME = 'x' }],
    ['a non-function', { ENDPOINT_NAME: 'x' }],
  ])('throws a TypeError for %s', (_, endpoint) => {
    const { server } = setup()
    expect(() => server.registerEndpoint(endpoint as unknown as EndpointClass)).toThrow(TypeError)
  })

  it('throws a TypeError when asked for an unregistered endpoint', async () => {
    const { server } = setup()
    await expect(server.createEndpointResponse('revocation', createOAuthRequest({ method: 'POST' }))).rejects.toThrow(TypeError)
  })
})

describe('token endpoint generic errors (RFC 6749 §3.2, §5.2)', () => {
  async function world(options: Parameters<typeof setup>[0] = {}) {
    const s = setup(options)
    s.server.registerGrant(TestTokenGrant)
    const client = await saveClient(s.store, { grantTypes: ['urn:test:token'] })
    const post = (body: string, method = 'POST') =>
      s.server.createTokenResponse(createOAuthRequest({ method, url: '/token', headers: { authorization: basic(client.clientId, client.clientSecret) }, body }))
    return { ...s, client, post }
  }

  it('answers GET with 405 invalid_request and Allow: POST ("The client MUST use the HTTP POST method", §3.2)', async () => {
    const { post } = await world()
    const res = await post('grant_type=urn%3Atest%3Atoken', 'GET')
    expect(res.status).toBe(405)
    expect(res.headers['allow']).toBe('POST')
    expect(res.body).toMatchObject({ error: 'invalid_request' })
  })

  it.each([
    ['grant_type is missing', '', 400, 'invalid_request'],
    ['grant_type is empty (RFC 6749 §3.1: as if omitted)', 'grant_type=', 400, 'invalid_request'],
    ['grant_type is repeated (RFC 6749 §3.2)', 'grant_type=urn%3Atest%3Atoken&grant_type=urn%3Atest%3Atoken', 400, 'invalid_request'],
    ['grant_type is unknown', 'grant_type=password', 400, 'unsupported_grant_type'],
  ])('answers %s with %i %s and Cache-Control: no-store', async (_, body, status, error) => {
    const { post } = await world()
    const res = await post(body)
    expect(res.status).toBe(status)
    expect(res.body).toMatchObject({ error })
    expect(res.headers['cache-control']).toBe('no-store')
  })

  it('answers an exception thrown by a grant with 500 server_error, no internals, and reports it to onError', async () => {
    class ExplodingGrant extends TestTokenGrant {
      static override GRANT_TYPE = 'urn:test:boom'
      override async createTokenResponse(): Promise<never> {
        throw new Error('db password is hunter2 at 10.0.0.5')
      }
    }
    const { server, store, errors } = await world()
    server.registerGrant(ExplodingGrant)
    const client = await saveClient(store, { grantTypes: ['urn:test:boom'] })
    const res = await server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Atest%3Aboom' }),
    )
    expect(res.status).toBe(500)
    expect(res.body).toEqual({ error: 'server_error', error_description: expect.any(String) })
    expect(JSON.stringify(res.body)).not.toMatch(/hunter2|10\.0\.0\.5|Error/)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(errors).toHaveLength(1)
    expect((errors[0] as Error).message).toContain('hunter2')
  })

  it('answers a failing store with 500 server_error and reports it to onError', async () => {
    const store = memoryStore()
    const errors: unknown[] = []
    const failing: GrantkitStore = {
      ...store,
      findClient: async () => {
        throw new Error('connection refused')
      },
    }
    const server = new AuthorizationServer({ issuer: ISSUER, store: failing, onError: (e) => errors.push(e) })
    server.registerGrant(TestTokenGrant)
    const res = await server.createTokenResponse(createOAuthRequest({ method: 'POST', headers: { authorization: basic('a', 'b') }, body: 'grant_type=urn%3Atest%3Atoken' }))
    expect(res.status).toBe(500)
    expect(res.body).toMatchObject({ error: 'server_error' })
    expect(JSON.stringify(res.body)).not.toContain('connection refused')
    expect(errors).toHaveLength(1)
  })

  it('still answers server_error when onError itself throws', async () => {
    class ExplodingGrant extends TestTokenGrant {
      override async validateTokenRequest(): Promise<never> {
        throw new Error('boom')
      }
    }
    const server = new AuthorizationServer({
      issuer: ISSUER,
      store: memoryStore(),
      onError: () => {
        throw new Error('logger down')
      },
    })
    server.registerGrant(ExplodingGrant)
    const res = await server.createTokenResponse(createOAuthRequest({ method: 'POST', body: 'grant_type=urn%3Atest%3Atoken' }))
    expect(res.status).toBe(500)
    expect(res.body).toMatchObject({ error: 'server_error' })
  })

  it('issues tokens with Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1)', async () => {
    const { post } = await world()
    const res = await post('grant_type=urn%3Atest%3Atoken')
    expect(res.status).toBe(200)
    expect(res.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache', 'content-type': 'application/json;charset=UTF-8' })
  })
})

describe('authorization endpoint generic rules (RFC 6749 §4.1.1, §4.1.2.1)', () => {
  const REDIRECT = 'https://client.example/cb'

  async function world(options: Parameters<typeof setup>[0] = {}) {
    const s = setup(options)
    s.server.registerGrant(TestCodeGrant)
    await saveClient(s.store, { clientId: 'web', redirectUris: [REDIRECT], scope: 'read write', responseTypes: ['code'] })
    await saveClient(s.store, { clientId: 'multi', redirectUris: [REDIRECT, 'https://client.example/other'], responseTypes: ['code'] })
    await saveClient(s.store, { clientId: 'no-code', redirectUris: [REDIRECT], responseTypes: ['token'], grantTypes: ['implicit'] })
    const authorize = (query: Record<string, string>, user: { id: string } | null = { id: 'user-1' }) =>
      s.server.createAuthorizationResponse(createOAuthRequest({ method: 'GET', url: '/authorize', query }), user)
    return { ...s, authorize }
  }

  function location(res: { headers: Record<string, string> }): URL {
    expect(res.headers['location']).toBeDefined()
    return new URL(res.headers['location']!)
  }

  it('redirects an approved request to the redirect_uri with the response, state and iss (RFC 9207)', async () => {
    const { authorize } = await world()
    const res = await authorize({ response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, state: 'xyz' })
    expect(res.status).toBe(302)
    const url = location(res)
    expect(url.origin + url.pathname).toBe(REDIRECT)
    expect(Object.fromEntries(url.searchParams)).toEqual({ code: 'code-for-user-1', state: 'xyz', iss: ISSUER })
  })

  it('uses the only registered redirect URI when redirect_uri is omitted (RFC 6749 §3.1.2.3)', async () => {
    const { authorize } = await world()
    const res = await authorize({ response_type: 'code', client_id: 'web' })
    expect(location(res).origin + location(res).pathname).toBe(REDIRECT)
  })

  it('omits iss when authorizationResponseIss is false', async () => {
    const { authorize } = await world({ authorizationResponseIss: false })
    const res = await authorize({ response_type: 'code', client_id: 'web' })
    expect(location(res).searchParams.has('iss')).toBe(false)
  })

  describe('before the client and redirect URI are validated: a 400 error, never a redirect (RFC 6749 §4.1.2.1)', () => {
    it.each<[string, Record<string, string>, string]>([
      ['client_id is missing', { response_type: 'code', redirect_uri: REDIRECT }, 'invalid_request'],
      ['client_id is unknown', { response_type: 'code', client_id: 'nobody', redirect_uri: REDIRECT }, 'invalid_client'],
      ['redirect_uri is not registered', { response_type: 'code', client_id: 'web', redirect_uri: 'https://evil.example/cb' }, 'invalid_request'],
      ['redirect_uri is missing and several are registered', { response_type: 'code', client_id: 'multi' }, 'invalid_request'],
      ['redirect_uri is a prefix of the registered one (RFC 9700 §4.1.3)', { response_type: 'code', client_id: 'web', redirect_uri: 'https://client.example/c' }, 'invalid_request'],
      ['redirect_uri extends the registered one', { response_type: 'code', client_id: 'web', redirect_uri: `${REDIRECT}/more` }, 'invalid_request'],
      ['redirect_uri adds a trailing slash', { response_type: 'code', client_id: 'web', redirect_uri: `${REDIRECT}/` }, 'invalid_request'],
      ['redirect_uri differs in case', { response_type: 'code', client_id: 'web', redirect_uri: 'https://client.example/CB' }, 'invalid_request'],
      ['redirect_uri adds a query', { response_type: 'code', client_id: 'web', redirect_uri: `${REDIRECT}?next=/admin` }, 'invalid_request'],
      ['redirect_uri is on another host', { response_type: 'code', client_id: 'web', redirect_uri: 'https://client.example.evil/cb' }, 'invalid_request'],
    ])('when %s', async (_, query, error) => {
      const { authorize } = await world()
      const res = await authorize(query)
      expect(res.status).toBe(400)
      expect(res.headers['location']).toBeUndefined()
      expect(res.body).toMatchObject({ error })
    })

    it('does not redirect a denial to an unregistered redirect_uri either', async () => {
      const { authorize } = await world()
      const res = await authorize({ response_type: 'code', client_id: 'web', redirect_uri: 'https://evil.example/cb' }, null)
      expect(res.status).toBe(400)
      expect(res.headers['location']).toBeUndefined()
    })

    it('rejects a repeated client_id without redirecting', async () => {
      const { server } = await world()
      const res = await server.createAuthorizationResponse(
        createOAuthRequest({ method: 'GET', url: `/authorize?response_type=code&client_id=web&client_id=multi` }),
        { id: 'u' },
      )
      expect(res.status).toBe(400)
      expect(res.headers['location']).toBeUndefined()
    })
  })

  describe('after the redirect URI is validated: a redirect with the error (RFC 6749 §4.1.2.1, RFC 9207)', () => {
    it.each<[string, Record<string, string>, string]>([
      ['response_type is unsupported', { response_type: 'id_token', client_id: 'web' }, 'unsupported_response_type'],
      ['response_type is missing', { client_id: 'web' }, 'invalid_request'],
      ['the client is not allowed the response type', { response_type: 'code', client_id: 'no-code' }, 'unauthorized_client'],
      ['the scope is not allowed', { response_type: 'code', client_id: 'web', scope: 'read admin' }, 'invalid_scope'],
      ['the scope has invalid characters (RFC 6749 §3.3)', { response_type: 'code', client_id: 'web', scope: 'read "x"' }, 'invalid_scope'],
    ])('when %s', async (_, query, error) => {
      const { authorize } = await world()
      const state = 'a b+c&d=é/%'
      const res = await authorize({ ...query, state })
      expect(res.status).toBe(302)
      const url = location(res)
      expect(url.origin + url.pathname).toBe(REDIRECT)
      expect(url.searchParams.get('error')).toBe(error)
      expect(url.searchParams.get('error_description')).toEqual(expect.any(String))
      expect(url.searchParams.get('state')).toBe(state)
      expect(url.searchParams.get('iss')).toBe(ISSUER)
      expect(url.searchParams.has('code')).toBe(false)
    })

    it('redirects a denial (user null) with access_denied and the state', async () => {
      const { authorize } = await world()
      const res = await authorize({ response_type: 'code', client_id: 'web', state: 's1' }, null)
      expect(res.status).toBe(302)
      expect(Object.fromEntries(location(res).searchParams)).toMatchObject({ error: 'access_denied', state: 's1', iss: ISSUER })
    })

    it('omits state from the error redirect when the request had none', async () => {
      const { authorize } = await world()
      const res = await authorize({ response_type: 'code', client_id: 'web' }, null)
      expect(location(res).searchParams.has('state')).toBe(false)
    })

    it('redirects an unexpected failure of the grant as server_error without internals', async () => {
      class ExplodingCodeGrant extends TestCodeGrant {
        static override RESPONSE_TYPES: readonly string[] = ['code token']
        override async createAuthorizationResponse(): Promise<never> {
          throw new Error('secret internals')
        }
      }
      const { server, store, errors } = await world()
      server.registerGrant(ExplodingCodeGrant)
      await saveClient(store, { clientId: 'hybrid', redirectUris: [REDIRECT], responseTypes: ['code token'] })
      const res = await server.createAuthorizationResponse(
        createOAuthRequest({ url: '/authorize', query: { response_type: 'token code', client_id: 'hybrid', state: 's' } }),
        { id: 'u' },
      )
      expect(res.status).toBe(302)
      const url = location(res)
      // A response type containing "token" answers in the fragment (RFC 6749 §4.2.2.1).
      const fragment = new URLSearchParams(url.hash.slice(1))
      expect(fragment.get('error')).toBe('server_error')
      expect(res.headers['location']).not.toContain('internals')
      expect(errors).toHaveLength(1)
    })
  })

  it('matches a multi-valued response_type whatever the order of its values (RFC 6749 §3.1.1)', async () => {
    class HybridGrant extends TestCodeGrant {
      static override RESPONSE_TYPES: readonly string[] = ['code id_token']
    }
    const { server, store } = await world()
    server.registerGrant(HybridGrant)
    await saveClient(store, { clientId: 'hybrid', redirectUris: [REDIRECT], responseTypes: ['id_token code'] })
    const res = await server.createAuthorizationResponse(
      createOAuthRequest({ url: '/authorize', query: { response_type: 'id_token code', client_id: 'hybrid' } }),
      { id: 'u' },
    )
    expect(location(res).searchParams.get('error')).toBeNull()
    expect(location(res).searchParams.get('code')).toBe('code-for-u')
  })

  it('validateAuthorizationRequest answers the validated request for a consent page', async () => {
    const { server } = await world()
    const authorization = await server.validateAuthorizationRequest(
      createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web', scope: 'read', state: 's' } }),
    )
    expect(authorization).toMatchObject({ responseType: 'code', redirectUri: REDIRECT, redirectUriProvided: false, state: 's', scopes: ['read'], responseMode: 'query' })
    expect(authorization.client.clientId).toBe('web')
  })

  it('validateAuthorizationRequest throws an OAuthError that authorizationErrorResponse turns into the right response', async () => {
    const { server } = await world()
    const error = await server
      .validateAuthorizationRequest(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web', scope: 'admin' } }))
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OAuthError)
    expect((error as OAuthError).redirect).toMatchObject({ uri: REDIRECT, mode: 'query', iss: ISSUER })
    expect(server.authorizationErrorResponse(error).status).toBe(302)
  })

  it('reads the parameters of a POST authorization request from the body', async () => {
    const { server } = await world()
    const res = await server.createAuthorizationResponse(
      createOAuthRequest({ method: 'POST', url: '/authorize', body: { response_type: 'code', client_id: 'web', state: 'p' } }),
      { id: 'u' },
    )
    expect(location(res).searchParams.get('state')).toBe('p')
  })
})

describe('bearer token validation (RFC 6750 §2.1, §3.1)', () => {
  async function world() {
    const s = setup()
    s.server.registerGrant(TestTokenGrant)
    const client = await saveClient(s.store, { grantTypes: ['urn:test:token'], scope: 'read write' })
    const res = await s.server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Atest%3Atoken&scope=read&user_id=u1' }),
    )
    const token = res.body!['access_token'] as string
    const check = (authorization: string | undefined, scope?: string) =>
      s.server.authenticateBearerToken(createOAuthRequest({ headers: authorization === undefined ? {} : { authorization } }), scope === undefined ? {} : { scope })
    return Object.assign(s, { token, check })
  }

  async function rejection(promise: Promise<unknown>): Promise<OAuthError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(OAuthError)
    return error as OAuthError
  }

  it('accepts a valid token and answers what it grants', async () => {
    const { check, token } = await world()
    expect(await check(`Bearer ${token}`, 'read')).toMatchObject({ userId: 'u1', scopes: ['read'] })
  })

  it('accepts the scheme name in lower case ("bearer")', async () => {
    const { check, token } = await world()
    expect(await check(`bearer ${token}`)).toMatchObject({ userId: 'u1' })
  })

  it.each([
    ['no Authorization header', undefined],
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['the scheme without a token', 'Bearer'],
  ])('answers %s with 401 and a Bearer challenge without an error attribute (RFC 6750 §3.1)', async (_, header) => {
    const { check } = await world()
    const error = await rejection(check(header))
    expect(error.status).toBe(401)
    expect(error.headers['www-authenticate']).toBe(`Bearer realm="${ISSUER}"`)
  })

  it.each<[string, (w: Awaited<ReturnType<typeof world>>) => Promise<string>]>([
    ['unknown', async () => 'Bearer unknown-token'],
    ['malformed', async () => 'Bearer not a token!'],
    [
      'expired',
      async (w) => {
        w.t += 3600 * 1000
        return `Bearer ${w.token}`
      },
    ],
    [
      'revoked',
      async (w) => {
        await w.store.revokeToken((await import('./secrets.js')).hashToken(w.token), w.server.now())
        return `Bearer ${w.token}`
      },
    ],
  ])('answers an %s token with 401 invalid_token and error="invalid_token" in the challenge', async (_, header) => {
    const w = await world()
    const error = await rejection(w.check(await header(w)))
    expect(error.status).toBe(401)
    expect(error.code).toBe('invalid_token')
    expect(error.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="${ISSUER}", error="invalid_token"`))
  })

  it('accepts a token one millisecond before it expires', async () => {
    const w = await world()
    w.t += 3600 * 1000 - 1
    await expect(w.check(`Bearer ${w.token}`)).resolves.toMatchObject({ userId: 'u1' })
  })

  it('answers a token lacking a required scope with 403 insufficient_scope and the scope in the challenge (RFC 6750 §3.1)', async () => {
    const { check, token } = await world()
    const error = await rejection(check(`Bearer ${token}`, 'read write'))
    expect(error.status).toBe(403)
    expect(error.code).toBe('insufficient_scope')
    expect(error.headers['www-authenticate']).toContain('error="insufficient_scope"')
    expect(error.headers['www-authenticate']).toContain('scope="read write"')
  })
})

describe('metadata (RFC 8414 §2)', () => {
  it('is built from what is registered', () => {
    const { server } = setup({ scopesSupported: ['read', 'write'] })
    const ext: GrantExtension = { metadata: () => ({ code_challenge_methods_supported: ['S256'] }) }
    server.registerGrant(TestCodeGrant, [ext])
    server.registerGrant(TestTokenGrant)
    server.registerEndpoint(RevocationEndpoint)
    server.registerEndpoint(IntrospectionEndpoint)
    expect(server.metadata()).toEqual({
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/authorize`,
      token_endpoint: `${ISSUER}/token`,
      revocation_endpoint: `${ISSUER}/revoke`,
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint: `${ISSUER}/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      grant_types_supported: ['urn:test:token'],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      scopes_supported: ['read', 'write'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      authorization_response_iss_parameter_supported: true,
      code_challenge_methods_supported: ['S256'],
    })
  })

  it('lists only what a token-only server serves', () => {
    const { server } = setup({ endpoints: { token: '/oauth/token' } })
    class BasicOnly extends TestTokenGrant {
      static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'not_registered_method']
    }
    server.registerGrant(BasicOnly)
    const metadata = server.metadata()
    expect(metadata).toMatchObject({ token_endpoint: `${ISSUER}/oauth/token`, token_endpoint_auth_methods_supported: ['client_secret_basic'], response_types_supported: [] })
    expect(metadata).not.toHaveProperty('authorization_endpoint')
    expect(metadata).not.toHaveProperty('scopes_supported')
    expect(metadata).not.toHaveProperty('authorization_response_iss_parameter_supported')
    expect(metadata).not.toHaveProperty('revocation_endpoint')
  })
})
