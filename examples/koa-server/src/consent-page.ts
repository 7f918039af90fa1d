import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { escapeHtml, type AuthorizeDecision, type AuthorizeInteraction, type GrantUser } from '@grantkit/core'
import { consentRequired, loginRequired, needsReauthentication, openidRequest } from '@grantkit/openid'
import { SESSION_COOKIE, loginSessions, type LoginSession } from './login-session.js'

/** The cookie holding the CSRF secret of the login and consent form. */
export const CSRF_COOKIE = 'grantkit_csrf'
/** The hidden form field holding the CSRF token. */
export const CSRF_FIELD = 'csrf_token'

/** Options of {@link consentStep}. */
export interface ConsentOptions {
  /** Checks a username and password; `null` when wrong. */
  authenticate(username: string, password: string): Promise<GrantUser | null>
  /** The user of a login session, by id; `null` once the user is gone (the session then counts as none). Without it no session is read. */
  findUser?: ((id: string) => Promise<GrantUser | null>) | undefined
  /** The key of the CSRF tokens (HMAC-SHA256); the login session's key is derived from it. */
  csrfKey: Buffer
  /** The path the CSRF and session cookies are sent to (the authorization endpoint). */
  cookiePath: string
}

/** What a sign-in form shows: its CSRF token, the username typed so far, a message. */
export interface FormState {
  readonly csrfToken: string
  readonly username?: string | undefined
  readonly message?: string | undefined
}

/**
 * A page of the demo's look: the layout and style every page of the login
 * and consent step and of the device verification page share. `title` is
 * text; `content` is HTML, escaped by the caller.
 */
export function pageLayout(title: string, content: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }
label { display: block; margin: .75rem 0 .25rem; }
input[type=text], input[type=password] { width: 100%; padding: .4rem; box-sizing: border-box; }
.buttons { margin-top: 1rem; display: flex; gap: .5rem; }
.error { color: #b00020; }
</style>
</head>
<body>
${content}</body>
</html>
`
}

/** A message shown above a form (`undefined`: none). */
export function messageHtml(message: string | undefined): string {
  return message === undefined ? '' : `<p class="error" role="alert">${escapeHtml(message)}</p>`
}

/**
 * The fields every sign-in form of the demo ends with: the hidden CSRF
 * token, `username`, `password`, and the two `decision` buttons
 * (`approve`, `deny`). `before` is HTML put after the CSRF field (the device
 * page's `user_code`).
 */
export function signInForm(action: string, state: FormState, before = ''): string {
  return `<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(state.csrfToken)}">
${before}<label for="username">Username</label>
<input id="username" type="text" name="username" autocomplete="username" value="${escapeHtml(state.username ?? '')}">
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password">
<div class="buttons">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>
`
}

function renderPage({ request, actionUrl }: AuthorizeInteraction, state: FormState, signedIn: GrantUser | null): string {
  const client = request.client
  const name = client.clientName ?? client.clientId
  const scopes = request.scopes.length === 0 ? '<li>(no scope)</li>' : request.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')
  // Signed in already (the login session cookie): the consent step alone, no password.
  const form =
    signedIn === null
      ? signInForm(actionUrl, state)
      : `<p>Signed in as <strong>${escapeHtml(signedIn.username ?? signedIn.id)}</strong>.</p>
<form method="post" action="${escapeHtml(actionUrl)}">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(state.csrfToken)}">
<div class="buttons">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>
`
  return pageLayout(
    `${signedIn === null ? 'Sign in to authorize' : 'Authorize'} ${name}`,
    `<h1>Authorize ${escapeHtml(name)}</h1>
