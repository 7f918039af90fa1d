// The telemetry hooks over real HTTP requests (node:http, the memory store):
// counters of tokens issued, errors and security events, spans around the
// endpoints and every store call, nested as an OpenTelemetry context nests
// them, and hooks that throw or misbehave never changing an answer.
import { AsyncLocalStorage } from 'node:async_hooks'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { OAuthError } from './errors.js'
import { createHttpHandler } from './http-handler.js'
import { basic, saveClient, TestCodeGrant, TestTokenGrant } from './internal/test-fixtures.js'
import { memoryStore } from './memory-store.js'
import { nodeBodySource } from './node-body.js'
import { createResourceGuard } from './resource-guard.js'
import { RevocationEndpoint } from './revocation-endpoint.js'
import { AuthorizationServer } from './server.js'
import type { Telemetry, TelemetryAttributes } from './telemetry.js'

/** A grant that detects a replay the way the code and refresh grants do: it reports the event and refuses. */
class ReplayDetectingGrant extends TestTokenGrant {
  static override GRANT_TYPE = 'urn:test:replayed'
  override async createTokenResponse(): Promise<never> {
    this.server.reportSecurityEvent({ type: 'authorization_code_replay', clientId: this.client!.clientId, userId: null, familyId: 'f' })
    throw new OAuthError('invalid_grant', 'the code was already used')
  }
}

interface RecordedSpan {
  readonly name: string
  readonly attributes: TelemetryAttributes
  readonly parent: string | undefined
  outcome?: 'ok' | 'error'
}

/** A recording implementation, nesting spans with AsyncLocalStorage as OpenTelemetry's context manager does. */
function recorder() {
  const counts: Array<{ name: string; value: number; attributes: TelemetryAttributes }> = []
  const spans: RecordedSpan[] = []
  const context = new AsyncLocalStorage<RecordedSpan>()
  const telemetry: Telemetry = {
    count(name, value, attributes) {
      counts.push({ name, value, attributes })
    },
    async span(name, attributes, run) {
      const span: RecordedSpan = { name, attributes, parent: context.getStore()?.name }
      spans.push(span)
      return context.run(span, async () => {
        try {
          const result = await run()
          span.outcome = 'ok'
          return result
        } catch (error) {
          span.outcome = 'error'
          throw error
        }
      })
    },
  }
  return { telemetry, counts, spans }
}

/** A server with `telemetry` behind a real HTTP server; `post` sends a form to the token endpoint. */
async function world(telemetry: Telemetry) {
  const store = memoryStore()
  const http = createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => http.close(() => resolve())))
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  const server = new AuthorizationServer({ issuer, store, telemetry, onError: () => {} })
  server.registerGrant(TestTokenGrant).registerGrant(ReplayDetectingGrant).registerGrant(TestCodeGrant).registerEndpoint(RevocationEndpoint)
  const handler = createHttpHandler(server)
  const guard = createResourceGuard(server, { onError: () => {} })
  http.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer)
    const write = (outcome: Awaited<ReturnType<typeof handler.handle>>) => {
      if (outcome.kind === 'handled') return
      res.writeHead(outcome.status, outcome.headers)
      res.end(outcome.kind === 'json' || outcome.kind === 'html' ? outcome.body : undefined)
    }
    if (url.pathname === '/resource') {
      void guard({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers }).then((result) => (result.ok ? write({ kind: 'json', status: 200, headers: {}, body: '{}' }) : write(result.outcome)))
      return
    }
    void handler
      .handle({ method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), url: req.url ?? '/', headers: req.headers, body: nodeBodySource(req) }, { authorize: () => ({ user: { id: 'u' } }) })
      .then(write)
  })
  const client = await saveClient(store, { grantTypes: ['urn:test:token', 'urn:test:replayed'], redirectUris: ['https://client.example/cb'], responseTypes: ['code'] })
  const authorization = basic(client.clientId, client.clientSecret)
  const post = (body: string, path = '/token', headers: Record<string, string> = { authorization }) =>
    fetch(issuer + path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body })
  return { issuer, server, store, post, authorization, clientId: client.clientId }
}

