// RFC 8707 end to end over real HTTP (Koa on a loopback port) with an
// unmodified client library, oauth4webapi: its `resource` parameters go in
// through `additionalParameters` / the client credentials and device
// authorization parameters.
import { generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import { oauthRouter } from '@grantkit/adapter-koa'
import { AuthorizationServer, IntrospectionEndpoint, createClient, jwtAccessTokens, type GrantUser, type TokenStrategy } from '@grantkit/core'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { DEVICE_CODE_GRANT_TYPE, DeviceAuthorizationEndpoint, DeviceCodeGrant, deviceVerification } from '@grantkit/grant-device-code'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import Koa from 'koa'
import * as oauth from 'oauth4webapi'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TEST_STORES, type OpenTestStore } from '../../../test-support/stores.js'
import { ResourceIndicators } from './resource-indicators.js'

const API = 'https://api.example.com'
const FILES = 'https://files.example.com/v1'
const REDIRECT = 'https://client.example.com/cb'
const ALICE: GrantUser = { id: 'user-alice' }
const insecure = { [oauth.allowInsecureRequests]: true } as const
const client: oauth.Client = { client_id: 'web' }
const clientAuth = oauth.ClientSecretBasic('web-secret')

/** Koa on 127.0.0.1:0 serving the server's endpoints; the signed-in user approves everything. */
async function start(openStore: OpenTestStore, tokenStrategy?: TokenStrategy) {
  // The port is the issuer's, so listen first and hand Koa the requests once its routes are in.
  const http = createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => (http.closeAllConnections(), http.close(() => resolve()))))
  const issuer = new URL(`http://127.0.0.1:${(http.address() as { port: number }).port}`)
  const store = await openStore()
  const server = new AuthorizationServer({ issuer: issuer.origin, store, ...(tokenStrategy === undefined ? {} : { tokenStrategy }) })
  const indicators = new ResourceIndicators()
  server
    .registerGrant(AuthorizationCodeGrant, [new CodeChallenge(), indicators])
    .registerGrant(ClientCredentialsGrant, [indicators])
    .registerGrant(RefreshTokenGrant, [indicators])
    .registerGrant(DeviceCodeGrant, [indicators])
    .registerEndpoint(DeviceAuthorizationEndpoint)
    .registerEndpoint(IntrospectionEndpoint)
  const { client: record } = await createClient({
    clientId: 'web',
    clientSecret: 'web-secret',
    secretHash: 'sha256',
    redirectUris: [REDIRECT],
    scope: 'read',
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT_TYPE],
    metadata: { resources: [API, FILES] },
  })
  await store.saveClient(record)
  const verification = deviceVerification(server)
  const app = new Koa()
  app.use(oauthRouter(server, { authorize: () => ({ user: ALICE }) }).routes())
  http.on('request', app.callback())
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))

  /** Runs the authorization request (PKCE, `resource` repeated) and returns the callback parameters. */
  const authorize = async (resources: readonly string[]) => {
    const verifier = oauth.generateRandomCodeVerifier()
    const url = new URL(as.authorization_endpoint as string)
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, scope: 'read', code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).toString()
    for (const resource of resources) url.searchParams.append('resource', resource)
    const response = await fetch(url, { redirect: 'manual' })
    expect(response.status).toBe(302)
    return { params: oauth.validateAuthResponse(as, client, new URL(response.headers.get('location') as string), oauth.expectNoState), verifier }
  }
  const repeated = (resources: readonly string[]) => resources.map((r) => ['resource', r])
  const redeem = async (resources: readonly string[], tokenResources: readonly string[]) => {
    const { params, verifier } = await authorize(resources)
    const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT, verifier, { ...insecure, additionalParameters: repeated(tokenResources) })
    return oauth.processAuthorizationCodeResponse(as, client, response)
  }
  const clientCredentials = async (resources: readonly string[]) =>
    oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, clientAuth, repeated(resources), insecure))
  const refresh = async (refreshToken: string, resources: readonly string[]) =>
    oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, { ...insecure, additionalParameters: repeated(resources) }))
  /** RFC 8628: the device authorization request with `resource` repeated; the user approves on the verification page's helper; the device polls once. */
  const deviceFlow = async (resources: readonly string[], pollResources: readonly string[]) => {
    const started = await oauth.processDeviceAuthorizationResponse(as, client, await oauth.deviceAuthorizationRequest(as, client, clientAuth, [['scope', 'read'], ...repeated(resources)], insecure))
    expect(await verification.approve(started.user_code, ALICE, { key: 'alice' })).toMatchObject({ ok: true })
    const response = await oauth.deviceCodeGrantRequest(as, client, clientAuth, started.device_code, { ...insecure, additionalParameters: repeated(pollResources) })
    return oauth.processDeviceCodeResponse(as, client, response)
  }
  const introspect = async (token: string) => oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, clientAuth, token, insecure))
  /** The OAuth error code oauth4webapi rejected a response with. */
  const errorOf = async (attempt: Promise<unknown>): Promise<string> => {
    const error: unknown = await attempt.then(() => null, (e: unknown) => e)
    if (error instanceof oauth.ResponseBodyError) return error.error
    throw new Error(`expected an OAuth error response, got ${String(error)}`)
  }
  return { issuer, as, authorize, redeem, clientCredentials, refresh, deviceFlow, introspect, errorOf }
}

