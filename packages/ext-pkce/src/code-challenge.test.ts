import {
  AuthorizationServer,
  BaseGrant,
  createClient,
  createOAuthRequest,
  hashToken,
  type AuthorizationCodeRecord,
  type AuthorizationRequest,
  type Client,
  type ClientInput,
  type GrantClass,
  type GrantUser,
  type OAuthResponse,
} from '@grantkit/core'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { describe, expect, it } from 'vitest'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type OpenTestStore, type TestStore } from '../../../test-support/stores.js'
import { CodeChallenge, createS256CodeChallenge, type CodeChallengeOptions } from './code-challenge.js'

const ISSUER = 'https://auth.example.com'
const REDIRECT = 'https://client.example.com/cb'
const T0 = Date.UTC(2026, 0, 1)
const ALICE: GrantUser = { id: 'user-alice' }

// RFC 7636 Appendix B test vector.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
const PLAIN = 'a'.repeat(43)
// A plain verifier that cannot appear in a store by chance.
const PLAIN_VERIFIER = 'plain-Verifier_kept.by~the-client-4f1c9e27b80d'

const CLIENTS: Record<string, ClientInput> = {
  web: { clientId: 'web', clientSecret: 'web-secret', redirectUris: [REDIRECT], scope: 'read' },
  spa: { clientId: 'spa', redirectUris: [REDIRECT], scope: 'read', tokenEndpointAuthMethod: 'none' },
}

async function setupOn(
  openStore: OpenTestStore,
  options: CodeChallengeOptions = {},
  grantClass: GrantClass = AuthorizationCodeGrant,
): Promise<{ server: AuthorizationServer; store: TestStore }> {
  const store = await openStore()
  const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => T0, onError: () => {} })
  server.registerGrant(grantClass, [new CodeChallenge(options)])
  for (const input of Object.values(CLIENTS)) {
    const { client } = await createClient({ ...input, secretHash: 'sha256' })
    await store.saveClient(client)
  }
  return { server, store }
}

function authorize(server: AuthorizationServer, params: Record<string, string> | string): Promise<OAuthResponse> {
  const query = typeof params === 'string' ? params : new URLSearchParams({ response_type: 'code', client_id: 'spa', state: 'st', ...params }).toString()
  return server.createAuthorizationResponse(createOAuthRequest({ method: 'GET', url: `/authorize?${query}` }), ALICE)
}

function redirectParams(response: OAuthResponse): Record<string, string> {
  expect(response.status).toBe(302)
  return Object.fromEntries(new URL(response.headers['location'] as string).searchParams)
}

async function issueCode(server: AuthorizationServer, params: Record<string, string>): Promise<string> {
  const result = redirectParams(await authorize(server, params))
  if (result['code'] === undefined) throw new Error(`no code: ${JSON.stringify(result)}`)
  return result['code']
}

function token(server: AuthorizationServer, body: Record<string, string> | string, clientId = 'spa'): Promise<OAuthResponse> {
  const headers: Record<string, string> = clientId === 'web' ? { authorization: `Basic ${btoa('web:web-secret')}` } : {}
  const text = typeof body === 'string' ? body : new URLSearchParams({ grant_type: 'authorization_code', ...(clientId === 'web' ? {} : { client_id: clientId }), ...body }).toString()
  return server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body: text }))
}

