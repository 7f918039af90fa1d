import { AuthorizationServer, OAuthError, createOAuthRequest, hashToken, memoryStore, type GrantExtension } from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { DeviceAuthorizationEndpoint } from './device-authorization-endpoint.js'
import { DEVICE_CODE_GRANT_TYPE, DeviceCodeGrant } from './device-code-grant.js'
import { openTempSqliteStore, readSqliteRows } from '../../../test-support/stores.js'
import { ALICE, CLI_AUTH, CLIENTS, GT, ISSUER, T0, basic, deviceStores, setupDevice, type OpenDeviceStore } from './internal/testing.js'

const KEY = { key: 'session-1' }

describe.each(await deviceStores())('DeviceCodeGrant (RFC 8628 §3.4, §3.5) on the %s', (_storeName, openStore: OpenDeviceStore) => {
  const setup = (options?: Parameters<typeof setupDevice>[1]) => setupDevice(openStore, options)

  /** A device authorization of the TV app the user approved, polled after its interval. */
  async function approved(options?: Parameters<typeof setupDevice>[1]) {
    const context = await setup(options)
    const body = await context.start()
    expect(await context.verification.approve(body.user_code, ALICE, KEY)).toMatchObject({ ok: true })
    return { ...context, body }
  }

  it('declares the device_code grant type at the token endpoint only, for public and confidential clients', () => {
    expect(DeviceCodeGrant.GRANT_TYPE).toBe('urn:ietf:params:oauth:grant-type:device_code')
    expect(DEVICE_CODE_GRANT_TYPE).toBe(DeviceCodeGrant.GRANT_TYPE)
    expect(DeviceCodeGrant.TOKEN_ENDPOINT).toBe(true)
    expect(DeviceCodeGrant.AUTHORIZATION_ENDPOINT).toBe(false)
    expect(DeviceCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['client_secret_basic', 'client_secret_post', 'none'])
    expect(DeviceCodeGrant.STORE_CAPABILITIES).toEqual(['clients', 'tokens', 'deviceCodes'])
  })

  describe('while the user has not decided (RFC 8628 §3.5 authorization_pending)', () => {
    it('answers 400 authorization_pending, no-store, to a poll', async () => {
      const { start, poll } = await setup()
      const body = await start()
      const response = await poll(body.device_code)
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'authorization_pending' })
      expect(response.headers['cache-control']).toBe('no-store')
    })

    it('keeps answering authorization_pending to polls at the interval', async () => {
      const { start, poll, clock } = await setup()
      const body = await start()
      for (let i = 0; i < 5; i++) {
        expect((await poll(body.device_code)).body).toMatchObject({ error: 'authorization_pending' })
        clock.advance(5)
      }
    })

    it('records each poll in the store', async () => {
      const { start, poll, clock, store } = await setup()
      const body = await start()
      clock.advance(7)
      await poll(body.device_code)
      const record = await store.findDeviceCodeByUserCode(hashToken(body.user_code.replace('-', '')), new Date(clock.now()))
      expect(record?.lastPolledAt).toEqual(new Date(T0 + 7000))
    })
  })

  describe('when the device polls too fast (RFC 8628 §3.5 slow_down)', () => {
    it('answers slow_down to a poll sooner than the interval after the previous one', async () => {
      const { start, poll, clock } = await setup()
      const body = await start()
      await poll(body.device_code)
      clock.advance(4)
      const response = await poll(body.device_code)
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'slow_down', error_description: expect.stringContaining('10 seconds') })
    })

    it('adds 5 seconds to the interval on each slow_down, for this and every later poll', async () => {
      const { start, poll, clock } = await setup()
      const body = await start()
      const at = async (seconds: number) => {
        clock.advance(seconds)
        return ((await poll(body.device_code)).body as { error: string }).error
      }
      expect(await at(0)).toBe('authorization_pending') // first poll, interval 5
      expect(await at(1)).toBe('slow_down') // 1 s < 5: interval 10
      expect(await at(9)).toBe('slow_down') // 9 s < 10: interval 15
      expect(await at(14)).toBe('slow_down') // 14 s < 15: interval 20
      expect(await at(20)).toBe('authorization_pending') // 20 s ≥ 20
      expect(await at(19)).toBe('slow_down') // still 20: interval 25
      expect(await at(25)).toBe('authorization_pending')
    })

    it('does not slow down the first poll, however soon after the authorization', async () => {
      const { start, poll } = await setup()
      const body = await start()
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'authorization_pending' })
    })

    it('still issues the tokens to a fast poll once the user approved (slow_down is a variant of pending)', async () => {
      const { start, verification, poll } = await setup()
      const body = await start()
      await poll(body.device_code)
      await verification.approve(body.user_code, ALICE, KEY)
      // No time passed since the previous poll: too fast, but the code is approved.
      expect((await poll(body.device_code)).status).toBe(200)
    })
  })

  describe('once the user approved (RFC 8628 §3.5 success)', () => {
    it('issues a Bearer access token with the scope asked for, no-store', async () => {
      const { body, poll } = await approved()
      const response = await poll(body.device_code)
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' })
      expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'profile read write', access_token: expect.any(String) })
    })

    it('issues a token for the user who approved it, which the resource server accepts', async () => {
      const { body, poll, server } = await approved()
      const response = await poll(body.device_code)
      const info = await server.authenticateBearerToken(
        createOAuthRequest({ url: '/api', headers: { authorization: `Bearer ${response.body?.['access_token'] as string}` } }),
        { scope: 'read' },
      )
      expect(info).toMatchObject({ clientId: CLIENTS.tv.clientId, userId: ALICE.id })
    })

    it('stores the tokens hashed, in the authorization’s token family', async () => {
      const { body, poll, store } = await approved()
      const response = await poll(body.device_code)
      const record = await store.findDeviceCodeByUserCode(hashToken(body.user_code.replace('-', '')), new Date(T0))
      const access = await store.findToken(hashToken(response.body?.['access_token'] as string))
      expect(access).toMatchObject({ type: 'access_token', clientId: CLIENTS.tv.clientId, userId: ALICE.id, familyId: record?.familyId })
      expect(record?.status).toBe('redeemed')
    })

    it('includes a refresh token when the client may use a registered refresh grant (RFC 6749 §1.5)', async () => {
      const { body, poll } = await approved()
      const response = await poll(body.device_code)
      expect(response.body).toMatchObject({ refresh_token: expect.any(String) })
    })

    it('includes no refresh token for a client without refresh_token', async () => {
      const { start, verification, poll } = await setup()
      const body = await start(CLIENTS.otherTv.clientId)
      await verification.approve(body.user_code, ALICE, KEY)
      const response = await poll(body.device_code, CLIENTS.otherTv.clientId)
      expect(response.status).toBe(200)
      expect(response.body).not.toHaveProperty('refresh_token')
    })

    it('grants the narrower scope the user approved', async () => {
      const { start, verification, poll } = await setup()
      const body = await start()
      await verification.approve(body.user_code, ALICE, { key: 'session-1', scopes: ['read'] })
      expect((await poll(body.device_code)).body).toMatchObject({ scope: 'read' })
    })

    it('serves a confidential client authenticating with Basic', async () => {
      const { authorize, verification, token } = await setup()
      const body = (await authorize('scope=read', CLI_AUTH)).body as { device_code: string; user_code: string }
      await verification.approve(body.user_code, ALICE, KEY)
      const response = await token(`grant_type=${encodeURIComponent(GT)}&device_code=${body.device_code}`, CLI_AUTH)
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ scope: 'read' })
    })

    it('issues the tokens exactly once: a later poll is invalid_grant', async () => {
      const { body, poll, clock } = await approved()
      expect((await poll(body.device_code)).status).toBe(200)
      clock.advance(5)
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'invalid_grant' })
    })

    it('issues the tokens exactly once to 20 concurrent polls, and leaves only those tokens active', async () => {
      const { body, poll, store, server } = await approved()
      const responses = await Promise.all(Array.from({ length: 20 }, () => poll(body.device_code)))
      const ok = responses.filter((r) => r.status === 200)
      expect(ok).toHaveLength(1)
      for (const r of responses.filter((r) => r.status !== 200)) expect(r).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
      const winner = ok[0]?.body?.['access_token'] as string
      await expect(server.authenticateBearerToken({ headers: { authorization: `Bearer ${winner}` } })).resolves.toMatchObject({ userId: ALICE.id })
      // The losers' tokens, when they saved any, are revoked; the winner's are not.
      const active = store.snapshot().tokens.filter((t) => t.revokedAt === null)
      expect(active.map((t) => t.type).sort()).toEqual(['access_token', 'refresh_token'])
      expect(active.map((t) => t.tokenHash)).toContain(hashToken(winner))
    })

    it('leaves the code usable when saving the tokens fails, and issues them on the next poll', async () => {
      let fail = true
      const { body, poll, clock, errors } = await approved({
        wrap: (store) => ({
          ...store,
          saveTokens: async (records) => {
            if (fail) throw new Error('database unavailable')
            return store.saveTokens(records)
          },
        }),
      })
      const failed = await poll(body.device_code)
      expect(failed).toMatchObject({ status: 500, body: { error: 'server_error' } })
      expect(errors).toEqual([new Error('database unavailable')])
      fail = false
      clock.advance(5)
      expect((await poll(body.device_code)).status).toBe(200)
    })

    it('revokes the tokens it saved when another poll redeemed the code first', async () => {
      const { body, poll, store } = await approved({
        wrap: (store) => ({
          ...store,
          // Another poll redeems the code between this poll's save and its redemption.
          redeemDeviceCode: async (hash, now) => {
            await store.redeemDeviceCode(hash, now)
            return store.redeemDeviceCode(hash, now)
          },
        }),
      })
      const response = await poll(body.device_code)
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
      const tokens = store.snapshot().tokens
      expect(tokens).toHaveLength(2)
      for (const t of tokens) expect(t.revokedAt).toEqual(new Date(T0))
    })
  })

  describe('once the user denied (RFC 8628 §3.5 access_denied)', () => {
    it('answers 400 access_denied, and keeps answering it', async () => {
      const { start, verification, poll, clock } = await setup()
      const body = await start()
      expect(await verification.deny(body.user_code, KEY)).toEqual({ ok: true })
      for (let i = 0; i < 2; i++) {
        const response = await poll(body.device_code)
        expect(response.status).toBe(400)
        expect(response.body).toMatchObject({ error: 'access_denied' })
        clock.advance(5)
      }
    })

    it('answers access_denied even to a poll that comes too fast', async () => {
      const { start, verification, poll } = await setup()
      const body = await start()
      await poll(body.device_code)
      await verification.deny(body.user_code, KEY)
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'access_denied' })
    })

    it('issues no token', async () => {
      const { start, verification, poll, store } = await setup()
      const body = await start()
      await verification.deny(body.user_code, KEY)
      await poll(body.device_code)
      expect(store.snapshot().tokens).toEqual([])
    })
  })

  describe('once the code expired (RFC 8628 §3.5 expired_token)', () => {
    it.each([
      ['pending', async () => undefined],
      ['approved but not redeemed', 'approve'],
      ['denied', 'deny'],
    ] as const)('answers expired_token to a poll after expires_in when it was %s', async (_case, decision) => {
      const { start, verification, poll, clock } = await setup()
      const body = await start()
      if (decision === 'approve') await verification.approve(body.user_code, ALICE, KEY)
      if (decision === 'deny') await verification.deny(body.user_code, KEY)
      clock.advance(600)
      const response = await poll(body.device_code)
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'expired_token' })
    })

    it('answers authorization_pending one second before expires_in', async () => {
      const { start, poll, clock } = await setup()
      const body = await start()
      clock.advance(599)
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'authorization_pending' })
    })

    it('still answers expired_token after the store purged the code', async () => {
      const { start, poll, clock, store } = await setup()
      const body = await start()
      clock.advance(601)
      expect(await store.purgeExpired(new Date(clock.now()))).toBeGreaterThanOrEqual(1)
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'expired_token' })
    })

    it('answers expired_token when a store returns an expired record (the grant checks expiry too)', async () => {
      const { start, poll, clock } = await setup({
        wrap: (store) => ({ ...store, pollDeviceCode: (hash) => store.pollDeviceCode(hash, new Date(T0)) }),
      })
      const body = await start()
      clock.advance(700)
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'expired_token' })
    })
  })

  describe('refusals (RFC 8628 §3.4, RFC 6749 §5.2)', () => {
    const device = (code: string, more = '') => `grant_type=${encodeURIComponent(GT)}&device_code=${encodeURIComponent(code)}${more}`

    it.each([
      ['device_code is missing', (_code: string) => `grant_type=${encodeURIComponent(GT)}&client_id=tv-app`, {}, 400, 'invalid_request'],
      ['device_code is repeated', (code: string) => device(code, `&device_code=${code}&client_id=tv-app`), {}, 400, 'invalid_request'],
      ['the device code is unknown', (_code: string) => device('not-a-device-code', '&client_id=tv-app'), {}, 400, 'invalid_grant'],
      ['the device code is unknown but looks like one of ours, unexpired', (code: string) => device(`${'A'.repeat(43)}.${code.split('.')[1] as string}`, '&client_id=tv-app'), {}, 400, 'invalid_grant'],
      ['the device code was issued to another client', (code: string) => device(code, '&client_id=other-tv'), {}, 400, 'invalid_grant'],
      ['the device code of a public client is polled by a confidential one', (code: string) => device(code), CLI_AUTH, 400, 'invalid_grant'],
      ['the client does not authenticate', (code: string) => device(code), {}, 401, 'invalid_client'],
      ['the client is unknown', (code: string) => device(code, '&client_id=nobody'), {}, 401, 'invalid_client'],
      ['the secret is wrong', (code: string) => device(code), { authorization: basic('cli', 'wrong') }, 401, 'invalid_client'],
      ['the client is not registered for the device grant', (code: string) => device(code, '&client_id=spa'), {}, 400, 'unauthorized_client'],
      ['a NUL is percent-encoded in device_code', (code: string) => device(code, '%00&client_id=tv-app'), {}, 400, 'invalid_request'],
    ])('should fail because %s', async (_case, body, headers, status, error) => {
      const { start, token, verification, store } = await setup()
      const started = await start()
      await verification.approve(started.user_code, ALICE, KEY)
      const response = await token(body(started.device_code), headers).catch((e: unknown) => ({ status: (e as OAuthError).status, headers: { 'cache-control': 'no-store' }, body: (e as OAuthError).toJSON() }))
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(response.headers['cache-control']).toBe('no-store')
      expect(store.snapshot().tokens).toEqual([])
    })

    it('refuses a NUL in a parsed parameter with invalid_request before the store sees it', async () => {
      const { start, token } = await setup()
      const started = await start()
      const response = await token(new URLSearchParams({ grant_type: GT, device_code: `${started.device_code}\u0000`, client_id: 'tv-app' }))
      expect(response).toMatchObject({ status: 400, body: { error: 'invalid_request' } })
    })

    it('leaves the code to its client after another client polled it', async () => {
      const { start, verification, poll, clock } = await setup()
      const body = await start()
      await verification.approve(body.user_code, ALICE, KEY)
      expect((await poll(body.device_code, CLIENTS.otherTv.clientId)).body).toMatchObject({ error: 'invalid_grant' })
      clock.advance(5)
      expect((await poll(body.device_code)).status).toBe(200)
    })
  })

  describe('with extensions', () => {
    it('runs afterValidateTokenRequest for an approved code only, and beforeTokenResponse', async () => {
      const seen: string[] = []
      const extension: GrantExtension = {
        afterValidateTokenRequest: ({ client, grant }) => void seen.push(`${client.clientId} ${(grant as DeviceCodeGrant).deviceCode?.status} by ${(grant as DeviceCodeGrant).user?.id}`),
        beforeTokenResponse: ({ body }) => {
          body['device'] = 'yes'
        },
      }
      const { start, verification, poll, clock } = await setup({ extensions: [extension] })
      const body = await start()
      await poll(body.device_code)
      expect(seen).toEqual([])
      await verification.approve(body.user_code, ALICE, KEY)
      clock.advance(5)
      expect((await poll(body.device_code)).body).toMatchObject({ device: 'yes' })
      expect(seen).toEqual([`tv-app approved by ${ALICE.id}`])
    })

    it('lets an afterValidateTokenRequest hook refuse before any token is issued, the code staying approved', async () => {
      let refuse = true
      const extension: GrantExtension = {
        afterValidateTokenRequest: () => {
          if (refuse) throw new OAuthError('invalid_request', 'refused by policy')
        },
      }
      const { body, poll, store, clock } = await approved({ extensions: [extension] })
      expect((await poll(body.device_code)).body).toMatchObject({ error: 'invalid_request', error_description: 'refused by policy' })
      expect(store.snapshot().tokens).toEqual([])
      refuse = false
      clock.advance(5)
      expect((await poll(body.device_code)).status).toBe(200)
    })
  })

  describe('configuration (checked at registerGrant)', () => {
    it.each([
      ['DEVICE_CODE_LIFETIME above 1800', { DEVICE_CODE_LIFETIME: 1801 }],
      ['DEVICE_CODE_LIFETIME of 0', { DEVICE_CODE_LIFETIME: 0 }],
      ['DEVICE_CODE_LIFETIME not an integer', { DEVICE_CODE_LIFETIME: 60.5 }],
      ['INTERVAL of 0', { INTERVAL: 0 }],
      ['INTERVAL as a string', { INTERVAL: '5' }],
      ['USER_CODE_LENGTH of 3', { USER_CODE_LENGTH: 3 }],
      ['USER_CODE_CHARSET in lower case', { USER_CODE_CHARSET: 'bcdfghjklm' }],
      ['USER_CODE_CHARSET with a repeated character', { USER_CODE_CHARSET: 'BCDFGHJKLMB' }],
      ['USER_CODE_CHARSET with a dash', { USER_CODE_CHARSET: 'BCDFGHJKLM-' }],
      ['user codes under 20 bits (6 digits, RFC 8628 §5.1)', { USER_CODE_LENGTH: 6, USER_CODE_CHARSET: '0123456789' }],
      ['VERIFICATION_URI relative without a slash', { VERIFICATION_URI: 'device' }],
      ['VERIFICATION_URI with a fragment', { VERIFICATION_URI: 'https://example.com/device#x' }],
      ['VERIFICATION_URI not http(s)', { VERIFICATION_URI: 'javascript:alert(1)' }],
      ['VERIFICATION_URI protocol-relative', { VERIFICATION_URI: '//evil.example/device' }],
      ['GRANT_TYPE empty', { GRANT_TYPE: '' }],
    ])('refuses %s with a TypeError (ERR_GRANTKIT_CONFIG)', (_case, statics) => {
      const Grant = class extends DeviceCodeGrant {}
      Object.assign(Grant, statics)
      const server = new AuthorizationServer({ issuer: ISSUER, store: memoryStore() })
      expect(() => server.registerGrant(Grant)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG' }))
    })

    it.each([
      ['the defaults', {}],
      ['9 digits (29.9 bits)', { USER_CODE_LENGTH: 9, USER_CODE_CHARSET: '0123456789' }],
      ['a 30-minute lifetime and a 60-second interval', { DEVICE_CODE_LIFETIME: 1800, INTERVAL: 60 }],
      ['an absolute verification page', { VERIFICATION_URI: 'http://localhost:3000/activate' }],
    ])('accepts %s', (_case, statics) => {
      const Grant = class extends DeviceCodeGrant {}
      Object.assign(Grant, statics)
      const server = new AuthorizationServer({ issuer: ISSUER, store: memoryStore() })
      expect(() => server.registerGrant(Grant)).not.toThrow()
    })

    it('needs a store with device codes (ERR_GRANTKIT_STORE_CAPABILITY)', () => {
      const { findClient, saveTokens, findToken, revokeToken, revokeTokenFamily } = memoryStore()
      const server = new AuthorizationServer({ issuer: ISSUER, store: { findClient, saveTokens, findToken, revokeToken, revokeTokenFamily } })
      expect(() => server.registerGrant(DeviceCodeGrant)).toThrow(expect.objectContaining({ code: 'ERR_GRANTKIT_STORE_CAPABILITY' }))
    })

    it('can be registered without the endpoint: the grant type is served, no device_authorization_endpoint', async () => {
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      server.registerGrant(DeviceCodeGrant)
      const metadata = server.metadata()
      expect(metadata['grant_types_supported']).toEqual([GT])
      expect(metadata).not.toHaveProperty('device_authorization_endpoint')
      expect(server.hasGrantType(GT)).toBe(true)
      expect(new DeviceAuthorizationEndpoint(server).metadata()).toEqual({ device_authorization_endpoint: `${ISSUER}/device_authorization` })
    })
  })
})

describe('DeviceCodeGrant on the SQLite store (a real store, not only memory)', () => {
  it('writes the device authorization to the SQLite file, hashed, and marks it redeemed there', async () => {
    const { start, verification, poll, store } = await setupDevice(openTempSqliteStore as OpenDeviceStore)
    const body = await start()
    await verification.approve(body.user_code, ALICE, KEY)
    expect((await poll(body.device_code)).status).toBe(200)
    const rows = readSqliteRows(store, 'grantkit_device_codes')
    expect(rows).toEqual([
      expect.objectContaining({
        device_code_hash: hashToken(body.device_code),
        user_code_hash: hashToken(body.user_code.replace('-', '')),
        client_id: CLIENTS.tv.clientId,
        status: 'redeemed',
        user_id: ALICE.id,
      }),
    ])
    expect(JSON.stringify(rows)).not.toContain(body.device_code)
  })
})
