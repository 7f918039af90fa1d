import {
  AuthorizationServer,
  BaseGrant,
  IntrospectionEndpoint,
  createClient,
  createOAuthRequest,
  type ClientInput,
  type GrantUser,
  type OAuthResponse,
} from '@grantkit/core'
import { CodeChallenge, createS256CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { DEVICE_CODE_GRANT_TYPE, DeviceAuthorizationEndpoint, DeviceCodeGrant, deviceVerification } from '@grantkit/grant-device-code'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { describe, expect, it } from 'vitest'
import { TEST_STORES, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { ResourceIndicators, audienceClaim, resourceProblem, type ResourceIndicatorsOptions } from './resource-indicators.js'

const ISSUER = 'https://auth.example.com'
const REDIRECT = 'https://client.example.com/cb'
const API = 'https://api.example.com'
const FILES = 'https://files.example.com/v1'
const UNLISTED = 'https://unlisted.example.com'
const T0 = Date.UTC(2026, 0, 1)
const ALICE: GrantUser = { id: 'user-alice' }
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'

const CLIENTS: Record<string, ClientInput> = {
  web: {
    clientId: 'web',
    clientSecret: 'web-secret',
    redirectUris: [REDIRECT],
    scope: 'read',
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    metadata: { resources: [API, FILES] },
  },
  // No `resources` metadata: the default policy lets it ask for none.
  plain: { clientId: 'plain', clientSecret: 'plain-secret', redirectUris: [REDIRECT], scope: 'read', grantTypes: ['authorization_code', 'client_credentials'] },
}

const SECRETS: Record<string, string> = { web: 'web-secret', plain: 'plain-secret' }

async function setupOn(openStore: OpenTestStore, options?: ResourceIndicatorsOptions): Promise<{ server: AuthorizationServer; store: TestStore }> {
  const store = await openStore()
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => T0, onError: () => {} })
  const indicators = new ResourceIndicators(options)
  server
    .registerGrant(AuthorizationCodeGrant, [new CodeChallenge(), indicators])
    .registerGrant(ClientCredentialsGrant, [indicators])
    .registerGrant(RefreshTokenGrant, [indicators])
    .registerEndpoint(IntrospectionEndpoint)
  for (const input of Object.values(CLIENTS)) await store.saveClient((await createClient({ ...input, secretHash: 'sha256' })).client)
  return { server, store }
}

const basic = (clientId: string) => ({ authorization: `Basic ${btoa(`${clientId}:${SECRETS[clientId]}`)}` })

function post(server: AuthorizationServer, body: URLSearchParams, clientId = 'web'): Promise<OAuthResponse> {
  return server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers: basic(clientId), body }))
}

function clientCredentials(server: AuthorizationServer, resources: readonly string[], clientId = 'web'): Promise<OAuthResponse> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' })
  for (const resource of resources) body.append('resource', resource)
  return post(server, body, clientId)
}

function authorize(server: AuthorizationServer, resources: readonly string[], clientId = 'web'): Promise<OAuthResponse> {
  const query = new URLSearchParams({ response_type: 'code', client_id: clientId, state: 'st', code_challenge: createS256CodeChallenge(VERIFIER), code_challenge_method: 'S256' })
  for (const resource of resources) query.append('resource', resource)
  return server.createAuthorizationResponse(createOAuthRequest({ method: 'GET', url: `/authorize?${query}` }), ALICE)
}

function redirected(response: OAuthResponse): Record<string, string> {
  expect(response.status).toBe(302)
  return Object.fromEntries(new URL(response.headers['location'] as string).searchParams)
}

function redeem(server: AuthorizationServer, code: string, resources: readonly string[], clientId = 'web'): Promise<OAuthResponse> {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: VERIFIER })
  for (const resource of resources) body.append('resource', resource)
  return post(server, body, clientId)
}

async function codeFor(server: AuthorizationServer, resources: readonly string[]): Promise<string> {
  const params = redirected(await authorize(server, resources))
  if (params['code'] === undefined) throw new Error(`no code: ${JSON.stringify(params)}`)
  return params['code']
}

function refresh(server: AuthorizationServer, refreshToken: string, resources: readonly string[]): Promise<OAuthResponse> {
  const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken })
  for (const resource of resources) body.append('resource', resource)
  return post(server, body)
}

