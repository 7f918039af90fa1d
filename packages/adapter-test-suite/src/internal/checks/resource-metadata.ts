import { describe, expect, it } from 'vitest'
import { protectedResourceMetadata } from '@grantkit/core'
import type { SuiteContext } from '../context.js'
import { ISSUER, RESOURCE, TOKENS } from '../../fixtures.js'

/** Protected resource metadata (RFC 9728) and audience-restricted tokens (RFC 8707) at `requireToken`. */
export function resourceMetadataChecks(ctx: SuiteContext): void {
  const metadata = protectedResourceMetadata({ resource: RESOURCE, authorizationServers: [ISSUER], scopesSupported: ['profile', 'read'], allowHttp: true })
  const challengeParam = `resource_metadata="${metadata.url}"`

  describe('protected resource metadata (RFC 9728) and audiences (RFC 8707)', () => {
    it('serves the metadata document at its well-known path with GET, as JSON open to every origin (RFC 9728 section 3.2)', async () => {
      const { url } = await ctx.start({ resource: { scope: 'profile', metadata } })
      expect(metadata.path).toBe('/.well-known/oauth-protected-resource/resource')
      const res = await fetch(url + metadata.path, { headers: { origin: 'https://app.example' } })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
      expect(await res.json()).toEqual({ resource: RESOURCE, authorization_servers: [ISSUER], scopes_supported: ['profile', 'read'], bearer_methods_supported: ['header'] })
      const head = await fetch(url + metadata.path, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(await head.text()).toBe('')
    })

    it('answers another method at the metadata path with 405 and Allow, never a 5xx', async () => {
      const { url } = await ctx.start({ resource: { scope: 'profile', metadata } })
      const res = await fetch(url + metadata.path, { method: 'POST', body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toContain('GET')
    })

    it('names the metadata in the bare 401 challenge of a request without a token (RFC 9728 section 5.1)', async () => {
      const { url } = await ctx.start({ resource: { scope: 'profile', metadata } })
      const res = await fetch(`${url}/resource`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${ISSUER}", ${challengeParam}`)
    })

    it('refuses a valid token issued for another audience with 401 invalid_token naming the metadata (RFC 8707 section 2, RFC 9728 section 5.1)', async () => {
      const { url } = await ctx.start({ resource: { scope: 'profile', metadata } })
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.user}` } })
      expect(res.status).toBe(401)
      const challenge = res.headers.get('www-authenticate') ?? ''
      expect(challenge).toMatch(/^Bearer realm="[^"]*", error="invalid_token"/)
      expect(challenge).toContain(challengeParam)
      expect(await res.json()).toMatchObject({ error: 'invalid_token' })
    })

    it('accepts a token whose audience is the resource (RFC 8707 section 2)', async () => {
      const { url } = await ctx.start({ resource: { scope: 'profile', metadata } })
      const res = await fetch(`${url}/resource`, { headers: { authorization: `Bearer ${TOKENS.audience}` } })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ client_id: 'app', sub: 'user-1', scope: 'profile read' })
    })

    it('checks an explicit audience list, and none with audience: false', async () => {
      const listed = await ctx.start({ resource: { scope: 'profile', audience: ['https://other.example', RESOURCE] } })
      expect((await fetch(`${listed.url}/resource`, { headers: { authorization: `Bearer ${TOKENS.audience}` } })).status).toBe(200)
      expect((await fetch(`${listed.url}/resource`, { headers: { authorization: `Bearer ${TOKENS.user}` } })).status).toBe(401)
      const open = await ctx.start({ resource: { scope: 'profile', metadata, audience: false } })
      expect((await fetch(`${open.url}/resource`, { headers: { authorization: `Bearer ${TOKENS.user}` } })).status).toBe(200)
    })
  })
}
