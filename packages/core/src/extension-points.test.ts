// The extension points that OpenID Connect, DPoP, resource indicators, PAR
// and JWT client authentication build on, tested here on core alone.
import { describe, expect, it } from 'vitest'
import type { ClientAuthMethod } from './client-auth.js'
import { OAuthError, invalidClient } from './errors.js'
import type { GrantExtension, IssueTokensHookContext, TokenResponseHookContext } from './grant.js'
import { createHttpHandler } from './http-handler.js'
import { basic, ISSUER, saveClient, setup, TestCodeGrant, TestTokenGrant } from './internal/test-fixtures.js'
import { IntrospectionEndpoint } from './introspection-endpoint.js'
import { jwtAccessTokens } from './jwt-access-tokens.js'
import { createOAuthRequest } from './request.js'
import { hashToken } from './secrets.js'
import { generateKeyPairSync } from 'node:crypto'

async function tokenWorld(extensions: GrantExtension[]) {
  const s = setup()
  s.server.registerGrant(TestTokenGrant, extensions)
  s.server.registerEndpoint(IntrospectionEndpoint)
  const client = await saveClient(s.store, { grantTypes: ['urn:test:token', 'refresh_token'], scope: 'read write' })
  const auth = { authorization: basic(client.clientId, client.clientSecret) }
  const token = (body = 'grant_type=urn%3Atest%3Atoken&user_id=u1&scope=read') =>
    s.server.createTokenResponse(createOAuthRequest({ method: 'POST', headers: auth, body }))
  const introspect = (value: string) =>
    s.server.createEndpointResponse('introspection', createOAuthRequest({ method: 'POST', url: '/introspect', headers: auth, body: { token: value } }))
  return { ...s, client, token, introspect }
}

describe('beforeIssueTokens: extensions set the claims of the tokens about to be issued', () => {
  it('stores the claims an extension adds (RFC 8707 `aud`, RFC 9449 `cnf`) with the tokens and returns them in introspection (RFC 7662 §2.2)', async () => {
    const seen: IssueTokensHookContext[] = []
    const extension: GrantExtension = {
      beforeIssueTokens(context) {
        seen.push(context)
        context.claims['aud'] = 'https://api.example.com'
        context.claims['cnf'] = { jkt: 'thumbprint' }
      },
    }
    const { token, introspect, store } = await tokenWorld([extension])
    const res = await token()
    expect(res.status).toBe(200)
    const accessToken = (res.body as { access_token: string }).access_token
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({ user: { id: 'u1' }, scopes: ['read'], refreshToken: false })
    const record = await store.findToken(hashToken(accessToken))
    expect(record?.extra).toEqual({ claims: { aud: 'https://api.example.com', cnf: { jkt: 'thumbprint' } } })
    expect((await introspect(accessToken)).body).toMatchObject({ active: true, aud: 'https://api.example.com', cnf: { jkt: 'thumbprint' } })
  })

  it('leaves tokens without claims when no extension adds any', async () => {
    const { token, store } = await tokenWorld([{ beforeIssueTokens() {} }])
    const accessToken = ((await token()).body as { access_token: string }).access_token
    expect((await store.findToken(hashToken(accessToken)))?.extra).toBeUndefined()
  })

  it('puts the claims in JWT access tokens too (RFC 9068 §2.2)', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const s = setup({ tokenStrategy: jwtAccessTokens({ privateKey, alg: 'ES256' }) })
    s.server.registerGrant(TestTokenGrant, [{ beforeIssueTokens: ({ claims }) => void (claims['aud'] = 'https://api.example.com') }])
    const client = await saveClient(s.store, { grantTypes: ['urn:test:token'] })
    const res = await s.server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Atest%3Atoken' }),
    )
    const jwt = (res.body as { access_token: string }).access_token
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>
    expect(payload['aud']).toBe('https://api.example.com')
  })

  it('lets a beforeIssueTokens hook refuse, and then saves nothing', async () => {
    const { token, store } = await tokenWorld([
      {
        beforeIssueTokens() {
          throw new OAuthError('invalid_target', 'not for you')
        },
      },
    ])
    const res = await token()
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'invalid_target' })
    expect(store.snapshot().tokens).toHaveLength(0)
  })

  it('hands beforeTokenResponse the user, scopes and final claims', async () => {
    const seen: TokenResponseHookContext[] = []
    const { token } = await tokenWorld([
      { beforeIssueTokens: ({ claims }) => void (claims['aud'] = 'x') },
      { beforeTokenResponse: (context) => void seen.push(context) },
    ])
    await token()
    expect(seen[0]).toMatchObject({ user: { id: 'u1' }, scopes: ['read'], claims: { aud: 'x' } })
  })
})