describe.each(TEST_STORES)('resource indicators over HTTP with oauth4webapi (RFC 8707) on the %s', (_storeName, openStore) => {
  it('authorization code + PKCE + two resources, narrowed to one at the token endpoint; introspection shows aud', async () => {
    const { redeem, introspect } = await start(openStore)
    const tokens = await redeem([API, FILES], [API])
    expect(await introspect(tokens.access_token)).toMatchObject({ active: true, aud: API, sub: ALICE.id, scope: 'read' })
  })

  it('authorization code without a token-endpoint resource: aud is every authorized resource', async () => {
    const { redeem, introspect } = await start(openStore)
    const tokens = await redeem([API, FILES], [])
    expect((await introspect(tokens.access_token)).aud).toEqual([API, FILES])
  })

  it('client credentials with a resource', async () => {
    const { clientCredentials, introspect } = await start(openStore)
    const tokens = await clientCredentials([FILES])
    expect((await introspect(tokens.access_token)).aud).toBe(FILES)
  })

  it('refresh narrows the audience, and refuses to widen it', async () => {
    const { redeem, refresh, introspect, errorOf } = await start(openStore)
    const tokens = await redeem([API, FILES], [])
    const narrowed = await refresh(tokens.refresh_token as string, [FILES])
    expect((await introspect(narrowed.access_token)).aud).toBe(FILES)
    const wider = await redeem([API], [])
    expect(await errorOf(refresh(wider.refresh_token as string, [FILES]))).toBe('invalid_target')
  })

  it('device flow (RFC 8628): two resources at the device authorization endpoint, all of them when the poll names none, narrowed when it names one', async () => {
    const { deviceFlow, introspect } = await start(openStore)
    expect(await introspect((await deviceFlow([API, FILES], [])).access_token)).toMatchObject({ active: true, aud: [API, FILES], sub: ALICE.id })
    expect((await introspect((await deviceFlow([API, FILES], [FILES])).access_token)).aud).toBe(FILES)
  })

  it('device flow: a poll naming a resource the device authorization request did not name is invalid_target (RFC 8707 section 2.2)', async () => {
    const { deviceFlow, errorOf } = await start(openStore)
    expect(await errorOf(deviceFlow([API], [FILES]))).toBe('invalid_target')
  })

  it.each([
    ['a relative URI', ['/api']],
    ['a fragment', [`${API}#x`]],
    ['a resource the client may not use', ['https://evil.example.com']],
  ])('answers 400 invalid_target at the device authorization endpoint for %s (RFC 8628 section 3.2)', async (_, resources) => {
    const { as, errorOf } = await start(openStore)
    const response = await oauth.deviceAuthorizationRequest(as, client, clientAuth, [['scope', 'read'], ...resources.map((r) => ['resource', r])], insecure)
    expect(response.status).toBe(400)
    expect(await errorOf(oauth.processDeviceAuthorizationResponse(as, client, response))).toBe('invalid_target')
  })

  it.each([
    ['a relative URI', ['/api']],
    ['a fragment', [`${API}#x`]],
    ['a resource the client may not use', ['https://evil.example.com']],
  ])('answers invalid_target at the token endpoint for %s', async (_, resources) => {
    const { clientCredentials, errorOf } = await start(openStore)
    expect(await errorOf(clientCredentials(resources))).toBe('invalid_target')
  })

  it('answers invalid_target for a token-endpoint resource that is not a subset of the authorized ones (§2.2)', async () => {
    const { redeem, errorOf } = await start(openStore)
    expect(await errorOf(redeem([API], [FILES]))).toBe('invalid_target')
  })

  it('redirects invalid_target from the authorization endpoint (raw request)', async () => {
    const { as } = await start(openStore)
    const url = new URL(as.authorization_endpoint as string)
    url.search = new URLSearchParams({ response_type: 'code', client_id: 'web', redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: 'relative/path' }).toString()
    const response = await fetch(url, { redirect: 'manual' })
    expect(response.status).toBe(302)
    expect(new URL(response.headers.get('location') as string).searchParams.get('error')).toBe('invalid_target')
  })

  it('answers invalid_target to a raw token request with a fragment', async () => {
    const { as } = await start(openStore)
    const response = await fetch(as.token_endpoint as string, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa('web:web-secret')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams([['grant_type', 'client_credentials'], ['resource', API], ['resource', `${FILES}#f`]]),
    })
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'invalid_target' })
  })

  it('puts aud in JWT access tokens (RFC 9068 §2.2), verified with jose against the server JWK Set', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const { issuer, as, redeem, clientCredentials } = await start(openStore, jwtAccessTokens({ privateKey, alg: 'ES256' }))
    const jwks = createRemoteJWKSet(new URL(as.jwks_uri as string))
    const single = await clientCredentials([API])
    expect((await jwtVerify(single.access_token, jwks, { issuer: issuer.origin, audience: API })).payload.aud).toBe(API)
    const several = await redeem([API, FILES], [])
    expect((await jwtVerify(several.access_token, jwks, { issuer: issuer.origin, audience: FILES })).payload.aud).toEqual([API, FILES])
  })
})
