import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { badRequest, prng, type BadRequest } from '../support/bad-requests.js'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from '../support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, POST_CLIENT, PUBLIC_CLIENT, seed } from '../support/fixtures.js'
import { openLoginForm } from '../support/login-form.js'
import { RawConnection, isAlive, residentSetSize, type RawResponse } from '../support/raw-http.js'

/** Every error code of RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1 and RFC 7009 §2.2.1. */
const RFC_ERRORS = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'unsupported_response_type',
  'invalid_scope', 'access_denied', 'server_error', 'temporarily_unavailable', 'invalid_token', 'insufficient_scope', 'unsupported_token_type',
])

const TOTAL = 10_000
// Requests before the memory baseline is taken: enough for every framework's
// heap to reach its steady size (Express settles higher and later than Koa),
// so that what the 10,000 measured requests add is growth, not warm-up.
const WARM_UP = 4_000
const CONCURRENCY = 16
const SEED = Number(process.env['GRANTKIT_FUZZ_SEED'] ?? 20_240_611)
const MIB = 1024 * 1024
const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')

function json(res: RawResponse): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(res.body.toString('utf8'))
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function isRfcErrorBody(res: RawResponse): boolean {
  if (!/^application\/json/.test(res.headers['content-type'] ?? '')) return false
  const body = json(res)
  return body !== undefined && typeof body['error'] === 'string' && RFC_ERRORS.has(body['error'])
}

/** Whether a request's bytes may frame as zero or several requests: sent on a connection of its own. */
function isolated(bad: BadRequest): boolean {
  // Broken framing too: the server may answer the request, then drop the connection on the bytes after it.
  return bad.truncate !== undefined || /poisoned|bad-chunks|two-lengths|length-and-chunked|bogus-length/.test(bad.label) || /[\r\n]/.test(bad.request.target)
}

/** Judges one answer; returns what is wrong with it, or `undefined`. */
function verdict(bad: BadRequest, res: RawResponse | null): string | undefined {
  // A request cut short, or one whose bytes frame as a second malformed request, may get its connection closed.
  if (res === null) return isolated(bad) ? undefined : 'no response'
  if (res.status >= 500) return `status ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`
  const head = bad.request.method === 'HEAD'
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers['location'] ?? ''
    // No open redirect: only the authorization endpoint redirects, and only to the registered URI.
    if (bad.kind !== 'authorize') return `redirect from ${bad.kind}`
    if (!location.startsWith(`${CALLBACK}?`) && !location.startsWith(`${CALLBACK}#`)) return `redirect to ${location}`
    return undefined
  }
  if (res.status < 400) return undefined
  // Node's parser rejected the request before any route: the server answers an RFC body too.
  if (res.closed && isRfcErrorBody(res) && res.status !== 404) return undefined
  if (head) return undefined
  switch (bad.kind) {
    case 'metadata':
    case 'token':
    case 'revoke':
    case 'introspect':
      return isRfcErrorBody(res) ? undefined : `4xx without an RFC error body: ${res.status} ${res.headers['content-type']} ${res.body.toString('utf8').slice(0, 200)}`
    case 'authorize': {
      const html = res.body.toString('utf8')
      if (isRfcErrorBody(res)) return undefined
      if (!/^text\/html/.test(res.headers['content-type'] ?? '')) return `authorization 4xx that is not the HTML error page: ${res.headers['content-type']}`
      if (res.status === 403 && html.includes('<h1>Forbidden</h1>')) return undefined
      const code = /<strong>([a-z_]+)<\/strong>/.exec(html)?.[1]
      return code !== undefined && RFC_ERRORS.has(code) ? undefined : `authorization error page without an RFC error code: ${html.slice(0, 200)}`
    }
    case 'me':
      if (res.status === 405 && res.headers['allow'] !== undefined) return undefined
      if (!/^Bearer realm=/.test(res.headers['www-authenticate'] ?? '')) return `/api/me ${res.status} without a Bearer challenge`
      return res.body.length === 0 || isRfcErrorBody(res) ? undefined : `/api/me ${res.status} with a non-RFC body`
    case 'unknown':
      return undefined
  }
}

