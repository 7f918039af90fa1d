import type { FullStore, UserRecord } from '@grantkit/core'
import { SERVER_ERROR, jsonAnswer, within, type Answer } from './demo-http.js'

/**
 * The audiences `/api/me` accepts (RFC 8707 §2): tokens requested without
 * `resource` (no `aud`), and tokens for `<issuer>/api/me`; a token meant for
 * another resource, such as `/mcp`, is refused with 401 `invalid_token`.
 */
export function meAudience(issuer: string): (string | null)[] {
  return [null, `${issuer}/api/me`]
}

/** What each framework's `requireToken` found: the token's user and scopes. */
export interface GrantedToken {
  readonly userId: string | null
  readonly scopes: readonly string[]
}

/** Options of {@link meResource}. */
export interface MeResourceOptions {
  store: FullStore
  /** The realm of the `WWW-Authenticate` challenge (RFC 6750 §3). */
  issuer: string
  /** Milliseconds the user lookup may take before the answer is 500 `server_error`; `false` for none. */
  timeout: number | false
  /** Receives a failing (or hanging) store's error. */
  onError: (error: unknown) => void
}

/** `/api/me` without its framework: what to answer once the token was checked, and for the other methods. */
export interface MeResource {
  /** GET (and HEAD) with a token that `requireToken(server, { scope: 'profile', user: true })` accepted. */
  get(token: GrantedToken): Promise<Answer>
  /** Any method but GET and HEAD. */
  other(method: string): Answer
}

/**
 * The demo's protected resource (docs/demo-server.md, "Protected resource"):
 * the token's user and scopes, once the framework's `requireToken` accepted
 * the token (RFC 6750 §2.1); 405 with `Allow` for other methods.
 */
export function meResource({ store, issuer, timeout, onError }: MeResourceOptions): MeResource {
  return {
    async get(token) {
      let user: UserRecord | null
      try {
        user = token.userId === null ? null : await within(timeout, store.findUserById(token.userId))
      } catch (error) {
        onError(error)
        return SERVER_ERROR
      }
      if (user === null) {
        const description = 'the user no longer exists'
        return jsonAnswer(401, { error: 'invalid_token', error_description: description }, [
          ['www-authenticate', `Bearer realm="${issuer}", error="invalid_token", error_description="${description}"`],
        ])
      }
      return jsonAnswer(200, { sub: user.id, username: user.username, scope: token.scopes.join(' ') }, [['cache-control', 'no-store']])
    },
    other(method) {
      const allow = ['allow', 'GET, HEAD, OPTIONS'] as const
      if (method === 'OPTIONS') return { status: 204, headers: [allow], body: null }
      return jsonAnswer(405, { error: 'invalid_request', error_description: 'this method is not allowed here; use GET' }, [allow])
    },
  }
}