describe('afterAuthorizationApproved: runs once the user approved, before anything is issued', () => {
  async function codeWorld(extension: GrantExtension) {
    const s = setup()
    s.server.registerGrant(TestCodeGrant, [extension])
    await saveClient(s.store, { clientId: 'web', redirectUris: ['https://web.example/cb'], responseTypes: ['code'], grantTypes: [] })
    return s
  }
  const request = () => createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web' } })

  it('sees the approving user (with its authTime) and may add to authorization.extra', async () => {
    const calls: unknown[] = []
    const authTime = new Date(Date.UTC(2030, 0, 1))
    const { server } = await codeWorld({
      afterAuthorizationApproved({ user, authorization }) {
        calls.push(user)
        authorization.extra['auth_time'] = Math.floor((user.authTime?.getTime() ?? 0) / 1000)
      },
      beforeAuthorizationResponse: ({ authorization, params }) => void (params['auth_time'] = String(authorization.extra['auth_time'])),
    })
    const res = await server.createAuthorizationResponse(request(), { id: 'u', authTime })
    expect(calls).toEqual([{ id: 'u', authTime }])
    expect(new URL(res.headers['location']!).searchParams.get('auth_time')).toBe(String(authTime.getTime() / 1000))
  })

  it('does not run when the user denied (RFC 6749 §4.1.2.1 access_denied)', async () => {
    let calls = 0
    const { server } = await codeWorld({ afterAuthorizationApproved: () => void calls++ })
    const res = await server.createAuthorizationResponse(request(), null)
    expect(new URL(res.headers['location']!).searchParams.get('error')).toBe('access_denied')
    expect(calls).toBe(0)
  })

  it('redirects an OAuthError it throws to the client (e.g. OpenID Connect login_required)', async () => {
    const { server } = await codeWorld({
      afterAuthorizationApproved() {
        throw new OAuthError('login_required', 'no session')
      },
    })
    const res = await server.createAuthorizationResponse(request(), { id: 'u' })
    expect(new URL(res.headers['location']!).searchParams.get('error')).toBe('login_required')
  })
})

describe('registerAuthorizationRequestResolver (e.g. RFC 9126 §4 request_uri)', () => {
  async function world() {
    const s = setup()
    s.server.registerGrant(TestCodeGrant)
    await saveClient(s.store, { clientId: 'web', redirectUris: ['https://web.example/cb'], responseTypes: ['code'], grantTypes: [] })
    return s
  }

  it('validates the parameters the resolver answers instead of the request’s own', async () => {
    const { server } = await world()
    server.registerAuthorizationRequestResolver({
      async resolve(params) {
        if (params.get('request_uri') !== 'urn:pushed:1') return null
        return new URLSearchParams({ response_type: 'code', client_id: 'web', state: 'from-push' })
      },
    })
    const handle = await server.validateAuthorizationRequest(createOAuthRequest({ url: '/authorize', query: { client_id: 'web', request_uri: 'urn:pushed:1' } }))
    expect(handle).toMatchObject({ responseType: 'code', state: 'from-push' })
    // A resolver answering null leaves the request as it is.
    const plain = await server.validateAuthorizationRequest(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web', state: 'own' } }))
    expect(plain.state).toBe('own')
  })

  it('shows a resolver’s OAuthError to the user (no redirect: the redirect URI is not validated yet)', async () => {
    const { server } = await world()
    server.registerAuthorizationRequestResolver({
      async resolve() {
        throw new OAuthError('invalid_request_uri', 'unknown request_uri')
      },
    })
    const res = await server.createAuthorizationResponse(createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: 'web' } }), { id: 'u' })
    expect(res.headers['location']).toBeUndefined()
    expect(res.status).toBe(400)
  })

  it('refuses a resolver without resolve()', () => {
    const { server } = setup()
    expect(() => server.registerAuthorizationRequestResolver({} as never)).toThrow(/resolve/)
  })
})

