// The resource side of DPoP (RFC 9449 §7) in core, without @grantkit/ext-dpop:
// proofs checked with node:crypto against a token bound by its stored
// `cnf.jkt` claim. Proofs are made with jose, an independent implementation.
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import { jwkThumbprint, verifyDPoPProof } from './bearer.js'
import { createOAuthRequest } from './request.js'
import { IntrospectionEndpoint } from './introspection-endpoint.js'
import { createResourceGuard, type ResourceGuardOptions } from './resource-guard.js'
import { hashToken } from './secrets.js'
import { basic, saveClient, setup } from './internal/test-fixtures.js'

const API = 'https://api.example.com/api/me'
const TOKEN = 'bound-access-token'

interface Key {
  readonly privateKey: CryptoKey
  readonly jwk: JWK
  readonly jkt: string
  readonly alg: string
}

async function newKey(alg: string, options: { modulusLength?: number; crv?: string } = {}): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...options })
  const jwk = await exportJWK(publicKey)
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk), alg }
}

const ath = (token: string) => createHash('sha256').update(token).digest('base64url')

function proof(key: Key, now: number, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ jti: randomUUID(), iat: Math.floor(now / 1000), htm: 'GET', htu: API, ath: ath(TOKEN), ...claims })
    .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.jwk, ...header } as never)
    .sign(key.privateKey)
}

/** A server whose store holds TOKEN bound to `jkt`, and a guard. */
async function bound(jkt: string, options: ResourceGuardOptions = {}) {
  const s = setup()
  await s.store.saveTokens([
    {
      tokenHash: hashToken(TOKEN),
      type: 'access_token',
      clientId: 'svc',
      userId: null,
      scope: 'read',
      familyId: 'f',
      issuedAt: new Date(s.t),
      expiresAt: new Date(s.t + 3600_000),
      revokedAt: null,
      rotatedAt: null,
      extra: { claims: { cnf: { jkt } } },
    },
  ])
  const guard = createResourceGuard(s.server, { scope: 'read', ...options })
  const call = (headers: Record<string, string | string[]>, url = '/api/me', method = 'GET') => guard({ method, url, headers: { host: 'api.example.com', ...headers } })
  return { ...s, guard, call }
}