async function introspect(server: AuthorizationServer, token: string): Promise<Record<string, unknown>> {
  const response = await server.createEndpointResponse('introspection', createOAuthRequest({ method: 'POST', url: '/introspect', headers: basic('web'), body: { token } }))
  return response.body as Record<string, unknown>
}

const tokenOf = (response: OAuthResponse, name = 'access_token') => {
  expect(response.status).toBe(200)
  return (response.body as Record<string, string>)[name] as string
}

describe('resourceProblem (RFC 8707 §2: an absolute URI without a fragment)', () => {
  it.each([API, FILES, 'https://api.example.com/v1?tenant=1', 'urn:example:resource'])('accepts %s', (value) => {
    expect(resourceProblem(value)).toBeNull()
  })

  it.each([
    ['a relative path', '/api'],
    ['a host without scheme', 'api.example.com'],
    ['a fragment', 'https://api.example.com/#x'],
    ['an empty fragment', 'https://api.example.com/#'],
    ['a space', 'https://api.example.com/a b'],
    ['a control character', 'https://api.example.com/\u0001'],
    ['an over-long value', `https://api.example.com/${'a'.repeat(2100)}`],
  ])('refuses %s', (_, value) => {
    expect(resourceProblem(value)).not.toBeNull()
  })

  it('makes one audience a string and several an array (RFC 7519 §4.1.3)', () => {
    expect(audienceClaim([API])).toBe(API)
    expect(audienceClaim([API, FILES])).toEqual([API, FILES])
  })
})

describe('ResourceIndicators options and registration', () => {
  it.each([
    ['options are not an object', null],
    ['"allowedResources" is not a function', { allowedResources: [API] }],
    ['"defaultAudience" is relative', { defaultAudience: '/api' }],
    ['"defaultAudience" has a fragment', { defaultAudience: [`${API}#x`] }],
    ['"maxResources" is 0', { maxResources: 0 }],
    ['"maxResources" is not an integer', { maxResources: 1.5 }],
  ])('throws a TypeError when %s', (_, options) => {
    expect(() => new ResourceIndicators(options as ResourceIndicatorsOptions)).toThrow(TypeError)
  })

  it('refuses the token exchange grant, which reads resource itself (RFC 8693 §2.1)', () => {
    const grantClass = class TokenExchange extends BaseGrant {
      static override GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange'
      static override TOKEN_ENDPOINT = true
      override async validateTokenRequest(): Promise<void> {}
    }
    const server = new AuthorizationServer({ issuer: ISSUER, store: { findClient: async () => null, saveTokens: async () => {}, findToken: async () => null, revokeToken: async () => false, revokeTokenFamily: async () => 0 } })
    expect(() => server.registerGrant(grantClass, [new ResourceIndicators()])).toThrow(TypeError)
  })
})

