import { describe, expect, it } from 'vitest'
import { OAuthError } from './errors.js'
import { BaseGrant, type GrantExtension, type GrantUser } from './grant.js'
import { basic, ISSUER, saveClient, setup, TestTokenGrant } from './internal/test-fixtures.js'
import { IntrospectionEndpoint } from './introspection-endpoint.js'
import { createOAuthRequest } from './request.js'
import type { OAuthResponse } from './response.js'

/**
 * The reference chapter's custom grant ("Custom Grant Types"), in TypeScript:
 * a token-endpoint grant that trades a made-up `ticket` for tokens.
 */
class MyCustomGrant extends BaseGrant {
  static override GRANT_TYPE = 'urn:example:custom'
  static override TOKEN_ENDPOINT = true
  static override AUTHORIZATION_ENDPOINT = false

  user: GrantUser | null = null

  override async validateTokenRequest(): Promise<void> {
    const client = await this.authenticateTokenEndpointClient()
    const ticket = this.requireParam('ticket')
    if (!ticket.startsWith('ticket-')) throw new OAuthError('invalid_grant', 'the ticket is invalid')
    this.user = { id: ticket.slice('ticket-'.length) }
    await this.runHook('afterValidateTokenRequest', { grant: this, client })
  }

  override async createTokenResponse(): Promise<OAuthResponse> {
    const client = this.client!
    const scopes = this.resolveScopes(this.param('scope'), client)
    return this.tokenResponse(await this.issueTokens({ client, user: this.user, scopes, refreshToken: false }))
  }
}

/** A custom authorization-endpoint grant with its own response type. */
class TicketResponseGrant extends BaseGrant {
  static override RESPONSE_TYPES: readonly string[] = ['urn:example:ticket']
  static override AUTHORIZATION_ENDPOINT = true

  override async validateAuthorizationRequest() {
    const authorization = await super.validateAuthorizationRequest()
    if (authorization.params.get('audience') === 'forbidden') throw new OAuthError('invalid_request', 'audience not allowed')
    authorization.extra['audience'] = authorization.params.get('audience')
    return authorization
  }

  override async createAuthorizationResponse(user: GrantUser): Promise<OAuthResponse> {
    const authorization = this.requireAuthorization()
    return this.authorizationRedirect(user, { ticket: `ticket-${user.id}`, audience: String(authorization.extra['audience']) })
  }
}

describe('custom grant types (Authlib’s "Custom Grant Types", RFC 6749 §4.5)', () => {
  async function world(extensions: GrantExtension[] = []) {
    const s = setup()
    s.server.registerGrant(MyCustomGrant, extensions)
    s.server.registerEndpoint(IntrospectionEndpoint)
    const client = await saveClient(s.store, { grantTypes: ['urn:example:custom'], scope: 'read write' })
    const auth = { authorization: basic(client.clientId, client.clientSecret) }
    const token = (body: string) => s.server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers: auth, body }))
    const introspect = (value: string) =>
      s.server.createEndpointResponse('introspection', createOAuthRequest({ method: 'POST', url: '/introspect', headers: auth, body: { token: value } }))
    return { ...s, client, token, introspect }
  }

  it('issues tokens end to end at the token endpoint, and introspection shows them active', async () => {
    const { token, introspect, client } = await world()
    const res = await token('grant_type=urn%3Aexample%3Acustom&ticket=ticket-alice&scope=read')
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read' })
    expect(res.body).not.toHaveProperty('refresh_token')
    const info = await introspect(res.body!['access_token'] as string)
    expect(info.body).toMatchObject({ active: true, sub: 'alice', client_id: client.clientId, scope: 'read', token_type: 'Bearer', iss: ISSUER })
  })

  it('answers the grant\'s own OAuthError with its RFC error body', async () => {
    const { token } = await world()
    const res = await token('grant_type=urn%3Aexample%3Acustom&ticket=forged')
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'invalid_grant', error_description: 'the ticket is invalid' })
  })

  it('answers a missing grant parameter with invalid_request', async () => {
    const { token } = await world()
    expect((await token('grant_type=urn%3Aexample%3Acustom')).body).toMatchObject({ error: 'invalid_request' })
  })

  it('serves a custom response type at the authorization endpoint through validateAuthorizationRequest / createAuthorizationResponse', async () => {
    const { server, store } = setup()
    server.registerGrant(TicketResponseGrant)
    await saveClient(store, { clientId: 'spa', redirectUris: ['https://spa.example/cb'], responseTypes: ['urn:example:ticket'], grantTypes: [] })
    const request = (audience: string) =>
      createOAuthRequest({ url: '/authorize', query: { response_type: 'urn:example:ticket', client_id: 'spa', state: 'st', audience } })

    const authorization = await server.validateAuthorizationRequest(request('api'))
    expect(authorization).toMatchObject({ responseType: 'urn:example:ticket', extra: { audience: 'api' } })

    const res = await server.createAuthorizationResponse(request('api'), { id: 'bob' })
    expect(res.status).toBe(302)
    const url = new URL(res.headers['location']!)
    expect(Object.fromEntries(url.searchParams)).toEqual({ ticket: 'ticket-bob', audience: 'api', state: 'st', iss: ISSUER })

    const refused = await server.createAuthorizationResponse(request('forbidden'), { id: 'bob' })
    expect(new URL(refused.headers['location']!).searchParams.get('error')).toBe('invalid_request')
  })

  it('answers the base class defaults for an endpoint a grant does not serve', async () => {
    class OnlyAuthorization extends BaseGrant {}
    const grant = new OnlyAuthorization(setup().server, createOAuthRequest(), [])
    await expect(grant.validateTokenRequest()).rejects.toMatchObject({ code: 'unsupported_grant_type' })
    await expect(grant.createTokenResponse()).rejects.toMatchObject({ code: 'unsupported_grant_type' })
    await expect(grant.createAuthorizationResponse({ id: 'u' })).rejects.toMatchObject({ code: 'unsupported_response_type' })
  })
})

