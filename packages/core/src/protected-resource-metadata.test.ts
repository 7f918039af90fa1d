import { describe, expect, it } from 'vitest'
import { protectedResourceMetadata, protectedResourceMetadataUrl } from './protected-resource-metadata.js'

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