describe.each(TEST_STORES)('ResourceIndicators on the %s', (_storeName, openStore) => {
  const setup = (options?: ResourceIndicatorsOptions) => setupOn(openStore, options)

  describe('client credentials (RFC 8707 §2.2: resource at the token endpoint)', () => {
    it('issues a token whose aud is the one requested resource, stored with the token and introspected', async () => {
      const { server, store } = await setup()
      const token = tokenOf(await clientCredentials(server, [API]))
      expect(store.snapshot().tokens[0]?.extra).toEqual({ claims: { aud: API } })
      expect(await introspect(server, token)).toMatchObject({ active: true, aud: API, client_id: 'web' })
    })

    it('issues an array aud for several resources, duplicates dropped, order kept', async () => {
      const { server } = await setup()
      const token = tokenOf(await clientCredentials(server, [FILES, API, FILES]))
      expect((await introspect(server, token))['aud']).toEqual([FILES, API])
    })

    it('issues no aud without a resource and without a default audience', async () => {
      const { server, store } = await setup()
      const token = tokenOf(await clientCredentials(server, []))
      expect(store.snapshot().tokens[0]?.extra).toBeUndefined()
      expect(await introspect(server, token)).not.toHaveProperty('aud')
    })

    it('uses defaultAudience when no resource is requested', async () => {
      const { server } = await setup({ defaultAudience: [API, FILES] })
      const token = tokenOf(await clientCredentials(server, []))
      expect((await introspect(server, token))['aud']).toEqual([API, FILES])
    })

    it.each([
      ['a relative URI (§2)', ['/api']],
      ['a fragment (§2)', [`${API}/#x`]],
      ['a resource the client is not allowed', [UNLISTED]],
      ['one allowed and one not allowed resource', [API, UNLISTED]],
      ['more than maxResources resources', Array.from({ length: 11 }, (_, i) => `${API}/r${i}`)],
    ])('answers invalid_target for %s', async (_, resources) => {
      const { server, store } = await setup()
      const response = await clientCredentials(server, resources)
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_target' })
      expect(store.snapshot().tokens).toHaveLength(0)
    })

    it('refuses every resource to a client without a resources list (the default policy)', async () => {
      const { server } = await setup()
      expect((await clientCredentials(server, [API], 'plain')).body).toMatchObject({ error: 'invalid_target' })
      expect((await clientCredentials(server, [], 'plain')).status).toBe(200)
    })

    it('asks allowedResources with the client, the resources and where it is asked', async () => {
      const calls: unknown[] = []
      const { server } = await setup({
        allowedResources: (client, resources, context) => {
          calls.push({ clientId: client.clientId, resources, context })
          return resources.every((r) => r.startsWith('https://'))
        },
      })
      expect((await clientCredentials(server, [UNLISTED], 'plain')).status).toBe(200)
      expect((await clientCredentials(server, ['urn:x:y'], 'plain')).body).toMatchObject({ error: 'invalid_target' })
      expect(calls[0]).toEqual({ clientId: 'plain', resources: [UNLISTED], context: { endpoint: 'token', grantType: 'client_credentials' } })
    })
  })

  describe('authorization code (RFC 8707 §2.1, §2.2)', () => {
    it('keeps the authorized resources in the code record and issues them all when the token request names none', async () => {
      const { server, store } = await setup()
      const code = await codeFor(server, [API, FILES])
      expect(store.snapshot().codes[0]?.extra).toEqual({ resources: [API, FILES] })
      const token = tokenOf(await redeem(server, code, []))
      expect((await introspect(server, token))['aud']).toEqual([API, FILES])
    })

    it('narrows the audience to the resources named at the token endpoint', async () => {
      const { server } = await setup()
      const code = await codeFor(server, [API, FILES])
      const token = tokenOf(await redeem(server, code, [FILES]))
      expect((await introspect(server, token))['aud']).toBe(FILES)
    })

    it('answers invalid_target for a resource at the token endpoint that was not authorized', async () => {
      const { server, store } = await setup()
      const code = await codeFor(server, [API])
      const response = await redeem(server, code, [FILES])
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_target' })
      expect(store.snapshot().tokens).toHaveLength(0)
    })

    it('answers invalid_target for a token-endpoint resource when the authorization request named none', async () => {
      const { server } = await setup()
      const code = await codeFor(server, [])
      expect((await redeem(server, code, [API])).body).toMatchObject({ error: 'invalid_target' })
    })

    it.each([
      ['a relative URI', ['api/v1']],
      ['a fragment', [`${API}#frag`]],
      ['a resource the client is not allowed', [UNLISTED]],
    ])('redirects invalid_target for %s at the authorization endpoint', async (_, resources) => {
      const { server, store } = await setup()
      expect(redirected(await authorize(server, resources))).toMatchObject({ error: 'invalid_target', state: 'st' })
      expect(store.snapshot().codes).toHaveLength(0)
    })
  })

  describe('refresh token (RFC 8707 §2.2: keep or narrow the original audience)', () => {
    async function refreshTokenFor(server: AuthorizationServer, resources: readonly string[]): Promise<string> {
      return tokenOf(await redeem(server, await codeFor(server, resources), []), 'refresh_token')
    }

    it('keeps the original audience when the refresh names no resource', async () => {
      const { server } = await setup()
      const token = tokenOf(await refresh(server, await refreshTokenFor(server, [API, FILES]), []))
      expect((await introspect(server, token))['aud']).toEqual([API, FILES])
    })

    it('narrows the access token to a resource among the original audiences', async () => {
      const { server } = await setup()
      const token = tokenOf(await refresh(server, await refreshTokenFor(server, [API, FILES]), [API]))
      expect((await introspect(server, token))['aud']).toBe(API)
    })

    it('a narrowed refresh keeps the refresh token bound to every original audience, so the next refresh may ask for another one', async () => {
      const { server } = await setup()
      const narrowed = await refresh(server, await refreshTokenFor(server, [API, FILES]), [API])
      expect((await introspect(server, tokenOf(narrowed)))['aud']).toBe(API)
      const next = tokenOf(narrowed, 'refresh_token')
      expect((await introspect(server, next))['aud']).toEqual([API, FILES])
      expect((await introspect(server, tokenOf(await refresh(server, next, [FILES]))))['aud']).toBe(FILES)
    })

    it('a code redeemed for one of its resources issues a refresh token for all of them (RFC 8707 section 2.2)', async () => {
      const { server } = await setup()
      const response = await redeem(server, await codeFor(server, [API, FILES]), [FILES])
      expect((await introspect(server, tokenOf(response)))['aud']).toBe(FILES)
      expect((await introspect(server, tokenOf(response, 'refresh_token')))['aud']).toEqual([API, FILES])
      expect((await introspect(server, tokenOf(await refresh(server, tokenOf(response, 'refresh_token'), [API]))))['aud']).toBe(API)
    })

    it('answers invalid_target for a resource outside the original audiences, and the refresh token stays usable', async () => {
      const { server } = await setup()
      const refreshToken = await refreshTokenFor(server, [API])
      const refused = await refresh(server, refreshToken, [FILES])
      expect(refused.status).toBe(400)
      expect(refused.body).toMatchObject({ error: 'invalid_target' })
      expect((await refresh(server, refreshToken, [])).status).toBe(200)
    })

    it('answers invalid_target for any resource when the original tokens had no audience', async () => {
      const { server } = await setup()
      expect((await refresh(server, await refreshTokenFor(server, []), [API])).body).toMatchObject({ error: 'invalid_target' })
    })
  })

  describe('device code grant (RFC 8628 §3.1 with RFC 8707 §2: resource at the device authorization endpoint and on the polling request)', () => {
    async function deviceSetup(options?: ResourceIndicatorsOptions) {
      const store = await openStore()
      const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => T0, onError: () => {} })
      const indicators = new ResourceIndicators(options)
      server
        .registerGrant(DeviceCodeGrant, [indicators])
        .registerGrant(RefreshTokenGrant, [indicators])
        .registerEndpoint(DeviceAuthorizationEndpoint)
        .registerEndpoint(IntrospectionEndpoint)
      await store.saveClient((await createClient({ ...CLIENTS['web'], clientId: 'web', grantTypes: [DEVICE_CODE_GRANT_TYPE, 'refresh_token'], secretHash: 'sha256' })).client)
      const verification = deviceVerification(server)
      /** POST /device_authorization by the web client, with `resource` repeated. */
      const deviceAuthorization = (resources: readonly string[]) => {
        const body = new URLSearchParams({ scope: 'read' })
        for (const resource of resources) body.append('resource', resource)
        return server.createEndpointResponse('device_authorization', createOAuthRequest({ method: 'POST', url: '/device_authorization', headers: basic('web'), body }))
      }
      /** A device code the user approved, its device authorization request naming `resources`. */
      const approved = async (resources: readonly string[]) => {
        const started = await deviceAuthorization(resources)
        expect(started.status).toBe(200)
        const { device_code: deviceCode, user_code: userCode } = started.body as Record<string, string>
        expect(await verification.approve(userCode as string, ALICE, { key: 'alice' })).toMatchObject({ ok: true })
        return deviceCode as string
      }
      const poll = (deviceCode: string, resources: readonly string[]) => {
        const body = new URLSearchParams({ grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode })
        for (const resource of resources) body.append('resource', resource)
        return post(server, body)
      }
      return { server, store, verification, deviceAuthorization, approved, poll }
    }

    it('keeps the resources named at the device authorization endpoint with the device code, shows them to the verification page and puts them in aud when the poll names none', async () => {
      const { server, store, verification, deviceAuthorization, poll } = await deviceSetup()
      const started = await deviceAuthorization([API, FILES])
      expect(started.status).toBe(200)
      const { device_code: deviceCode, user_code: userCode } = started.body as Record<string, string>
      expect(store.snapshot().deviceCodes[0]?.extra).toEqual({ resources: [API, FILES] })
      expect(await verification.lookup(userCode as string, { key: 'alice' })).toMatchObject({ ok: true, extra: { resources: [API, FILES] } })
      expect(await verification.approve(userCode as string, ALICE, { key: 'alice' })).toMatchObject({ ok: true })
      const response = await poll(deviceCode as string, [])
      expect((await introspect(server, tokenOf(response)))['aud']).toEqual([API, FILES])
      expect((await introspect(server, tokenOf(response, 'refresh_token')))['aud']).toEqual([API, FILES])
    })

    it.each([
      ['a relative URI (§2)', ['/api']],
      ['a fragment (§2)', [`${API}#x`]],
      ['a resource the client is not allowed', [UNLISTED]],
      ['one allowed and one not allowed resource', [API, UNLISTED]],
      ['more than maxResources resources', Array.from({ length: 11 }, (_, i) => `${API}/r${i}`)],
    ])('answers 400 invalid_target as JSON at the device authorization endpoint for %s, and issues no device code', async (_, resources) => {
      const { store, deviceAuthorization } = await deviceSetup()
      const response = await deviceAuthorization(resources)
      expect(response.status).toBe(400)
      expect(response.headers).toMatchObject({ 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store' })
      expect(response.body).toMatchObject({ error: 'invalid_target' })
      expect(store.snapshot().deviceCodes).toHaveLength(0)
    })

    it('asks allowedResources at the device authorization endpoint with endpoint device_authorization and the device grant type', async () => {
      const calls: unknown[] = []
      const { deviceAuthorization } = await deviceSetup({
        allowedResources: (client, resources, context) => {
          calls.push({ clientId: client.clientId, resources, context })
          return true
        },
      })
      expect((await deviceAuthorization([FILES])).status).toBe(200)
      expect(calls).toEqual([{ clientId: 'web', resources: [FILES], context: { endpoint: 'device_authorization', grantType: DEVICE_CODE_GRANT_TYPE } }])
    })

    it('narrows the access token to the resources the poll names (RFC 8707 §2.2), the refresh token keeping all of them', async () => {
      const { server, approved, poll } = await deviceSetup()
      const response = await poll(await approved([API, FILES]), [FILES])
      expect((await introspect(server, tokenOf(response)))['aud']).toBe(FILES)
      const refreshToken = tokenOf(response, 'refresh_token')
      expect((await introspect(server, refreshToken))['aud']).toEqual([API, FILES])
      expect((await introspect(server, tokenOf(await refresh(server, refreshToken, [API]))))['aud']).toBe(API)
    })

    it('answers invalid_target to a poll naming a resource the device authorization request did not name, even one the client may ask for, and the device code stays usable', async () => {
      const { server, store, approved, poll } = await deviceSetup()
      const deviceCode = await approved([API])
      const widened = await poll(deviceCode, [FILES])
      expect(widened.status).toBe(400)
      expect(widened.body).toMatchObject({ error: 'invalid_target' })
      expect(store.snapshot().tokens).toHaveLength(0)
      expect((await introspect(server, tokenOf(await poll(deviceCode, []))))['aud']).toBe(API)
    })

    it('checks a narrowed poll with allowedResources again (the policy may have changed since)', async () => {
      let allowFiles = true
      const { approved, poll } = await deviceSetup({ allowedResources: (_client, resources) => allowFiles || !resources.includes(FILES) })
      const deviceCode = await approved([API, FILES])
      allowFiles = false
      expect((await poll(deviceCode, [FILES])).body).toMatchObject({ error: 'invalid_target' })
      expect((await poll(deviceCode, [API])).status).toBe(200)
    })

    it('without resource at the device authorization endpoint: checks the resources of the poll and puts them in aud', async () => {
      const { server, store, approved, poll } = await deviceSetup()
      const deviceCode = await approved([])
      expect(store.snapshot().deviceCodes[0]?.extra).toBeUndefined()
      // A refusal leaves the approved device code usable: it is checked before anything is issued.
      expect((await poll(deviceCode, [UNLISTED])).body).toMatchObject({ error: 'invalid_target' })
      const token = tokenOf(await poll(deviceCode, [API]))
      expect((await introspect(server, token))['aud']).toBe(API)
    })

    it('without resource anywhere: uses defaultAudience', async () => {
      const { server, approved, poll } = await deviceSetup({ defaultAudience: FILES })
      expect((await introspect(server, tokenOf(await poll(await approved([]), []))))['aud']).toBe(FILES)
    })
  })
})
