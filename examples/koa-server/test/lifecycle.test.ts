import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { adapterCases, freePort, startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CONFIDENTIAL, USER, seed } from './support/fixtures.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const basic = (id: string, secret: string) => 'Basic ' + Buffer.from(`${id}:${secret}`).toString('base64')

let cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

async function started(env: Record<string, string>, cwd: string): Promise<DemoServer> {
  const demo = await startDemoServer(env, cwd)
  cleanups.push(() => demo.stop())
  return demo
}

describe.each(adapterCases())('the demo server lifecycle on $adapter (docs/demo-server.md "Starting and stopping")', ({ adapter }) => {
  // Koa is the default: its runs leave OAUTH_ADAPTER unset.
  const on = (env: Record<string, string>): Record<string, string> => (adapter === 'koa' ? env : { ...env, OAUTH_ADAPTER: adapter })

  it('uses ./data/grantkit.sqlite under the working directory by default, names its adapter and creates demo credentials once', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const first = await started(on({}), tmp.dir)
    expect(first.output()).toContain(`[grantkit] adapter: ${adapter}\n`)
    expect(first.output()).toContain(`sqlite ./data/grantkit.sqlite`)
    const printed = /client_id=(demo-confidential)\s+client_secret=(\S+)/.exec(first.output())
    expect(printed).not.toBeNull()
    const [, clientId, clientSecret] = printed as unknown as [string, string, string]
    const res = await fetch(`${first.issuer}/token`, { method: 'POST', headers: { ...FORM, authorization: basic(clientId, clientSecret) }, body: 'grant_type=client_credentials' })
    expect(res.status).toBe(200)
    const { access_token } = (await res.json()) as { access_token: string }
    expect(await first.stop()).toBe(0)

    // Second start: the same store, no new credentials, the token still valid.
    const second = await started(on({}), tmp.dir)
    expect(second.output()).not.toContain('client_secret=')
    const introspection = await fetch(`${second.issuer}/introspect`, { method: 'POST', headers: { ...FORM, authorization: basic(clientId, clientSecret) }, body: `token=${access_token}` })
    expect(await introspection.json()).toMatchObject({ active: true, client_id: clientId })
  })

  it('upserts the seed again on restart and keeps the user id', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const env = on({ OAUTH_STORE: `sqlite:${join(tmp.dir, 'db', 'store.sqlite')}`, OAUTH_SEED: await writeSeed(tmp.dir, seed()) })
    const login = async (demo: DemoServer) => {
      const res = await fetch(`${demo.issuer}/token`, {
        method: 'POST',
        headers: { ...FORM, authorization: basic(CONFIDENTIAL.client_id, CONFIDENTIAL.client_secret) },
        body: new URLSearchParams({ grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile' }),
      })
      const { access_token } = (await res.json()) as { access_token: string }
      const me = await fetch(`${demo.issuer}/api/me`, { headers: { authorization: `Bearer ${access_token}` } })
      return ((await me.json()) as { sub: string }).sub
    }
    const first = await started(env, tmp.dir)
    const sub = await login(first)
    expect(await first.stop()).toBe(0)
    const second = await started(env, tmp.dir)
    expect(await login(second)).toBe(sub)
  })

  it('honours OAUTH_ISSUER in its metadata', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const port = String(await freePort())
    const named = await started(on({ OAUTH_STORE: 'memory:', PORT: port, OAUTH_ISSUER: `http://127.0.0.1:${port}` }), tmp.dir)
    const metadata = (await (await fetch(`${named.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>
    expect(metadata['issuer']).toBe(`http://127.0.0.1:${port}`)
  })

  it('prints the metadata URL of an issuer with a path as RFC 8414 §3.1 builds it, and serves it there', async () => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const port = String(await freePort())
    const tenant = await started(on({ OAUTH_STORE: 'memory:', PORT: port, OAUTH_ISSUER: `http://127.0.0.1:${port}/tenant-a` }), tmp.dir)
    const url = `http://127.0.0.1:${port}/.well-known/oauth-authorization-server/tenant-a`
    expect(tenant.output()).toContain(`[grantkit] metadata: ${url}\n`)
    expect(((await (await fetch(url)).json()) as Record<string, unknown>)['issuer']).toBe(`http://127.0.0.1:${port}/tenant-a`)
  })

  it.each([
    ['an unknown store scheme', { OAUTH_STORE: 'redis://localhost' }],
    ['a seed file that does not exist', { OAUTH_STORE: 'memory:', OAUTH_SEED: '/nonexistent/seed.json' }],
    ['a bad PORT', { PORT: 'eighty' }],
  ])('refuses to start with %s, exiting non-zero with a message', async (_name, env) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    await expect(startDemoServer(on(env), tmp.dir)).rejects.toThrow(/exited with 1[\s\S]*failed to start/)
  })
})

describe('OAUTH_ADAPTER (docs/demo-server.md "Environment variables")', () => {
  it.each(['hapi', 'Koa', 'express ', 'koa,express'])('refuses to start with OAUTH_ADAPTER=%j, naming the variable and the values it takes', async (value) => {
    const tmp = await tempDir()
    cleanups.push(tmp.remove)
    const refused = startDemoServer({ OAUTH_STORE: 'memory:', OAUTH_ADAPTER: value }, tmp.dir)
    await expect(refused).rejects.toThrow(/exited with 1[\s\S]*\[grantkit\] failed to start: OAUTH_ADAPTER must be one of koa, express, fastify, fetch/)
  })
})
