import { describe, expect, it } from 'vitest'
import { basic, ISSUER, saveClient, setup, TestTokenGrant } from './internal/test-fixtures.js'
import { IntrospectionEndpoint } from './introspection-endpoint.js'
import { createOAuthRequest, type RequestHeaders } from './request.js'
import { RevocationEndpoint } from './revocation-endpoint.js'
import { hashSecret, hashToken } from './secrets.js'

async function world() {
  const s = setup()
  s.server.registerGrant(TestTokenGrant)
  s.server.registerEndpoint(RevocationEndpoint)
  s.server.registerEndpoint(IntrospectionEndpoint)
  await s.store.saveUser({ id: 'u1', username: 'alice', passwordHash: await hashSecret('pw', 'sha256') })
  const owner = await saveClient(s.store, { grantTypes: ['urn:test:token'], scope: 'read write' })
  const other = await saveClient(s.store, { grantTypes: ['urn:test:token'], scope: 'read write' })
  const publicClient = await saveClient(s.store, { grantTypes: ['urn:test:token'], tokenEndpointAuthMethod: 'none' })
  const ownerAuth = { authorization: basic(owner.clientId, owner.clientSecret) }
  const otherAuth = { authorization: basic(other.clientId, other.clientSecret) }
  const issue = async (extra = '') => {
    const res = await s.server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: ownerAuth, body: `grant_type=urn%3Atest%3Atoken&scope=read&user_id=u1&with_refresh=true${extra}` }),
    )
    return res.body as { access_token: string; refresh_token: string }
  }
  const call = (name: 'revocation' | 'introspection', headers: RequestHeaders, body: string | Record<string, string>, method = 'POST') =>
    s.server.createEndpointResponse(name, createOAuthRequest({ method, url: `/${name}`, headers, body }))
  const revoke = (token: string, headers: RequestHeaders = ownerAuth) => call('revocation', headers, { token })
  const introspect = (token: string, headers: RequestHeaders = ownerAuth) => call('introspection', headers, { token })
  return Object.assign(s, { owner, other, publicClient, ownerAuth, otherAuth, issue, call, revoke, introspect })
}

describe.each(['revocation', 'introspection'] as const)('%s endpoint: common rules (RFC 7009 §2.1, RFC 7662 §2.1)', (name) => {
  it.each<[string, RequestHeaders, number, string]>([
    ['no client authentication', {}, 401, 'invalid_client'],
    ['a wrong client secret', { authorization: basic('x', 'y') }, 401, 'invalid_client'],
  ])('rejects %s', async (_, headers, status, error) => {
    const w = await world()
    const { access_token } = await w.issue()
    const res = await w.call(name, headers, { token: access_token })
    expect(res.status).toBe(status)
    expect(res.body).toMatchObject({ error })
  })

  it('rejects GET with 405 invalid_request', async () => {
    const w = await world()
    const res = await w.call(name, w.ownerAuth, {}, 'GET')
    expect(res.status).toBe(405)
    expect(res.body).toMatchObject({ error: 'invalid_request' })
  })

  it.each([
    ['the token parameter is missing', ''],
    ['the token parameter is repeated', 'token=a&token=b'],
    ['token_type_hint is repeated', 'token=a&token_type_hint=access_token&token_type_hint=refresh_token'],
  ])('rejects a request where %s with invalid_request', async (_, body) => {
    const w = await world()
    const res = await w.call(name, w.ownerAuth, body)
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'invalid_request' })
  })

  it('answers with Cache-Control: no-store', async () => {
    const w = await world()
    const res = await w.call(name, w.ownerAuth, { token: 'unknown' })
    expect(res.headers['cache-control']).toBe('no-store')
  })
})

