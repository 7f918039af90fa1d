import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { ACCESS_TOKEN_TYPE, CONFIDENTIAL, EXCHANGE_CLIENT, PUBLIC_CLIENT, TOKEN_EXCHANGE_GRANT, USER, seed } from './support/fixtures.js'
import { introspect, post } from './support/oauth-http.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const
const service: oauth.Client = { client_id: EXCHANGE_CLIENT.client_id }
const asService = { basic: [EXCHANGE_CLIENT.client_id, EXCHANGE_CLIENT.client_secret] as [string, string] }
const asConfidential = { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] as [string, string] }

describe.each(serverCases())('token exchange (RFC 8693) on $adapter with the $store store', ({ adapter, setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  const cleanups: (() => Promise<unknown>)[] = []

  beforeAll(async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const store = await setup(tmp.dir)
    cleanups.push(store.cleanup)
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: store.spec, OAUTH_SEED: await writeSeed(tmp.dir, seed()) }, tmp.dir)
    cleanups.push(() => demo.stop())
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  })

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  /** An access token from the token endpoint. */
  async function token(auth: { basic: [string, string] }, params: Record<string, string>): Promise<string> {
    const res = await post(demo.issuer, '/token', params, auth)
    expect(res.status).toBe(200)
    return ((await res.json()) as { access_token: string }).access_token
  }

  /** Alice's token, issued to `auth`'s client by the password grant. */
  const userToken = (auth: { basic: [string, string] }, scope = 'profile read') => token(auth, { grant_type: 'password', username: USER.username, password: USER.password, scope })

  /** A token exchange request of the service, raw. */
  function exchange(params: Record<string, string>, auth: { basic: [string, string] } | { clientId: string } = asService): Promise<Response> {
    return post(demo.issuer, '/token', { grant_type: TOKEN_EXCHANGE_GRANT, ...params }, auth)
  }

  async function expectRefused(res: Response, status: number, error: string): Promise<void> {
    expect(res.status).toBe(status)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.json()).toMatchObject({ error })
  }

  it('delegates with oauth4webapi 3.8.8: a service exchanges the user token it received, with its own token as actor_token; introspection shows act (§2.1, §2.2.1, §4.1)', async () => {
    const subjectToken = await userToken(asConfidential)
    const actorToken = await token(asService, { grant_type: 'client_credentials', scope: 'read' })
    const parameters = { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, actor_token: actorToken, actor_token_type: ACCESS_TOKEN_TYPE, scope: 'profile' }
    const response = await oauth.genericTokenEndpointRequest(as, service, oauth.ClientSecretBasic(EXCHANGE_CLIENT.client_secret), TOKEN_EXCHANGE_GRANT, parameters, insecure)
    const issued = await oauth.processGenericTokenEndpointResponse(as, service, response)
    expect(issued).toMatchObject({ token_type: 'bearer', scope: 'profile', issued_token_type: ACCESS_TOKEN_TYPE })
    expect(issued.refresh_token).toBeUndefined()
    const me = (await (await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${issued.access_token}` } })).json()) as Record<string, unknown>
    expect(me).toMatchObject({ username: USER.username, scope: 'profile' })
    expect(await introspect(demo.issuer, issued.access_token, asService)).toMatchObject({
      active: true,
      client_id: EXCHANGE_CLIENT.client_id,
      sub: me['sub'],
      username: USER.username,
      scope: 'profile',
      act: { sub: EXCHANGE_CLIENT.client_id, client_id: EXCHANGE_CLIENT.client_id },
    })
    // The subject token is left alone.
    expect(await introspect(demo.issuer, subjectToken, asConfidential)).toMatchObject({ active: true, scope: 'profile read' })
  })

  it('lets a client exchange its own token without actor_token, to narrow its scope; no act (§1.1)', async () => {
    const subjectToken = await userToken(asService)
    const res = await exchange({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'read' })
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'read', issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 3600 })
    const introspection = await introspect(demo.issuer, body['access_token'] as string, asService)
    expect(introspection).toMatchObject({ active: true, scope: 'read', username: USER.username })
    expect(introspection).not.toHaveProperty('act')
  })

  it('refuses impersonation of another client\'s token with unauthorized_client (§1.1, RFC 6749 §5.2)', async () => {
    await expectRefused(await exchange({ subject_token: await userToken(asConfidential), subject_token_type: ACCESS_TOKEN_TYPE }), 400, 'unauthorized_client')
  })

  it('refuses an actor token of another client with invalid_request (§2.2.2)', async () => {
    const actorToken = await token(asConfidential, { grant_type: 'client_credentials', scope: 'read' })
    const res = await exchange({ subject_token: await userToken(asConfidential), subject_token_type: ACCESS_TOKEN_TYPE, actor_token: actorToken, actor_token_type: ACCESS_TOKEN_TYPE })
    await expectRefused(res, 400, 'invalid_request')
  })

  it('refuses a scope wider than the subject token\'s with invalid_scope (§2.1, RFC 6749 §3.3)', async () => {
    const subjectToken = await userToken(asService, 'read')
    await expectRefused(await exchange({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'profile read' }), 400, 'invalid_scope')
  })

  /** A refresh token of alice, issued to the confidential client. */
  async function refreshToken(): Promise<string> {
    const res = await post(demo.issuer, '/token', { grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile' }, asConfidential)
    return ((await res.json()) as { refresh_token: string }).refresh_token
  }

  it.each<[string, () => Promise<Record<string, string>>]>([
    ['an unknown subject_token', async () => ({ subject_token: 'not-a-token', subject_token_type: ACCESS_TOKEN_TYPE })],
    ['no subject_token', async () => ({ subject_token_type: ACCESS_TOKEN_TYPE })],
    ['no subject_token_type', async () => ({ subject_token: await userToken(asService) })],
    ['a refresh token as subject_token', async () => ({ subject_token: await refreshToken(), subject_token_type: ACCESS_TOKEN_TYPE })],
    ['actor_token without actor_token_type', async () => ({ subject_token: await userToken(asService), subject_token_type: ACCESS_TOKEN_TYPE, actor_token: await userToken(asService) })],
  ])('answers %s with 400 invalid_request (§2.1, §2.2.2)', async (_name, params) => {
    await expectRefused(await exchange(await params()), 400, 'invalid_request')
  })

  it('answers a revoked subject_token with 400 invalid_request (§2.2.2)', async () => {
    const subjectToken = await userToken(asService)
    expect((await post(demo.issuer, '/revoke', { token: subjectToken }, asService)).status).toBe(200)
    await expectRefused(await exchange({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE }), 400, 'invalid_request')
  })

  it.each([
    ['subject_token_type', { subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }],
    ['subject_token_type (an id_token)', { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }],
    ['actor_token_type', { actor_token: 'y', actor_token_type: 'urn:ietf:params:oauth:token-type:saml2' }],
    ['requested_token_type', { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }],
  ])('refuses an unsupported %s with 400 invalid_request (§2.2.2)', async (_name, params) => {
    const subjectToken = await userToken(asService)
    await expectRefused(await exchange({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, ...params }), 400, 'invalid_request')
  })

  it('refuses a client not registered for the grant (unauthorized_client) and a public client (invalid_client, RFC 6749 §5.2)', async () => {
    const subjectToken = await userToken(asConfidential)
    await expectRefused(await exchange({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE }, asConfidential), 400, 'unauthorized_client')
    await expectRefused(await exchange({ subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE }, { clientId: PUBLIC_CLIENT.client_id }), 401, 'invalid_client')
  })
})
