import { beforeEach, describe, expect, it, vi } from 'vitest'
import { invalidClient } from './errors.js'
import { BaseGrant } from './grant.js'
import { basic, saveClient, setup, TestTokenGrant } from './internal/test-fixtures.js'
import { createOAuthRequest, getHeader, type RequestHeaders } from './request.js'
import { claimedClientId, parseBasicCredentials, type ClientAuthMethod } from './client-auth.js'
import * as secrets from './secrets.js'

// Watch verifySecret (the real one runs) to see which hash each failure verifies against.
vi.mock('./secrets.js', async (importOriginal) => {
  const actual = await importOriginal<typeof secrets>()
  return { ...actual, verifySecret: vi.fn(actual.verifySecret) }
})

const GRANT = 'grant_type=urn%3Atest%3Atoken'

function tokenRequest(headers: RequestHeaders, body = GRANT) {
  return createOAuthRequest({ method: 'POST', url: '/token', headers, body })
}

async function world() {
  const s = setup()
  s.server.registerGrant(TestTokenGrant)
  const basicClient = await saveClient(s.store, { grantTypes: ['urn:test:token'], scope: 'read' })
  const postClient = await saveClient(s.store, { grantTypes: ['urn:test:token'], tokenEndpointAuthMethod: 'client_secret_post' })
  const publicClient = await saveClient(s.store, { grantTypes: ['urn:test:token'], tokenEndpointAuthMethod: 'none' })
  return { ...s, basicClient, postClient, publicClient }
}

