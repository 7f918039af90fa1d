import { createHmac, timingSafeEqual } from 'node:crypto'

/** The cookie remembering a password login at the authorization endpoint. */
export const SESSION_COOKIE = 'grantkit_session'

/** Seconds a login is remembered: after that the password form is shown again. */
export const SESSION_LIFETIME = 8 * 3600

/** A remembered login: who signed in, and when (OpenID Connect Core §2 `auth_time`). */
export interface LoginSession {
  readonly userId: string
  /** When the password was checked. */
  readonly authTime: Date
}

/** Reads, writes and clears the login session cookie (see {@link loginSessions}). */
export interface LoginSessions {
  /** The session of a `grantkit_session` cookie value, or `null` when absent, forged, malformed or expired. */
  read(value: string | undefined, now?: Date): LoginSession | null
  /** The `Set-Cookie` value starting a session for `userId`, logged in at `authTime`. */
  start(userId: string, authTime: Date, secure: boolean): string
  /** The `Set-Cookie` value removing the session cookie. */
  clear(secure: boolean): string
}

const VALUE_SHAPE = /^([A-Za-z0-9_-]{1,400})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/

/**
 * A login session kept in the browser alone: the cookie holds the user id
 * and the login time, signed with HMAC-SHA256 under a key derived from the
 * CSRF key (so no session table is needed, and every process sharing
 * `OAUTH_CSRF_SECRET` accepts it). It is HttpOnly, SameSite=Lax, `Secure`
 * over TLS, scoped to the authorization endpoint's path, and expires
 * {@link SESSION_LIFETIME} seconds after the login (the signed login time
 * is checked too, so an old cookie kept by the browser is refused).
 */
export function loginSessions({ csrfKey, cookiePath }: { csrfKey: Buffer; cookiePath: string }): LoginSessions {
  // A key of its own: a session MAC can never pass as a CSRF token, nor the other way round.
  const key = createHmac('sha256', csrfKey).update('grantkit login session').digest()
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url')
  const attributes = (secure: boolean) => `path=${cookiePath}; samesite=lax${secure ? '; secure' : ''}; httponly`
  return {
    read(value, now = new Date()) {
      const match = value === undefined ? null : VALUE_SHAPE.exec(value)
      if (match === null) return null
      const [, id, time, signature] = match as unknown as [string, string, string, string]
      const expected = Buffer.from(mac(`${id}.${time}`))
      if (!timingSafeEqual(Buffer.from(signature), expected)) return null
      const authTime = new Date(Number(time) * 1000)
      const age = now.getTime() - authTime.getTime()
      if (age < -60_000 || age > SESSION_LIFETIME * 1000) return null
      return { userId: Buffer.from(id, 'base64url').toString('utf8'), authTime }
    },
    start(userId, authTime, secure) {
      const payload = `${Buffer.from(userId, 'utf8').toString('base64url')}.${Math.floor(authTime.getTime() / 1000)}`
      return `${SESSION_COOKIE}=${payload}.${mac(payload)}; max-age=${SESSION_LIFETIME}; ${attributes(secure)}`
    },
    clear(secure) {
      return `${SESSION_COOKIE}=; max-age=0; ${attributes(secure)}`
    },
  }
}