describe('telemetry counters over HTTP', () => {
  it('counts the tokens issued by grant type and token type (grantkit.tokens.issued)', async () => {
    const { telemetry, counts } = recorder()
    const { post } = await world(telemetry)
    expect((await post('grant_type=urn%3Atest%3Atoken&with_refresh=true')).status).toBe(200)
    expect((await post('grant_type=urn%3Atest%3Atoken')).status).toBe(200)
    expect(counts.filter((c) => c.name === 'grantkit.tokens.issued')).toEqual([
      { name: 'grantkit.tokens.issued', value: 1, attributes: { grant_type: 'urn:test:token', token_type: 'access_token' } },
      { name: 'grantkit.tokens.issued', value: 1, attributes: { grant_type: 'urn:test:token', token_type: 'refresh_token' } },
      { name: 'grantkit.tokens.issued', value: 1, attributes: { grant_type: 'urn:test:token', token_type: 'access_token' } },
    ])
  })

  it('counts every error answer by endpoint, code and status (grantkit.errors), the server’s and the HTTP layer’s own', async () => {
    const { telemetry, counts } = recorder()
    const { post, issuer } = await world(telemetry)
    expect((await post('grant_type=urn%3Atest%3Atoken', '/token', { authorization: basic('nobody', 'wrong') })).status).toBe(401)
    expect((await post('grant_type=password')).status).toBe(400)
    expect((await fetch(`${issuer}/token`)).status).toBe(405)
    expect((await post('token=x', '/revoke', { authorization: basic('nobody', 'wrong') })).status).toBe(401)
    expect((await fetch(`${issuer}/resource`, { headers: { authorization: 'Bearer unknown' } })).status).toBe(401)
    expect(counts.filter((c) => c.name === 'grantkit.errors').map((c) => c.attributes)).toEqual([
      { endpoint: 'token', error: 'invalid_client', status: 401 },
      { endpoint: 'token', error: 'unsupported_grant_type', status: 400 },
      { endpoint: 'token', error: 'invalid_request', status: 405 },
      { endpoint: 'revocation', error: 'invalid_client', status: 401 },
      { endpoint: 'resource', error: 'invalid_token', status: 401 },
    ])
    expect(counts.filter((c) => c.name === 'grantkit.tokens.issued')).toEqual([])
  })

  it('counts a 503 of an outage as a server_error with its status', async () => {
    const { telemetry, counts } = recorder()
    const { post, store } = await world(telemetry)
    store.findClient = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    }
    expect((await post('grant_type=urn%3Atest%3Atoken')).status).toBe(503)
    expect(counts).toEqual([{ name: 'grantkit.errors', value: 1, attributes: { endpoint: 'token', error: 'server_error', status: 503 } }])
  })

  it('counts security events by type (grantkit.security_events), never with an id', async () => {
    const { telemetry, counts } = recorder()
    const { post } = await world(telemetry)
    expect((await post('grant_type=urn%3Atest%3Areplayed')).status).toBe(400)
    expect(counts.filter((c) => c.name === 'grantkit.security_events')).toEqual([{ name: 'grantkit.security_events', value: 1, attributes: { type: 'authorization_code_replay' } }])
  })
})