describe('DPoP at the protected resource, in core (RFC 9449 §7)', () => {
  it('computes the RFC 7638 §3.1 thumbprint of the example key', () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    }
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  })

  it.each([
    ['ES256', {}],
    ['ES384', {}],
    ['ES512', {}],
    ['PS256', {}],
    ['RS256', {}],
    ['EdDSA', { crv: 'Ed25519' }],
  ])('accepts a %s proof of the bound key', async (alg, options) => {
    const key = await newKey(alg, options)
    const { call, t } = await bound(key.jkt)
    const result = await call({ authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t) })
    expect(result).toMatchObject({ ok: true, token: { clientId: 'svc', scopes: ['read'] } })
  })

  it('accepts the DPoP scheme in any case (RFC 9110 §11.1)', async () => {
    const key = await newKey('ES256')
    const { call, t } = await bound(key.jkt)
    expect((await call({ authorization: `dpop ${TOKEN}`, dpop: await proof(key, t) })).ok).toBe(true)
  })

  it.each<[string, (key: Key, t: number) => Promise<Record<string, string | string[]>>]>([
    ['an RSA key shorter than 2048 bits', async (_key, t) => {
      // jose refuses to sign with such a key: signed with node:crypto.
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
      const input = `${encode({ alg: 'RS256', typ: 'dpop+jwt', jwk: publicKey.export({ format: 'jwk' }) })}.${encode({ jti: 'j', iat: Math.floor(t / 1000), htm: 'GET', htu: API, ath: ath(TOKEN) })}`
      return { authorization: `DPoP ${TOKEN}`, dpop: `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}` }
    }],
    ['an alg that does not fit the key (ES256 header, P-384 key)', async (_key, t) => {
      const p384 = await newKey('ES384')
      const signed = await proof(p384, t)
      const [, payload, signature] = signed.split('.')
      const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: p384.jwk })).toString('base64url')
      return { authorization: `DPoP ${TOKEN}`, dpop: `${header}.${payload}.${signature}` }
    }],
    ['a proof from more than 60 s in the future', async (key, t) => ({ authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t, { iat: Math.floor(t / 1000) + 61 }) })],
    ['a proof older than maxAge', async (key, t) => ({ authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t, { iat: Math.floor(t / 1000) - 301 }) })],
    ['two DPoP headers', async (key, t) => ({ authorization: `DPoP ${TOKEN}`, dpop: [await proof(key, t), await proof(key, t)] })],
    ['two proofs joined in one header', async (key, t) => ({ authorization: `DPoP ${TOKEN}`, dpop: `${await proof(key, t)}, ${await proof(key, t)}` })],
    ['a proof with a string iat', async (key, t) => ({ authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t, { iat: String(Math.floor(t / 1000)) }) })],
    ['a proof for another host', async (key, t) => ({ authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t, { htu: 'https://evil.example.com/api/me' }) })],
  ])('refuses %s with 401 invalid_dpop_proof', async (_, make) => {
    const key = await newKey('ES256')
    const { call, t } = await bound(key.jkt)
    const result = await call(await make(key, t))
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.outcome).toMatchObject({ kind: 'json', status: 401 })
    expect(JSON.parse((result.outcome as { body: string }).body)).toMatchObject({ error: 'invalid_dpop_proof' })
    expect(result.outcome.kind === 'json' && result.outcome.headers['www-authenticate']).toMatch(/^DPoP realm="https:\/\/auth.example.com", algs="[^"]+", error="invalid_dpop_proof"/)
  })

  it('restricts algorithms with dpop.algorithms and announces them in the challenge', async () => {
    const key = await newKey('PS256')
    const { call, t } = await bound(key.jkt, { dpop: { algorithms: ['ES256'] } })
    const result = await call({ authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t) })
    expect(!result.ok && result.outcome.kind === 'json' && result.outcome.headers['www-authenticate']).toContain('algs="ES256", error="invalid_dpop_proof"')
  })

  it('checks htu against dpop.origin behind a proxy, ignoring the Host header', async () => {
    const key = await newKey('ES256')
    const { call, t } = await bound(key.jkt, { dpop: { origin: 'https://api.example.com' } })
    expect((await call({ host: 'internal:8080', authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t) })).ok).toBe(true)
    const other = await call({ authorization: `DPoP ${TOKEN}`, dpop: await proof(key, t, { htu: 'http://internal:8080/api/me' }) })
    expect(other.ok).toBe(false)
  })

  it('remembers jtis in the store (RFC 9449 §11.1) until the proof is too old anyway', async () => {
    const key = await newKey('ES256')
    const s = await bound(key.jkt)
    const once = await proof(key, s.t)
    expect((await s.call({ authorization: `DPoP ${TOKEN}`, dpop: once })).ok).toBe(true)
    expect((await s.call({ authorization: `DPoP ${TOKEN}`, dpop: once })).ok).toBe(false)
    expect(s.store.snapshot().replay).toHaveLength(1)
  })

  it('checks the proof of verifyDPoPProof without an access token (a token endpoint) and returns the thumbprint', async () => {
    const key = await newKey('ES256')
    const now = Date.UTC(2030, 0, 1)
    const jwt = await proof(key, now, { htm: 'POST', htu: 'https://auth.example.com/token', ath: undefined })
    expect(verifyDPoPProof(jwt, { method: 'POST', url: 'https://auth.example.com/token?x=1', now: now / 1000 })).toMatchObject({ jkt: key.jkt })
  })

  it.each([
    ['"dpop" is not an object', { dpop: 'yes' }],
    ['"dpop.algorithms" has HS256', { dpop: { algorithms: ['HS256'] } }],
    ['"dpop.algorithms" is empty', { dpop: { algorithms: [] } }],
    ['"dpop.maxAge" is 0', { dpop: { maxAge: 0 } }],
    ['"dpop.origin" has a path', { dpop: { origin: 'https://api.example.com/x' } }],
  ])('throws a TypeError when %s', async (_, options) => {
    const { server } = setup()
    expect(() => createResourceGuard(server, options as ResourceGuardOptions)).toThrow(TypeError)
  })

  it('introspects a bound token with token_type DPoP and cnf (RFC 9449 §6.2)', async () => {
    const key = await newKey('ES256')
    const s = await bound(key.jkt)
    const { clientSecret } = await saveClient(s.store, { clientId: 'svc', grantTypes: ['client_credentials'] })
    s.server.registerEndpoint(IntrospectionEndpoint)
    const response = await s.server.createEndpointResponse(
      'introspection',
      createOAuthRequest({ method: 'POST', url: '/introspect', headers: { authorization: basic('svc', clientSecret) }, body: { token: TOKEN } }),
    )
    expect(response.body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } })
  })
})