describe('grant extensions (registerGrant(Grant, [extension]))', () => {
  function recorder(name: string, log: string[], extra: Partial<GrantExtension> = {}): GrantExtension {
    return {
      register: () => void log.push(`${name}:register`),
      afterValidateTokenRequest: () => void log.push(`${name}:afterValidateTokenRequest`),
      beforeTokenResponse: () => void log.push(`${name}:beforeTokenResponse`),
      ...extra,
    }
  }

  async function world(extensions: GrantExtension[]) {
    const s = setup()
    s.server.registerGrant(MyCustomGrant, extensions)
    const client = await saveClient(s.store, { grantTypes: ['urn:example:custom'] })
    const token = () =>
      s.server.createTokenResponse(
        createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Aexample%3Acustom&ticket=ticket-u' }),
      )
    return { ...s, token }
  }

  it('calls register() once, at registration, with the grant class and the server', async () => {
    const calls: unknown[][] = []
    const extension: GrantExtension = { register: (...args) => void calls.push(args) }
    const { server, token } = await world([extension])
    expect(calls).toEqual([[MyCustomGrant, server]])
    await token()
    await token()
    expect(calls).toHaveLength(1)
  })

  it('runs the hooks of every extension in registration order', async () => {
    const log: string[] = []
    const { token } = await world([recorder('a', log), recorder('b', log)])
    log.length = 0
    expect((await token()).status).toBe(200)
    expect(log).toEqual(['a:afterValidateTokenRequest', 'b:afterValidateTokenRequest', 'a:beforeTokenResponse', 'b:beforeTokenResponse'])
  })

  it('lets a hook reject the request with an OAuthError, and stops the hooks after it', async () => {
    const log: string[] = []
    const rejecting = recorder('a', log, {
      afterValidateTokenRequest: () => {
        throw new OAuthError('invalid_grant', 'rejected by policy')
      },
    })
    const { token } = await world([rejecting, recorder('b', log)])
    const res = await token()
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'invalid_grant', error_description: 'rejected by policy' })
    expect(log).not.toContain('b:afterValidateTokenRequest')
  })

  it('runs beforeValidateTokenRequest before the grant validates anything: its refusal skips client authentication and the grant', async () => {
    const log: string[] = []
    const early = recorder('a', log, {
      beforeValidateTokenRequest: ({ grant }) => {
        log.push(`a:beforeValidateTokenRequest:${grant.client === null ? 'no client yet' : 'client'}`)
        if (grant.request.headers['x-refuse'] !== undefined) throw new OAuthError('invalid_request', 'refused before validation')
      },
    })
    const { token, server } = await world([early, recorder('b', log)])
    log.length = 0
    expect((await token()).status).toBe(200)
    expect(log).toEqual(['a:beforeValidateTokenRequest:no client yet', 'a:afterValidateTokenRequest', 'b:afterValidateTokenRequest', 'a:beforeTokenResponse', 'b:beforeTokenResponse'])
    log.length = 0
    // A refused request never reaches client authentication: wrong credentials are not even looked at.
    const res = await server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic('nobody', 'wrong'), 'x-refuse': '1' }, body: 'grant_type=urn%3Aexample%3Acustom&ticket=ticket-u' }),
    )
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'invalid_request', error_description: 'refused before validation' })
    expect(log).toEqual(['a:beforeValidateTokenRequest:no client yet'])
  })

  it('lets beforeTokenResponse add a field to the token response (e.g. an id_token)', async () => {
    const extension: GrantExtension = {
      async beforeTokenResponse({ body, client }) {
        body['id_token'] = `id-token-for-${client.clientId}`
      },
    }
    const res = await (await world([extension])).token()
    expect(res.body).toMatchObject({ id_token: expect.stringMatching(/^id-token-for-/), token_type: 'Bearer' })
  })

  it('keeps the extensions of one grant away from another grant', async () => {
    const log: string[] = []
    const { server, store } = await world([recorder('a', log)])
    server.registerGrant(TestTokenGrant)
    const client = await saveClient(store, { grantTypes: ['urn:test:token'] })
    log.length = 0
    await server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Atest%3Atoken' }),
    )
    expect(log).toEqual([])
  })

  it('runs beforeAuthorizationResponse and lets it add a redirect parameter', async () => {
    const extension: GrantExtension = {
      afterValidateAuthorizationRequest: ({ authorization }) => void (authorization.extra['seen'] = true),
      beforeAuthorizationResponse: ({ params, authorization }) => void (params['seen'] = String(authorization.extra['seen'])),
    }
    const { server, store } = setup()
    server.registerGrant(TicketResponseGrant, [extension])
    await saveClient(store, { clientId: 'spa', redirectUris: ['https://spa.example/cb'], responseTypes: ['urn:example:ticket'], grantTypes: [] })
    const res = await server.createAuthorizationResponse(createOAuthRequest({ url: '/authorize', query: { response_type: 'urn:example:ticket', client_id: 'spa' } }), { id: 'u' })
    expect(new URL(res.headers['location']!).searchParams.get('seen')).toBe('true')
  })
})

