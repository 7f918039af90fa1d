import { memoryThrottle } from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import type { SuiteContext } from '../context.js'
import { CLIENT_FORM, CLIENT_ID, FORM, basicAuth } from '../../fixtures.js'
import { rawRequest, stalledRequest } from '../raw-http.js'

const enc = new TextEncoder()

/** The token endpoint and the bodies of every form endpoint (RFC 6749 §3.2, §5, Appendix B). */
export function tokenEndpointChecks(ctx: SuiteContext): void {
  describe('token endpoint (RFC 6749 §3.2, §5)', () => {
    it('answers a valid request with 200 JSON tokens, Cache-Control: no-store and Pragma: no-cache (§5.1)', async () => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&scope=read' })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.headers.get('pragma')).toBe('no-cache')
      expect(await res.json()).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', scope: 'read' })
    })

    it.each([
      ['a charset parameter', 'application/x-www-form-urlencoded; charset=UTF-8'],
      ['upper-case letters', 'Application/X-WWW-Form-URLEncoded'],
      ['no space before the parameter', 'application/x-www-form-urlencoded;charset=utf-8'],
    ])('accepts the form media type with %s (RFC 9110 §8.3.1: case-insensitive)', async (_name, type) => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { 'content-type': type, authorization: basicAuth() }, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(200)
    })

    it.each([
      ['JSON', { 'content-type': 'application/json' }, '{"grant_type":"client_credentials"}'],
      ['plain text', { 'content-type': 'text/plain' }, 'grant_type=client_credentials'],
      ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--'],
      ['no media type', {}, enc.encode('grant_type=client_credentials')],
    ])('rejects a %s body with 400 invalid_request (Appendix B: form encoding only)', async (_name, headers: Record<string, string>, body) => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...headers, authorization: basicAuth() }, body })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('answers a failed client authentication with 401 invalid_client and a Basic challenge (§5.2)', async () => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth(CLIENT_ID, 'wrong') }, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic /)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(await res.json()).toMatchObject({ error: 'invalid_client' })
    })

    it('hands the server the client\'s address, so failed credentials are also throttled per address (RFC 6819 §5.1.4.2.3)', async () => {
      const { url } = await ctx.start({ throttle: memoryThrottle({ limit: 100, ipLimit: 2 }) })
      const fail = (id: string) => fetch(`${url}/token`, { method: 'POST', headers: { ...FORM, authorization: basicAuth(id, 'wrong') }, body: 'grant_type=client_credentials' })
      // Two different client ids from one address: the address's limit, not a client's.
      expect((await fail('one')).status).toBe(401)
      expect((await fail('two')).status).toBe(401)
      const third = await fail(CLIENT_ID)
      expect(third.status).toBe(429)
      expect(third.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/)
      expect(await third.json()).toMatchObject({ error: 'invalid_client' })
    })

    it.each([
      ['an unknown grant type', 'grant_type=bogus', 'unsupported_grant_type'],
      ['no grant type', 'scope=read', 'invalid_request'],
      ['a repeated parameter (§3.2: "MUST NOT be included more than once")', 'grant_type=client_credentials&grant_type=client_credentials', 'invalid_request'],
      ['an empty body', '', 'invalid_request'],
    ])('answers %s with 400 %s (§5.2)', async (_name, body, error) => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error })
    })
  })

  describe('request bodies (RFC 6749 Appendix B; RFC 9110 §15.5.14 413)', () => {
    it.each(['/token', '/revoke', '/introspect'])('rejects a %s body over bodyLimit with 413 invalid_request', async (path) => {
      const { url } = await ctx.start({ oauth: { bodyLimit: 1024 } })
      const res = await fetch(url + path, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials&x=' + 'a'.repeat(2048) })
      expect(res.status).toBe(413)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('rejects a chunked body over the default 64 KiB limit with 413 while it streams', async () => {
      const { url } = await ctx.start()
      const chunk = enc.encode('a'.repeat(1024))
      let sent = 0
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          // 70 KiB, one chunk at a time: the limit must be checked as data arrives, not from a Content-Length.
          if (sent++ < 70) controller.enqueue(chunk)
          else controller.close()
        },
      })
      const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body, duplex: 'half' } as RequestInit)
      expect(res.status).toBe(413)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('answers an announced Content-Length over the limit with 413 before the body arrives', async () => {
      const { url } = await ctx.start({ oauth: { bodyLimit: 1024 } })
      const res = await stalledRequest(`${url}/token`, { headers: { ...CLIENT_FORM, 'content-length': '1000000' }, sent: 'grant_type=' })
      expect(res.status).toBe(413)
      expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' })
    })

    it('reads a chunked body of many small chunks under the limit', async () => {
      const { url } = await ctx.start()
      const parts = 'grant_type=client_credentials&scope=read'.match(/.{1,3}/g) as string[]
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const part = parts.shift()
          if (part === undefined) controller.close()
          else controller.enqueue(enc.encode(part))
        },
      })
      const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body, duplex: 'half' } as RequestInit)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ scope: 'read' })
    })

    it('reads a body with multi-byte UTF-8 split across chunks', async () => {
      const { url } = await ctx.start()
      // "é" (0xC3 0xA9) split between two chunks: decoding per chunk would corrupt it.
      const bytes = enc.encode('grant_type=client_credentials&scope=read&x=\u00e9')
      const chunks = [bytes.slice(0, bytes.length - 1), bytes.slice(bytes.length - 1)]
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift()
          if (next === undefined) controller.close()
          else controller.enqueue(next)
        },
      })
      const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body, duplex: 'half' } as RequestInit)
      expect(res.status).toBe(200)
    })

    it.each([
      ['a bad percent-escape', 'grant_type=client_credentials&scope=%ZZ'],
      ['a truncated percent-escape', 'grant_type=client_credentials&scope=%E2%82'],
      ['a percent-escape that is not UTF-8', 'grant_type=client_credentials&scope=%FF'],
    ])('rejects %s in the body with 400 invalid_request', async (_name, body) => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })

    it('rejects raw body bytes that are not UTF-8 with 400 invalid_request', async () => {
      const { url } = await ctx.start()
      const res = await rawRequest(`${url}/token`, { method: 'POST', headers: CLIENT_FORM, body: new Uint8Array([0x67, 0x3d, 0xff, 0xfe]) })
      expect(res.status).toBe(400)
      expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' })
    })

    it('rejects malformed percent-encoding in the query with 400 invalid_request', async () => {
      const { url } = await ctx.start()
      const res = await fetch(`${url}/token?x=%ZZ`, { method: 'POST', headers: CLIENT_FORM, body: 'grant_type=client_credentials' })
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'invalid_request' })
    })
  })
}
