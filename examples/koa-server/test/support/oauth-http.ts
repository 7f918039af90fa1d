import { createHash, randomBytes } from 'node:crypto'
import { CALLBACK, USER } from './fixtures.js'
import { authorize } from './login-form.js'

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

export const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')

/** POSTs a form to `issuer + path`; `auth` is a Basic header, or a public client's id sent in the body. */
export async function post(issuer: string, path: string, params: Record<string, string>, auth: { basic: [string, string] } | { clientId: string }): Promise<Response> {
  const headers: Record<string, string> = { ...FORM }
  const body = new URLSearchParams(params)
  if ('basic' in auth) headers['authorization'] = basic(...auth.basic)
  else body.set('client_id', auth.clientId)
  return fetch(issuer + path, { method: 'POST', headers, body })
}

/** A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** Logs in as USER through the consent form and approves; answers the code, the verifier and the redirect. */
export async function obtainCode(issuer: string, clientId: string, options: { scope?: string; state?: string } = {}): Promise<{ code: string; verifier: string; location: URL }> {
  const { verifier, challenge } = pkce()
  const url = new URL(`${issuer}/authorize`)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CALLBACK,
    scope: options.scope ?? 'profile read',
    state: options.state ?? 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString()
  const res = await authorize(url, { username: USER.username, password: USER.password, decision: 'approve' })
  if (res.status !== 303 && res.status !== 302) throw new Error(`the consent form answered ${res.status}: ${await res.text()}`)
  const location = new URL(res.headers.get('location') as string)
  return { code: location.searchParams.get('code') as string, verifier, location }
}

/** Introspects `token` as the given client (RFC 7662 §2.1); answers the JSON body. */
export async function introspect(issuer: string, token: string, auth: { basic: [string, string] } | { clientId: string }): Promise<Record<string, unknown>> {
  const res = await post(issuer, '/introspect', { token }, auth)
  if (res.status !== 200) throw new Error(`introspection answered ${res.status}`)
  return (await res.json()) as Record<string, unknown>
}
