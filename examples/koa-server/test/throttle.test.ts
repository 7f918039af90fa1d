// OAUTH_THROTTLE (docs/demo-server.md "Environment variables"): failed
// credentials bounded only when asked (RFC 6819 §5.1.4.2.3), never by default.
import { afterAll, describe, expect, it } from 'vitest'
import { startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CONFIDENTIAL, seed } from './support/fixtures.js'
import { post } from './support/oauth-http.js'

describe('OAUTH_THROTTLE', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  async function start(env: Record<string, string>): Promise<DemoServer> {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const server = await startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_LOG: 'off', OAUTH_SEED: await writeSeed(tmp.dir, seed()), ...env }, tmp.dir)
    cleanups.push(() => server.stop())
    return server
  }
  const wrongSecret = (issuer: string) => post(issuer, '/token', { grant_type: 'client_credentials' }, { basic: [CONFIDENTIAL.client_id, 'wrong'] })

  it('is off by default: a client may fail authentication as often as it likes', async () => {
    const { issuer } = await start({})
    for (let i = 0; i < 12; i++) expect((await wrongSecret(issuer)).status).toBe(401)
  })

  it('with on, answers 429 invalid_client with Retry-After after 10 failures of one client, before checking the secret', async () => {
    const { issuer } = await start({ OAUTH_THROTTLE: 'on' })
    for (let i = 0; i < 10; i++) expect((await wrongSecret(issuer)).status).toBe(401)
    const refused = await post(issuer, '/token', { grant_type: 'client_credentials' }, { basic: [CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret] })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/)
    expect(await refused.json()).toMatchObject({ error: 'invalid_client' })
  })

  it.each(['yes', 'ON', '1'])('refuses to start with OAUTH_THROTTLE=%j, naming the variable', async (value) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    await expect(startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_THROTTLE: value }, tmp.dir)).rejects.toThrow(/failed to start: OAUTH_THROTTLE must be "on" or "off"/)
  })
})
