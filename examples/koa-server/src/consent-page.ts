import {
  OAuthError,
  createCsrfProtection,
  createOAuthRequest,
  escapeHtml,
  isOAuthError,
  type AuthorizationServer,
  type AuthorizeDecision,
  type AuthorizeInteraction,
  type GrantUser,
  type ReplayStore,
  type RequestHeaders,
} from '@grantkit/core'
import { consentRequired, loginRequired, needsReauthentication, openidRequest } from '@grantkit/openid'
import { SESSION_COOKIE, loginSessions, type LoginSession } from './login-session.js'

/**
 * The cookie of the forms' CSRF protection over plain HTTP; over HTTPS it
 * is `__Host-grantkit_csrf` ({@link SECURE_CSRF_COOKIE}).
 */
export const CSRF_COOKIE = 'grantkit_csrf'
/** The CSRF cookie over HTTPS: `__Host-`, so that no other host (a sibling subdomain) can set or replace it. */
export const SECURE_CSRF_COOKIE = `__Host-${CSRF_COOKIE}`
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
  /** The path the login session cookie is sent to (the authorization endpoint). */
  cookiePath: string
  /** The issuer: its origin is the only one a form may be posted from; `https` makes every cookie `Secure` (see {@link formProtection}). */
  issuer: string
  /** Where used CSRF tokens are remembered until they expire (the store's `markUsed`). */
  replay: Pick<ReplayStore, 'markUsed'>
  /** The server's throttle of failed credentials (`OAUTH_THROTTLE`); it is a no-op while the throttle is off. */
  throttle: Pick<AuthorizationServer, 'throttleAttempt'>
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

/** The 403 page of a form whose CSRF token is missing, forged, expired, already used or posted from another site. */
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

/**
 * What the consent step needs of the HTTP request, whichever framework
 * received it: the method, the cookies, the headers (`Origin`,
 * `Sec-Fetch-Site`), whether the connection is encrypted and the client's
 * address.
 */
export interface PageRequest {
  readonly method: string
  /** The value of the named cookie of the `Cookie` header, as {@link readCookie} reads it. */
  cookie(name: string): string | undefined
  /** Whether the request came over TLS. */
  readonly secure: boolean
  /** Lower-case header names. */
  readonly headers: RequestHeaders
  /** The client's IP address (the TCP connection's; no forwarding header is trusted): what failed sign-ins are also counted by. */
  readonly remoteAddress: string | undefined
}