describe.each(TEST_STORES)('CodeChallenge on the %s', (_storeName, openStore) => {
  const setup = (options?: CodeChallengeOptions, grantClass?: GrantClass) => setupOn(openStore, options, grantClass)

  describe('options (checked in the constructor)', () => {
    it('defaults to optional, S256 only (plain is opt-in, RFC 9700 §2.1.1), required for public clients', () => {
      const pkce = new CodeChallenge()
      expect(pkce).toMatchObject({ required: false, allowPlain: false, methods: ['S256'], requirePublicClients: true, allowPlainForPublicClients: false })
      expect(new CodeChallenge({ allowPlain: true })).toMatchObject({ allowPlain: true, methods: ['S256', 'plain'] })
    })

    it.each([
      ['options are not an object', null],
      ['"required" is not a boolean', { required: 'yes' }],
      ['"requirePublicClients" is not a boolean', { requirePublicClients: 1 }],
      ['"allowPlainForPublicClients" is not a boolean', { allowPlainForPublicClients: 'no' }],
      ['"allowPlain" is not a boolean', { allowPlain: 'yes' }],
      ['"methods" lists plain without allowPlain (RFC 9700 §2.1.1)', { methods: ['S256', 'plain'] }],
      ['"allowPlainForPublicClients" comes without allowPlain', { allowPlainForPublicClients: true }],
      ['"methods" is not an array', { methods: 'S256' }],
      ['"methods" is empty', { methods: [] }],
      ['"methods" has an unknown method', { methods: ['S256', 'S512'] }],
    ])('throws a TypeError when %s', (_, options) => {
      expect(() => new CodeChallenge(options as CodeChallengeOptions)).toThrow(TypeError)
    })
  })

  describe('registration', () => {
    it('accepts the authorization code grant', async () => {
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge()])).not.toThrow()
    })

    it.each([
      ['serves only the authorization endpoint', { AUTHORIZATION_ENDPOINT: true, TOKEN_ENDPOINT: false, RESPONSE_TYPES: ['token'], GRANT_TYPE: 'implicit' }],
      ['serves only the token endpoint', { AUTHORIZATION_ENDPOINT: false, TOKEN_ENDPOINT: true, RESPONSE_TYPES: [], GRANT_TYPE: 'client_credentials' }],
    ])('throws a TypeError for a grant that %s', async (_, statics) => {
      const grantClass = class extends BaseGrant {}
      Object.assign(grantClass, statics)
      const server = new AuthorizationServer({ issuer: ISSUER, store: await openStore() })
      expect(() => server.registerGrant(grantClass, [new CodeChallenge()])).toThrow(TypeError)
    })
  })

  describe('metadata (RFC 8414 §2)', () => {
    it.each([
      // The grant accepts public clients, which may not use plain: advertise only what every client may use.
      [{}, ['S256']],
      [{ allowPlain: true }, ['S256']],
      [{ allowPlain: true, allowPlainForPublicClients: true }, ['S256', 'plain']],
      [{ allowPlain: true, methods: ['S256'] as const }, ['S256']],
    ])('advertises code_challenge_methods_supported for %j', async (options, expected) => {
      const { server } = await setup(options as CodeChallengeOptions)
      expect(server.metadata()['code_challenge_methods_supported']).toEqual(expected)
    })
  })

  describe('S256 (RFC 7636 §4.2, Appendix B)', () => {
    it('computes the Appendix B challenge from the Appendix B verifier', () => {
      expect(createS256CodeChallenge(VERIFIER)).toBe(CHALLENGE)
    })

    it('redeems a code with the verifier of its S256 challenge', async () => {
      const { server, store } = await setup()
      const code = await issueCode(server, { code_challenge: CHALLENGE, code_challenge_method: 'S256' })
      expect(store.snapshot().codes[0]).toMatchObject({ codeChallenge: CHALLENGE, codeChallengeMethod: 'S256' })
      const response = await token(server, { code, code_verifier: VERIFIER })
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ token_type: 'Bearer', scope: 'read' })
    })
  })

  describe('plain (RFC 7636 §4.2), opt-in with allowPlain (RFC 9700 §2.1.1)', () => {
    it.each([
      ['plain', { client_id: 'web', code_challenge: PLAIN, code_challenge_method: 'plain' }],
      ['an absent method (plain by RFC 7636 §4.3)', { client_id: 'web', code_challenge: PLAIN }],
    ])('refuses %s from a confidential client with invalid_request by default, storing no code', async (_, params) => {
      const { server, store } = await setup()
      expect(redirectParams(await authorize(server, params))).toMatchObject({ error: 'invalid_request', state: 'st' })
      expect(store.snapshot().codes).toHaveLength(0)
    })

    it('redeems a confidential client\'s code whose challenge equals the verifier, with allowPlain: true', async () => {
      const { server } = await setup({ allowPlain: true })
      const code = await issueCode(server, { client_id: 'web', code_challenge: PLAIN, code_challenge_method: 'plain' })
      expect((await token(server, { code, code_verifier: PLAIN }, 'web')).status).toBe(200)
    })

    it('treats an absent code_challenge_method as plain (RFC 7636 §4.3), with allowPlain: true', async () => {
      const { server, store } = await setup({ allowPlain: true })
      const code = await issueCode(server, { client_id: 'web', code_challenge: PLAIN })
      expect(store.snapshot().codes[0]).toMatchObject({ codeChallenge: createS256CodeChallenge(PLAIN), codeChallengeMethod: 'plain' })
      expect((await token(server, { code, code_verifier: PLAIN }, 'web')).status).toBe(200)
    })

    it('stores a plain challenge as its SHA-256, so that no stored field holds the verifier, and still redeems it', async () => {
      const { server, store } = await setup({ allowPlain: true })
      const code = await issueCode(server, { client_id: 'web', code_challenge: PLAIN_VERIFIER, code_challenge_method: 'plain' })
      expect(store.snapshot().codes).toEqual([expect.objectContaining({ codeChallenge: createS256CodeChallenge(PLAIN_VERIFIER), codeChallengeMethod: 'plain' })])
      expect(JSON.stringify(store.snapshot())).not.toContain(PLAIN_VERIFIER)
      // The stored hash is no verifier: presenting it fails, and uses the code up.
      const other = await issueCode(server, { client_id: 'web', code_challenge: PLAIN_VERIFIER, code_challenge_method: 'plain' })
      expect((await token(server, { code: other, code_verifier: createS256CodeChallenge(PLAIN_VERIFIER) }, 'web')).body).toMatchObject({ error: 'invalid_grant' })
      expect((await token(server, { code, code_verifier: PLAIN_VERIFIER }, 'web')).status).toBe(200)
      expect(JSON.stringify(store.snapshot())).not.toContain(PLAIN_VERIFIER)
    })

    it.each([
      ['plain', { code_challenge: PLAIN, code_challenge_method: 'plain' }],
      ['an absent method (plain by RFC 7636 §4.3)', { code_challenge: PLAIN }],
    ])('refuses %s from a public client with invalid_request even with allowPlain: S256 only (RFC 9700 §2.1.1)', async (_, params) => {
      const { server } = await setup({ allowPlain: true })
      expect(redirectParams(await authorize(server, params))).toMatchObject({ error: 'invalid_request', state: 'st' })
    })

    it('lets a public client use plain with allowPlain and allowPlainForPublicClients', async () => {
      const { server } = await setup({ allowPlain: true, allowPlainForPublicClients: true })
      const code = await issueCode(server, { code_challenge: PLAIN, code_challenge_method: 'plain' })
      expect((await token(server, { code, code_verifier: PLAIN })).status).toBe(200)
    })

    it('rejects an absent method with invalid_request when plain is not enabled', async () => {
      const { server } = await setup({ allowPlain: true, methods: ['S256'] })
      expect(redirectParams(await authorize(server, { client_id: 'web', code_challenge: CHALLENGE }))).toMatchObject({ error: 'invalid_request', state: 'st' })
    })
  })

  describe('authorization request errors (RFC 7636 §4.4.1)', () => {
    it.each([
      ['the challenge is too short (42 characters)', {}, { code_challenge: 'a'.repeat(42), code_challenge_method: 'plain' }],
      ['the challenge is too long (129 characters)', {}, { code_challenge: 'a'.repeat(129), code_challenge_method: 'plain' }],
      ['the challenge has a character outside unreserved', {}, { code_challenge: `${'a'.repeat(42)}+`, code_challenge_method: 'plain' }],
      ['the method is unknown', {}, { code_challenge: CHALLENGE, code_challenge_method: 'S512' }],
      ['the method is not enabled', {}, { client_id: 'web', code_challenge: PLAIN, code_challenge_method: 'plain' }],
      ['a method comes without a challenge', { requirePublicClients: false }, { client_id: 'web', code_challenge_method: 'S256' }],
      ['a public client sends no challenge', {}, {}],
      ['a confidential client sends no challenge while required', { required: true }, { client_id: 'web' }],
    ] as const)('redirects invalid_request when %s', async (_, options, params) => {
      const { server, store } = await setup(options as CodeChallengeOptions)
      const result = redirectParams(await authorize(server, params))
      expect(result).toMatchObject({ error: 'invalid_request', state: 'st', iss: ISSUER })
      expect(result).not.toHaveProperty('code')
      expect(store.snapshot().codes).toHaveLength(0)
    })

    it.each([
      ['code_challenge', `code_challenge=${CHALLENGE}&code_challenge=${CHALLENGE}&code_challenge_method=S256`],
      ['code_challenge_method', `code_challenge=${CHALLENGE}&code_challenge_method=S256&code_challenge_method=S256`],
    ])('redirects invalid_request when %s is repeated (RFC 6749 §3.1)', async (_, pkce) => {
      const { server } = await setup()
      const result = redirectParams(await authorize(server, `response_type=code&client_id=spa&state=st&${pkce}`))
      expect(result).toMatchObject({ error: 'invalid_request', state: 'st' })
    })

    it('says "code challenge required" to a public client without one', async () => {
      const { server } = await setup()
      expect(redirectParams(await authorize(server, {}))['error_description']).toMatch(/code challenge required/)
    })

    it('lets a confidential client omit the challenge when not required', async () => {
      const { server } = await setup()
      const code = await issueCode(server, { client_id: 'web' })
      expect((await token(server, { code }, 'web')).status).toBe(200)
    })

    it('lets requirePublicClients: false relax RFC 9700 §2.1.1 in one place: the grant does not overrule the extension', async () => {
      const { server } = await setup({ requirePublicClients: false })
      const code = await issueCode(server, {})
      expect((await token(server, { code })).status).toBe(200)
    })

    it('requires PKCE from public clients by default whatever required says (required: false only frees confidential clients)', async () => {
      const { server } = await setup({ required: false })
      expect(redirectParams(await authorize(server, {}))).toMatchObject({ error: 'invalid_request' })
    })

    it('lets a public client omit the challenge when both the extension and the grant allow it', async () => {
      class LegacyGrant extends AuthorizationCodeGrant {
        static override REQUIRE_PKCE_FOR_PUBLIC_CLIENTS = false
      }
      const { server } = await setup({ requirePublicClients: false }, LegacyGrant)
      const code = await issueCode(server, {})
      expect((await token(server, { code })).status).toBe(200)
    })
  })

  describe('token request errors (RFC 7636 §4.6, RFC 9700 §4.8.2)', () => {
    it.each([
      ['code_verifier is missing', { code_challenge: CHALLENGE, code_challenge_method: 'S256' }, {}],
      ['code_verifier does not match the S256 challenge', { code_challenge: CHALLENGE, code_challenge_method: 'S256' }, { code_verifier: `${VERIFIER.slice(0, -1)}l` }],
      ['the plain challenge is sent as the verifier of an S256 challenge', { code_challenge: CHALLENGE, code_challenge_method: 'S256' }, { code_verifier: CHALLENGE }],
      ['code_verifier does not match the plain challenge', { code_challenge: PLAIN, code_challenge_method: 'plain' }, { code_verifier: 'b'.repeat(43) }],
      ['code_verifier is too short (42 characters)', { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, { code_verifier: 'a'.repeat(42) }],
      ['code_verifier is too long (129 characters)', { code_challenge: 'a'.repeat(128), code_challenge_method: 'plain' }, { code_verifier: 'a'.repeat(129) }],
      ['code_verifier has a character outside unreserved', { code_challenge: PLAIN, code_challenge_method: 'plain' }, { code_verifier: `${'a'.repeat(42)}=` }],
    ] as const)('fails with invalid_grant when %s', async (_, challenge, verifier) => {
      const { server } = await setup({ allowPlain: true, allowPlainForPublicClients: true })
      const code = await issueCode(server, challenge)
      const response = await token(server, { code, ...verifier })
      expect(response.status).toBe(400)
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })

    it('fails with invalid_grant when a code_verifier comes for a code issued without a challenge (PKCE downgrade)', async () => {
      const { server } = await setup()
      const code = await issueCode(server, { client_id: 'web' })
      const response = await token(server, { code, code_verifier: VERIFIER }, 'web')
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })

    it('fails with invalid_request when code_verifier is repeated (RFC 6749 §3.2)', async () => {
      const { server } = await setup()
      const code = await issueCode(server, { code_challenge: CHALLENGE, code_challenge_method: 'S256' })
      const response = await token(server, `grant_type=authorization_code&client_id=spa&code=${code}&code_verifier=${VERIFIER}&code_verifier=${VERIFIER}`)
      expect(response.body).toMatchObject({ error: 'invalid_request' })
    })

    it.each([
      ['the client is unknown', { authorization: `Basic ${btoa('nobody:x')}` }],
      ['the secret is wrong (Basic)', { authorization: `Basic ${btoa('web:wrong')}` }],
    ])('authenticates the client before PKCE: 401 invalid_client when %s, and the code stays usable', async (_, headers) => {
      const { server } = await setup()
      const code = await issueCode(server, { client_id: 'web', code_challenge: CHALLENGE, code_challenge_method: 'S256' })
      const body = new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: VERIFIER }).toString()
      const failed = await server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))
      expect(failed.status).toBe(401)
      expect(failed.headers['www-authenticate']).toMatch(/^Basic /)
      expect(failed.body).toMatchObject({ error: 'invalid_client' })
      expect((await token(server, { code, code_verifier: VERIFIER }, 'web')).status).toBe(200)
    })

    it('issues no token after a wrong verifier, and the code cannot be retried', async () => {
      const { server, store } = await setup()
      const code = await issueCode(server, { code_challenge: CHALLENGE, code_challenge_method: 'S256' })
      await token(server, { code, code_verifier: 'x'.repeat(43) })
      expect(store.snapshot().tokens).toHaveLength(0)
      expect((await token(server, { code, code_verifier: VERIFIER })).body).toMatchObject({ error: 'invalid_grant' })
    })
  })

  describe('reference example: register_grant(AuthorizationCodeGrant, [CodeChallenge(required=False)])', () => {
    it('serves confidential clients without PKCE and public clients with it', async () => {
      const store = await openStore()
      const server = new AuthorizationServer({ issuer: ISSUER, store, clock: () => T0 })
      server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge({ required: false })])
      for (const input of Object.values(CLIENTS)) await store.saveClient((await createClient({ ...input, secretHash: 'sha256' })).client)

      const webCode = await issueCode(server, { client_id: 'web' })
      expect((await token(server, { code: webCode }, 'web')).status).toBe(200)
      const spaCode = await issueCode(server, { code_challenge: CHALLENGE, code_challenge_method: 'S256' })
      expect((await token(server, { code: spaCode, code_verifier: VERIFIER })).status).toBe(200)
    })

    it('verifies PKCE for a subclass that keeps codes in its own storage', async () => {
      const codes = new Map<string, AuthorizationCodeRecord>()
      class AppAuthorizationCodeGrant extends AuthorizationCodeGrant {
        override async createAuthorizationCode(client: Client, user: GrantUser, authorization: AuthorizationRequest): Promise<string> {
          const code = `app-${codes.size}-${'x'.repeat(40)}`
          const createdAt = this.now()
          codes.set(code, {
            codeHash: hashToken(code),
            clientId: client.clientId,
            userId: user.id,
            redirectUri: authorization.redirectUriProvided ? authorization.redirectUri : null,
            scope: authorization.scopes.join(' '),
            familyId: this.server.newId(),
            codeChallenge: authorization.codeChallenge ?? null,
            codeChallengeMethod: authorization.codeChallengeMethod ?? null,
            createdAt,
            expiresAt: new Date(createdAt.getTime() + 60_000),
            consumedAt: null,
          })
          return code
        }

        override async parseAuthorizationCode(code: string, client: Client): Promise<AuthorizationCodeRecord | null> {
          const item = codes.get(code)
          return item !== undefined && item.clientId === client.clientId && item.expiresAt > this.now() ? item : null
        }

        override async deleteAuthorizationCode(authorizationCode: AuthorizationCodeRecord): Promise<void> {
          for (const [code, item] of codes) if (item.codeHash === authorizationCode.codeHash) codes.delete(code)
        }
      }
      const { server } = await setup({ required: false }, AppAuthorizationCodeGrant)
      const code = await issueCode(server, { code_challenge: CHALLENGE, code_challenge_method: 'S256' })
      expect((await token(server, { code, code_verifier: 'y'.repeat(43) })).body).toMatchObject({ error: 'invalid_grant' })
      expect((await token(server, { code, code_verifier: VERIFIER })).status).toBe(200)
      expect(codes.size).toBe(0)
    })
  })
})

