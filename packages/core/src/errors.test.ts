import { describe, expect, it } from 'vitest'
import { invalidClient, invalidGrant, invalidRequest, invalidScope, isOAuthError, OAuthError, unauthorizedClient, type OAuthErrorCode } from './errors.js'
import { errorResponse, jsonResponse, redirectResponse } from './response.js'

describe('OAuthError (RFC 6749 §5.2)', () => {
  it.each<[OAuthErrorCode, number]>([
    ['invalid_request', 400],
    ['invalid_client', 401],
    ['invalid_grant', 400],
    ['unauthorized_client', 400],
    ['unsupported_grant_type', 400],
    ['unsupported_response_type', 400],
    ['invalid_scope', 400],
    ['server_error', 500],
    ['temporarily_unavailable', 503],
    ['invalid_token', 401],
    ['insufficient_scope', 403],
    ['unsupported_token_type', 400],
  ])('answers %s with status %i by default', (code, status) => {
    expect(new OAuthError(code, 'd').status).toBe(status)
  })

  it('serialises to { error, error_description } only, never the cause', () => {
    const error = new OAuthError('invalid_grant', 'the code expired', { cause: new Error('row 42 in codes'), status: 400 })
    expect(error.toJSON()).toEqual({ error: 'invalid_grant', error_description: 'the code expired' })
    expect(JSON.stringify(error)).toBe('{"error":"invalid_grant","error_description":"the code expired"}')
    expect(error.cause).toBeInstanceOf(Error)
    expect(error).toMatchObject({ name: 'OAuthError', code: 'invalid_grant', description: 'the code expired', message: 'the code expired' })
  })

  it('builds the common errors with their helpers', () => {
    expect(invalidRequest('x').code).toBe('invalid_request')
    expect(invalidGrant('x').code).toBe('invalid_grant')
    expect(invalidScope('x').code).toBe('invalid_scope')
    expect(unauthorizedClient('x').code).toBe('unauthorized_client')
    expect(isOAuthError(invalidRequest('x'))).toBe(true)
    expect(isOAuthError(new Error('x'))).toBe(false)
  })

  it('builds invalid_client as 401 with a Basic WWW-Authenticate challenge (RFC 6749 §5.2)', () => {
    const error = invalidClient('client authentication failed', 'grantkit')
    expect(error.status).toBe(401)
    expect(error.headers).toEqual({ 'www-authenticate': 'Basic realm="grantkit"' })
  })
})

describe('responses', () => {
  it('errorResponse answers the status, the JSON body, no-store caching and the error headers (RFC 6749 §5.1, §5.2)', () => {
    const res = errorResponse(invalidClient('nope'))
    expect(res).toEqual({
      kind: 'json',
      status: 401,
      headers: { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store', pragma: 'no-cache', 'www-authenticate': 'Basic realm="oauth"' },
      body: { error: 'invalid_client', error_description: 'nope' },
    })
  })

  it('jsonResponse lets extra headers through', () => {
    expect(jsonResponse(200, { a: 1 }, { 'x-extra': '1' }).headers).toMatchObject({ 'cache-control': 'no-store', 'x-extra': '1' })
  })

  it('redirectResponse keeps the registered query and adds the parameters (RFC 6749 §3.1.2)', () => {
    const res = redirectResponse('https://client.example/cb?tenant=a', { code: 'c', state: 'a b&c', skipped: undefined }, 'query')
    expect(res.status).toBe(302)
    const url = new URL(res.headers['location']!)
    expect(Object.fromEntries(url.searchParams)).toEqual({ tenant: 'a', code: 'c', state: 'a b&c' })
    expect(res.headers['cache-control']).toBe('no-store')
  })

  it('redirectResponse puts the parameters in the fragment for the implicit flow (RFC 6749 §4.2.2)', () => {
    const res = redirectResponse('https://client.example/cb', { access_token: 't', state: 's' }, 'fragment')
    const url = new URL(res.headers['location']!)
    expect(url.search).toBe('')
    expect(Object.fromEntries(new URLSearchParams(url.hash.slice(1)))).toEqual({ access_token: 't', state: 's' })
  })
})