// Koa on every store (memory, SQLite, PostgreSQL, MongoDB: a NUL byte or an
// odd value must never reach a database as a 500), every other adapter on
// SQLite; one demo process per run, its store in a schema or database of its own.
describe.each(serverCases())('the demo server on $adapter with the $store store', ({ adapter, setup }) => {
  let demo: DemoServer
  let removeDir: () => Promise<void>
  let cleanupStore: () => Promise<void>

  beforeAll(async () => {
    const tmp = await tempDir()
    removeDir = tmp.remove
    const store = await setup(tmp.dir)
    cleanupStore = store.cleanup
    demo = await startDemoServer({ OAUTH_ADAPTER: adapter, OAUTH_STORE: store.spec, OAUTH_SEED: await writeSeed(tmp.dir, seed()), OAUTH_LOG: 'off' }, tmp.dir)
  })

  afterAll(async () => {
    await demo?.stop()
    await cleanupStore?.()
    await removeDir?.()
  })

  describe('malformed requests at every endpoint of the demo server (RFC 6749 §3.1, §3.2, §5.2; RFC 9700 §4.1)', () => {
    it(`answers ${TOTAL} seeded malformed requests with no 5xx, no crash, RFC error bodies, no open redirect and bounded memory`, { timeout: 120_000 }, async () => {
      // A real consent form gives a valid CSRF cookie and field to mix into the requests.
      const consentUrl = new URL(`${demo.issuer}/authorize`)
      consentUrl.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: CALLBACK, state: 's' }).toString()
      const form = await openLoginForm(consentUrl)
      const target = {
        clientIds: [CONFIDENTIAL.client_id, POST_CLIENT.client_id, PUBLIC_CLIENT.client_id],
        redirectUri: CALLBACK,
        consentQuery: consentUrl.search.slice(1),
        csrfCookie: form.cookie,
        csrfField: form.hidden['csrf_token'] ?? '',
      }
      const rng = prng(SEED)
      const requests = Array.from({ length: TOTAL }, () => badRequest(rng, target))
      const failures: string[] = []
      const statuses = new Map<number, number>()
      let next = 0

      const run = async (until: number) => {
        const worker = async () => {
          const connection = new RawConnection(demo.issuer)
          try {
            while (next < until && failures.length < 20) {
              const index = next++
              const bad = requests[index] as BadRequest
              let res: RawResponse | null
              try {
                if (isolated(bad)) {
                  // Bytes that may frame as several requests (or none) get a connection of their own.
                  const once = new RawConnection(demo.issuer)
                  try {
                    res = await once.send(bad.request, { ...(bad.truncate === undefined ? {} : { truncate: bad.truncate }), timeoutMs: 5_000 })
                  } finally {
                    once.close()
                  }
                } else {
                  res = await connection.send(bad.request, { timeoutMs: 10_000 })
                }
              } catch (error) {
                failures.push(`#${index} ${bad.label}: ${(error as Error).message}`)
                continue
              }
              if (res !== null) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
              const wrong = verdict(bad, res)
              if (wrong !== undefined) failures.push(`#${index} ${bad.label}: ${wrong}`)
            }
          } finally {
            connection.close()
          }
        }
        await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      }

      const started = Date.now()
      await run(WARM_UP)
      const rssAfterWarmUp = await residentSetSize(demo.pid)
      await run(TOTAL)
      const rssAfter = await residentSetSize(demo.pid)
      const seconds = (Date.now() - started) / 1000

      expect(failures, `seed ${SEED}; server output:\n${demo.output().slice(-3000)}`).toEqual([])
      expect(next).toBe(TOTAL)
      expect(isAlive(demo.pid)).toBe(true)
      // The generator reached the interesting answers: parser errors, bad clients, CSRF, methods, limits, headers too large.
      expect([...statuses.keys()]).toEqual(expect.arrayContaining([200, 302, 400, 401, 403, 404, 405, 413, 431]))
      expect(rssAfter - rssAfterWarmUp, `RSS grew from ${Math.round(rssAfterWarmUp / MIB)} to ${Math.round(rssAfter / MIB)} MiB`).toBeLessThan(64 * MIB)
      expect(seconds).toBeLessThan(90)
    })

    it('still answers a full client_credentials flow afterwards (RFC 6749 §4.4, RFC 7662)', async () => {
      const token = await fetch(`${demo.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret) },
        body: 'grant_type=client_credentials&scope=read',
      })
      expect(token.status).toBe(200)
      const { access_token } = (await token.json()) as { access_token: string }
      const introspection = await fetch(`${demo.issuer}/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret) },
        body: new URLSearchParams({ token: access_token }),
      })
      expect(await introspection.json()).toMatchObject({ active: true, client_id: CONFIDENTIAL.client_id, scope: 'read' })
    })
  })
})