describe('client authentication (RFC 6749 §2.3)', () => {
  describe('client_secret_basic (RFC 6749 §2.3.1)', () => {
    it('authenticates a client with the right id and secret', async () => {
      const { server, basicClient } = await world()
      const res = await server.createTokenResponse(tokenRequest({ authorization: basic(basicClient.clientId, basicClient.clientSecret) }))
      expect(res.status).toBe(200)
      expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'read' })
    })

    it('accepts the scheme name in any case', async () => {
      const { server, basicClient } = await world()
      const header = basic(basicClient.clientId, basicClient.clientSecret).replace('Basic', 'bASIC')
      expect((await server.createTokenResponse(tokenRequest({ authorization: header }))).status).toBe(200)
    })

    it.each([
      ['a colon', 'pa:ss:word'],
      ['a plus sign', 'a+b+c'],
      ['a percent sign', '100%%25'],
      ['spaces', 'with some spaces '],
      ['non-ASCII characters', 'pässwörd-密码-🔑'],
      ['an ampersand and an equals sign', 'a&b=c'],
    ])('round-trips a secret containing %s, form-urlencoded before Base64', async (_, secret) => {
      const { server, store } = await world()
      const client = await saveClient(store, { clientId: 'id with:colon+plus', clientSecret: secret, grantTypes: ['urn:test:token'] })
      const res = await server.createTokenResponse(tokenRequest({ authorization: basic(client.clientId, secret) }))
      expect(res.status).toBe(200)
    })

    it('decodes "+" as a space in the form-encoded credentials', () => {
      const header = 'Basic ' + Buffer.from('my+client:s%2Bcret+x').toString('base64')
      expect(parseBasicCredentials(header)).toEqual({ clientId: 'my client', clientSecret: 's+cret x' })
    })

    it('returns null for a header that is not Basic', () => {
      expect(parseBasicCredentials(undefined)).toBeNull()
      expect(parseBasicCredentials('Bearer abc')).toBeNull()
    })

    it.each([
      ['a wrong secret', (id: string) => basic(id, 'wrong')],
      ['an unknown client', () => basic('no-such-client', 'secret')],
      ['an empty secret', (id: string) => basic(id, '')],
    ])('rejects %s with 401 invalid_client and a WWW-Authenticate challenge', async (_, header) => {
      const { server, basicClient } = await world()
      const res = await server.createTokenResponse(tokenRequest({ authorization: header(basicClient.clientId) }))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm="/)
      expect(res.headers['cache-control']).toBe('no-store')
    })

    it.each([
      ['no credentials after the scheme', 'Basic '],
      ['characters outside Base64', 'Basic !!!not-base64!!!'],
      ['no colon in the decoded value', 'Basic ' + Buffer.from('just-an-id').toString('base64')],
      ['a malformed percent-escape', 'Basic ' + Buffer.from('id:%zz').toString('base64')],
      ['invalid UTF-8 in a percent-escape', 'Basic ' + Buffer.from('id:%E0%A4%A').toString('base64')],
    ])('rejects a malformed Basic header (%s) with 401 invalid_client', async (_, authorization) => {
      const { server } = await world()
      const res = await server.createTokenResponse(tokenRequest({ authorization }))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
      expect(res.headers['www-authenticate']).toBeDefined()
    })

    it('rejects a body client_id that differs from the authenticated one with invalid_request', async () => {
      const { server, basicClient } = await world()
      const res = await server.createTokenResponse(
        tokenRequest({ authorization: basic(basicClient.clientId, basicClient.clientSecret) }, `${GRANT}&client_id=someone-else`),
      )
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ error: 'invalid_request' })
    })
  })

  describe('client_secret_post (RFC 6749 §2.3.1)', () => {
    it('authenticates with client_id and client_secret in the body', async () => {
      const { server, postClient } = await world()
      const body = `${GRANT}&client_id=${encodeURIComponent(postClient.clientId)}&client_secret=${encodeURIComponent(postClient.clientSecret)}`
      expect((await server.createTokenResponse(tokenRequest({}, body))).status).toBe(200)
    })

    it.each([
      ['a wrong secret', (id: string) => `client_id=${encodeURIComponent(id)}&client_secret=wrong`],
      ['an unknown client', () => 'client_id=nobody&client_secret=x'],
      ['a secret without client_id', () => 'client_secret=x'],
    ])('rejects %s with 401 invalid_client', async (_, params) => {
      const { server, postClient } = await world()
      const res = await server.createTokenResponse(tokenRequest({}, `${GRANT}&${params(postClient.clientId)}`))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
      expect(res.headers['www-authenticate']).toBeDefined()
    })
  })

  describe('none, for public clients (RFC 6749 §2.1, §3.2.1)', () => {
    it('identifies a public client by client_id alone', async () => {
      const { server, publicClient } = await world()
      const res = await server.createTokenResponse(tokenRequest({}, `${GRANT}&client_id=${encodeURIComponent(publicClient.clientId)}`))
      expect(res.status).toBe(200)
    })

    it('rejects a confidential client presenting no secret with invalid_client', async () => {
      const { server, basicClient } = await world()
      const res = await server.createTokenResponse(tokenRequest({}, `${GRANT}&client_id=${encodeURIComponent(basicClient.clientId)}`))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
    })

    it('rejects a request without any client identification with invalid_client', async () => {
      const { server } = await world()
      const res = await server.createTokenResponse(tokenRequest({}))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
    })
  })

  describe('one method per request and the registered method only (RFC 6749 §2.3)', () => {
    it('rejects Basic credentials plus client_secret in the body with invalid_request', async () => {
      const { server, basicClient } = await world()
      const res = await server.createTokenResponse(
        tokenRequest(
          { authorization: basic(basicClient.clientId, basicClient.clientSecret) },
          `${GRANT}&client_id=${encodeURIComponent(basicClient.clientId)}&client_secret=${encodeURIComponent(basicClient.clientSecret)}`,
        ),
      )
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ error: 'invalid_request' })
    })

    it('rejects a method the client is not registered for with invalid_client', async () => {
      const { server, basicClient } = await world()
      const body = `${GRANT}&client_id=${encodeURIComponent(basicClient.clientId)}&client_secret=${encodeURIComponent(basicClient.clientSecret)}`
      const res = await server.createTokenResponse(tokenRequest({}, body))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
    })

    it('rejects a method the grant does not allow with invalid_client', async () => {
      class BasicOnlyGrant extends TestTokenGrant {
        static override GRANT_TYPE = 'urn:test:basic-only'
        static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic']
      }
      const { server, store } = await world()
      server.registerGrant(BasicOnlyGrant)
      const client = await saveClient(store, { grantTypes: ['urn:test:basic-only'], tokenEndpointAuthMethod: 'client_secret_post' })
      const body = `grant_type=urn%3Atest%3Abasic-only&client_id=${encodeURIComponent(client.clientId)}&client_secret=${encodeURIComponent(client.clientSecret)}`
      const res = await server.createTokenResponse(tokenRequest({}, body))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
    })

    it('rejects a client not allowed the grant type with unauthorized_client (RFC 6749 §5.2)', async () => {
      const { server, store } = await world()
      const client = await saveClient(store, { grantTypes: ['authorization_code'] })
      const res = await server.createTokenResponse(tokenRequest({ authorization: basic(client.clientId, client.clientSecret) }))
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ error: 'unauthorized_client' })
    })
  })

  describe('registerClientAuthMethod', () => {
    // A fake header-based method, e.g. what a gateway in front of the server would add.
    const headerKey: ClientAuthMethod = {
      matches: (request) => getHeader(request.headers, 'x-client-key') !== undefined,
      async authenticate(request, context) {
        const [clientId, key] = (getHeader(request.headers, 'x-client-key') ?? '').split('.')
        const client = clientId === undefined ? null : await context.store.findClient(clientId)
        if (client === null || client.metadata?.['key'] !== key) throw invalidClient('bad client key')
        return client
      },
    }

    class HeaderKeyGrant extends TestTokenGrant {
      static override GRANT_TYPE = 'urn:test:header-key'
      static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['x_client_key']
    }

    async function headerWorld() {
      const s = setup()
      s.server.registerClientAuthMethod('x_client_key', headerKey)
      s.server.registerGrant(HeaderKeyGrant)
      s.server.registerGrant(TestTokenGrant)
      const client = await saveClient(s.store, {
        clientId: 'gateway-client',
        tokenEndpointAuthMethod: 'x_client_key',
        grantTypes: ['urn:test:header-key', 'urn:test:token'],
        metadata: { key: 'k1' },
      })
      return { ...s, client }
    }

    it('adds a custom method that a grant listing it accepts', async () => {
      const { server } = await headerWorld()
      const res = await server.createTokenResponse(tokenRequest({ 'x-client-key': 'gateway-client.k1' }, 'grant_type=urn%3Atest%3Aheader-key'))
      expect(res.status).toBe(200)
      expect(server.clientAuthMethodNames()).toContain('x_client_key')
    })

    it('lets the custom method reject with invalid_client: 400 without a challenge, as no HTTP scheme is offered (RFC 6749 §5.2, RFC 9110 §15.5.2)', async () => {
      const { server } = await headerWorld()
      const res = await server.createTokenResponse(tokenRequest({ 'x-client-key': 'gateway-client.wrong' }, 'grant_type=urn%3Atest%3Aheader-key'))
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
      expect(res.headers).not.toHaveProperty('www-authenticate')
    })

    it('is refused by a grant that does not list it', async () => {
      const { server } = await headerWorld()
      const res = await server.createTokenResponse(tokenRequest({ 'x-client-key': 'gateway-client.k1' }))
      expect(res.status).toBe(401)
      expect(res.body).toMatchObject({ error: 'invalid_client' })
    })

    it.each([
      ['an empty name', '', headerKey],
      ['a method without authenticate()', 'm', { matches: () => true }],
      ['a function', 'm', () => true],
    ])('throws a TypeError for %s', (_, name, method) => {
      const { server } = setup()
      expect(() => server.registerClientAuthMethod(name, method as unknown as ClientAuthMethod)).toThrow(TypeError)
    })
  })

  it('is available to grants through authenticateTokenEndpointClient, which sets grant.client', async () => {
    let seen: string | undefined
    class SpyGrant extends BaseGrant {
      static override GRANT_TYPE = 'urn:test:spy'
      static override TOKEN_ENDPOINT = true
      override async validateTokenRequest() {
        await this.authenticateTokenEndpointClient()
        seen = this.client?.clientId
      }
      override async createTokenResponse() {
        return this.tokenResponse(await this.issueTokens({ client: this.client!, user: null, scopes: [], refreshToken: false }))
      }
    }
    const { server, store } = setup()
    server.registerGrant(SpyGrant)
    const client = await saveClient(store, { grantTypes: ['urn:test:spy'] })
    const res = await server.createTokenResponse(tokenRequest({ authorization: basic(client.clientId, client.clientSecret) }, 'grant_type=urn%3Atest%3Aspy'))
    expect(res.status).toBe(200)
    expect(seen).toBe(client.clientId)
  })
})

