import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SESSION_COOKIE, SESSION_LIFETIME, loginSessions } from '../src/login-session.js'

/** The cookie value of a `Set-Cookie` header. */
function valueOf(setCookie: string): string {
  return (setCookie.split(';', 1)[0] as string).slice(SESSION_COOKIE.length + 1)
}

describe('the login session cookie (docs/demo-server.md "Login and consent")', () => {
  const key = randomBytes(32)
  const sessions = loginSessions({ csrfKey: key, cookiePath: '/auth/authorize' })
  const login = new Date('2026-01-01T10:00:00Z')

  it('round-trips the user id and the login time (seconds), with HttpOnly, SameSite=Lax, the path and Max-Age', () => {
    const header = sessions.start('user-ü 1', login, false)
    expect(header).toMatch(new RegExp(`^${SESSION_COOKIE}=[^;]+; max-age=${SESSION_LIFETIME}; path=/auth/authorize; samesite=lax; httponly$`))
    expect(sessions.start('u', login, true)).toContain('; secure; httponly')
    expect(sessions.read(valueOf(header), new Date(login.getTime() + 1000))).toEqual({ userId: 'user-ü 1', authTime: login })
  })

  it('refuses a value signed under another key, a changed user id or login time, and garbage', () => {
    const value = valueOf(sessions.start('alice', login, false))
    const later = new Date(login.getTime() + 1000)
    expect(loginSessions({ csrfKey: randomBytes(32), cookiePath: '/' }).read(value, later)).toBeNull()
    const [, time, mac] = value.split('.') as [string, string, string]
    expect(sessions.read(`${Buffer.from('mallory').toString('base64url')}.${time}.${mac}`, later)).toBeNull()
    expect(sessions.read(`${value.split('.')[0]}.${Number(time) + 3600}.${mac}`, later)).toBeNull()
    for (const bad of [undefined, '', 'x', `${value}.x`, value.replace(/\./g, '')]) expect(sessions.read(bad, later)).toBeNull()
  })

  it('expires SESSION_LIFETIME seconds after the login, and refuses a login time in the future', () => {
    const value = valueOf(sessions.start('alice', login, false))
    expect(sessions.read(value, new Date(login.getTime() + SESSION_LIFETIME * 1000))).not.toBeNull()
    expect(sessions.read(value, new Date(login.getTime() + SESSION_LIFETIME * 1000 + 1000))).toBeNull()
    expect(sessions.read(value, new Date(login.getTime() - 3600_000))).toBeNull()
  })

  it('clears with Max-Age=0 on the same path', () => {
    expect(sessions.clear(true)).toBe(`${SESSION_COOKIE}=; max-age=0; path=/auth/authorize; samesite=lax; secure; httponly`)
  })
})
