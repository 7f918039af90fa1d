// Several demo processes on one database (issue 18 "A documented multi-process
// deployment"; docs/deployment.md): whatever process a request reaches, a code
// and a refresh token are each redeemed once, and a replay at either process
// revokes the family (RFC 6749 section 4.1.2, RFC 9700 section 4.14.2).
import * as oauth from 'oauth4webapi'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeCases, type StoreCase } from './support/demo-server.js'
import { startProcessPair, type Process, type ProcessPair } from './support/processes.js'
import { CALLBACK, PUBLIC_CLIENT, USER, seed } from './support/fixtures.js'
import { openLoginForm, submitLoginForm } from './support/login-form.js'
import { post, pkce } from './support/oauth-http.js'

/** A client_secret_jwt client (RFC 7523 §2.2): its secret is sealed in the store with a key the processes must share. */
const HMAC_CLIENT = { client_id: 'hmac-service', client_secret: 'a-client-secret-jwt-secret-of-more-than-32-bytes', grant_types: ['client_credentials'], scope: 'read', token_endpoint_auth_method: 'client_secret_jwt' }

/** Concurrent requests per race, alternately to each process. */
const RACERS = 10


/** Logs in and approves at `first`'s page, posting the form to `second` (the shared OAUTH_CSRF_SECRET makes it valid there); answers the code and its verifier. */
async function codeAcross(first: Process, second: Process): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce()
  const url = new URL(`${first.base}/authorize`)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: PUBLIC_CLIENT.client_id,
    redirect_uri: CALLBACK,
    scope: 'profile read',
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString()
  const form = await openLoginForm(url)
  expect(form.status).toBe(200)
  const action = new URL(form.action.pathname + form.action.search, second.base)
  const res = await submitLoginForm({ ...form, action }, { username: USER.username, password: USER.password, decision: 'approve' })
  expect(res.status, await res.clone().text()).toBeGreaterThanOrEqual(302)
  const location = new URL(res.headers.get('location') as string)
  const code = location.searchParams.get('code')
  if (code === null) throw new Error(`no code in ${location.origin}${location.pathname}`)
  return { code, verifier }
}

/** `RACERS` copies of one token request at once, alternately to each process; answers every status and body. */
async function race(processes: readonly Process[], params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }[]> {
  return Promise.all(
    Array.from({ length: RACERS }, async (_, i) => {
      const res = await post((processes[i % processes.length] as Process).base, '/token', params, { clientId: PUBLIC_CLIENT.client_id })
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }),
  )
}

/** The one winner of a race, after checking that every other request got invalid_grant. */
function onlyWinner(results: { status: number; body: Record<string, unknown> }[]): Record<string, unknown> {
  const winners = results.filter((r) => r.status === 200)
  expect(winners, JSON.stringify(results.map((r) => r.status))).toHaveLength(1)
  const losers = results.filter((r) => r.status !== 200)
  expect(losers).toHaveLength(RACERS - 1)
  // RFC 6749 section 5.2: a code or refresh token already used is an invalid grant.
  for (const loser of losers) expect(loser).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
  return (winners[0] as { body: Record<string, unknown> }).body
}

/** What `/api/me` answers a token with, at `at`. */
async function meStatus(at: Process, accessToken: string): Promise<number> {
  return (await fetch(`${at.base}/api/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status
}

const shared = storeCases().filter((c) => c.name !== 'memory')

describe.each(shared)('two demo processes on one $name database (docs/deployment.md)', (store: StoreCase) => {
  let pair: ProcessPair | undefined
  let processes: readonly Process[] = []
  beforeAll(async () => {
    pair = await startProcessPair(store, { ...seed(), clients: [...seed().clients, HMAC_CLIENT] })
    processes = pair.processes
  })
  afterAll(async () => {
    await pair?.stop()
    processes = []
  })

  it('authenticates a client_secret_jwt client at both processes: the seal the last process wrote opens at the first (keys derived from OAUTH_CSRF_SECRET)', async () => {
    const client: oauth.Client = { client_id: HMAC_CLIENT.client_id, token_endpoint_auth_method: 'client_secret_jwt' }
    for (const { base } of processes) {
      const as: oauth.AuthorizationServer = { issuer: processes[0]?.demo.issuer as string, token_endpoint: `${base}/token` }
      const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretJwt(HMAC_CLIENT.client_secret), { scope: 'read' }, { [oauth.allowInsecureRequests]: true })
      expect(res.status, await res.clone().text()).toBe(200)
    }
  })

  it(`redeems one authorization code once among ${RACERS} concurrent requests to both processes, and the replay revokes what it issued (RFC 6749 section 4.1.2)`, async () => {
    const [a, b] = processes as [Process, Process]
    expect(a.base).not.toBe(b.base)
    const { code, verifier } = await codeAcross(a, b)
    const winner = onlyWinner(await race(processes, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK }))
    // The replay, wherever it landed, revoked the family: the winner's tokens no longer work at either process.
    for (const at of processes) expect(await meStatus(at, winner['access_token'] as string)).toBe(401)
    const refresh = await post(b.base, '/token', { grant_type: 'refresh_token', refresh_token: winner['refresh_token'] as string }, { clientId: PUBLIC_CLIENT.client_id })
    expect(refresh.status).toBe(400)
    expect(((await refresh.json()) as { error: string }).error).toBe('invalid_grant')
    expect(a.demo.output() + b.demo.output()).toContain('[security] authorization_code_replay client=public-app')
  })

  it(`rotates one refresh token once among ${RACERS} concurrent requests to both processes, and the reuse revokes the family (RFC 9700 section 4.14.2)`, async () => {
    const [a, b] = processes as [Process, Process]
    const { code, verifier } = await codeAcross(b, a)
    const issued = await post(a.base, '/token', { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK }, { clientId: PUBLIC_CLIENT.client_id })
    expect(issued.status).toBe(200)
    const first = (await issued.json()) as Record<string, string>
    expect(await meStatus(b, first['access_token'] as string)).toBe(200)

    const winner = onlyWinner(await race(processes, { grant_type: 'refresh_token', refresh_token: first['refresh_token'] as string }))
    expect(winner['refresh_token']).not.toBe(first['refresh_token'])
    // Every token of the family is revoked, the winner's new ones included, at both processes.
    for (const at of processes) {
      expect(await meStatus(at, winner['access_token'] as string)).toBe(401)
      expect(await meStatus(at, first['access_token'] as string)).toBe(401)
    }
    const next = await post(b.base, '/token', { grant_type: 'refresh_token', refresh_token: winner['refresh_token'] as string }, { clientId: PUBLIC_CLIENT.client_id })
    expect(next.status).toBe(400)
    expect(a.demo.output() + b.demo.output()).toContain('[security] refresh_token_reuse client=public-app')
  })
})
