// Outages answer 503 with Retry-After, not 500 (RFC 9110 §15.6.4, §10.2.3):
// the classifier, and what each endpoint answers for a passing outage. Real
// driver errors (pg, better-sqlite3, mongodb) are classified in the store
// packages' tests, which depend on those drivers; here the errors are Node's own.
import { connect, createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { OAuthError } from './errors.js'
import type { GrantExtension } from './grant.js'
import { createHttpHandler, type HttpOutcome, type HttpRequest } from './http-handler.js'
import { RequestTimeoutError, deadline } from './internal/deadline.js'
import { basic, saveClient, setup, TestCodeGrant, TestTokenGrant } from './internal/test-fixtures.js'
import { createOAuthRequest } from './request.js'
import { createResourceGuard } from './resource-guard.js'
import { RETRY_AFTER_SECONDS, forAuthorizationEndpoint, isTransientError, unexpectedError } from './transient.js'

const REDIRECT = 'https://client.example/cb'

/** A port nothing listens on: one a server just released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The real error of a TCP connect to a closed port (what a driver gets when the database is down). */
async function connectionRefused(): Promise<Error> {
  const port = await closedPort()
  return new Promise<Error>((resolve) => connect(port, '127.0.0.1').on('error', resolve))
}

/** A driver-style wrapper that hides the cause under a generic name, as drizzle's DrizzleQueryError does. */
class WrappedQueryError extends Error {
  constructor(cause: unknown) {
    super('Failed query: select * from clients where id = $1\nparams: secret', { cause })
  }
}

describe('isTransientError: which unexpected errors are a passing outage', () => {
  it('recognises a real refused TCP connection (ECONNREFUSED), bare and wrapped in a cause chain', async () => {
    const refused = await connectionRefused()
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
    expect(isTransientError(refused)).toBe(true)
    expect(isTransientError(new WrappedQueryError(refused))).toBe(true)
    expect(isTransientError(new Error('outer', { cause: new WrappedQueryError(refused) }))).toBe(true)
  })

  it('recognises a real fetch to a closed port (undici: TypeError "fetch failed" caused by ECONNREFUSED)', async () => {
    const port = await closedPort()
    const error = await fetch(`http://127.0.0.1:${port}/`).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(TypeError)
    expect(isTransientError(error)).toBe(true)
  })

  it('recognises the request deadline of the HTTP layer (a real RequestTimeoutError), but not a body that stopped arriving', async () => {
    const never = new Promise<never>(() => {})
    const work = await deadline(20)(never).catch((e: unknown) => e)
    const body = await deadline(20)(never, 'body').catch((e: unknown) => e)
    expect(work).toBeInstanceOf(RequestTimeoutError)
    expect(body).toBeInstanceOf(RequestTimeoutError)
    expect(isTransientError(work)).toBe(true)
    expect(isTransientError(body)).toBe(false)
  })

  it.each([
    ['an errno of a lost connection', { code: 'ECONNRESET' }],
    ['an errno of a timed out connection', { code: 'ETIMEDOUT' }],
    ['a DNS lookup to try again', { code: 'EAI_AGAIN' }],
    ['PostgreSQL class 08 (connection_failure)', { code: '08006' }],
    ['PostgreSQL class 53 (too_many_connections)', { code: '53300' }],
    ['PostgreSQL admin_shutdown', { code: '57P01' }],
    ['PostgreSQL crash_shutdown', { code: '57P02' }],
    ['PostgreSQL cannot_connect_now', { code: '57P03' }],
    ['PostgreSQL query_canceled (statement_timeout)', { code: '57014' }],
    ['PostgreSQL serialization_failure', { code: '40001' }],
    ['PostgreSQL deadlock_detected', { code: '40P01' }],
    ['PostgreSQL lock_not_available (lock_timeout)', { code: '55P03' }],
    ['SQLITE_BUSY after the store ran out of retries', { code: 'SQLITE_BUSY' }],
    ['an extended SQLITE_BUSY code', { code: 'SQLITE_BUSY_SNAPSHOT' }],
    ['SQLITE_LOCKED', { code: 'SQLITE_LOCKED_SHAREDCACHE' }],
    ['a MongoDB server selection timeout', { name: 'MongoServerSelectionError' }],
    ['a MongoDB network timeout', { name: 'MongoNetworkTimeoutError' }],
    ['a MongoDB pool checkout timeout', { name: 'MongoWaitQueueTimeoutError' }],
    ['a MongoDB primary stepping down (code 189)', { name: 'MongoServerError', code: 189 }],
    ['a MongoDB error labelled retryable', { name: 'MongoServerError', code: 1, errorLabels: ['RetryableWriteError'] }],
    ['an error its store marks transient', { transient: true }],
  ])('recognises %s, also as the cause of a wrapper', (_name, fields) => {
    const error = Object.assign(new Error('driver message'), fields)
    expect(isTransientError(error)).toBe(true)
    expect(isTransientError(new WrappedQueryError(error))).toBe(true)
  })

  it.each([
    ['a unique violation (23505)', { code: '23505' }],
    ['an undefined table (42P01)', { code: '42P01' }],
    ['a SQLite constraint failure', { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }],
    ['a MongoDB duplicate key (11000)', { name: 'MongoServerError', code: 11000 }],
    ['a number code that is not MongoDB', { code: 189 }],
    ['an errno of a wrong host name (ENOTFOUND)', { code: 'ENOTFOUND' }],
    ['an error its store marks not transient, over a transient cause', { transient: false, cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }],
  ])('does not recognise %s', (_name, fields) => {
    expect(isTransientError(Object.assign(new Error('driver message'), fields))).toBe(false)
  })

  it('does not recognise bugs, non-errors, or an OAuthError (an answer already)', () => {
    expect(isTransientError(new TypeError('x is not a function'))).toBe(false)
    expect(isTransientError(undefined)).toBe(false)
    expect(isTransientError('ECONNREFUSED')).toBe(false)
    expect(isTransientError(new OAuthError('server_error', 'x', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }))).toBe(false)
  })

  it('looks into an AggregateError (a dual-stack connect that failed on both addresses)', () => {
    const aggregate = new AggregateError([new Error('ipv6'), Object.assign(new Error('ipv4'), { code: 'ECONNREFUSED' })], 'connect failed')
    expect(isTransientError(aggregate)).toBe(true)
  })

  it('ends on a cause cycle and on a getter that throws', () => {
    const a = new Error('a') as Error & { cause?: unknown }
    const b = new Error('b', { cause: a })
    a.cause = b
    expect(isTransientError(a)).toBe(false)
    const hostile = Object.defineProperty(new Error('h'), 'code', {
      get() {
        throw new Error('no')
      },
    })
    expect(isTransientError(hostile)).toBe(false)
  })
})

