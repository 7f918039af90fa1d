import {
  DEFAULT_BODY_LIMIT,
  errorPage,
  escapeHtml,
  isOAuthError,
  parseFormEncoded,
  readBody,
  type AuthorizationServer,
  type BodySource,
  type Client,
  type GrantUser,
  type ReplayStore,
} from '@grantkit/core'
import type { DeviceVerification, DeviceVerificationError } from '@grantkit/grant-device-code'
import { forbiddenPage, formProtection, messageHtml, pageLayout, signInForm, throttledForm, throttledSignIn, type ConsentPage, type PageRequest } from './consent-page.js'
import { PAGE_HEADERS, pageAnswer, within, type Answer } from './demo-http.js'

/**
 * What the device verification page needs of the HTTP request, whichever
 * framework received it: the consent page's {@link PageRequest} (whose
 * `remoteAddress` is also what wrong user codes are counted by, RFC 8628
 * §5.1), plus the query and the body.
 */
export interface DevicePageRequest extends PageRequest {
  /** The query string as sent, without `?`. */
  readonly query: string
  /** The request body, read (as a form) only for a POST. */
  readonly body: BodySource
}

/** The device verification page (see {@link deviceStep}). */
export type DeviceStep = (page: DevicePageRequest) => Promise<Answer>

/** Options of {@link deviceStep}. */
export interface DeviceStepOptions {
  /** The user step of `@grantkit/grant-device-code` (lookup, approve, deny, with its attempt limiter). */
  verification: DeviceVerification
  /** Checks a username and password; `null` when wrong. */
  authenticate(username: string, password: string): Promise<GrantUser | null>
  /** The key of the CSRF tokens (HMAC-SHA256), the consent page's. */
  csrfKey: Buffer
  /** The issuer: the only origin the form may be posted from (see the consent page's `formProtection`). */
  issuer: string
  /** Where used CSRF tokens are remembered until they expire (the store's `markUsed`). */
  replay: Pick<ReplayStore, 'markUsed'>
  /** The server's throttle of failed credentials (`OAUTH_THROTTLE`), shared with the consent page and the password grant. */
  throttle: Pick<AuthorizationServer, 'throttleAttempt'>
  /** The page's path: the form's action. */
  path: string
  /** Milliseconds a request may take (store, password hashing) before the answer is a 500 page; `false` for none. */
  timeout: number | false
  /** Receives unexpected errors. */
  onError: (error: unknown) => void
}

/** The status and message of a user code the device flow did not accept (RFC 8628 §3.3, §5.1). */
const CODE_REFUSALS: Record<DeviceVerificationError, readonly [number, string]> = {
  invalid: [400, 'No pending request has this code. Check the code your device shows.'],
  expired: [400, 'This code has expired. Start again on your device.'],
  used: [400, 'This code was already used.'],
  too_many_attempts: [429, 'Too many wrong codes. Wait a minute and try again.'],
}

const ALLOW = 'GET, HEAD, POST, OPTIONS'

/** A page of the device step, with the headers of every page. */
function answer(page: ConsentPage, headers: readonly (readonly [string, string])[] = []): Answer {
  return pageAnswer(page, [...PAGE_HEADERS, ...headers])
}

/** Core's error page (the authorization endpoint's), e.g. for a body that is not a form. */
function errorAnswer(status: number, error: string, description: string, headers: readonly (readonly [string, string])[] = []): Answer {
  return answer({ status, html: errorPage(error, description), setCookie: [] }, headers)
}

/** Who asks, for the page (RFC 8628 §5.4: the user must see which client they authorize). */
interface PendingRequest {
  readonly client: Client
  readonly scopes: readonly string[]
}

function scopeList(scopes: readonly string[]): string {
  return scopes.length === 0 ? '<li>(no scope)</li>' : scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('')
}

function clientName(client: Client): string {
  return client.clientName ?? client.clientId
}

interface DeviceFormState {
  readonly csrfToken: string
  readonly userCode: string
  readonly username?: string | undefined
  readonly message?: string | undefined
  /** The pending request the code belongs to, when it was looked up. */
  readonly request?: PendingRequest | undefined
}

function renderForm(action: string, state: DeviceFormState): string {
  const { request } = state
  const intro =
    request === undefined
      ? '<p>Enter the code your device shows, then sign in to approve or deny it.</p>'
      : `<p><strong>${escapeHtml(clientName(request.client))}</strong> (<code>${escapeHtml(request.client.clientId)}</code>) asks for access to:</p>
<ul>${scopeList(request.scopes)}</ul>
<p>Approve only if your device shows the code <strong>${escapeHtml(state.userCode)}</strong>.</p>`
  const userCodeField = `<label for="user_code">Code shown on your device</label>
<input id="user_code" type="text" name="user_code" autocomplete="off" autocapitalize="characters" spellcheck="false" value="${escapeHtml(state.userCode)}">
`
  return pageLayout('Connect a device', `<h1>Connect a device</h1>\n${intro}\n${messageHtml(state.message)}\n${signInForm(action, state, userCodeField)}`)
}