/** A page the consent step answers itself; the framework writes it as `text/html; charset=utf-8`. */
export interface ConsentPage {
  readonly status: number
  readonly html: string
  /** `Set-Cookie` header values, in order. */
  readonly setCookie: readonly string[]
  /** Other header fields (`Retry-After` of a 429), written before the content type. */
  readonly headers?: readonly (readonly [string, string])[] | undefined
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

/** Whether the browser reaches the demo over HTTPS: the issuer is `https` (behind a TLS-terminating proxy), or the connection itself is TLS. */
export function overHttps(issuer: string, page: PageRequest): boolean {
  return new URL(issuer).protocol === 'https:' || page.secure
}

/** The CSRF protection of the demo's forms (see {@link formProtection}). */
export interface FormProtection {
  /** A fresh CSRF token for a form of `purpose`, and the `Set-Cookie` value when the browser has no CSRF cookie yet. */
  issue(page: PageRequest, purpose: string): { token: string; setCookie: string[] }
  /** Whether a POSTed form carries a token issued to this browser for `purpose`, unexpired, unused (it is used now), from this site. */
  consume(page: PageRequest, form: URLSearchParams, purpose: string): Promise<boolean>
}

/**
 * The CSRF protection of every form of the demo (RFC 6749 §10.12, RFC 9700
 * §4.7): core's `createCsrfProtection`, keyed with `OAUTH_CSRF_SECRET` (the
 * key never leaves the server), accepting POSTs from the issuer's origin
 * only (`Origin`, `Sec-Fetch-Site`), with tokens bound to the browser's
 * cookie, to the form's purpose (the consent form's: its authorization
 * request) and to an hour, each accepted once (the store's `markUsed`, so
 * across processes too) and replaced at every render.
 *
 * The cookie is `__Host-grantkit_csrf` (`Secure`, `Path=/`, no `Domain`)
 * when the browser comes over HTTPS ({@link overHttps}), `grantkit_csrf`
 * without `Secure` over plain HTTP: browsers refuse a `__Host-` cookie
 * that is not `Secure`, and a `Secure` one set over plain HTTP.
 */
export function formProtection({ csrfKey, issuer, replay }: { csrfKey: Buffer; issuer: string; replay: Pick<ReplayStore, 'markUsed'> }): FormProtection {
  const origin = new URL(issuer).origin
  const secure = createCsrfProtection({ secret: csrfKey, origin, cookieName: SECURE_CSRF_COOKIE, replay })
  const plain = createCsrfProtection({ secret: csrfKey, origin, secureCookie: false, cookieName: CSRF_COOKIE, replay })
  const pick = (page: PageRequest) => (overHttps(issuer, page) ? secure : plain)
  return {
    issue(page, purpose) {
      const { token, setCookie } = pick(page).issue(page, purpose)
      return { token, setCookie: setCookie === undefined ? [] : [setCookie] }
    },
    async consume(page, form, purpose) {
      return (await pick(page).consume(page, form.get(CSRF_FIELD), purpose)).ok
    },
  }
}

/** The outcome of a {@link SignIn}: the user, wrong credentials (`null`), or too many failures (`retryAfter` seconds). */
export type SignInResult = { readonly user: GrantUser } | { readonly retryAfter: number } | null

/** Checks a form's username and password under the server's throttle (see {@link throttledSignIn}). */
export type SignIn = (page: PageRequest, username: string, password: string) => Promise<SignInResult>

/**
 * The password check of the demo's forms under the server's throttle of
 * failed credentials (RFC 6819 §4.4.3.6, §5.1.4.2.3; `OAUTH_THROTTLE=on`):
 * each attempt counts against the username (`user:<username>`, case-folded,
 * the key the password grant counts on, so the token endpoint and the forms
 * share one budget) and a failure against the client's address too; once
 * over the limit the password is not checked and the answer is
 * `retryAfter`; a success resets the username's count (core's strict mode,
 * for a person typing a password). An empty username checks and counts
 * nothing. With the throttle off, just `authenticate`.
 */
export function throttledSignIn(
  authenticate: (username: string, password: string) => Promise<GrantUser | null>,
  throttle: Pick<AuthorizationServer, 'throttleAttempt'>,
  path: string,
): SignIn {
  return async (page, username, password) => {
    if (username === '') return null
    // Core reads the client's address from the request; nothing else of it.
    const request = Object.assign(createOAuthRequest({ method: 'POST', url: path, headers: page.headers }), { remoteAddress: page.remoteAddress })
    try {
      const user = await throttle.throttleAttempt(
        request,
        `user:${username.toLowerCase()}`,
        'access_denied',
        async () => {
          const found = await authenticate(username, password)
          if (found === null) throw new OAuthError('access_denied', 'wrong username or password')
          return found
        },
        { strict: true },
      )
      return { user }
    } catch (error) {
      if (!isOAuthError(error) || error.code !== 'access_denied') throw error
      return error.status === 429 ? { retryAfter: Number(error.headers['retry-after'] ?? 1) } : null
    }
  }
}

/** The message and headers of a form refused for too many failed sign-ins. */
export function throttledForm(retryAfter: number): { readonly message: string; readonly headers: readonly (readonly [string, string])[] } {
  return { message: `Too many failed sign-ins. Try again in ${retryAfter} seconds.`, headers: [['retry-after', String(retryAfter)]] }
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
 * CSRF: {@link formProtection}, the token bound to this authorization
 * request (its `actionUrl`); a form without a good token gets the 403
 * {@link forbiddenPage}. Failed passwords: {@link throttledSignIn}, a `429`
 * form with `Retry-After` once over the limit.
 */
export function consentStep(options: ConsentOptions): ConsentStep {
  const { authenticate, findUser = async () => null } = options
  const csrf = formProtection(options)
  const sessions = loginSessions(options)
  const signIn = throttledSignIn(authenticate, options.throttle, options.cookiePath)
  // RFC 6749 §10.12: a token good for this authorization request only (the actionUrl is its parameters).
  const purpose = (interaction: AuthorizeInteraction) => `consent ${interaction.actionUrl}`

  const render = (
    page: PageRequest,
    interaction: AuthorizeInteraction,
    signedIn: GrantUser | null,
    state: Omit<FormState, 'csrfToken'> = {},
    status = 200,
    headers: readonly (readonly [string, string])[] = [],
  ): ConsentPage => {
    const { token, setCookie } = csrf.issue(page, purpose(interaction))
    return { status, html: renderPage(interaction, { ...state, csrfToken: token }, signedIn), setCookie, headers }
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
    if (!(await csrf.consume(page, form, purpose(interaction)))) return forbiddenPage()
    const decision = form.get('decision')
    if (decision === 'deny') return { deny: true }
    const username = form.get('username') ?? ''
    if (decision !== 'approve') return render(page, interaction, signedIn, { username, message: 'Choose Approve or Deny.' })
    // The consent-only form (signed in): no password sent, the session's user approves.
    if (signedIn !== null && !form.has('password')) return { user: signedIn }
    const result = await signIn(page, username, form.get('password') ?? '')
    // No redirect: the resource owner may try again (docs/demo-server.md).
    if (result === null) return render(page, interaction, null, { username, message: 'Wrong username or password.' })
    if ('retryAfter' in result) {
      const { message, headers } = throttledForm(result.retryAfter)
      return render(page, interaction, null, { username, message }, 429, headers)
    }
    const { user } = result
    const authTime = new Date()
    return { user: { ...user, authTime, amr: ['pwd'] }, setCookie: [sessions.start(user.id, authTime, overHttps(options.issuer, page))] }
  }
}
