import { USER } from './fixtures.js'
import { parseLoginPage } from './login-form.js'

/** What a GET of the device verification page showed (RFC 8628 §3.3). */
export interface DevicePage {
  readonly status: number
  readonly headers: Headers
  readonly html: string
  /** The form's absolute action URL. */
  readonly action: URL
  /** The hidden fields (the CSRF token). */
  readonly hidden: Record<string, string>
  /** The names of the form's fields and buttons, in order. */
  readonly inputs: string[]
  /** How many forms the page has. */
  readonly forms: number
  /** The value of the `user_code` field. */
  readonly userCode: string | undefined
  /** `name=value` pairs for a Cookie header. */
  readonly cookie: string
}

/** GETs the verification page (`verification_uri`, or `verification_uri_complete`) and reads its form. */
export async function openDevicePage(url: string | URL, headers: Record<string, string> = {}): Promise<DevicePage> {
  const res = await fetch(url, { redirect: 'manual', headers })
  const html = await res.text()
  const { action, hidden, forms, inputs } = parseLoginPage(html, new URL(url))
  const userCode = /<input\b[^>]*\bname="user_code"[^>]*\bvalue="([^"]*)"/.exec(html)?.[1]
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';', 1)[0])
    .join('; ')
  return { status: res.status, headers: res.headers, html, action, hidden, inputs, forms, userCode, cookie }
}

/** POSTs the verification form: its hidden fields and cookie (unless replaced), and `fields`. */
export function submitDevicePage(page: DevicePage, fields: Record<string, string>, options: { cookie?: string; hidden?: Record<string, string> } = {}): Promise<Response> {
  return fetch(page.action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: options.cookie ?? page.cookie },
    body: new URLSearchParams({ ...(options.hidden ?? page.hidden), ...fields }),
  })
}

/** Opens `verificationUri` and decides on `userCode` as USER, as a person at a browser does. */
export async function decideDevice(verificationUri: string, userCode: string, decision: 'approve' | 'deny'): Promise<Response> {
  const page = await openDevicePage(verificationUri)
  if (page.status !== 200) throw new Error(`the verification page answered ${page.status}`)
  return submitDevicePage(page, { user_code: userCode, username: USER.username, password: USER.password, decision })
}