describe('BaseGrant.issueTokens (RFC 6749 §5.1)', () => {
  it('stores only hashes of the tokens it issues, with a refresh token in the same family when asked', async () => {
    const { server, store } = setup()
    server.registerGrant(TestTokenGrant)
    const client = await saveClient(store, { grantTypes: ['urn:test:token'], scope: 'read' })
    const res = await server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Atest%3Atoken&with_refresh=true&user_id=u1' }),
    )
    const body = res.body as Record<string, string>
    expect(body['access_token']!.length).toBeGreaterThanOrEqual(43)
    expect(body['refresh_token']!.length).toBeGreaterThanOrEqual(43)
    const dump = JSON.stringify(store.snapshot())
    expect(dump).not.toContain(body['access_token'])
    expect(dump).not.toContain(body['refresh_token'])
    const tokens = store.snapshot().tokens
    expect(tokens).toHaveLength(2)
    expect(new Set(tokens.map((t) => t.familyId)).size).toBe(1)
    expect(tokens.map((t) => t.type).sort()).toEqual(['access_token', 'refresh_token'])
  })

  it('uses accessTokenLifetime when it is a function of grant type and client', async () => {
    const { server, store } = setup({ accessTokenLifetime: (grantType) => (grantType === 'urn:test:token' ? 120 : 3600) })
    server.registerGrant(TestTokenGrant)
    const client = await saveClient(store, { grantTypes: ['urn:test:token'] })
    const res = await server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Atest%3Atoken' }),
    )
    expect(res.body).toMatchObject({ expires_in: 120 })
  })
})