describe('telemetry spans over HTTP', () => {
  it('wraps the token request in grantkit.token, and every store call in a child grantkit.store.<method> span', async () => {
    const { telemetry, spans } = recorder()
    const { post } = await world(telemetry)
    expect((await post('grant_type=urn%3Atest%3Atoken&with_refresh=true')).status).toBe(200)
    expect(spans).toEqual([
      { name: 'grantkit.token', attributes: { grant_type: 'urn:test:token' }, parent: undefined, outcome: 'ok' },
      { name: 'grantkit.store.findClient', attributes: { 'db.operation.name': 'findClient' }, parent: 'grantkit.token', outcome: 'ok' },
      { name: 'grantkit.store.saveTokens', attributes: { 'db.operation.name': 'saveTokens' }, parent: 'grantkit.token', outcome: 'ok' },
    ])
  })

  it('never puts a grant type that is not registered into an attribute (it is the request’s value)', async () => {
    const { telemetry, spans } = recorder()
    const { post } = await world(telemetry)
    await post('grant_type=attacker-chosen-value')
    expect(spans).toEqual([{ name: 'grantkit.token', attributes: {}, parent: undefined, outcome: 'ok' }])
  })

  it('spans the authorization request and its answer, and counts an authorization error shown to the user', async () => {
    const { telemetry, spans, counts } = recorder()
    const { issuer, clientId } = await world(telemetry)
    const approved = await fetch(`${issuer}/authorize?response_type=code&client_id=${clientId}&state=s`, { redirect: 'manual' })
    expect(approved.status).toBe(302)
    expect(new URL(approved.headers.get('location')!).searchParams.get('code')).toBe('code-for-u')
    expect((await fetch(`${issuer}/authorize?response_type=code&client_id=unknown`, { redirect: 'manual' })).status).toBe(400)
    expect(spans.map((s) => [s.name, s.parent, s.outcome])).toEqual([
      ['grantkit.authorization', undefined, 'ok'],
      ['grantkit.store.findClient', 'grantkit.authorization', 'ok'],
      ['grantkit.authorization.response', undefined, 'ok'],
      ['grantkit.authorization', undefined, 'error'],
      ['grantkit.store.findClient', 'grantkit.authorization', 'ok'],
    ])
    expect(counts).toEqual([{ name: 'grantkit.errors', value: 1, attributes: { endpoint: 'authorization', error: 'invalid_client', status: 400 } }])
  })

  it('spans a registered endpoint and the resource guard, and marks a failing store call', async () => {
    const { telemetry, spans } = recorder()
    const { post, issuer, store, authorization } = await world(telemetry)
    expect((await post('token=abc', '/revoke', { authorization })).status).toBe(200)
    store.findToken = async () => {
      throw new TypeError('bug')
    }
    expect((await fetch(`${issuer}/resource`, { headers: { authorization: 'Bearer abc' } })).status).toBe(500)
    expect(spans.map((s) => [s.name, s.parent, s.outcome])).toEqual([
      ['grantkit.revocation', undefined, 'ok'],
      ['grantkit.store.findClient', 'grantkit.revocation', 'ok'],
      ['grantkit.store.findToken', 'grantkit.revocation', 'ok'],
      ['grantkit.resource', undefined, 'error'],
      ['grantkit.store.findToken', 'grantkit.resource', 'error'],
    ])
  })
})

describe('hooks that fail never break a request', () => {
  /** The answer of a token request, without its random tokens. */
  async function answer(telemetry: Telemetry) {
    const { post, store } = await world(telemetry)
    let saves = 0
    const saveTokens = store.saveTokens.bind(store)
    store.saveTokens = async (records) => {
      saves++
      return saveTokens(records)
    }
    const res = await post('grant_type=urn%3Atest%3Atoken&with_refresh=true')
    const body = (await res.json()) as Record<string, unknown>
    return { status: res.status, keys: Object.keys(body).sort(), saves }
  }

  const expected = { status: 200, keys: ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'], saves: 1 }

  it.each<[string, Telemetry]>([
    [
      'a count hook that throws',
      {
        count() {
          throw new Error('metrics down')
        },
      },
    ],
    [
      'a span hook that throws before running the work',
      {
        span() {
          throw new Error('tracer down')
        },
      },
    ],
    [
      'a span hook that throws after running the work',
      {
        async span(_name, _attributes, run) {
          await run()
          throw new Error('exporter down')
        },
      },
    ],
    ['a span hook that never runs the work', { span: async () => 'nothing' as never }],
    [
      'a span hook that runs the work twice (the store is still called once)',
      {
        async span(_name, _attributes, run) {
          await run()
          return run()
        },
      },
    ],
    ['a span hook that answers something else', { span: async () => ({ forged: true }) as never }],
  ])('%s', async (_name, telemetry) => {
    expect(await answer(telemetry)).toEqual(expected)
  })

  it('passes the work’s own error through a span hook, so error answers are unchanged', async () => {
    const { post } = await world({ span: (_name, _attributes, run) => run() })
    const res = await post('grant_type=urn%3Atest%3Atoken', '/token', { authorization: basic('nobody', 'wrong') })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: 'invalid_client' })
  })

  it('refuses hooks that are not functions at set-up (ERR_GRANTKIT_CONFIG)', () => {
    expect(() => new AuthorizationServer({ issuer: 'https://as.example', store: memoryStore(), telemetry: { count: 'yes' } as unknown as Telemetry })).toThrow(
      expect.objectContaining({ code: 'ERR_GRANTKIT_CONFIG' }),
    )
    expect(() => new AuthorizationServer({ issuer: 'https://as.example', store: memoryStore(), telemetry: 42 as unknown as Telemetry })).toThrow(TypeError)
  })
})
