import { generateKeyPairSync } from 'node:crypto'
import { jwtAccessTokens } from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../context.js'
import { CLIENT_FORM, FORM, ISSUER, authorizeQuery, basicAuth } from '../../fixtures.js'

const METADATA = '/.well-known/oauth-authorization-server'
const ORIGIN = 'https://spa.example'

function signingStrategy() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return jwtAccessTokens({ privateKey, alg: 'ES256', kid: 'k1' })
}

/** CORS for browser-based clients (the Fetch standard's CORS protocol), RFC 8414 metadata and the JWK Set. */
export function corsAndMetadataChecks(ctx: SuiteContext): void {
  describe('CORS for browser-based clients (Fetch standard, CORS protocol)', () => {
    it('answers a preflight from an allowed origin with 204 and the CORS headers', async () => {
      const { url } = await ctx.start({ oauth: { cors: { origins: [ORIGIN], maxAge: 60 } } })
      const res = await fetch(`${url}/token`, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      })
      expect(res.status).toBe(204)
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(res.headers.get('access-control-allow-methods')).toBe('POST')
      expect(res.headers.get('access-control-allow-headers')).toMatch(/Authorization/)
      expect(res.headers.get('access-control-max-age')).toBe('60')
      expect(res.headers.get('vary')).toMatch(/Origin/)
    })

    it('lets an allowed origin read token responses, their errors and the metadata', async () => {
      const { url } = await ctx.start({ oauth: { cors: { origins: [ORIGIN] } } })
      const token = await fetch(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, origin: ORIGIN }, body: 'grant_type=client_credentials' })
      expect(token.status).toBe(200)
      expect(token.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(token.headers.get('vary')).toMatch(/Origin/)
      const failed = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, origin: ORIGIN, authorization: basicAuth('app', 'wrong') }, body: 'grant_type=client_credentials' })
      expect(failed.status).toBe(401)
      expect(failed.headers.get('access-control-allow-origin')).toBe(ORIGIN)
      expect(failed.headers.get('access-control-expose-headers')).toMatch(/WWW-Authenticate/)
      const metadata = await fetch(url + METADATA, { headers: { origin: ORIGIN } })
      expect(metadata.headers.get('access-control-allow-origin')).toBe(ORIGIN)
    })

    it("answers any origin with '*'", async () => {
      const { url } = await ctx.start({ oauth: { cors: { origins: '*' } } })
      const metadata = await fetch(url + METADATA, { headers: { origin: 'https://any.example' } })
      expect(metadata.headers.get('access-control-allow-origin')).toBe('*')
      const token = await fetch(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, origin: 'https://any.example' }, body: 'grant_type=client_credentials' })
      expect(token.headers.get('access-control-allow-origin')).toBe('*')
    })

    it('sends no Access-Control-Allow-Origin to an origin not allowed, but Vary: Origin', async () => {
      const { url } = await ctx.start({ oauth: { cors: { origins: [ORIGIN] } } })
      const preflight = await fetch(`${url}/token`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
      expect(preflight.headers.get('access-control-allow-methods')).toBeNull()
      const token = await fetch(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, origin: 'https://evil.example' }, body: 'grant_type=client_credentials' })
      expect(token.headers.get('access-control-allow-origin')).toBeNull()
      expect(token.headers.get('vary')).toMatch(/Origin/)
    })

    it('sends no CORS headers when CORS is not configured', async () => {
      const { url } = await ctx.start()
      const preflight = await fetch(`${url}/token`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
      const token = await fetch(`${url}/token`, { method: 'POST', headers: { ...CLIENT_FORM, origin: ORIGIN }, body: 'grant_type=client_credentials' })
      expect(token.headers.get('access-control-allow-origin')).toBeNull()
    })

    it('never opens the authorization endpoint to CORS (it is navigated to, not fetched)', async () => {
      const { url } = await ctx.start({ oauth: { cors: { origins: '*' }, authorize: () => ({ page: 'consent' }) } })
      const preflight = await fetch(`${url}/authorize`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'GET' } })
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
      const page = await fetch(`${url}/authorize?${authorizeQuery()}`, { headers: { origin: ORIGIN } })
      expect(page.headers.get('access-control-allow-origin')).toBeNull()
    })
  })

  describe('metadata (RFC 8414 §3)', () => {
    it('serves the metadata as JSON with the endpoint URLs (§3.2)', async () => {
      const { url } = await ctx.start()
      const res = await fetch(url + METADATA)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(await res.json()).toMatchObject({
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/authorize`,
        token_endpoint: `${ISSUER}/token`,
        revocation_endpoint: `${ISSUER}/revoke`,
        introspection_endpoint: `${ISSUER}/introspect`,
        response_types_supported: ['code'],
      })
    })

    it('inserts the well-known segment before the issuer path and serves every endpoint under that path (§3.1)', async () => {
      const issuer = `${ISSUER}/tenant`
      const { url } = await ctx.start({ issuer, oauth: { authorize: () => ({ user: { id: 'u1' } }) } })
      const res = await fetch(`${url}${METADATA}/tenant`)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ issuer, token_endpoint: `${issuer}/token`, authorization_endpoint: `${issuer}/authorize` })
      const token = await fetch(`${url}/tenant/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
      expect(token.status).toBe(200)
      const authorization = await fetch(`${url}/tenant/authorize?${authorizeQuery()}`, { redirect: 'manual' })
      expect(authorization.status).toBe(302)
      expect(new URL(authorization.headers.get('location') as string).searchParams.get('iss')).toBe(issuer)
      // Not at the root: the issuer's path is part of every endpoint.
      expect((await fetch(url + METADATA)).status).toBe(404)
      expect((await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })).status).toBe(404)
    })

    it('is not served with metadata: false', async () => {
      const { url } = await ctx.start({ oauth: { metadata: false } })
      expect((await fetch(url + METADATA)).status).toBe(404)
    })

    it('serves the JWK Set at jwks_uri when the token strategy signs (RFC 8414 §2, RFC 7517 §5)', async () => {
      const { url } = await ctx.start({ tokenStrategy: signingStrategy() })
      const metadata = (await (await fetch(url + METADATA)).json()) as Record<string, unknown>
      expect(metadata['jwks_uri']).toBe(`${ISSUER}/jwks.json`)
      const res = await fetch(`${url}/jwks.json`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/jwk-set+json')
      const { keys } = (await res.json()) as { keys: Record<string, unknown>[] }
      expect(keys).toEqual([expect.objectContaining({ kty: 'EC', crv: 'P-256', kid: 'k1', alg: 'ES256', use: 'sig' })])
      expect(keys[0]).not.toHaveProperty('d')
      const post = await fetch(`${url}/jwks.json`, { method: 'POST' })
      expect(post.status).toBe(405)
      expect(post.headers.get('allow')).toBe('GET, HEAD, OPTIONS')
    })

    it('serves no JWK Set with opaque tokens', async () => {
      const { url } = await ctx.start()
      expect((await fetch(`${url}/jwks.json`)).status).toBe(404)
    })
  })
}
