import {
  AuthorizationServer,
  OAuthError,
  createClient,
  createOAuthRequest,
  errorResponse,
  hashToken,
  memoryStore,
  type DeviceAuthorizationHookContext,
  type DeviceCodeRecord,
  type DeviceCodeStore,
  type GrantExtension,
} from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { DeviceAuthorizationEndpoint } from './device-authorization-endpoint.js'
import { DeviceCodeGrant } from './device-code-grant.js'
import { normalizeUserCode } from './internal/user-code.js'
import { ALICE, CLI_AUTH, CLIENTS, GT, ISSUER, RegisteredRefreshTokenGrant, T0, basic, deviceStores, setupDevice, type OpenDeviceStore } from './internal/testing.js'

const CONSONANTS = 'BCDFGHJKLMNPQRSTVWXZ'

/** The stored record of a device authorization response. */
async function recordOf(body: { user_code: string }, store: DeviceCodeStore) {
  const record = await store.findDeviceCodeByUserCode(hashToken(normalizeUserCode(body.user_code)), new Date(T0))
  if (record === null) throw new Error('no record for this user code')
  return record
}

describe.each(await deviceStores())('DeviceAuthorizationEndpoint (RFC 8628 §3.1, §3.2) on the %s', (_storeName, openStore: OpenDeviceStore) => {
  const setup = (options?: Parameters<typeof setupDevice>[1]) => setupDevice(openStore, options)

  describe('the device authorization response (RFC 8628 §3.2)', () => {
    it('answers 200 with every parameter of §3.2, no-store', async () => {
      const { authorize } = await setup()
      const response = await authorize(`client_id=${CLIENTS.tv.clientId}`)
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', 'content-type': 'application/json;charset=UTF-8' })
      expect(Object.keys(response.body ?? {}).sort()).toEqual(['device_code', 'expires_in', 'interval', 'user_code', 'verification_uri', 'verification_uri_complete'])
    })

    it('sends the default lifetime (600 s), interval (5 s) and verification URI (<issuer>/device)', async () => {
      const { start } = await setup()
      const body = await start()
      expect(body).toMatchObject({ expires_in: 600, interval: 5, verification_uri: `${ISSUER}/device` })
    })

    it('puts the user code in verification_uri_complete (§3.3.1)', async () => {
      const { start } = await setup()
      const body = await start()
      expect(body.verification_uri_complete).toBe(`${ISSUER}/device?user_code=${body.user_code}`)
      expect(new URL(body.verification_uri_complete).searchParams.get('user_code')).toBe(body.user_code)
    })

    it('issues a device code of 256 random bits, different every time', async () => {
      const { start } = await setup()
      const codes = await Promise.all(Array.from({ length: 20 }, () => start()))
      const deviceCodes = codes.map((c) => c.device_code)
      expect(new Set(deviceCodes).size).toBe(20)
      for (const code of deviceCodes) expect(Buffer.from(code.split('.')[0] as string, 'base64url')).toHaveLength(32)
    })

    it('stores the device and user codes hashed only, pending, bound to the client and scope', async () => {
      const { start, store } = await setup()
      const body = await start(CLIENTS.tv.clientId, 'read')
      const record = await store.findDeviceCodeByUserCode(hashToken(normalizeUserCode(body.user_code)), new Date(T0))
      expect(record).toMatchObject({
        deviceCodeHash: hashToken(body.device_code),
        clientId: CLIENTS.tv.clientId,
        scope: 'read',
        status: 'pending',
        userId: null,
        interval: 5,
        lastPolledAt: null,
        createdAt: new Date(T0),
        expiresAt: new Date(T0 + 600_000),
      })
      expect(JSON.stringify(record)).not.toContain(body.device_code)
      expect(JSON.stringify(record)).not.toContain(normalizeUserCode(body.user_code))
    })

    it('grants the client’s whole scope when scope is omitted (RFC 6749 §3.3)', async () => {
      const { start, store } = await setup()
      const body = await start()
      const record = await store.findDeviceCodeByUserCode(hashToken(normalizeUserCode(body.user_code)), new Date(T0))
      expect(record?.scope).toBe('profile read write')
    })

    it.each([
      ['a confidential client with client_secret_basic', 'scope=read', CLI_AUTH],
      ['a confidential client with client_secret_post', 'client_id=agent&client_secret=agent-secret', {}],
      ['a public client with its client_id (§3.1)', 'client_id=tv-app', {}],
    ])('accepts %s', async (_case, body, headers) => {
      const { authorize } = await setup()
      const response = await authorize(body, headers)
      expect(response.status).toBe(200)
    })
  })

  describe('user codes (RFC 8628 §6.1)', () => {
    it('are 8 characters from BCDFGHJKLMNPQRSTVWXZ, shown as two groups of four (WDJB-MJHT)', async () => {
      const { start } = await setup()
      const body = await start()
      expect(body.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    })

    it('draw every character of the alphabet, and no other, over many codes', async () => {
      const { start } = await setup()
      const seen = new Set<string>()
      for (let i = 0; i < 60; i++) for (const c of normalizeUserCode((await start()).user_code)) seen.add(c)
      expect([...seen].sort().join('')).toBe(CONSONANTS)
    })

    it('are unique among live authorizations', async () => {
      const { start } = await setup()
      const codes = await Promise.all(Array.from({ length: 50 }, () => start()))
      expect(new Set(codes.map((c) => c.user_code)).size).toBe(50)
    })

    it('follow USER_CODE_LENGTH and USER_CODE_CHARSET (digits for keypads, §6.1)', async () => {
      class NumericGrant extends DeviceCodeGrant {
        static override USER_CODE_LENGTH = 9
        static override USER_CODE_CHARSET = '0123456789'
      }
      class NumericEndpoint extends DeviceAuthorizationEndpoint {
        static override GRANT = NumericGrant
      }
      const { start } = await setup({ grant: NumericGrant, endpoint: NumericEndpoint })
      expect((await start()).user_code).toMatch(/^\d{4}-\d{4}-\d$/)
    })

    it('are redrawn when one is taken by a live authorization', async () => {
      const looked: string[] = []
      const taken: { record?: DeviceCodeRecord } = {}
      const { start, store } = await setup({
        wrap: (store) => ({
          ...store,
          // Once `taken` is set, the first user code drawn is reported taken (by that earlier authorization).
          findDeviceCodeByUserCode: async (hash, now) => {
            looked.push(hash)
            return taken.record !== undefined && looked.length === 1 ? { ...taken.record, userCodeHash: hash } : store.findDeviceCodeByUserCode(hash, now)
          },
        }),
      })
      taken.record = await recordOf(await start(), store)
      looked.length = 0
      const body = await start()
      expect(looked).toHaveLength(2)
      expect(hashToken(normalizeUserCode(body.user_code))).toBe(looked[1])
    })

    it('are redrawn when the store refuses one (a unique index over expired codes)', async () => {
      let saves = 0
      const { start } = await setup({
        wrap: (store) => ({
          ...store,
          saveDeviceCode: async (record) => {
            if (saves++ === 0) throw new Error('duplicate key value violates unique constraint')
            return store.saveDeviceCode(record)
          },
        }),
      })
      await start()
      expect(saves).toBe(2)
    })
  })

  describe('configuration through the grant class (GRANT)', () => {
    it.each([
      ['an absolute verification page', 'https://example.com/activate', 'https://example.com/activate', 'https://example.com/activate?user_code='],
      ['a path under the issuer', '/activate', `${ISSUER}/activate`, `${ISSUER}/activate?user_code=`],
      ['a page with a query', 'https://example.com/tv?lang=en', 'https://example.com/tv?lang=en', 'https://example.com/tv?lang=en&user_code='],
    ])('sends %s as verification_uri', async (_case, configured, uri, complete) => {
      class MyGrant extends DeviceCodeGrant {
        static override VERIFICATION_URI = configured
      }
      class MyEndpoint extends DeviceAuthorizationEndpoint {
        static override GRANT = MyGrant
      }
      const { start } = await setup({ grant: MyGrant, endpoint: MyEndpoint })
      const body = await start()
      expect(body.verification_uri).toBe(uri)
      expect(body.verification_uri_complete).toBe(complete + body.user_code)
    })

    it('sends the lifetime and interval of the grant class', async () => {
      class SlowGrant extends DeviceCodeGrant {
        static override DEVICE_CODE_LIFETIME = 1800
        static override INTERVAL = 10
      }
      class SlowEndpoint extends DeviceAuthorizationEndpoint {
        static override GRANT = SlowGrant
      }
      const { start, store } = await setup({ grant: SlowGrant, endpoint: SlowEndpoint })
      const body = await start()
      expect(body).toMatchObject({ expires_in: 1800, interval: 10 })
      const record = await store.findDeviceCodeByUserCode(hashToken(normalizeUserCode(body.user_code)), new Date(T0))
      expect(record).toMatchObject({ interval: 10, expiresAt: new Date(T0 + 1_800_000) })
    })
  })

  describe('refusals (RFC 8628 §3.1, RFC 6749 §5.2)', () => {
    it.each([
      ['no client authentication and no client_id', 'scope=read', {}, 401, 'invalid_client'],
      ['an unknown public client', 'client_id=nobody', {}, 401, 'invalid_client'],
      ['a wrong Basic secret', 'scope=read', { authorization: basic('cli', 'wrong') }, 401, 'invalid_client'],
      ['a confidential client posing as public (client_id only)', 'client_id=cli', {}, 401, 'invalid_client'],
      ['client_secret_post by a client registered for Basic', 'client_id=cli&client_secret=cli-secret', {}, 401, 'invalid_client'],
      ['two authentication methods at once (RFC 6749 §2.3)', 'client_id=agent&client_secret=agent-secret', CLI_AUTH, 400, 'invalid_request'],
      ['a client not registered for the device grant', 'client_id=spa', {}, 400, 'unauthorized_client'],
      ['a scope wider than the client’s', 'client_id=tv-app&scope=read%20admin', {}, 400, 'invalid_scope'],
      ['a scope with invalid characters', 'client_id=tv-app&scope=read%22', {}, 400, 'invalid_scope'],
      ['a repeated scope', 'client_id=tv-app&scope=read&scope=write', {}, 400, 'invalid_request'],
      ['a repeated client_id', 'client_id=tv-app&client_id=tv-app', {}, 400, 'invalid_request'],
      ['a NUL in scope', new URLSearchParams({ client_id: 'tv-app', scope: 'read\u0000' }), {}, 400, 'invalid_request'],
      ['a NUL in client_id', new URLSearchParams({ client_id: 'tv\u0000app' }), {}, 400, 'invalid_request'],
      ['a NUL in a parameter name', new URLSearchParams({ client_id: 'tv-app', 'x\u0000': '1' }), {}, 400, 'invalid_request'],
      ['a NUL in the Basic client id', 'scope=read', { authorization: 'Basic ' + btoa('cli%00:cli-secret') }, 400, 'invalid_request'],
      ['a NUL percent-encoded in the form', 'client_id=tv-app&scope=read%00', {}, 400, 'invalid_request'],
    ])('refuses %s, and saves nothing', async (_case, body, headers, status, error) => {
      let saved = 0
      const { authorize } = await setup({ wrap: (store) => ({ ...store, saveDeviceCode: (record) => (saved++, store.saveDeviceCode(record)) }) })
      // A NUL in the raw form is refused by core's form parser already, before the endpoint runs.
      const response = await authorize(body, headers).catch((error: unknown) => errorResponse(error as OAuthError))
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(response.headers['cache-control']).toBe('no-store')
      expect(saved).toBe(0)
    })

    it('answers GET with 405 invalid_request and Allow: POST', async () => {
      const { authorize } = await setup()
      const response = await authorize('', {}, 'GET')
      expect(response.status).toBe(405)
      expect(response.headers['allow']).toBe('POST')
      expect(response.body).toMatchObject({ error: 'invalid_request' })
    })

    it('answers a failed Basic authentication with WWW-Authenticate (RFC 6749 §5.2)', async () => {
      const { authorize } = await setup()
      const response = await authorize('', { authorization: basic('cli', 'wrong') })
      expect(response.headers['www-authenticate']).toMatch(/^Basic /)
    })

    it('refuses a public client when the grant class does not accept none', async () => {
      class ConfidentialOnlyGrant extends DeviceCodeGrant {
        static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic']
      }
      class ConfidentialOnlyEndpoint extends DeviceAuthorizationEndpoint {
        static override GRANT = ConfidentialOnlyGrant
      }
      const { authorize } = await setup({ grant: ConfidentialOnlyGrant, endpoint: ConfidentialOnlyEndpoint })
      expect((await authorize('client_id=tv-app')).body).toMatchObject({ error: 'invalid_client' })
      expect((await authorize('', CLI_AUTH)).status).toBe(200)
    })
  })

  describe('extensions of the device grant: afterValidateDeviceAuthorizationRequest (RFC 8628 §3.1)', () => {
    /** An extension recording each context it is given, adding `{ [key]: value }` to `extra`. */
    function recorder(key = 'seen', value: unknown = true) {
      const calls: DeviceAuthorizationHookContext[] = []
      const extension: GrantExtension = {
        afterValidateDeviceAuthorizationRequest(context) {
          calls.push(context)
          context.extra[key] = value
        },
      }
      return { calls, extension }
    }

    it('runs with the server, the grant class, the authenticated client, the request and the resolved scopes', async () => {
      const { calls, extension } = recorder()
      const { server, authorize } = await setup({ extensions: [extension] })
      expect((await authorize('scope=read', CLI_AUTH)).status).toBe(200)
      expect(calls).toHaveLength(1)
      const [context] = calls as [DeviceAuthorizationHookContext]
      expect(context.server).toBe(server)
      expect(context.grantClass).toBe(DeviceCodeGrant)
      expect(context.client.clientId).toBe(CLIENTS.cli.clientId)
      expect(context.scopes).toEqual(['read'])
      expect(context.request.body.get('scope')).toBe('read')
    })

    it('saves what the hooks put in extra with the device code; the grant reads it back when the approved code is polled, and the verification page sees it', async () => {
      const seenAtPoll: unknown[] = []
      const { extension } = recorder('resources', ['https://api.example.com'])
      const atPoll: GrantExtension = { afterValidateTokenRequest: ({ grant }) => void seenAtPoll.push((grant as DeviceCodeGrant).deviceCode?.extra) }
      const { start, store, verification, poll } = await setup({ extensions: [extension, atPoll] })
      const body = await start()
      expect((await recordOf(body, store)).extra).toEqual({ resources: ['https://api.example.com'] })
      expect(await verification.lookup(body.user_code, { key: 'session-1' })).toMatchObject({ ok: true, extra: { resources: ['https://api.example.com'] } })
      expect(await verification.approve(body.user_code, ALICE, { key: 'session-1' })).toMatchObject({ ok: true })
      expect((await poll(body.device_code)).status).toBe(200)
      expect(seenAtPoll).toEqual([{ resources: ['https://api.example.com'] }])
    })

    it('saves no extra when no hook adds any, and lookup answers an empty extra', async () => {
      const { start, store, verification } = await setup({ extensions: [{ afterValidateDeviceAuthorizationRequest() {} }] })
      const body = await start()
      expect((await recordOf(body, store)).extra).toBeUndefined()
      expect(await verification.lookup(body.user_code, { key: 'session-1' })).toMatchObject({ ok: true, extra: {} })
    })

    it('runs the hooks in registration order, each seeing what the previous added', async () => {
      const order: string[] = []
      const first: GrantExtension = { afterValidateDeviceAuthorizationRequest: ({ extra }) => void (order.push('first'), (extra['n'] = 1)) }
      const second: GrantExtension = { afterValidateDeviceAuthorizationRequest: ({ extra }) => void (order.push(`second saw ${String(extra['n'])}`), (extra['n'] = 2)) }
      const { start, store } = await setup({ extensions: [first, second] })
      expect((await recordOf(await start(), store)).extra).toEqual({ n: 2 })
      expect(order).toEqual(['first', 'second saw 1'])
    })

    it('answers an OAuthError a hook throws as its JSON error response (RFC 8628 §3.2, RFC 6749 §5.2), and saves nothing', async () => {
      let saved = 0
      const refusing: GrantExtension = {
        afterValidateDeviceAuthorizationRequest() {
          throw new OAuthError('invalid_target', 'the client may not obtain tokens for a requested resource')
        },
      }
      const { authorize } = await setup({ extensions: [refusing], wrap: (store) => ({ ...store, saveDeviceCode: (record) => (saved++, store.saveDeviceCode(record)) }) })
      const response = await authorize('client_id=tv-app&resource=https%3A%2F%2Fapi.example.com')
      expect(response.status).toBe(400)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', 'content-type': 'application/json;charset=UTF-8' })
      expect(response.body).toEqual({ error: 'invalid_target', error_description: 'the client may not obtain tokens for a requested resource' })
      expect(saved).toBe(0)
    })

    it('answers another error a hook throws as 500 server_error, reported to onError, and saves nothing', async () => {
      const failing: GrantExtension = {
        afterValidateDeviceAuthorizationRequest() {
          throw new Error('extension bug')
        },
      }
      const { authorize, errors, store } = await setup({ extensions: [failing] })
      const response = await authorize('client_id=tv-app')
      expect(response.status).toBe(500)
      expect(response.body).toMatchObject({ error: 'server_error' })
      expect(errors).toContainEqual(expect.objectContaining({ message: 'extension bug' }))
      expect(store.snapshot().deviceCodes).toHaveLength(0)
    })

    it.each([
      ['the client authentication fails', 'client_id=nobody', 401, 'invalid_client'],
      ['the client may not use the device grant', 'client_id=spa', 400, 'unauthorized_client'],
      ['the scope is refused', 'client_id=tv-app&scope=admin', 400, 'invalid_scope'],
    ])('does not run when %s', async (_case, body, status, error) => {
      const { calls, extension } = recorder()
      const { authorize } = await setup({ extensions: [extension] })
      const response = await authorize(body)
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(calls).toHaveLength(0)
    })

    /** A server over a fresh store with the TV client, registered by `register`; answers one device authorization request of the TV. */
    async function startOn(register: (server: AuthorizationServer) => void) {
      const store = await openStore()
      await store.saveClient((await createClient({ ...CLIENTS.tv, secretHash: 'sha256' })).client)
      const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => T0 })
      register(server)
      const request = createOAuthRequest({ method: 'POST', url: '/device_authorization', body: `client_id=${CLIENTS.tv.clientId}` })
      return { response: await server.createEndpointResponse('device_authorization', request), store }
    }

    it('runs the extensions of the grant serving GRANT’s grant type, registered after the endpoint too, and no other grant’s', async () => {
      const device = recorder('device')
      const other = recorder('other')
      const { response, store } = await startOn((server) => {
        server.registerEndpoint(DeviceAuthorizationEndpoint)
        server.registerGrant(RegisteredRefreshTokenGrant, [other.extension])
        server.registerGrant(DeviceCodeGrant, [device.extension])
      })
      expect(response.status).toBe(200)
      expect(device.calls).toHaveLength(1)
      expect(other.calls).toHaveLength(0)
      expect(store.snapshot().deviceCodes[0]?.extra).toEqual({ device: true })
    })

    it('runs the extensions of the registered device grant when GRANT is another class of the same grant type', async () => {
      class RegisteredDeviceGrant extends DeviceCodeGrant {}
      const device = recorder('device')
      const { response } = await startOn((server) => server.registerGrant(RegisteredDeviceGrant, [device.extension]).registerEndpoint(DeviceAuthorizationEndpoint))
      expect(response.status).toBe(200)
      expect(device.calls[0]?.grantClass).toBe(DeviceCodeGrant)
    })

    it('runs no extension when no device grant is registered', async () => {
      const other = recorder('other')
      const { response, store } = await startOn((server) => server.registerGrant(RegisteredRefreshTokenGrant, [other.extension]).registerEndpoint(DeviceAuthorizationEndpoint))
      expect(response.status).toBe(200)
      expect(other.calls).toHaveLength(0)
      expect(store.snapshot().deviceCodes[0]?.extra).toBeUndefined()
    })
  })

  describe('metadata (RFC 8628 §4) and registration', () => {
    it('adds device_authorization_endpoint and the grant type to the server metadata', async () => {
      const { server } = await setup()
      expect(server.metadata()).toMatchObject({
        device_authorization_endpoint: `${ISSUER}/device_authorization`,
        grant_types_supported: expect.arrayContaining([GT]),
        token_endpoint_auth_methods_supported: expect.arrayContaining(['none', 'client_secret_basic', 'client_secret_post']),
      })
    })

    it('is served by the adapters at /device_authorization (its route)', async () => {
      const { server } = await setup()
      expect(server.routedEndpoints()).toContainEqual(['device_authorization', { path: '/device_authorization', methods: ['POST'], body: 'form' }])
    })

    it('serves another PATH when a subclass sets one', async () => {
      class MyEndpoint extends DeviceAuthorizationEndpoint {
        static override PATH = '/oauth/device'
      }
      const { server } = await setup({ endpoint: MyEndpoint })
      expect(server.metadata()).toMatchObject({ device_authorization_endpoint: `${ISSUER}/oauth/device` })
      expect(server.routedEndpoints()).toContainEqual(['device_authorization', expect.objectContaining({ path: '/oauth/device' })])
    })

    it('can be registered without the grant (then its codes are never redeemed: register both)', async () => {
      const store = await openStore()
      const server = new AuthorizationServer({ issuer: ISSUER, store })
      server.registerEndpoint(DeviceAuthorizationEndpoint)
      expect(server.metadata()).toMatchObject({ device_authorization_endpoint: `${ISSUER}/device_authorization` })
      expect(server.metadata()['grant_types_supported']).toEqual([])
    })

    it('needs a store with device codes (ERR_GRANTKIT_STORE_CAPABILITY)', () => {
      const { findClient } = memoryStore()
      const server = new AuthorizationServer({ issuer: ISSUER, store: { findClient } })
      expect(() => server.registerEndpoint(DeviceAuthorizationEndpoint)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_STORE_CAPABILITY' }))
    })

    it.each([
      ['PATH is not a path', { PATH: 'device' }],
      ['PATH has a query', { PATH: '/device?x=1' }],
      ['GRANT is another grant', { GRANT: RegisteredRefreshTokenGrant }],
      ['GRANT is not a grant', { GRANT: class NotAGrant {} }],
    ])('refuses a subclass whose %s, at registerEndpoint (ERR_GRANTKIT_CONFIG)', async (_case, statics) => {
      const Endpoint = class extends DeviceAuthorizationEndpoint {}
      Object.assign(Endpoint, statics)
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => server.registerEndpoint(Endpoint)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
    })

    it('refuses a GRANT with invalid statics at registerEndpoint, as registerGrant would', async () => {
      class BadGrant extends DeviceCodeGrant {
        static override DEVICE_CODE_LIFETIME = 3600
      }
      class BadEndpoint extends DeviceAuthorizationEndpoint {
        static override GRANT = BadGrant
      }
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => server.registerEndpoint(BadEndpoint)).toThrow(expect.objectContaining({ code: 'ERR_GRANTKIT_CONFIG', message: expect.stringContaining('DEVICE_CODE_LIFETIME') }))
    })
  })

  it('issues codes a user can approve and the device can redeem (§3.3–§3.5)', async () => {
    const { start, verification, poll } = await setup()
    const body = await start()
    expect(await verification.approve(body.user_code, ALICE, { key: 'session-1' })).toMatchObject({ ok: true })
    expect((await poll(body.device_code)).status).toBe(200)
  })
})
