import { describe, expect, it } from 'vitest'
import { protectedResourceMetadata, protectedResourceMetadataUrl } from './protected-resource-metadata.js'
import { memoryStore } from './memory-store.js'
import { createResourceGuard } from './resource-guard.js'
import { hashToken } from './secrets.js'
import { AuthorizationServer } from './server.js'

describe('protectedResourceMetadataUrl (RFC 9728 §3.1)', () => {
  it.each([
    ['https://api.example.com', 'https://api.example.com/.well-known/oauth-protected-resource'],
    ['https://api.example.com/', 'https://api.example.com/.well-known/oauth-protected-resource'],
    ['https://api.example.com/mcp', 'https://api.example.com/.well-known/oauth-protected-resource/mcp'],
    ['https://api.example.com/v1/mcp/', 'https://api.example.com/.well-known/oauth-protected-resource/v1/mcp'],
    ['https://api.example.com:8443/r?tenant=a', 'https://api.example.com:8443/.well-known/oauth-protected-resource/r?tenant=a'],
  ])('inserts the well-known suffix between host and path: %s', (resource, url) => {
    expect(protectedResourceMetadataUrl(resource)).toBe(url)
  })

  it('refuses what is not an https URL without fragment (RFC 9728 §2), http only when allowed', () => {
    expect(() => protectedResourceMetadataUrl('/mcp')).toThrow(/absolute URL/)
    expect(() => protectedResourceMetadataUrl('http://127.0.0.1:3000/mcp')).toThrow(/https/)
    expect(() => protectedResourceMetadataUrl('https://api.example.com/mcp#x')).toThrow(/fragment/)
    expect(protectedResourceMetadataUrl('http://127.0.0.1:3000/mcp', { allowHttp: true })).toBe('http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp')
  })
})

describe('protectedResourceMetadata (RFC 9728 §2)', () => {
  it('builds the document with the resource exactly as given (§3.3) and where to serve it', () => {
    const metadata = protectedResourceMetadata({
      resource: 'https://api.example.com/mcp',
      authorizationServers: ['https://auth.example.com'],
      scopesSupported: ['mcp'],
      resourceName: 'Example MCP',
      extra: { resource: 'https://evil.example', resource_policy_uri: 'https://api.example.com/policy' },
    })
    expect(metadata.url).toBe('https://api.example.com/.well-known/oauth-protected-resource/mcp')
    expect(metadata.path).toBe('/.well-known/oauth-protected-resource/mcp')
    expect(metadata.document).toEqual({
      resource: 'https://api.example.com/mcp',
      authorization_servers: ['https://auth.example.com'],
      scopes_supported: ['mcp'],
      bearer_methods_supported: ['header'],
      resource_name: 'Example MCP',
      resource_policy_uri: 'https://api.example.com/policy',
    })
  })

  it('adds the DPoP parameters when given (RFC 9449 §5.1)', () => {
    const { document } = protectedResourceMetadata({ resource: 'https://api.example.com', dpopSigningAlgValuesSupported: ['ES256'], dpopBoundAccessTokensRequired: true })
    expect(document).toMatchObject({ dpop_signing_alg_values_supported: ['ES256'], dpop_bound_access_tokens_required: true })
  })

  it('refuses an authorization server that is not an https issuer', () => {
    expect(() => protectedResourceMetadata({ resource: 'https://api.example.com', authorizationServers: ['auth.example.com'] })).toThrow(/absolute URL/)
    expect(() => protectedResourceMetadata({ resource: 'https://api.example.com', authorizationServers: ['http://auth.example.com'] })).toThrow(/https/)
    expect(() => protectedResourceMetadata({} as never)).toThrow(/resource/)
  })
})

