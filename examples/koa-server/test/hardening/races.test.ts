import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverCases, startDemoServer, tempDir, writeSeed, type DemoServer } from '../support/demo-server.js'
import { CALLBACK, CONFIDENTIAL, PUBLIC_CLIENT, seed } from '../support/fixtures.js'
import { introspect, obtainCode, post } from '../support/oauth-http.js'

const RACERS = 20
const PUBLIC = { clientId: PUBLIC_CLIENT.client_id }

describe.each(serverCases())('concurrent redemption over HTTP on $adapter with the $store store (RFC 6749 §4.1.2, §10.5; RFC 9700 §4.14.2)', ({ adapter, setup }) => {
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

  async function all(requests: (() => Promise<Response>)[]): Promise<{ status: number; body: Record<string, unknown> }[]> {
    return Promise.all(requests.map(async (send) => {
      const res = await send()
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }))
  }

  it(`redeems one authorization code for exactly one of ${RACERS} concurrent token requests, and revokes what it issued (RFC 9700 §4.2.4)`, async () => {
    const { code, verifier } = await obtainCode(demo.issuer, PUBLIC_CLIENT.client_id)
    const results = await all(
      Array.from({ length: RACERS }, () => () => post(demo.issuer, '/token', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, PUBLIC)),
    )
    const winners = results.filter((r) => r.status === 200)
    expect(winners).toHaveLength(1)
    for (const loser of results.filter((r) => r.status !== 200)) expect(loser).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
    // The other redemptions were replays: RFC 6749 §4.1.2 says the tokens issued from the code SHOULD be revoked.
    const issued = winners[0]!.body
    expect(await introspect(demo.issuer, issued['access_token'] as string, PUBLIC)).toEqual({ active: false })
    expect(await introspect(demo.issuer, issued['refresh_token'] as string, PUBLIC)).toEqual({ active: false })
  })

  it(`rotates one refresh token for at most one of ${RACERS} concurrent refresh requests`, async () => {
    const { code, verifier } = await obtainCode(demo.issuer, CONFIDENTIAL.client_id)
    const auth = { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] as [string, string] }
    const first = await post(demo.issuer, '/token', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, auth)
    expect(first.status).toBe(200)
    const { refresh_token } = (await first.json()) as { refresh_token: string }
    const results = await all(Array.from({ length: RACERS }, () => () => post(demo.issuer, '/token', { grant_type: 'refresh_token', refresh_token }, auth)))
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1)
    for (const loser of results.filter((r) => r.status !== 200)) expect(loser).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
  })

  it('revokes the whole token family when a rotated refresh token is used again, as introspection shows (RFC 9700 §4.14.2, RFC 7662)', async () => {
    const { code, verifier } = await obtainCode(demo.issuer, PUBLIC_CLIENT.client_id)
    const first = (await (await post(demo.issuer, '/token', { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }, PUBLIC)).json()) as Record<string, string>
    const rotated = await post(demo.issuer, '/token', { grant_type: 'refresh_token', refresh_token: first['refresh_token']! }, PUBLIC)
    expect(rotated.status).toBe(200)
    const second = (await rotated.json()) as Record<string, string>
    expect(second['refresh_token']).not.toBe(first['refresh_token'])
    // Before the reuse, the new tokens are active (so the checks below can fail).
    expect(await introspect(demo.issuer, second['access_token']!, PUBLIC)).toMatchObject({ active: true })
    expect(await introspect(demo.issuer, second['refresh_token']!, PUBLIC)).toMatchObject({ active: true })

    const reuse = await post(demo.issuer, '/token', { grant_type: 'refresh_token', refresh_token: first['refresh_token']! }, PUBLIC)
    expect(reuse.status).toBe(400)
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' })
    for (const token of [first['access_token'], first['refresh_token'], second['access_token'], second['refresh_token']]) {
      expect(await introspect(demo.issuer, token!, PUBLIC)).toEqual({ active: false })
    }
    // The attacker's copy of the newest refresh token is dead too.
    const after = await post(demo.issuer, '/token', { grant_type: 'refresh_token', refresh_token: second['refresh_token']! }, PUBLIC)
    expect(await after.json()).toMatchObject({ error: 'invalid_grant' })
    // The reuse is logged for alerting, by ids only.
    expect(demo.output()).toMatch(new RegExp(`\\[security\\] refresh_token_reuse client=${PUBLIC_CLIENT.client_id} `))
    expect(demo.output()).not.toContain(first['refresh_token'])
  })
})