function resultPage(title: string, text: string): ConsentPage {
  return { status: 200, html: pageLayout(title, `<h1>${escapeHtml(title)}</h1>\n<p>${text}</p>\n`), setCookie: [] }
}

/**
 * The device verification page (RFC 8628 §3.3) at the `verification_uri`
 * the device authorization endpoint advertises. It knows no framework: each
 * one hands it a {@link DevicePageRequest} and writes the {@link Answer}.
 *
 * - GET (and HEAD): `200` and one form (`user_code`, `username`, `password`,
 *   `decision=approve|deny`), with the consent page's look and CSRF token.
 *   Reached through `verification_uri_complete` (`?user_code=…`), the code
 *   is looked up and the page names the client and the scopes asked for
 *   (RFC 8628 §5.4), or says why the code is not accepted.
 * - POST: the CSRF token (else `403`), a decision and the user's password
 *   (else `200` and the form again, as on the consent page; `429` with
 *   `Retry-After` past the throttle of failed sign-ins, when on), then the
 *   decision on the user code: `200` and a result page, `400` and the form
 *   for an unknown, expired or already used code, `429` past the limit of
 *   wrong codes per client address (RFC 8628 §5.1). User codes are matched
 *   case- and dash-insensitively and are single use (§6.1). CSRF tokens are
 *   single use too: every form the page shows carries a fresh one.
 */
export function deviceStep(options: DeviceStepOptions): DeviceStep {
  const { verification, authenticate, path, timeout, onError } = options
  const csrf = formProtection(options)
  const signIn = throttledSignIn(authenticate, options.throttle, path)
  // One purpose for every device form: the user code is typed into the form itself.
  const PURPOSE = 'device'

  const form = (page: PageRequest, status: number, state: Omit<DeviceFormState, 'csrfToken'>, headers: readonly (readonly [string, string])[] = []): Answer => {
    const { token, setCookie } = csrf.issue(page, PURPOSE)
    return answer({ status, html: renderForm(path, { ...state, csrfToken: token }), setCookie }, headers)
  }

  const show = async (page: DevicePageRequest, key: string): Promise<Answer> => {
    const userCode = parseFormEncoded(page.query).get('user_code') ?? ''
    if (userCode === '') return form(page, 200, { userCode })
    const found = await verification.lookup(userCode, { key })
    if (!found.ok) return form(page, 200, { userCode, message: CODE_REFUSALS[found.error][1] })
    return form(page, 200, { userCode: found.userCode, request: found })
  }

  const submit = async (page: DevicePageRequest, key: string): Promise<Answer> => {
    const fields = (await readBody(page.body, page.headers, 'form', DEFAULT_BODY_LIMIT)).form
    if (!(await csrf.consume(page, fields, PURPOSE))) return answer(forbiddenPage())
    const userCode = fields.get('user_code') ?? ''
    const username = fields.get('username') ?? ''
    const decision = fields.get('decision')
    if (decision !== 'approve' && decision !== 'deny') return form(page, 200, { userCode, username, message: 'Choose Approve or Deny.' })
    // The user signs in to approve or to deny: a device's request is not anyone's to decide.
    const result = await signIn(page, username, fields.get('password') ?? '')
    if (result === null) return form(page, 200, { userCode, username, message: 'Wrong username or password.' })
    if ('retryAfter' in result) {
      const { message, headers } = throttledForm(result.retryAfter)
      return form(page, 429, { userCode, username, message }, headers)
    }
    const { user } = result
    if (decision === 'deny') {
      const denied = await verification.deny(userCode, { key })
      if (!denied.ok) return refused(page, denied.error, userCode, username)
      return answer(resultPage('Device denied', 'The request was denied; the device gets no access. You can close this page.'))
    }
    const approved = await verification.approve(userCode, user, { key })
    if (!approved.ok) return refused(page, approved.error, userCode, username)
    const scopes = approved.scopes.length === 0 ? '' : ` (${approved.scopes.map(escapeHtml).join(', ')})`
    return answer(resultPage('Device approved', `<strong>${escapeHtml(clientName(approved.client))}</strong> may now access your account${scopes}. Return to your device.`))
  }

  const refused = (page: PageRequest, error: DeviceVerificationError, userCode: string, username: string): Answer => {
    const [status, message] = CODE_REFUSALS[error]
    return form(page, status, { userCode, username, message })
  }

  return async (page) => {
    const method = page.method
    if (method === 'OPTIONS') return { status: 204, headers: [...PAGE_HEADERS, ['allow', ALLOW]], body: null }
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return errorAnswer(405, 'invalid_request', 'this HTTP method is not allowed here', [['allow', ALLOW]])
    // RFC 8628 §5.1: wrong user codes are counted per client address.
    const key = page.remoteAddress ?? 'unknown'
    try {
      return await within(timeout, method === 'POST' ? submit(page, key) : show(page, key))
    } catch (error) {
      // A body that is not a form, too large or badly encoded; a query that does not decode.
      if (isOAuthError(error) && error.status < 500) return errorAnswer(error.status, error.code, error.description)
      onError(error)
      return errorAnswer(500, 'server_error', 'the server failed to process the request')
    }
  }
}
