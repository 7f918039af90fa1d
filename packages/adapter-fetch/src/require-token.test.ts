import { describe, expect, it, vi } from 'vitest'
import type { AuthorizationServer } from '@grantkit/core'
import { testServer } from '@grantkit/adapter-test-suite'
import { requireToken, type RequireTokenOptions } from './require-token.js'

/** The suite's server with its tokens stored (`user-token` among them), issuer `http://localhost`: the origin of the requests below. */
const serverWithToken = () => testServer({ issuer: 'http://localhost', tokens: true })

const resource = (token?: string) => new Request('http://localhost/api/me', token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })

describe('requireToken', () => {
  it.each([
    ['a scope list of non-strings', { scope: [1] }],
    ['a zero timeout', { timeout: 0 }],
    ['an onError that is not a function', { onError: 'log' }],
  ])('throws a TypeError at setup for %s', async (_name, options) => {
    const { server } = await testServer()
    expect(() => requireToken(server, options as unknown as RequireTokenOptions)).toThrow(TypeError)
  })

  it('throws a TypeError without a server', () => {
    expect(() => requireToken(undefined as unknown as AuthorizationServer)).toThrow(TypeError)
  })

  it('gives the token of a valid request (RFC 6750 §2.1)', async () => {
    const { server } = await serverWithToken()
    const result = await requireToken(server, { scope: 'read', user: true })(resource('user-token'))
    expect(result).toMatchObject({ ok: true, token: { clientId: 'app', userId: 'user-1', scopes: ['profile', 'read'] } })
  })

  it('gives the Response to answer otherwise: 401 with the bare challenge and no body without a token (RFC 6750 §3.1)', async () => {
    const { server } = await serverWithToken()
    const result = await requireToken(server)(resource())
    if (result.ok) throw new Error('expected a refusal')
    expect(result.response.status).toBe(401)
    expect(result.response.headers.get('www-authenticate')).toBe('Bearer realm="http://localhost"')
    expect(await result.response.text()).toBe('')
  })

  it('hands a store failure and the request to onError', async () => {
    const { server, store } = await serverWithToken()
    const failure = new Error('db down')
    store.findToken = async () => {
      throw failure
    }
    const onError = vi.fn()
    const request = resource('user-token')
    const result = await requireToken(server, { onError })(request)
    expect(result.ok).toBe(false)
    if (!result.ok) expect(await result.response.json()).toMatchObject({ error: 'server_error' })
    expect(onError).toHaveBeenCalledWith(failure, request)
  })
})