describe('CodeChallenge on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('writes the code with its challenge to the SQLite file, and marks it consumed once verified', async () => {
    const { server, store } = await setupOn(openTempSqliteStore)
    const code = await issueCode(server, { code_challenge: CHALLENGE, code_challenge_method: 'S256' })
    expect(readSqliteRows(store, 'grantkit_authorization_codes')).toEqual([
      expect.objectContaining({ code_hash: hashToken(code), client_id: 'spa', code_challenge: CHALLENGE, code_challenge_method: 'S256', consumed_at: null }),
    ])
    expect((await token(server, { code, code_verifier: VERIFIER })).status).toBe(200)
    expect(readSqliteRows(store, 'grantkit_authorization_codes')).toEqual([expect.objectContaining({ consumed_at: T0 })])
  })
  it('writes a plain challenge to the SQLite file as its SHA-256: no column of any table holds the verifier (issue 17, finding 10)', async () => {
    const { server, store } = await setupOn(openTempSqliteStore, { allowPlain: true })
    const code = await issueCode(server, { client_id: 'web', code_challenge: PLAIN_VERIFIER, code_challenge_method: 'plain' })
    expect(readSqliteRows(store, 'grantkit_authorization_codes')).toEqual([
      expect.objectContaining({ code_challenge: createS256CodeChallenge(PLAIN_VERIFIER), code_challenge_method: 'plain' }),
    ])
    expect((await token(server, { code, code_verifier: PLAIN_VERIFIER }, 'web')).status).toBe(200)
    for (const table of ['grantkit_authorization_codes', 'grantkit_tokens', 'grantkit_clients', 'grantkit_replay_keys']) {
      expect(JSON.stringify(readSqliteRows(store, table))).not.toContain(PLAIN_VERIFIER)
    }
  })
})
