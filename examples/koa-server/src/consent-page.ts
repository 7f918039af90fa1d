import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Context } from 'koa'
import { escapeHtml, type AuthorizeContext, type AuthorizeHook } from '@grantkit/adapter-koa'
import type { GrantUser } from '@grantkit/core'

/** The cookie holding the CSRF secret of the login and consent form. */
export const CSRF_COOKIE = 'grantkit_csrf'
/** The hidden form field holding the CSRF token. */
export const CSRF_FIELD = 'csrf_token'

/** Options of {@link consentHook}. */
export interface ConsentOptions {
  /** Checks a username and password; `null` when wrong. */
  authenticate(username: string, password: string): Promise<GrantUser | null>
  /** The key of the CSRF tokens (HMAC-SHA256). */
  csrfKey: Buffer
  /** The path the CSRF cookie is sent to (the authorization endpoint). */
  cookiePath: string
}

interface PageState {
  readonly csrfToken: string
  readonly username?: string | undefined
  readonly message?: string | undefined
}

function renderPage({ request, actionUrl }: AuthorizeContext, state: PageState): string {
  const client = request.client
  const name = client.clientName ?? client.clientId
  const scopes = request.scopes.length === 0 ? '<li>(no scope)</li>' : request.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')
  const message = state.message === undefined ? '' : `<p class="error" role="alert">${escapeHtml(state.message)}</p>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to authorize ${escapeHtml(name)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }
label { display: block; margin: .75rem 0 .25rem; }
input[type=text], input[type=password] { width: 100%; padding: .4rem; box-sizing: border-box; }
.buttons { margin-top: 1rem; display: flex; gap: .5rem; }
.error { color: #b00020; }
</style>
</head>
<body>
<h1>Authorize ${escapeHtml(name)}</h1>
<p><strong>${escapeHtml(name)}</strong> (<code>${escapeHtml(client.clientId)}</code>) asks for access to:</p>
<ul>${scopes}</ul>
<p>It will be sent back to <code>${escapeHtml(request.redirectUri)}</code>.</p>
${message}
<form method="post" action="${escapeHtml(actionUrl)}">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(state.csrfToken)}">
<label for="username">Username</label>
<input id="username" type="text" name="username" autocomplete="username" value="${escapeHtml(state.username ?? '')}">
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password">
<div class="buttons">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>
</body>
</html>
`
}

function forbiddenPage(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Forbidden</title></head>
<body>
<h1>Forbidden</h1>
<p>The form has expired or was not sent from this site. Go back to the application and start again.</p>
</body>
</html>
`
}

function csrfToken(key: Buffer, secret: string): string {
  return createHmac('sha256', key).update(secret).digest('base64url')
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a)
  const bb = Buffer.from(b)
  return ab.length === bb.length && timingSafeEqual(ab, bb)
}

const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/

/**
 * The login + consent step of the authorization endpoint: a server-rendered
 * page with one form (username, password, approve / deny).
 *
 * CSRF: a signed double-submit token. The browser holds a random secret in an
 * HttpOnly, SameSite=Lax cookie; the form carries HMAC(key, secret). A POST
 * is accepted only when the field matches the cookie, so a cross-site form
 * (no cookie) or a cookie planted by a sibling domain (no key) fails with 403.
 */
export function consentHook(options: ConsentOptions): AuthorizeHook {
  const { authenticate, csrfKey, cookiePath } = options

  const secretOf = (ctx: Context): string => {
    const existing = ctx.cookies.get(CSRF_COOKIE)
    if (existing !== undefined && SECRET_SHAPE.test(existing)) return existing
    const secret = randomBytes(32).toString('base64url')
    ctx.cookies.set(CSRF_COOKIE, secret, { httpOnly: true, sameSite: 'lax', path: cookiePath, secure: ctx.secure, overwrite: true })
    return secret
  }

  const render = (ctx: Context, authorization: AuthorizeContext, state: Omit<PageState, 'csrfToken'> = {}) => {
    ctx.status = 200
    ctx.type = 'text/html; charset=utf-8'
    ctx.body = renderPage(authorization, { ...state, csrfToken: csrfToken(csrfKey, secretOf(ctx)) })
  }

  return async (ctx, authorization) => {
    const { form } = authorization
    // A POST of our form carries a CSRF field or a decision; anything else
    // (GET, or an RFC 6749 §3.1 POST of the request itself) shows the form.
    const submitted = ctx.method === 'POST' && (form.has(CSRF_FIELD) || form.has('decision') || form.has('password'))
    if (!submitted) {
      render(ctx, authorization)
      return undefined
    }
    const cookie = ctx.cookies.get(CSRF_COOKIE)
    const field = form.get(CSRF_FIELD)
    if (cookie === undefined || field === null || !SECRET_SHAPE.test(cookie) || !safeEqual(field, csrfToken(csrfKey, cookie))) {
      ctx.status = 403
      ctx.type = 'text/html; charset=utf-8'
      ctx.body = forbiddenPage()
      return undefined
    }
    const decision = form.get('decision')
    if (decision === 'deny') return { deny: true }
    const username = form.get('username') ?? ''
    if (decision !== 'approve') {
      render(ctx, authorization, { username, message: 'Choose Approve or Deny.' })
      return undefined
    }
    const user = username === '' ? null : await authenticate(username, form.get('password') ?? '')
    if (user === null) {
      // No redirect: the resource owner may try again (docs/demo-server.md).
      render(ctx, authorization, { username, message: 'Wrong username or password.' })
      return undefined
    }
    return { user }
  }
}
