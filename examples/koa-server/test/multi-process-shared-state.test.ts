// Two demo processes on one database share what a load balancer needs shared
// besides the store's records (issue 18; docs/deployment.md "What is shared"):
// the pushed authorization requests (RFC 9126) and, with OAUTH_THROTTLE=on,
// the counts of failed client authentications (RFC 6819 §5.1.4.2.3).
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeCases, type StoreCase } from './support/demo-server.js'
import { startProcessPair, type Process, type ProcessPair } from './support/processes.js'
import { CALLBACK, CONFIDENTIAL, PUBLIC_CLIENT, USER, seed } from './support/fixtures.js'
import { openLoginForm, parseLoginPage, submitLoginForm } from './support/login-form.js'
import { FORM, post, pkce } from './support/oauth-http.js'


/** The `name=value` pairs of a response's `Set-Cookie` headers, for a `Cookie` header. */
const cookiesOf = (res: Response): string =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';', 1)[0])
    .join('; ')

/** Pushes an authorization request of the public client to `at` (RFC 9126 §2.1); answers the request_uri and the PKCE verifier. */
async function push(at: Process): Promise<{ requestUri: string; verifier: string; state: string }> {
  const { verifier, challenge } = pkce()
  const state = randomBytes(8).toString('hex')
  const res = await post(
    at.base,
    '/par',
    { response_type: 'code', redirect_uri: CALLBACK, scope: 'profile read', state, code_challenge: challenge, code_challenge_method: 'S256' },
    { clientId: PUBLIC_CLIENT.client_id },
  )
  // RFC 9126 §2.2: 201 with the request_uri and expires_in.
  expect(res.status, await res.clone().text()).toBe(201)
  const body = (await res.json()) as { request_uri: string; expires_in: number }
  expect(body.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/)
  return { requestUri: body.request_uri, verifier, state }
}

/** The authorization URL of a pushed request at `at` (RFC 9126 §4: client_id and request_uri only). */
function authorizeAt(at: Process, requestUri: string): URL {
  const url = new URL(`${at.base}/authorize`)
  url.search = new URLSearchParams({ client_id: PUBLIC_CLIENT.client_id, request_uri: requestUri }).toString()
  return url
}

/** The same path and query at another process. */
const at = (url: URL, process: Process): URL => new URL(url.pathname + url.search, process.base)

const shared = storeCases().filter((c) => c.name !== 'memory')

describe.each(shared)('two demo processes on one $name database share pushed requests and throttle counts (docs/deployment.md)', (store: StoreCase) => {
  let pair: ProcessPair | undefined
  let processes: readonly Process[] = []
  beforeAll(async () => {
    pair = await startProcessPair(store, seed(), { OAUTH_THROTTLE: 'on' })
    processes = pair.processes
  })
  afterAll(async () => {
    await pair?.stop()
    processes = []
  })

  it('uses at process B a request pushed to process A, and its code at A; the request_uri is then spent at both (RFC 9126 §4)', async () => {
    const [a, b] = processes as [Process, Process]
    expect(a.base).not.toBe(b.base)
    const { requestUri, verifier, state } = await push(a)
    const form = await openLoginForm(authorizeAt(b, requestUri))
    expect(form.status, form.html).toBe(200)
    const res = await submitLoginForm({ ...form, action: at(form.action, a) }, { username: USER.username, password: USER.password, decision: 'approve' })
    expect(res.status, await res.clone().text()).toBe(303)
    const callback = new URL(res.headers.get('location') as string)
    expect(callback.searchParams.get('state')).toBe(state)
    const code = callback.searchParams.get('code') as string
    const token = await post(b.base, '/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK }, { clientId: PUBLIC_CLIENT.client_id })
    expect(token.status, await token.clone().text()).toBe(200)
    // §4, §7.3: one-time use, at whichever process it comes back.
    for (const p of processes) {
      const again = await fetch(authorizeAt(p, requestUri), { redirect: 'manual' })
      expect(again.status).toBe(400)
      expect(await again.text()).toContain('invalid_request_uri')
    }
  })

  it('of 10 concurrent approvals of one pushed request at both processes, exactly one gets a code (RFC 9126 §7.3)', async () => {
    const [a, b] = processes as [Process, Process]
    // A password sign-in first, for the login session cookie (valid at both: one OAUTH_CSRF_SECRET); the approvals are then consent-only.
    const first = await push(b)
    const login = await submitLoginForm(await openLoginForm(authorizeAt(a, first.requestUri)), { username: USER.username, password: USER.password, decision: 'approve' })
    expect(login.status).toBe(303)
    const session = cookiesOf(login)
    const { requestUri } = await push(a)
    // Each approval posts a form (and CSRF token) of its own, fetched from either process, so that the request_uri's single use decides.
    const forms = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const url = authorizeAt(processes[i % 2] as Process, requestUri)
        const page = await fetch(url, { headers: { cookie: session }, redirect: 'manual' })
        expect(page.status).toBe(200)
        const parsed = parseLoginPage(await page.text(), url)
        expect(parsed.inputs).not.toContain('password')
        return { ...parsed, cookie: [session, cookiesOf(page)].filter((c) => c !== '').join('; ') }
      }),
    )
    const results = await Promise.all(
      forms.map(({ action, hidden, cookie }, i) =>
        fetch(at(action, i % 2 === 0 ? b : a), { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie }, body: new URLSearchParams({ ...hidden, decision: 'approve' }) }),
      ),
    )
    for (const r of results) expect(r.status, await r.clone().text()).toBeLessThan(500)
    const codes = results.filter((r) => new URL(r.headers.get('location') ?? 'x:/').searchParams.get('code') !== null)
    expect(codes).toHaveLength(1)
  })

  it('counts failed client authentications at both processes together: 429 invalid_client after 10 in all, at either, even for the right secret', async () => {
    const [a, b] = processes as [Process, Process]
    const attempt = (p: Process, secret: string) => post(p.base, '/token', { grant_type: 'client_credentials' }, { basic: [CONFIDENTIAL.client_id, secret] })
    // The right secret at both first: successes count nothing.
    for (const p of processes) expect((await attempt(p, CONFIDENTIAL.client_secret)).status).toBe(200)
    // Core's default limit, 10 per client id in 10 minutes: 5 failures at each process.
    for (let i = 0; i < 10; i++) expect((await attempt(i % 2 === 0 ? a : b, 'wrong')).status).toBe(401)
    for (const p of processes) {
      const refused = await attempt(p, CONFIDENTIAL.client_secret)
      expect(refused.status).toBe(429)
      // RFC 6585 §4, RFC 9110 §10.2.3: Retry-After in whole seconds.
      expect(refused.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/)
      expect(await refused.json()).toMatchObject({ error: 'invalid_client' })
    }
  })
})