describe('the invalid_client answer matches what the client tried (RFC 6749 §5.2)', () => {
  class PostOnlyGrant extends TestTokenGrant {
    static override GRANT_TYPE = 'urn:test:post-only'
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_post', 'none']
  }

  async function challengeWorld() {
    const s = await world()
    s.server.registerGrant(PostOnlyGrant)
    const postOnly = await saveClient(s.store, { grantTypes: ['urn:test:post-only'], tokenEndpointAuthMethod: 'client_secret_post' })
    return { ...s, postOnly }
  }
  const POST_ONLY = 'grant_type=urn%3Atest%3Apost-only'
  const form = (id: string, secret?: string) => `&client_id=${encodeURIComponent(id)}${secret === undefined ? '' : `&client_secret=${encodeURIComponent(secret)}`}`

  type Case = [string, (w: Awaited<ReturnType<typeof challengeWorld>>) => { headers: RequestHeaders; body: string }, number, string | undefined]
  it.each<Case>([
    // "MUST respond with an HTTP 401 […] and include the WWW-Authenticate response header field matching the authentication scheme used by the client"
    ['client_secret_basic with a wrong secret: 401, Basic challenge', (w) => ({ headers: { authorization: basic(w.basicClient.clientId, 'wrong') }, body: GRANT }), 401, 'Basic realm="oauth"'],
    ['client_secret_basic for an unknown client: 401, Basic challenge', () => ({ headers: { authorization: basic('nobody', 'x') }, body: GRANT }), 401, 'Basic realm="oauth"'],
    ['malformed Basic credentials: 401, Basic challenge', () => ({ headers: { authorization: 'Basic !!!' }, body: GRANT }), 401, 'Basic realm="oauth"'],
    ['Basic where the grant allows only body methods: 401, Basic challenge (the scheme used)', (w) => ({ headers: { authorization: basic(w.postOnly.clientId, w.postOnly.clientSecret) }, body: POST_ONLY }), 401, 'Basic realm="oauth"'],
    // "MAY return an HTTP 401 (Unauthorized) status code to indicate which HTTP authentication schemes are supported"
    ['client_secret_post with a wrong secret where Basic is offered: 401 naming Basic', (w) => ({ headers: {}, body: GRANT + form(w.postClient.clientId, 'wrong') }), 401, 'Basic realm="oauth"'],
    ['no client authentication where Basic is offered: 401 naming Basic', () => ({ headers: {}, body: GRANT }), 401, 'Basic realm="oauth"'],
    // Otherwise the 400 of §5.2: a 401 without a challenge is not allowed (RFC 9110 §15.5.2).
    ['client_secret_post with a wrong secret where only body methods are offered: 400, no challenge', (w) => ({ headers: {}, body: POST_ONLY + form(w.postOnly.clientId, 'wrong') }), 400, undefined],
    ['none for a confidential client where only body methods are offered: 400, no challenge', (w) => ({ headers: {}, body: POST_ONLY + form(w.postOnly.clientId) }), 400, undefined],
    ['no client authentication where only body methods are offered: 400, no challenge', () => ({ headers: {}, body: POST_ONLY }), 400, undefined],
  ])('%s', async (_, request, status, challenge) => {
    const w = await challengeWorld()
    const { headers, body } = request(w)
    const res = await w.server.createTokenResponse(tokenRequest(headers, body))
    expect(res.status).toBe(status)
    expect(res.body).toMatchObject({ error: 'invalid_client' })
    expect(res.headers['www-authenticate']).toBe(challenge)
  })
})

