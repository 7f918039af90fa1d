import { randomUUID, webcrypto } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeCases, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CALLBACK, USER } from './support/fixtures.js'
import { authorize } from './support/login-form.js'
import { FORM } from './support/oauth-http.js'

// docs/demo-server.md "DPoP" (nonces, RFC 9449 §8): every grant of the demo asks a proof without the current
// nonce to be repeated with it, and the refused attempt spends nothing (no code, no assertion), because the
// proof is checked before the grant reads the request. oauth4webapi (unmodified) retries on use_dpop_nonce.

const insecure = { [oauth.allowInsecureRequests]: true } as const
const APPROVE = { username: USER.username, password: USER.password, decision: 'approve' }
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const SPA = 'nonce-spa'
const KEY_CLIENT = 'nonce-service'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const seconds = () => Math.floor(Date.now() / 1000)

async function es256(): Promise<{ pair: webcrypto.CryptoKeyPair; jwk: Record<string, string>; sign: (payload: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string> }> {
  const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const exported = await webcrypto.subtle.exportKey('jwk', pair.publicKey)
  const jwk = { kty: exported.kty as string, crv: exported.crv as string, x: exported.x as string, y: exported.y as string }
  return {
    pair,
    jwk,
    async sign(payload, header = { alg: 'ES256', typ: 'JWT' }) {
      const input = `${b64(header)}.${b64(payload)}`
      return `${input}.${Buffer.from(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, Buffer.from(input))).toString('base64url')}`
    },
  }
}

describe.each(storeCases().filter((c) => c.name === 'memory' || c.name === 'sqlite'))('DPoP nonces on every grant of the demo, on the $name store (RFC 9449 §8)', ({ setup }) => {
  let demo: DemoServer
  let as: oauth.AuthorizationServer
  let clientKey: Awaited<ReturnType<typeof es256>>
  let cleanup: () => Promise<void>
  const spa: oauth.Client = { client_id: SPA, token_endpoint_auth_method: 'none' }

  beforeAll(async () => {
    const tmp = await tempDir()
    clientKey = await es256()
    const seedFile = await writeSeed(tmp.dir, {
      clients: [
        { client_id: SPA, redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token'], scope: 'profile read', token_endpoint_auth_method: 'none' },
        {
          client_id: KEY_CLIENT,
          grant_types: ['client_credentials', JWT_BEARER_GRANT],
          scope: 'read',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [{ ...clientKey.jwk, alg: 'ES256', use: 'sig' }] },
        },
      ],
      users: [USER],
    })
    const store = await setup(tmp.dir)
    cleanup = async () => {
      await store.cleanup()
      await tmp.remove()
    }
    demo = await startDemoServer({ OAUTH_STORE: store.spec, OAUTH_SEED: seedFile, OAUTH_LOG: 'off' }, tmp.dir)
    const issuer = new URL(demo.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))
  })

  afterAll(async () => {
    const code = demo === undefined ? undefined : await demo.stop()
    await cleanup?.()
    if (demo !== undefined) expect(code).toBe(0)
  })

  /** A code of the SPA through the consent page. */
  async function spaCode(): Promise<{ params: URLSearchParams; verifier: string }> {
    const verifier = oauth.generateRandomCodeVerifier()
    const url = new URL(as.authorization_endpoint as string)
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: SPA,
      redirect_uri: CALLBACK,
      scope: 'profile read',
      state: 'nonce',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString()
    const res = await authorize(url, APPROVE)
    return { params: oauth.validateAuthResponse(as, spa, new URL(res.headers.get('location') as string), 'nonce'), verifier }
  }

  it('asks the code exchange for a nonce; oauth4webapi retries with the same code, which the refused attempt did not spend', async () => {
    const { params, verifier } = await spaCode()
    const DPoP = oauth.DPoP(spa, await oauth.generateKeyPair('ES256'))
    const exchange = () => oauth.authorizationCodeGrantRequest(as, spa, oauth.None(), params, CALLBACK, verifier, { ...insecure, DPoP })
    const first = await exchange()
    expect(first.status).toBe(400)
    expect(first.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]+$/)
    await expect(oauth.processAuthorizationCodeResponse(as, spa, first)).rejects.toSatisfy(oauth.isDPoPNonceError)
    const tokens = await oauth.processAuthorizationCodeResponse(as, spa, await exchange())
    expect(tokens).toMatchObject({ token_type: 'dpop', scope: 'profile read' })
    // The code is spent now: RFC 6749 §4.1.2, once.
    await expect(oauth.processAuthorizationCodeResponse(as, spa, await exchange())).rejects.toMatchObject({ error: 'invalid_grant' })
  })

  it('refuses a bad proof on a code exchange before the code is read: the code stays usable (RFC 9449 §4.3)', async () => {
    const { params, verifier } = await spaCode()
    const key = await es256()
    const body = new URLSearchParams({ grant_type: 'authorization_code', client_id: SPA, code: params.get('code') as string, redirect_uri: CALLBACK, code_verifier: verifier })
    const wrongUrl = await key.sign({ jti: randomUUID(), htm: 'POST', htu: `${demo.issuer}/elsewhere`, iat: seconds() }, { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
    const refused = await fetch(as.token_endpoint as string, { method: 'POST', headers: { ...FORM, dpop: wrongUrl }, body })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({ error: 'invalid_dpop_proof' })
    const DPoP = oauth.DPoP(spa, key.pair)
    const exchange = async () => oauth.processAuthorizationCodeResponse(as, spa, await oauth.authorizationCodeGrantRequest(as, spa, oauth.None(), params, CALLBACK, verifier, { ...insecure, DPoP }))
    const tokens = await exchange().catch(async (error: unknown) => {
      if (!oauth.isDPoPNonceError(error)) throw error
      return exchange()
    })
    expect(tokens.token_type).toBe('dpop')
  })

  it('asks a JWT bearer grant for a nonce; the same assertion is accepted on the retry (RFC 7523 §3 item 7: its jti was not used up)', async () => {
    const assertion = await clientKey.sign({ iss: KEY_CLIENT, sub: USER.username, aud: as.token_endpoint, jti: randomUUID(), iat: seconds(), exp: seconds() + 60 })
    const client: oauth.Client = { client_id: KEY_CLIENT, token_endpoint_auth_method: 'private_key_jwt' }
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
    const request = () => oauth.genericTokenEndpointRequest(as, client, oauth.PrivateKeyJwt(clientKey.pair.privateKey), JWT_BEARER_GRANT, { assertion, scope: 'read' }, { ...insecure, DPoP })
    await expect(oauth.processGenericTokenEndpointResponse(as, client, await request())).rejects.toSatisfy(oauth.isDPoPNonceError)
    const tokens = await oauth.processGenericTokenEndpointResponse(as, client, await request())
    expect(tokens.token_type).toBe('dpop')
  })

  it('answers use_dpop_nonce before client authentication: the same client assertion works on the retry (RFC 7523 §3 item 7)', async () => {
    const clientAssertion = await clientKey.sign({ iss: KEY_CLIENT, sub: KEY_CLIENT, aud: demo.issuer, jti: randomUUID(), iat: seconds(), exp: seconds() + 60 })
    const key = await es256()
    const proof = (nonce?: string) =>
      key.sign({ jti: randomUUID(), htm: 'POST', htu: as.token_endpoint, iat: seconds(), ...(nonce === undefined ? {} : { nonce }) }, { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
    const request = async (nonce?: string) =>
      fetch(as.token_endpoint as string, {
        method: 'POST',
        headers: { ...FORM, dpop: await proof(nonce) },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion }),
      })
    const first = await request()
    expect(first.status).toBe(400)
    expect(await first.json()).toMatchObject({ error: 'use_dpop_nonce' })
    const second = await request(first.headers.get('dpop-nonce') as string)
    expect(second.status).toBe(200)
    expect(await second.json()).toMatchObject({ token_type: 'DPoP' })
    // Now the assertion is used: a third request with it is refused (RFC 7523 §3 item 7).
    const third = await request(first.headers.get('dpop-nonce') as string)
    expect(third.status).toBe(401)
  })
})