<p><strong>${escapeHtml(name)}</strong> (<code>${escapeHtml(client.clientId)}</code>) asks for access to:</p>
<ul>${scopes}</ul>
<p>It will be sent back to <code>${escapeHtml(request.redirectUri)}</code>.</p>
${messageHtml(state.message)}
${form}`,
  )
}

/** The 403 page of a form whose CSRF token does not match its cookie. */
export function forbiddenPage(): ConsentPage {
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Forbidden</title></head>
<body>
<h1>Forbidden</h1>
<p>The form has expired or was not sent from this site. Go back to the application and start again.</p>
</body>
</html>
`
  return { status: 403, html, setCookie: [] }
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
 * What the consent step needs of the HTTP request, whichever framework
 * received it: the method, the cookies and whether the connection is
 * encrypted (for the cookie's `Secure` attribute).
 */
export interface PageRequest {
  readonly method: string
  /** The value of the named cookie of the `Cookie` header, as {@link readCookie} reads it. */
  cookie(name: string): string | undefined
  /** Whether the request came over TLS. */
  readonly secure: boolean
}

/** A page the consent step answers itself; the framework writes it as `text/html; charset=utf-8`. */
export interface ConsentPage {
  readonly status: number
  readonly html: string
  /** `Set-Cookie` header values, in order. */
  readonly setCookie: readonly string[]
}

/** Core's decision (`{ user }` or `{ deny: true }`), with the `Set-Cookie` values to send along with its redirect. */
export type ConsentDecision = Exclude<AuthorizeDecision, undefined> & { readonly setCookie?: readonly string[] }

/** The consent step's answer: a decision, or a page to show. */
export type ConsentAnswer = ConsentDecision | ConsentPage

/** Hands the decision's cookies (the login session) to `write`, and answers core's decision without them. */
export function decisionOf(answer: ConsentDecision, write: (setCookie: string) => void): Exclude<AuthorizeDecision, undefined> {
  for (const cookie of answer.setCookie ?? []) write(cookie)
  return 'deny' in answer ? { deny: true } : { user: answer.user }
}

/** The login + consent step of the authorization endpoint (see {@link consentStep}). */
export type ConsentStep = (page: PageRequest, interaction: AuthorizeInteraction) => Promise<ConsentAnswer>

/** Whether the consent step answered a page rather than a decision. */
export function isConsentPage(answer: ConsentAnswer): answer is ConsentPage {
  return 'html' in answer
}

/** The media type every page of the consent step is written with. */
export const PAGE_CONTENT_TYPE = 'text/html; charset=utf-8'

const REGEXP_SPECIALS = /[\^$\\.*+?()[\]{}|]/g

/**
 * The value of cookie `name` in a `Cookie` header: the first `name=value`
 * pair, surrounding double quotes removed, nothing decoded. These are the
 * rules of the `cookies` package behind Koa's `ctx.cookies.get`, kept for
 * every framework so that the same header is read the same way.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header === '') return undefined
  const match = new RegExp(`(?:^|;) *${name.replace(REGEXP_SPECIALS, '\\$&')}=([^;]*)`).exec(header)
  if (match === null) return undefined
  const value = match[1] as string
  return value.startsWith('"') ? value.slice(1, -1) : value
}

/** The CSRF protection of a form page (see {@link csrfProtection}). */
export interface CsrfProtection {
  /** The form's CSRF token for this browser, and the `Set-Cookie` value when it has no secret yet. */
  issue(page: PageRequest): { token: string; setCookie: string[] }
  /** Whether a POSTed form carries the token of the browser's cookie. */
  verify(page: PageRequest, form: URLSearchParams): boolean
}

/**
 * A signed double-submit CSRF token, shared by every form page of the demo
 * (RFC 6749 §10.12, RFC 9700 §4.7). The browser holds a random secret in an
 * HttpOnly, SameSite=Lax cookie scoped to the page's path; the form carries
 * HMAC(key, secret). A POST is accepted only when the field matches the
 * cookie, so a cross-site form (no cookie) or a cookie planted by a sibling
 * domain (no key) is refused.
 */
export function csrfProtection({ csrfKey, cookiePath }: { csrfKey: Buffer; cookiePath: string }): CsrfProtection {
  return {
    issue(page) {
      const existing = page.cookie(CSRF_COOKIE)
      if (existing !== undefined && SECRET_SHAPE.test(existing)) return { token: csrfToken(csrfKey, existing), setCookie: [] }
      const secret = randomBytes(32).toString('base64url')
      // The attributes, spelled and ordered as Koa's cookies package writes them.
      return { token: csrfToken(csrfKey, secret), setCookie: [`${CSRF_COOKIE}=${secret}; path=${cookiePath}; samesite=lax${page.secure ? '; secure' : ''}; httponly`] }
    },
    verify(page, form) {
      const cookie = page.cookie(CSRF_COOKIE)
      const field = form.get(CSRF_FIELD)
      return cookie !== undefined && field !== null && SECRET_SHAPE.test(cookie) && safeEqual(field, csrfToken(csrfKey, cookie))
    },
  }
}

/**
 * The login + consent step of the authorization endpoint: a server-rendered
 * page with one form (username, password, approve / deny). It knows no
 * framework: each one hands it a {@link PageRequest} and core's
 * `AuthorizeInteraction`, and writes the page it answers, or passes the
 * decision back to its adapter (writing the decision's cookies first, see
 * {@link decisionOf}).
 *
 * A password login starts a login session ({@link loginSessions}); while it
 * lasts the page shows the approve / deny buttons alone. OpenID Connect
 * requests: `prompt=login` and an exceeded `max_age` ask for the password
 * again (Core §3.1.2.1); `prompt=none` answers `login_required` without a
 * session and `consent_required` with one, consent never being remembered
 * (Core §3.1.2.6).
 *
 * CSRF: {@link csrfProtection}; a form without the right token gets the 403
 * {@link forbiddenPage}.
 */
export function consentStep(options: ConsentOptions): ConsentStep {
  const { authenticate, findUser = async () => null } = options
  const csrf = csrfProtection(options)
  const sessions = loginSessions(options)

  const render = (page: PageRequest, interaction: AuthorizeInteraction, signedIn: GrantUser | null, state: Omit<FormState, 'csrfToken'> = {}): ConsentPage => {
    const { token, setCookie } = csrf.issue(page)
    return { status: 200, html: renderPage(interaction, { ...state, csrfToken: token }, signedIn), setCookie }
  }

  /** The signed-in user of the login session cookie, with its login time, or `null`. */
  const sessionUser = async (page: PageRequest): Promise<GrantUser | null> => {
    const session: LoginSession | null = sessions.read(page.cookie(SESSION_COOKIE))
    if (session === null) return null
    const user = await findUser(session.userId)
    return user === null ? null : { ...user, authTime: session.authTime, amr: ['pwd'] }
  }

  return async (page, interaction) => {
    const { form, request } = interaction
    const oidc = openidRequest(request)
    let signedIn = await sessionUser(page)
    // OpenID Connect Core §3.1.2.1: prompt=login and a max_age older than the login ask for the password again.
    if (signedIn !== null && (oidc?.prompt.includes('login') === true || needsReauthentication(request, signedIn.authTime))) signedIn = null
    if (oidc?.prompt.includes('none') === true) {
      // Core §3.1.2.6: no page may be shown. The demo asks consent on every authorization and remembers none.
      if (signedIn === null) throw loginRequired('no signed-in session (OpenID Connect Core section 3.1.2.6)')
      throw consentRequired('this server asks the end-user to consent to every authorization (OpenID Connect Core section 3.1.2.6)')
    }
    // A POST of our form carries a CSRF field or a decision; anything else
    // (GET, or an RFC 6749 §3.1 POST of the request itself) shows the form.
    const submitted = page.method === 'POST' && (form.has(CSRF_FIELD) || form.has('decision') || form.has('password'))
    if (!submitted) return render(page, interaction, signedIn)
    if (!csrf.verify(page, form)) return forbiddenPage()
    const decision = form.get('decision')
    if (decision === 'deny') return { deny: true }
    const username = form.get('username') ?? ''
    if (decision !== 'approve') return render(page, interaction, signedIn, { username, message: 'Choose Approve or Deny.' })
    // The consent-only form (signed in): no password sent, the session's user approves.
    if (signedIn !== null && !form.has('password')) return { user: signedIn }
    const user = username === '' ? null : await authenticate(username, form.get('password') ?? '')
    // No redirect: the resource owner may try again (docs/demo-server.md).
    if (user === null) return render(page, interaction, null, { username, message: 'Wrong username or password.' })
    const authTime = new Date()
    return { user: { ...user, authTime, amr: ['pwd'] }, setCookie: [sessions.start(user.id, authTime, page.secure)] }
  }
}
