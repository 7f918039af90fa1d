import * as crypto from 'node:crypto'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthorizationServer, createClient, createOAuthRequest, hashSecret, memoryStore, verifySecret } from '@grantkit/core'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'

// Every `timingSafeEqual` the core and the demo call goes through this spy (no timing measurements: RFC 6819 §5.1.4.1.3 asks for the technique).
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>()
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) }
})

const timingSafeEqual = vi.mocked(crypto.timingSafeEqual)
class BasicOrPostClientCredentials extends ClientCredentialsGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post']
}

const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')

beforeEach(() => {
  timingSafeEqual.mockClear()
})

describe('secret comparisons run in constant time (RFC 6819 §5.1.4.1.3, RFC 6749 §10.10)', () => {
  it.each(['sha256', 'scrypt'] as const)('verifySecret compares %s hashes with timingSafeEqual, for a right and a wrong secret of the same length', async (algorithm) => {
    const stored = await hashSecret('s3cret-value', algorithm)
    expect(await verifySecret('s3cret-value', stored)).toBe(true)
    expect(await verifySecret('s3cret-valuX', stored)).toBe(false)
    expect(timingSafeEqual).toHaveBeenCalledTimes(2)
  })

  it('verifySecret still spends a comparison when there is no stored hash (unknown client or user)', async () => {
    expect(await verifySecret('anything', null)).toBe(false)
    expect(timingSafeEqual).toHaveBeenCalledTimes(1)
  })

  describe('client authentication at the token endpoint (RFC 6749 §2.3.1)', () => {
    async function server(tokenEndpointAuthMethod: string) {
      const store = memoryStore()
      const as = new AuthorizationServer({ issuer: 'https://as.example', store, onError: () => {} })
      as.registerGrant(BasicOrPostClientCredentials)
      const { client } = await createClient({ clientId: 'app', clientSecret: 'app-secret', secretHash: 'sha256', tokenEndpointAuthMethod, grantTypes: ['client_credentials'], scope: 'read' })
      await store.saveClient(client)
      return as
    }
    const token = (as: AuthorizationServer, headers: Record<string, string>, body = 'grant_type=client_credentials') =>
      as.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))

    it.each([
      ['the right secret (basic)', 'client_secret_basic', { authorization: basic('app', 'app-secret') }, undefined, 200],
      ['a wrong secret of the same length (basic)', 'client_secret_basic', { authorization: basic('app', 'app-secreX') }, undefined, 401],
      ['the right secret (post)', 'client_secret_post', {}, 'grant_type=client_credentials&client_id=app&client_secret=app-secret', 200],
      ['a wrong secret (post)', 'client_secret_post', {}, 'grant_type=client_credentials&client_id=app&client_secret=nope', 401],
      ['an unknown client (basic)', 'client_secret_basic', { authorization: basic('nobody', 'app-secret') }, undefined, 401],
    ])('compares with timingSafeEqual for %s', async (_name, method, headers, body, status) => {
      const as = await server(method)
      const res = await token(as, headers, body)
      expect(res.status).toBe(status)
      expect(timingSafeEqual).toHaveBeenCalled()
    })
  })

  it('the demo consent page compares its CSRF token with timingSafeEqual', async () => {
    const { consentStep } = await import('../../src/consent-page.js')
    const store = memoryStore()
    const issuer = 'http://127.0.0.1:3000'
    const throttle = new AuthorizationServer({ issuer, store, throttle: false })
    const step = consentStep({ authenticate: async () => null, csrfKey: Buffer.alloc(32, 1), cookiePath: '/authorize', issuer, replay: store, throttle })
    // Well-formed (core's shape), wrongly signed: the comparison is reached.
    const form = new URLSearchParams({ csrf_token: `v1.9999999999.${'n'.repeat(22)}.${'A'.repeat(43)}`, decision: 'approve' })
    const cookie = 'B'.repeat(43)
    const page = { method: 'POST', secure: false, cookie: () => cookie, headers: { cookie: `grantkit_csrf=${cookie}` }, remoteAddress: undefined }
    const answer = await step(page, { request: {} as never, form, actionUrl: '/authorize', headers: {} })
    expect(answer).toMatchObject({ status: 403, setCookie: [] })
    expect(timingSafeEqual).toHaveBeenCalledTimes(1)
  })
})