describe('RevocationEndpoint (RFC 7009)', () => {
  it('revokes an access token: 200, and introspection then shows it inactive', async () => {
    const w = await world()
    const { access_token, refresh_token } = await w.issue()
    const res = await w.revoke(access_token)
    expect(res.status).toBe(200)
    expect((await w.introspect(access_token)).body).toEqual({ active: false })
    // Revoking an access token leaves its refresh token alone.
    expect((await w.introspect(refresh_token)).body).toMatchObject({ active: true })
  })

  it('answers 200 for an unknown token (§2.2: "invalid tokens do not cause an error response")', async () => {
    const w = await world()
    expect((await w.revoke('no-such-token')).status).toBe(200)
  })

  it('answers 200 when revoking a token twice', async () => {
    const w = await world()
    const { access_token } = await w.issue()
    await w.revoke(access_token)
    expect((await w.revoke(access_token)).status).toBe(200)
  })

  it('revokes every token of the grant when revoking a refresh token (§2.1)', async () => {
    const w = await world()
    const { access_token, refresh_token } = await w.issue()
    const unrelated = await w.issue()
    expect((await w.revoke(refresh_token)).status).toBe(200)
    expect((await w.introspect(access_token)).body).toEqual({ active: false })
    expect((await w.introspect(refresh_token)).body).toEqual({ active: false })
    expect((await w.introspect(unrelated.access_token)).body).toMatchObject({ active: true })
  })

  it("refuses another client's token with unauthorized_client and leaves it active (§2.1)", async () => {
    const w = await world()
    const { access_token } = await w.issue()
    const res = await w.revoke(access_token, w.otherAuth)
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ error: 'unauthorized_client' })
    expect((await w.introspect(access_token)).body).toMatchObject({ active: true })
  })

  it('lets a public client authenticate with client_id alone', async () => {
    const w = await world()
    const res = await w.call('revocation', {}, { token: 'whatever', client_id: w.publicClient.clientId })
    expect(res.status).toBe(200)
  })
})

describe('IntrospectionEndpoint (RFC 7662)', () => {
  it('describes an active token with active, scope, client_id, token_type, exp, iat, sub and username (§2.2)', async () => {
    const w = await world()
    const { access_token } = await w.issue()
    const iat = Math.floor(w.t / 1000)
    const res = await w.introspect(access_token)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      active: true,
      scope: 'read',
      client_id: w.owner.clientId,
      token_type: 'Bearer',
      exp: iat + 3600,
      iat,
      iss: ISSUER,
      sub: 'u1',
      username: 'alice',
    })
  })

  it('gives a refresh token the token_type of RFC 6749 §7.1 (RFC 7662 §2.2), not "refresh_token"', async () => {
    const w = await world()
    const { refresh_token } = await w.issue()
    expect((await w.introspect(refresh_token)).body).toMatchObject({ active: true, token_type: 'Bearer' })
  })

  it.each<[string, (w: Awaited<ReturnType<typeof world>>, token: string) => Promise<void> | void]>([
    ['unknown', () => {}],
    ['expired', (w) => void (w.t += 3600 * 1000)],
    ['revoked', async (w, token) => void (await w.store.revokeToken(hashToken(token), w.server.now()))],
  ])('answers { active: false } for an %s token', async (label, change) => {
    const w = await world()
    const { access_token } = await w.issue()
    await change(w, access_token)
    const res = await w.introspect(label === 'unknown' ? 'no-such-token' : access_token)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ active: false })
  })

  it('answers { active: false } for a rotated refresh token', async () => {
    const w = await world()
    const { refresh_token } = await w.issue()
    await w.store.rotateRefreshToken(hashToken(refresh_token), w.server.now())
    expect((await w.introspect(refresh_token)).body).toEqual({ active: false })
  })

  it("answers { active: false } for another client's token, telling it nothing", async () => {
    const w = await world()
    const { access_token } = await w.issue()
    expect((await w.introspect(access_token, w.otherAuth)).body).toEqual({ active: false })
  })

  it('leaves out sub and username for a client-only token', async () => {
    const w = await world()
    const res = await w.server.createTokenResponse(createOAuthRequest({ method: 'POST', headers: w.ownerAuth, body: 'grant_type=urn%3Atest%3Atoken' }))
    const body = (await w.introspect((res.body as { access_token: string }).access_token)).body
    expect(body).toMatchObject({ active: true })
    expect(body).not.toHaveProperty('sub')
    expect(body).not.toHaveProperty('username')
  })
})