describe('an unknown client id costs what a known one does (RFC 6819 §5.1.4.2.2)', () => {
  const verify = vi.mocked(secrets.verifySecret)
  beforeEach(() => {
    verify.mockClear()
  })

  /** The hashes verifySecret was given during one failed authentication. */
  async function hashesVerified(headers: RequestHeaders, body = GRANT, server = setup().server): Promise<string[]> {
    verify.mockClear()
    const res = await server.createTokenResponse(tokenRequest(headers, body))
    expect(res.body).toMatchObject({ error: 'invalid_client' })
    return verify.mock.calls.map((call) => String(call[1]))
  }

  it('every failure ends with one scrypt verification at the default cost, whatever was found', async () => {
    const { server, store, basicClient, postClient, publicClient } = await world()
    const scryptClient = await saveClient(store, { grantTypes: ['urn:test:token'], clientSecret: 'chosen by a person', secretHash: 'scrypt' })
    const dummy = await secrets.dummySecretHash()
    const cost = `scrypt$${secrets.DEFAULT_SCRYPT_PARAMETERS.N}$${secrets.DEFAULT_SCRYPT_PARAMETERS.r}$${secrets.DEFAULT_SCRYPT_PARAMETERS.p}$`
    expect(dummy.startsWith(cost)).toBe(true)

    const unknown = await hashesVerified({ authorization: basic('nobody', 'guess') }, GRANT, server)
    const unknownPost = await hashesVerified({}, `${GRANT}&client_id=nobody&client_secret=guess`, server)
    const sha256Client = await hashesVerified({ authorization: basic(basicClient.clientId, 'guess') }, GRANT, server)
    const sha256PostClient = await hashesVerified({}, `${GRANT}&client_id=${postClient.clientId}&client_secret=guess`, server)
    const publicWithSecret = await hashesVerified({ authorization: basic(publicClient.clientId, 'guess') }, GRANT, server)
    const scrypt = await hashesVerified({ authorization: basic(scryptClient.clientId, 'guess') }, GRANT, server)

    // The same verifier, against the same dummy, for every id the store does not vouch for…
    for (const hashes of [unknown, unknownPost, publicWithSecret]) expect(hashes).toEqual([dummy])
    // …after the client's own (cheap) sha256 check for a sha256 client…
    for (const hashes of [sha256Client, sha256PostClient]) {
      expect(hashes).toHaveLength(2)
      expect(hashes[0]).toMatch(/^sha256\$/)
      expect(hashes[1]).toBe(dummy)
    }
    // …and the client's own scrypt hash, of the same cost, for an scrypt client.
    expect(scrypt).toHaveLength(1)
    expect(scrypt[0]!.startsWith(cost)).toBe(true)
    expect(scrypt[0]).not.toBe(dummy)
  })

  it('verifies a chosen (scrypt) secret once, then recognises it without scrypt; a wrong one still pays its scrypt, a changed one is never matched', async () => {
    const { server, store } = await world()
    const chosen = await saveClient(store, { grantTypes: ['urn:test:token'], clientSecret: 'a person chose this', secretHash: 'scrypt' })
    const send = (secret: string) => server.createTokenResponse(tokenRequest({ authorization: basic(chosen.clientId, secret) }))
    verify.mockClear()
    expect((await send('a person chose this')).status).toBe(200)
    expect((await send('a person chose this')).status).toBe(200)
    expect((await send('a person chose this')).status).toBe(200)
    // One scrypt for three requests.
    expect(verify).toHaveBeenCalledTimes(1)
    verify.mockClear()
    expect((await send('a person chose thiS')).status).toBe(401)
    expect(verify).toHaveBeenCalledTimes(1)
    // The secret changes in the store: the remembered one no longer matches anything.
    const client = (await store.findClient(chosen.clientId))!
    await store.saveClient({ ...client, clientSecretHash: await secrets.hashSecret('the new one', 'scrypt') })
    expect((await send('a person chose this')).status).toBe(401)
    expect((await send('the new one')).status).toBe(200)
  })

  it('a right secret runs no dummy verification (the success path stays fast)', async () => {
    const { server, basicClient } = await world()
    verify.mockClear()
    const res = await server.createTokenResponse(tokenRequest({ authorization: basic(basicClient.clientId, basicClient.clientSecret) }))
    expect(res.status).toBe(200)
    expect(verify.mock.calls.map((call) => String(call[1]).split('$')[0])).toEqual(['sha256'])
  })
})