describe('audience-restricted tokens at the resource guard (RFC 8707 section 2, RFC 9728 section 5.1)', () => {
  const issuer = 'https://auth.example.com'
  const metadata = protectedResourceMetadata({ resource: 'https://api.example.com/mcp', authorizationServers: [issuer] })

  async function serverWith(aud: unknown): Promise<AuthorizationServer> {
    const store = memoryStore()
    const now = Date.now()
    await store.saveTokens([
      {
        tokenHash: hashToken('t'),
        type: 'access_token',
        clientId: 'c',
        userId: 'u',
        scope: 'mcp',
        familyId: 'f',
        issuedAt: new Date(now - 1000),
        expiresAt: new Date(now + 60_000),
        revokedAt: null,
        rotatedAt: null,
        ...(aud === undefined ? {} : { extra: { claims: { aud } } }),
      },
    ])
    return new AuthorizationServer({ issuer, store })
  }
  const request = { method: 'GET', url: '/mcp', headers: { authorization: 'Bearer t' } }

  it.each([
    ['the resource as a string', 'https://api.example.com/mcp', true],
    ['the resource in a list', ['https://other.example', 'https://api.example.com/mcp'], true],
    ['another resource', 'https://api.example.com/other', false],
    ['no audience', undefined, false],
    ['a malformed audience', 42, false],
  ])('a token whose aud is %s is accepted: %s', async (_name, aud, accepted) => {
    const guard = createResourceGuard(await serverWith(aud), { metadata })
    const result = await guard(request)
    expect(result.ok).toBe(accepted)
    if (!result.ok) {
      expect(result.outcome).toMatchObject({ status: 401 })
      const headers = (result.outcome as { headers: Record<string, string> }).headers
      expect(headers['www-authenticate']).toContain('error="invalid_token"')
      expect(headers['www-authenticate']).toContain(`resource_metadata="${metadata.url}"`)
    }
  })

  it('puts resource_metadata in the bare challenge without a token, and not in a 403', async () => {
    const guard = createResourceGuard(await serverWith(metadata.document['resource']), { metadata, scope: 'admin' })
    const bare = await guard({ method: 'GET', url: '/mcp', headers: {} })
    expect(bare.ok).toBe(false)
    if (!bare.ok) expect((bare.outcome as { headers: Record<string, string> }).headers['www-authenticate']).toBe(`Bearer realm="${issuer}", resource_metadata="${metadata.url}"`)
    const forbidden = await guard(request)
    expect(forbidden.ok).toBe(false)
    if (!forbidden.ok) {
      expect(forbidden.outcome).toMatchObject({ status: 403 })
      expect((forbidden.outcome as { headers: Record<string, string> }).headers['www-authenticate']).not.toContain('resource_metadata')
    }
  })

  it('accepts a token without audience only when the list holds null', async () => {
    const none = await serverWith(undefined)
    expect((await createResourceGuard(none, { audience: [null, 'https://api.example.com/mcp'] })(request)).ok).toBe(true)
    expect((await createResourceGuard(none, { audience: ['https://api.example.com/mcp'] })(request)).ok).toBe(false)
    const other = await serverWith('https://api.example.com/other')
    expect((await createResourceGuard(other, { audience: [null, 'https://api.example.com/mcp'] })(request)).ok).toBe(false)
  })

  it('refuses bad options at configuration time', async () => {
    const server = await serverWith(undefined)
    expect(() => createResourceGuard(server, { metadata: {} as never })).toThrow(/protectedResourceMetadata/)
    expect(() => createResourceGuard(server, { audience: [] })).toThrow(/audience/)
    expect(() => createResourceGuard(server, { audience: 3 as never })).toThrow(/audience/)
  })
})

describe('AuthorizationServer "metadata" option (RFC 8414 section 2)', () => {
  it('adds parameters but never replaces one built from the registrations', () => {
    const server = new AuthorizationServer({
      issuer: 'https://auth.example.com',
      store: memoryStore(),
      metadata: { service_documentation: 'https://docs.example.com', issuer: 'https://evil.example', token_endpoint_auth_methods_supported: ['none'] },
    })
    const document = server.metadata()
    expect(document['service_documentation']).toBe('https://docs.example.com')
    expect(document['issuer']).toBe('https://auth.example.com')
    expect(document['token_endpoint_auth_methods_supported']).toEqual([])
  })

  it('refuses a metadata option that is not an object', () => {
    expect(() => new AuthorizationServer({ issuer: 'https://auth.example.com', store: memoryStore(), metadata: [] as never })).toThrow(/metadata/)
  })
})
