// End to end over real HTTP (Koa, @grantkit/adapter-koa) with an unmodified
// client library: oauth4webapi's PrivateKeyJwt and ClientSecretJwt client
// authentication (RFC 7523 §2.2) at the token endpoint (client credentials,
// RFC 6749 §4.4), introspection (RFC 7662) and revocation (RFC 7009).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AuthorizationServer, createClient } from '@grantkit/core'
import { oauthRouter } from '@grantkit/adapter-koa'
import { createJsonCache } from '@grantkit/safe-fetch'
import Koa from 'koa'
import * as oauth from 'oauth4webapi'
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { TEST_STORES, type OpenTestStore } from '../../../test-support/stores.js'
import { clientSecretJwt } from './client-secret-jwt.js'
import {
  ASSERTION_TYPE,
  JwtClientCredentialsGrant,
  JwtIntrospectionEndpoint,
  JwtRevocationEndpoint,
  LOOPBACK_FETCH,
  SEALING_KEY,
  SHARED_SECRET,
  jwksServer,
  sign,
  testKeys,
  type TestKeys,
} from './internal/testing.js'
import { privateKeyJwt } from './private-key-jwt.js'
import { sealedClientSecrets } from './sealed-secrets.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const

let keys: TestKeys
beforeAll(async () => {
  keys = await testKeys()
})

/** The error code of an OAuth error response oauth4webapi raised. */
async function oauthError(promise: Promise<unknown>): Promise<{ error: string; status: number }> {
  try {
    await promise
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) return { error: error.error, status: error.status }
    throw error
  }
  throw new Error('expected an OAuth error response')
}

describe.each(TEST_STORES)('JWT client authentication over HTTP with oauth4webapi on the %s', (_storeName, openStore: OpenTestStore) => {
  /** A Koa server on a loopback port with both JWT methods; `svc` keeps its keys at a jwks_uri, `hmac` a sealed secret. */
  async function start() {
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          http.closeAllConnections()
          http.close(() => resolve())
        }),
    )
    const issuer = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}`)
    const store = await openStore()
    const server = new AuthorizationServer({ issuer: issuer.origin, store })
    const jwks = await jwksServer({ keys: [keys.es.publicJwk, keys.rs.publicJwk] })
    const secrets = sealedClientSecrets(SEALING_KEY)
    server
      .registerClientAuthMethod('private_key_jwt', privateKeyJwt({ jwksCache: createJsonCache(LOOPBACK_FETCH) }))
      .registerClientAuthMethod('client_secret_jwt', clientSecretJwt({ resolveSecret: secrets.resolveSecret }))
      .registerGrant(JwtClientCredentialsGrant)
      .registerEndpoint(JwtRevocationEndpoint)
      .registerEndpoint(JwtIntrospectionEndpoint)
    const base = { grantTypes: ['client_credentials'], scope: 'read write', secretHash: 'sha256' as const }
    await store.saveClient((await createClient({ ...base, clientId: 'svc', tokenEndpointAuthMethod: 'private_key_jwt', metadata: { jwks_uri: jwks.url } })).client)
    await store.saveClient(
      (
        await createClient({
          ...base,
          clientId: 'hmac',
          clientSecret: SHARED_SECRET,
          tokenEndpointAuthMethod: 'client_secret_jwt',
          metadata: { sealed_client_secret: secrets.seal('hmac', SHARED_SECRET) },
        })
      ).client,
    )
    const app = new Koa()
    app.use(oauthRouter(server, { authorize: () => ({ deny: true }) }).routes())
    http.on('request', app.callback())
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
    return { issuer, as, jwks }
  }

  const svc: oauth.Client = { client_id: 'svc' }
  const hmac: oauth.Client = { client_id: 'hmac' }

  /** Client credentials, introspection, revocation, introspection again: the whole life of a token. */
  async function tokenLife(as: oauth.AuthorizationServer, client: oauth.Client, auth: oauth.ClientAuth) {
    const tokens = await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'read' }, insecure))
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read' })
    const introspect = async () => oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure))
    expect(await introspect()).toMatchObject({ active: true, client_id: client.client_id, scope: 'read' })
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, tokens.access_token, insecure))
    expect(await introspect()).toMatchObject({ active: false })
  }

  it('advertises both methods at the token, revocation and introspection endpoints (RFC 8414 §2)', async () => {
    const { as } = await start()
    expect(as.token_endpoint_auth_methods_supported).toEqual(['private_key_jwt', 'client_secret_jwt'])
    expect(as.revocation_endpoint_auth_methods_supported).toEqual(['private_key_jwt', 'client_secret_jwt'])
    expect(as.introspection_endpoint_auth_methods_supported).toEqual(['private_key_jwt', 'client_secret_jwt'])
    expect(as.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.any(Array))
  })

  it.each([
    ['ES256', 'es', 'es-1'],
    ['RS256', 'rs', 'rs-1'],
  ] as const)('private_key_jwt (%s, keys at the jwks_uri): token, introspection, revocation', async (_alg, key, kid) => {
    const { as, jwks } = await start()
    await tokenLife(as, svc, oauth.PrivateKeyJwt({ key: keys[key].privateKey, kid }))
    // The client's JWK Set was fetched once and then served from the cache.
    expect(jwks.hits).toBe(1)
  })

  it('client_secret_jwt (HS256, the sealed secret): token, introspection, revocation', async () => {
    const { as } = await start()
    await tokenLife(as, hmac, oauth.ClientSecretJwt(SHARED_SECRET))
  })

  it('answers invalid_client to an assertion signed with a key the client does not hold', async () => {
    const { as } = await start()
    const auth = oauth.PrivateKeyJwt({ key: keys.stranger.privateKey, kid: 'es-1' })
    expect(await oauthError(oauth.clientCredentialsGrantRequest(as, svc, auth, {}, insecure).then((r) => oauth.processClientCredentialsResponse(as, svc, r)))).toEqual({
      error: 'invalid_client',
      status: 400,
    })
  })

  it('answers invalid_client to a wrong client secret', async () => {
    const { as } = await start()
    const auth = oauth.ClientSecretJwt(SHARED_SECRET.toUpperCase())
    expect(await oauthError(oauth.clientCredentialsGrantRequest(as, hmac, auth, {}, insecure).then((r) => oauth.processClientCredentialsResponse(as, hmac, r)))).toMatchObject({
      error: 'invalid_client',
    })
  })

  it('answers a replayed assertion with invalid_client, as JSON, over raw HTTP', async () => {
    const { issuer } = await start()
    const now = Math.floor(Date.now() / 1000)
    const assertion = await sign({ iss: 'svc', sub: 'svc', aud: issuer.origin, iat: now, exp: now + 60, jti: 'once' }, keys.es.privateKey, 'ES256', 'es-1')
    const post = () =>
      fetch(new URL('/token', issuer), {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }),
      })
    expect((await post()).status).toBe(200)
    const replay = await post()
    expect(replay.status).toBe(400)
    expect(replay.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await replay.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/already used/) })
  })
})