describe('claimedClientId (the throttle key, read before authentication)', () => {
  it.each([
    ['the Basic user name', { authorization: basic('app one', 's') }, GRANT, 'app one'],
    ['the body client_id', {}, `${GRANT}&client_id=app-two&client_secret=s`, 'app-two'],
    ['nothing for malformed Basic credentials', { authorization: 'Basic !!!' }, GRANT, undefined],
    ['nothing without either', {}, GRANT, undefined],
  ])('is %s', (_, headers: RequestHeaders, body, expected) => {
    expect(claimedClientId(tokenRequest(headers, body))).toBe(expected)
  })
})

describe('a request\'s Basic header is decoded once, never past a change (RFC 6749 §2.3.1)', () => {
  it('answers the header the request carries now when it was changed after a first decoding', () => {
    const request = tokenRequest({ authorization: basic('first', 's') }, GRANT)
    expect(claimedClientId(request)).toBe('first')
    ;(request.headers as Record<string, string>)['authorization'] = basic('second', 's')
    expect(claimedClientId(request)).toBe('second')
    ;(request.headers as Record<string, string>)['authorization'] = 'Basic !!!'
    expect(claimedClientId(request)).toBeUndefined()
  })

  it.each([
    ['a plus as a space', 'a+b:c+d', { clientId: 'a b', clientSecret: 'c d' }],
    ['percent-encoding', 'a%2Fb:%3Ac', { clientId: 'a/b', clientSecret: ':c' }],
    ['plain characters as they are', 'abc:d-e_f', { clientId: 'abc', clientSecret: 'd-e_f' }],
  ])('form-decodes %s', (_, pair, expected) => {
    expect(parseBasicCredentials('Basic ' + Buffer.from(pair).toString('base64'))).toEqual(expected)
  })

  it('refuses malformed percent-encoding as invalid_client', () => {
    expect(() => parseBasicCredentials('Basic ' + Buffer.from('a%zz:b').toString('base64'))).toThrow(expect.objectContaining({ code: 'invalid_client' }))
  })
})
