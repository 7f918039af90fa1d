import { AuthorizationServer, createHttpHandler, createOAuthRequest, memoryStore, type Client } from '@grantkit/core'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ImplicitGrant } from '@grantkit/grant-implicit'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { describe, expect, it } from 'vitest'
import { DiscoveryEndpoint } from './discovery-endpoint.js'
import { EndSessionEndpoint } from './end-session-endpoint.js'
import { OpenIDHybridGrant } from './hybrid.js'
import { OpenIDImplicitGrant } from './implicit.js'
import { testKeys } from './internal/testing.js'
import { OpenIDCode } from './openid-code.js'
import { OpenIDProvider, tokenHash } from './provider.js'
import { UserInfoEndpoint } from './userinfo-endpoint.js'

const client = (overrides: Partial<Client> = {}): Client => ({
  clientId: 'c',
  clientSecretHash: null,
  redirectUris: ['https://rp.example/cb'],
  grantTypes: ['authorization_code'],
  responseTypes: ['code'],
  scope: 'openid',
  tokenEndpointAuthMethod: 'none',
  ...overrides,
})

const provider = (options: Partial<ConstructorParameters<typeof OpenIDProvider>[0]> = {}) =>
  new OpenIDProvider({ keys: testKeys(['RS256', 'ES256']), pairwiseSalt: 'a-long-secret-pairwise-salt', ...options })

describe('at_hash and c_hash (Core §3.1.3.6, §3.3.2.11)', () => {
  it('match the examples of Core Appendix A', () => {
    expect(tokenHash('jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y', 'RS256')).toBe('77QmUPtjPfzWtF2AnpK9RQ')
    expect(tokenHash('Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk', 'RS256')).toBe('LDktKdoQak3Pk0cnXxCltA')
  })

  it('use SHA-512 for EdDSA (Ed25519): 32 bytes, 43 characters', () => {
    expect(tokenHash('x', 'EdDSA')).toHaveLength(43)
    expect(tokenHash('x', 'ES256')).toBe(tokenHash('x', 'RS256'))
  })
})

describe('pairwise subject identifiers (Core §8.1)', () => {
  const p = provider()

  it('are the same for clients of one sector, different across sectors, never the local id', () => {
    const a = client({ clientId: 'a', metadata: { subject_type: 'pairwise' } })
    const b = client({ clientId: 'b', redirectUris: ['https://rp.example/other'], metadata: { subject_type: 'pairwise' } })
    const c = client({ clientId: 'c', redirectUris: ['https://elsewhere.example/cb'], metadata: { subject_type: 'pairwise' } })
    expect(p.subject(a, 'alice')).toBe(p.subject(b, 'alice'))
    expect(p.subject(a, 'alice')).not.toBe(p.subject(c, 'alice'))
    expect(p.subject(a, 'alice')).not.toContain('alice')
    expect(p.subject(a, 'alice')).not.toBe(p.subject(a, 'bob'))
  })

  it('take the sector from sector_identifier_uri when registered', () => {
    const one = client({ redirectUris: ['https://a.example/cb', 'https://b.example/cb'], metadata: { subject_type: 'pairwise', sector_identifier_uri: 'https://sector.example/uris.json' } })
    const two = client({ redirectUris: ['https://sector.example/cb'], metadata: { subject_type: 'pairwise' } })
    expect(p.subject(one, 'alice')).toBe(p.subject(two, 'alice'))
  })

  it('depend on the salt', () => {
    const other = provider({ pairwiseSalt: 'another-long-secret-salt!' })
    const a = client({ metadata: { subject_type: 'pairwise' } })
    expect(other.subject(a, 'alice')).not.toBe(p.subject(a, 'alice'))
  })

  it('refuse a client with redirect URIs on several hosts and no sector_identifier_uri (unauthorized_client)', () => {
    const several = client({ redirectUris: ['https://a.example/cb', 'https://b.example/cb'], metadata: { subject_type: 'pairwise' } })
    expect(() => p.checkClient(several)).toThrow(expect.objectContaining({ code: 'unauthorized_client' }))
  })

  it('are public ids for public clients, and for everyone by default', () => {
    expect(p.subject(client(), 'alice')).toBe('alice')
    expect(p.subject(client({ metadata: { subject_type: 'public' } }), 'alice')).toBe('alice')
    expect(provider({ defaultSubjectType: 'pairwise' }).subject(client(), 'alice')).not.toBe('alice')
  })
})

describe('ID token algorithm per client (id_token_signed_response_alg)', () => {
  const p = provider()
  it('defaults to RS256, takes a supported one, refuses one without a key or none', () => {
    expect(p.algorithmFor(client())).toBe('RS256')
    expect(p.algorithmFor(client({ metadata: { id_token_signed_response_alg: 'ES256' } }))).toBe('ES256')
    for (const alg of ['EdDSA', 'none', 'HS256', 42]) {
      expect(() => p.algorithmFor(client({ metadata: { id_token_signed_response_alg: alg } }))).toThrow(expect.objectContaining({ code: 'unauthorized_client' }))
    }
  })
})