describe('registerKeySource: more public keys in the server’s JWK Set (RFC 8414 §2 jwks_uri)', () => {
  it('publishes the source’s current keys at jwks_uri, after the token strategy’s', async () => {
    let keys: object[] = [{ kty: 'EC', kid: 'one' }]
    const { server } = setup()
    expect(server.jwks()).toBeNull()
    server.registerKeySource({ jwks: () => ({ keys }) })
    expect(server.metadata()['jwks_uri']).toBe(`${ISSUER}/jwks.json`)
    const handler = createHttpHandler(server)
    const get = () => handler.handle({ method: 'GET', path: '/jwks.json', query: '', url: '/jwks.json', headers: {}, body: { kind: 'none' } })
    expect(JSON.parse(((await get()) as { body: string }).body)).toEqual({ keys: [{ kty: 'EC', kid: 'one' }] })
    keys = [{ kty: 'EC', kid: 'one' }, { kty: 'EC', kid: 'next' }]
    expect(JSON.parse(((await get()) as { body: string }).body).keys).toHaveLength(2)
  })

  it('merges with a signing token strategy’s key', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const { server } = setup({ tokenStrategy: jwtAccessTokens({ privateKey, alg: 'ES256', kid: 'at' }) })
    server.registerKeySource({ jwks: () => ({ keys: [{ kty: 'RSA', kid: 'id-token' }] }) })
    expect(server.jwks()?.keys.map((k) => (k as { kid: string }).kid)).toEqual(['at', 'id-token'])
  })

  it('refuses a source without jwks()', () => {
    expect(() => setup().server.registerKeySource({} as never)).toThrow(/jwks/)
  })
})

describe('ClientAuthMethod.metadata (RFC 8414 §2 token_endpoint_auth_signing_alg_values_supported)', () => {
  const assertion: ClientAuthMethod = {
    matches: (request) => request.body.has('client_assertion'),
    authenticate: async () => {
      throw invalidClient('not in this test')
    },
    metadata: () => ({ token_endpoint_auth_signing_alg_values_supported: ['ES256'] }),
  }

  it('adds a method’s metadata when a token grant offers the method', () => {
    class AssertionGrant extends TestTokenGrant {
      static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'private_key_jwt']
    }
    const { server } = setup()
    server.registerClientAuthMethod('private_key_jwt', assertion)
    server.registerGrant(AssertionGrant)
    const metadata = server.metadata()
    expect(metadata['token_endpoint_auth_methods_supported']).toEqual(['client_secret_basic', 'private_key_jwt'])
    expect(metadata['token_endpoint_auth_signing_alg_values_supported']).toEqual(['ES256'])
  })

  it('unites the lists two offered methods add under one name (private_key_jwt and client_secret_jwt algorithms)', () => {
    class AssertionGrant extends TestTokenGrant {
      static override TOKEN_ENDPOINT_AUTH_METHODS = ['private_key_jwt', 'client_secret_jwt']
    }
    const { server } = setup()
    server.registerClientAuthMethod('private_key_jwt', assertion)
    server.registerClientAuthMethod('client_secret_jwt', { ...assertion, metadata: () => ({ token_endpoint_auth_signing_alg_values_supported: ['HS256', 'ES256'] }) })
    server.registerGrant(AssertionGrant)
    expect(server.metadata()['token_endpoint_auth_signing_alg_values_supported']).toEqual(['ES256', 'HS256'])
  })

  it('adds nothing for a registered method no grant offers', () => {
    const { server } = setup()
    server.registerClientAuthMethod('private_key_jwt', assertion)
    server.registerGrant(TestTokenGrant)
    expect(server.metadata()).not.toHaveProperty('token_endpoint_auth_signing_alg_values_supported')
  })

  it('gives methods the replay store, so an assertion’s jti is accepted once (RFC 7523 §3 item 7)', async () => {
    const { server, store } = setup()
    const seen: boolean[] = []
    server.registerClientAuthMethod('private_key_jwt', {
      matches: (request) => request.body.has('client_assertion'),
      async authenticate(_request, context) {
        const until = new Date(context.now().getTime() + 60_000)
        seen.push(await context.replay.markUsed('jti:1', until, context.now()))
        const client = await context.store.findClient('m2m')
        if (client === null) throw invalidClient('unknown')
        return client
      },
    })
    class AssertionGrant extends TestTokenGrant {
      static override TOKEN_ENDPOINT_AUTH_METHODS = ['private_key_jwt']
    }
    server.registerGrant(AssertionGrant)
    await saveClient(store, { clientId: 'm2m', grantTypes: ['urn:test:token'], tokenEndpointAuthMethod: 'private_key_jwt' })
    const req = () => createOAuthRequest({ method: 'POST', body: 'grant_type=urn%3Atest%3Atoken&client_assertion=x' })
    expect((await server.createTokenResponse(req())).status).toBe(200)
    await server.createTokenResponse(req())
    expect(seen).toEqual([true, false])
  })
})
