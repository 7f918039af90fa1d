// The dual-package hazard: an ESM server given a grant or an error made by the
// CommonJS build of another grantkit package (two copies of every class) must
// behave exactly as with one copy. grantkit recognises grants, errors,
// requests and handles by a `Symbol.for` brand, never by `instanceof`.
// Runs against the built files (npm test builds first).
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = new URL('..', import.meta.url).pathname
const require = createRequire(join(root, 'package.json'))
const coreEsmPath = join(root, 'packages/core/dist/index.js')
const grantCjsPath = join(root, 'packages/grant-client-credentials/dist/index.cjs')

type Core = typeof import('@grantkit/core')

async function load(): Promise<{ esm: Core; cjs: Core; ClientCredentialsGrant: typeof import('@grantkit/grant-client-credentials').ClientCredentialsGrant }> {
  for (const file of [coreEsmPath, grantCjsPath]) expect(existsSync(file), `${file} is missing — build first (npm test does)`).toBe(true)
  const esm = (await import(pathToFileURL(coreEsmPath).href)) as Core
  const cjs = require('@grantkit/core') as Core
  const { ClientCredentialsGrant } = require(grantCjsPath) as typeof import('@grantkit/grant-client-credentials')
  return { esm, cjs, ClientCredentialsGrant }
}

describe('an ESM server with CommonJS-loaded grants and errors (dual-package hazard)', () => {
  it('loads two distinct copies of core, as a mixed app would', async () => {
    const { esm, cjs } = await load()
    expect(esm.OAuthError).not.toBe(cjs.OAuthError)
  })

  it('registers a grant class that extends the CommonJS copy of BaseGrant', async () => {
    const { esm, ClientCredentialsGrant } = await load()
    const server = new esm.AuthorizationServer({ issuer: 'https://auth.example.com', store: esm.memoryStore() })
    expect(() => server.registerGrant(ClientCredentialsGrant as never)).not.toThrow()
    expect(server.hasGrantType('client_credentials')).toBe(true)
  })

  it('answers the OAuth errors a CommonJS grant throws with their 4xx, never a 500 (RFC 6749 §5.2)', async () => {
    const { esm, ClientCredentialsGrant } = await load()
    const errors: unknown[] = []
    const store = esm.memoryStore()
    const server = new esm.AuthorizationServer({ issuer: 'https://auth.example.com', store, onError: (e) => errors.push(e) })
    server.registerGrant(ClientCredentialsGrant as never)
    const { client } = await esm.createClient({ clientId: 'svc', clientSecret: 'svc-secret', secretHash: 'sha256', grantTypes: ['client_credentials'], scope: 'read' })
    await store.saveClient(client)
    const basic = `Basic ${Buffer.from('svc:svc-secret').toString('base64')}`
    const request = (body: Record<string, string>, authorization = basic) =>
      server.createTokenResponse(esm.createOAuthRequest({ method: 'POST', url: '/token', headers: { authorization }, body }))
    expect((await request({ grant_type: 'client_credentials', scope: 'read' })).status).toBe(200)
    expect(await request({ grant_type: 'client_credentials', scope: 'admin' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } })
    expect(await request({ grant_type: 'client_credentials' }, `Basic ${Buffer.from('svc:wrong').toString('base64')}`)).toMatchObject({ status: 401, body: { error: 'invalid_client' } })
    expect(errors).toEqual([])
  })

  it('recognises an OAuthError of the other copy, with isOAuthError and instanceof', async () => {
    const { esm, cjs } = await load()
    const foreign = new cjs.OAuthError('invalid_grant', 'from the CommonJS copy')
    expect(esm.isOAuthError(foreign)).toBe(true)
    expect(foreign instanceof esm.OAuthError).toBe(true)
    expect(esm.errorResponse(foreign)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
  })

  it('answers an authorization handle made by one copy with the other', async () => {
    const { esm, cjs } = await load()
    expect(cjs.isAuthorizationHandle(Object.assign({}, { [Symbol.for('grantkit.authorization-handle')]: true }))).toBe(true)
    expect(esm.isOAuthRequest(cjs.createOAuthRequest({ url: '/x' }))).toBe(true)
  })
})