describe('configuration is checked once, with a TypeError', () => {
  it.each([
    ['no keys', () => new OpenIDProvider({} as never)],
    ['a key set without RS256 (Discovery §3: RS256 MUST be supported)', () => new OpenIDProvider({ keys: testKeys(['ES256']) })],
    ['an ID token lifetime beyond the key retention', () => new OpenIDProvider({ keys: testKeys(['RS256']), idTokenLifetime: 90_000 })],
    ['a short pairwise salt', () => provider({ pairwiseSalt: 'short' })],
    ['pairwise by default without a salt', () => new OpenIDProvider({ keys: testKeys(['RS256']), defaultSubjectType: 'pairwise' })],
    ['a findClaims that is not a function', () => provider({ findClaims: 'nope' as never })],
    ['a relative loggedOutPage', () => provider({ loggedOutPage: '/bye' })],
    ['a path without a slash', () => provider({ paths: { userinfo: 'userinfo' } })],
  ])('refuses %s', (_case, build) => {
    expect(build).toThrow(TypeError)
  })

  const server = () => new AuthorizationServer({ issuer: 'https://op.example', store: memoryStore() })

  it('refuses OpenID grants, extensions and endpoints on a server without an installed provider', () => {
    expect(() => server().registerGrant(AuthorizationCodeGrant, [new OpenIDCode()])).toThrow(/install an OpenIDProvider/)
    expect(() => server().registerGrant(OpenIDImplicitGrant)).toThrow(/install an OpenIDProvider/)
    expect(() => server().registerGrant(OpenIDHybridGrant)).toThrow(/install an OpenIDProvider/)
    expect(() => server().registerEndpoint(UserInfoEndpoint)).toThrow(/install an OpenIDProvider/)
    expect(() => server().registerEndpoint(DiscoveryEndpoint)).toThrow(/install an OpenIDProvider/)
    expect(() => server().registerEndpoint(EndSessionEndpoint)).toThrow(/install an OpenIDProvider/)
  })

  it('refuses OpenIDCode on a grant other than the code and refresh grants', () => {
    const s = server()
    provider().install(s)
    expect(() => s.registerGrant(ImplicitGrant, [new OpenIDCode()])).toThrow(TypeError)
    expect(() => s.registerGrant(RefreshTokenGrant, [new OpenIDCode()])).not.toThrow()
  })

  it('refuses installing a provider twice, or on two servers', () => {
    const s = server()
    const p = provider().install(s)
    expect(() => provider().install(s)).toThrow(TypeError)
    expect(() => p.install(server())).toThrow(TypeError)
  })

  it('refuses a non-boolean requireNonce', () => {
    expect(() => new OpenIDCode({ requireNonce: 'yes' as never })).toThrow(TypeError)
  })
})

describe('discovery (Discovery §4)', () => {
  it('is served at the issuer plus /.well-known/openid-configuration, also for an issuer with a path (§4.1)', async () => {
    const s = new AuthorizationServer({ issuer: 'https://op.example/tenant', store: memoryStore() })
    provider().install(s)
    s.registerGrant(AuthorizationCodeGrant, [new OpenIDCode()]).registerEndpoint(DiscoveryEndpoint).registerEndpoint(UserInfoEndpoint)
    expect(createHttpHandler(s).paths).toEqual(expect.arrayContaining(['/tenant/.well-known/openid-configuration', '/tenant/userinfo', '/tenant/jwks.json']))
    const response = await s.createEndpointResponse('openid-configuration', createOAuthRequest({ method: 'GET', url: '/tenant/.well-known/openid-configuration' }))
    expect(response.status).toBe(200)
    expect(response.headers['cache-control']).toBe('public, max-age=300')
    // Discovery §3: REQUIRED members.
    expect(response.body).toMatchObject({
      issuer: 'https://op.example/tenant',
      authorization_endpoint: 'https://op.example/tenant/authorize',
      token_endpoint: 'https://op.example/tenant/token',
      userinfo_endpoint: 'https://op.example/tenant/userinfo',
      jwks_uri: 'https://op.example/tenant/jwks.json',
      response_types_supported: ['code'],
      subject_types_supported: ['public', 'pairwise'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      scopes_supported: ['openid'],
    })
    expect(response.body).not.toHaveProperty('end_session_endpoint')
  })

  it('answers 405 to POST', async () => {
    const s = new AuthorizationServer({ issuer: 'https://op.example', store: memoryStore() })
    provider().install(s)
    s.registerEndpoint(DiscoveryEndpoint)
    const outcome = await createHttpHandler(s).handle({ method: 'POST', path: '/.well-known/openid-configuration', query: '', url: '/.well-known/openid-configuration', headers: {}, body: { kind: 'none' } as never })
    expect(outcome).toMatchObject({ status: 405 })
  })
})
