import { describe, expect, it } from 'vitest'
import { OAuthError } from './errors.js'
import { createOAuthRequest, getHeader, getParam, parseFormEncoded, requireParam } from './request.js'

describe('parseFormEncoded (application/x-www-form-urlencoded, RFC 6749 Appendix B)', () => {
  it.each<[string, string, [string, string][]]>([
    ['plus signs as spaces', 'scope=read+write&a=b%2Bc', [['scope', 'read write'], ['a', 'b+c']]],
    ['percent-encoded UTF-8', 'name=%C3%A9t%C3%A9&emoji=%F0%9F%94%91', [['name', 'été'], ['emoji', '🔑']]],
    ['empty pairs, skipped', 'a=1&&b=2&', [['a', '1'], ['b', '2']]],
    ['keys without "=" as empty values', 'flag&a=1', [['flag', ''], ['a', '1']]],
    ['an "=" inside the value', 'a=b=c', [['a', 'b=c']]],
    ['an empty key', '=x', [['', 'x']]],
    ['repeated keys, all kept in order', 'a=1&a=2', [['a', '1'], ['a', '2']]],
    ['encoded separators', 'a=%26%3D', [['a', '&=']]],
    ['nothing', '', []],
  ])('parses %s', (_, text, expected) => {
    expect([...parseFormEncoded(text)]).toEqual(expected)
  })

  it.each([
    ['a malformed escape', 'a=%zz'],
    ['a truncated escape', 'a=%4'],
    ['a truncated UTF-8 sequence', 'a=%E0%A4%A'],
    ['an invalid UTF-8 byte', 'a=%FF'],
    ['an overlong UTF-8 encoding', 'a=%C0%AF'],
    ['a malformed key', '%zz=1'],
  ])('rejects %s with invalid_request rather than a replacement character', (_, text) => {
    expect(() => parseFormEncoded(text)).toThrow(OAuthError)
    try {
      parseFormEncoded(text)
    } catch (error) {
      expect((error as OAuthError).toJSON()).toMatchObject({ error: 'invalid_request' })
      expect((error as OAuthError).status).toBe(400)
    }
  })
})

describe('getParam (RFC 6749 §3.1)', () => {
  const params = (text: string) => parseFormEncoded(text)

  it.each<[string, string, string | undefined]>([
    ['a single value', 'a=1', '1'],
    ['an absent parameter', 'b=1', undefined],
    ['an empty value, as if omitted ("Parameters sent without a value MUST be treated as if they were omitted")', 'a=', undefined],
    ['a key without "="', 'a', undefined],
    ['repeated empty values, as if omitted', 'a=&a=', undefined],
  ])('reads %s', (_, text, expected) => {
    expect(getParam(params(text), 'a')).toBe(expected)
  })

  it.each([
    ['the same value twice', 'a=1&a=1'],
    ['two values', 'a=1&a=2'],
    ['a value and an empty one', 'a=&a=2'],
  ])('rejects a parameter repeated with %s ("MUST NOT be included more than once")', (_, text) => {
    expect(() => getParam(params(text), 'a')).toThrow(expect.objectContaining({ code: 'invalid_request' }))
  })

  it('requireParam rejects a missing or empty parameter with invalid_request', () => {
    expect(requireParam(params('a=1'), 'a')).toBe('1')
    expect(() => requireParam(params('a='), 'a')).toThrow(expect.objectContaining({ code: 'invalid_request' }))
    expect(() => requireParam(params(''), 'a')).toThrow(expect.objectContaining({ code: 'invalid_request' }))
  })
})

describe('getHeader', () => {
  it('reads a header sent once and rejects a repeated one with invalid_request', () => {
    expect(getHeader({ authorization: 'Basic x' }, 'authorization')).toBe('Basic x')
    expect(getHeader({ authorization: ['Basic x'] }, 'authorization')).toBe('Basic x')
    expect(getHeader({}, 'authorization')).toBeUndefined()
    expect(() => getHeader({ authorization: ['Basic x', 'Basic y'] }, 'authorization')).toThrow(expect.objectContaining({ code: 'invalid_request' }))
  })
})

describe('createOAuthRequest', () => {
  it('upper-cases the method, reads the query from the url and parses a string body strictly', () => {
    const request = createOAuthRequest({ method: 'post', url: '/authorize?client_id=a&state=x+y', body: 'grant_type=client_credentials' })
    expect(request.method).toBe('POST')
    expect(getParam(request.query, 'state')).toBe('x y')
    expect(getParam(request.body, 'grant_type')).toBe('client_credentials')
    expect(() => createOAuthRequest({ url: '/authorize?x=%zz' })).toThrow(OAuthError)
    expect(() => createOAuthRequest({ body: 'x=%E0%A4%A' })).toThrow(OAuthError)
  })

  it('accepts records and URLSearchParams for body and query, and defaults to GET /', () => {
    const request = createOAuthRequest({ body: { a: '1' }, query: new URLSearchParams('b=2') })
    expect(request).toMatchObject({ method: 'GET', url: '/' })
    expect(request.body.get('a')).toBe('1')
    expect(request.query.get('b')).toBe('2')
  })
})