describe('the answer for an unexpected error', () => {
  it('is 503 server_error with Retry-After for a transient one, 500 without it otherwise, never with details', async () => {
    const transient = unexpectedError(await connectionRefused())
    expect(transient).toMatchObject({ code: 'server_error', status: 503, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } })
    expect(transient.description).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/)
    const bug = unexpectedError(new TypeError('x'))
    expect(bug).toMatchObject({ code: 'server_error', status: 500, headers: {} })
  })

  it('is temporarily_unavailable at the authorization endpoint (RFC 6749 §4.1.2.1), keeping status, Retry-After and redirect', async () => {
    const redirect = { uri: REDIRECT, mode: 'query' as const, state: 's' }
    const error = forAuthorizationEndpoint(unexpectedError(await connectionRefused(), { redirect }))
    expect(error).toMatchObject({ code: 'temporarily_unavailable', status: 503, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) }, redirect })
    expect(forAuthorizationEndpoint(unexpectedError(new TypeError('x'))).code).toBe('server_error')
  })
})

/** A request to the HTTP handler. */
function httpRequest(method: string, path: string, query: string, headers: Record<string, string> = {}, body = ''): HttpRequest {
  return {
    method,
    path,
    query,
    url: query === '' ? path : `${path}?${query}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: body === '' ? { kind: 'none' } : { kind: 'parsed', value: Object.fromEntries(new URLSearchParams(body)) },
  }
}

describe('outages answer 503 with Retry-After at every endpoint (RFC 9110 §15.6.4)', () => {
  it('the token endpoint: 503 server_error (the RFC 6749 §5.2 code), no-store, and onError gets the error', async () => {
    const s = setup()
    s.server.registerGrant(TestTokenGrant)
    const client = await saveClient(s.store)
    const refused = await connectionRefused()
    s.store.findClient = async () => {
      throw new WrappedQueryError(refused)
    }
    const response = await s.server.createTokenResponse(
      createOAuthRequest({ method: 'POST', headers: { authorization: basic(client.clientId, client.clientSecret) }, body: 'grant_type=urn%3Atest%3Atoken' }),
    )
    expect(response.status).toBe(503)
    expect(response.headers).toMatchObject({ 'retry-after': String(RETRY_AFTER_SECONDS), 'cache-control': 'no-store' })
    expect(response.body).toEqual({ error: 'server_error', error_description: expect.any(String) })
    expect(JSON.stringify(response.body)).not.toMatch(/secret|select/)
    expect(s.errors).toEqual([expect.any(WrappedQueryError)])
  })

  it('a bug stays 500 server_error without Retry-After', async () => {
    const s = setup()
    s.server.registerGrant(TestTokenGrant)
    s.store.findClient = async () => {
      throw new TypeError('cannot read properties of undefined')
    }
    const response = await s.server.createTokenResponse(createOAuthRequest({ method: 'POST', headers: { authorization: basic('a', 'b') }, body: 'grant_type=urn%3Atest%3Atoken' }))
    expect(response.status).toBe(500)
    expect(response.headers['retry-after']).toBeUndefined()
  })

  it('the authorization endpoint before the redirect URI is known: the 503 temporarily_unavailable page, never a redirect', async () => {
    const s = setup()
    s.server.registerGrant(TestCodeGrant)
    const refused = await connectionRefused()
    s.store.findClient = async () => {
      throw refused
    }
    const handler = createHttpHandler(s.server)
    const outcome = await handler.handle(httpRequest('GET', '/authorize', 'response_type=code&client_id=web&state=s'), { authorize: () => ({ user: { id: 'u' } }) })
    expect(outcome).toMatchObject({ kind: 'error_page', status: 503, error: 'temporarily_unavailable' })
    expect((outcome as { headers: Record<string, string> }).headers['retry-after']).toBe(String(RETRY_AFTER_SECONDS))
    expect((outcome as { headers: Record<string, string> }).headers['location']).toBeUndefined()
  })

  it('the authorization endpoint once the redirect URI is valid: redirects temporarily_unavailable with state (RFC 6749 §4.1.2.1)', async () => {
    const refused = await connectionRefused()
    const failing: GrantExtension = {
      afterAuthorizationApproved() {
        throw refused
      },
    }
    const s = setup()
    s.server.registerGrant(TestCodeGrant, [failing])
    await saveClient(s.store, { clientId: 'web', redirectUris: [REDIRECT], responseTypes: ['code'] })
    const handler = createHttpHandler(s.server)
    const outcome = await handler.handle(httpRequest('GET', '/authorize', 'response_type=code&client_id=web&state=s%20t'), { authorize: () => ({ user: { id: 'u' } }) })
    expect(outcome).toMatchObject({ kind: 'redirect', status: 302 })
    const location = new URL((outcome as { headers: Record<string, string> }).headers['location']!)
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT)
    expect(location.searchParams.get('error')).toBe('temporarily_unavailable')
    expect(location.searchParams.get('state')).toBe('s t')
    expect(location.searchParams.has('code')).toBe(false)
  })

  it('a store that outlives requestTimeout: 503 server_error with Retry-After at the token endpoint, reported as RequestTimeoutError', async () => {
    const s = setup()
    s.server.registerGrant(TestTokenGrant)
    const client = await saveClient(s.store)
    s.store.findClient = () => new Promise(() => {})
    const reported: unknown[] = []
    const handler = createHttpHandler(s.server, { requestTimeout: 50, onError: (e) => reported.push(e) })
    const outcome = (await handler.handle(
      httpRequest('POST', '/token', '', { authorization: basic(client.clientId, client.clientSecret) }, 'grant_type=urn%3Atest%3Atoken'),
    )) as { body: string }
    expect(outcome).toMatchObject({ kind: 'json', status: 503, headers: { 'retry-after': String(RETRY_AFTER_SECONDS), 'cache-control': 'no-store' } })
    expect(JSON.parse(outcome.body)).toMatchObject({ error: 'server_error' })
    expect(reported).toEqual([expect.any(RequestTimeoutError)])
  })

  it('a store that outlives requestTimeout at the authorization endpoint: the 503 temporarily_unavailable page', async () => {
    const s = setup()
    s.server.registerGrant(TestCodeGrant)
    s.store.findClient = () => new Promise(() => {})
    const handler = createHttpHandler(s.server, { requestTimeout: 50, onError: () => {} })
    const outcome = await handler.handle(httpRequest('GET', '/authorize', 'response_type=code&client_id=web'), { authorize: () => ({ user: { id: 'u' } }) })
    expect(outcome).toMatchObject({ kind: 'error_page', status: 503, error: 'temporarily_unavailable', headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } })
  })

  it('the resource guard: 503 server_error with Retry-After when the token lookup fails transiently, 500 for a bug (RFC 6750 §3)', async () => {
    const s = setup()
    const refused = await connectionRefused()
    const reported: unknown[] = []
    const guard = createResourceGuard(s.server, { onError: (e) => reported.push(e) })
    s.store.findToken = async () => {
      throw refused
    }
    const outage = await guard({ method: 'GET', url: '/me', headers: { authorization: 'Bearer some-token' } })
    expect(outage.ok).toBe(false)
    const outcome = (outage as { outcome: HttpOutcome }).outcome as HttpOutcome & { body: string }
    expect(outcome).toMatchObject({ status: 503, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } })
    expect(JSON.parse(outcome.body)).toMatchObject({ error: 'server_error' })
    s.store.findToken = async () => {
      throw new TypeError('bug')
    }
    const bug = await guard({ method: 'GET', url: '/me', headers: { authorization: 'Bearer some-token' } })
    expect((bug as { outcome: HttpOutcome }).outcome).toMatchObject({ status: 500 })
    expect(reported).toHaveLength(2)
  })
})
