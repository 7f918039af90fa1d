// oidc-provider 8.8.1 (its own Koa app) with a Map adapter (its bundled memory adapter is an LRU of 1,000
// entries, too small for the pre-minted pools). Access tokens are opaque, for one resource server with
// the scopes `read write` (resource indicators are how oidc-provider scopes non-OpenID access tokens).
import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider'
import { CODE_CHALLENGE, FIXTURE } from '../fixture.js'
import { serveTarget } from './harness.js'

const RESOURCE = 'urn:bench:api'
const storage = new Map<string, AdapterPayload>()
const grants = new Map<string, Set<string>>()

class MapAdapter implements Adapter {
  constructor(readonly model: string) {}
  key(id: string) {
    return `${this.model}:${id}`
  }
  async upsert(id: string, payload: AdapterPayload) {
    storage.set(this.key(id), payload)
    if (payload.grantId) {
      let set = grants.get(payload.grantId)
      if (set === undefined) grants.set(payload.grantId, (set = new Set()))
      set.add(this.key(id))
    }
  }
  async find(id: string) {
    return storage.get(this.key(id))
  }
  async findByUserCode(): Promise<undefined> {
    return undefined
  }
  async findByUid(): Promise<undefined> {
    return undefined
  }
  async consume(id: string) {
    const payload = storage.get(this.key(id))
    if (payload) payload.consumed = Math.floor(Date.now() / 1000)
  }
  async destroy(id: string) {
    storage.delete(this.key(id))
  }
  async revokeByGrantId(grantId: string) {
    for (const key of grants.get(grantId) ?? []) storage.delete(key)
    grants.delete(grantId)
  }
}

const provider = new Provider('http://127.0.0.1', {
  adapter: MapAdapter,
  clients: [
    {
      client_id: FIXTURE.clientId,
      client_secret: FIXTURE.clientSecret,
      grant_types: ['client_credentials', 'refresh_token', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: [FIXTURE.redirectUri],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: `openid offline_access ${FIXTURE.scope}`,
    },
  ],
  scopes: ['openid', 'offline_access', 'read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: FIXTURE.scope, accessTokenFormat: 'opaque', accessTokenTTL: 3600 }),
    },
  },
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
  rotateRefreshToken: true,
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  ttl: { AccessToken: 3600, ClientCredentials: 3600, AuthorizationCode: 60, RefreshToken: 30 * 24 * 3600, Grant: 30 * 24 * 3600, IdToken: 3600 },
  issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
})
provider.on('server_error', (_ctx: unknown, error: unknown) => console.error(error))

async function newGrant(): Promise<string> {
  const grant = new provider.Grant({ accountId: FIXTURE.userId, clientId: FIXTURE.clientId })
  grant.addResourceScope(RESOURCE, FIXTURE.scope)
  return grant.save()
}

const client = await provider.Client.find(FIXTURE.clientId)
if (client === undefined) throw new Error('no client')
// No `openid`: the fixture's scope is `read write`, so no ID token is signed (as with every other target).
const scope = FIXTURE.scope

await serveTarget({
  handler: provider.callback(),
  unsupported: { password: 'oidc-provider does not implement the resource owner password credentials grant' },
  // Through its models: what its authorization endpoint and token endpoint save after a login and consent.
  async mintAuthorizationCode() {
    const code = new provider.AuthorizationCode({
      accountId: FIXTURE.userId,
      client,
      grantId: await newGrant(),
      redirectUri: FIXTURE.redirectUri,
      scope,
      resource: RESOURCE,
      codeChallenge: CODE_CHALLENGE,
      codeChallengeMethod: 'S256',
      authTime: Math.floor(Date.now() / 1000),
    })
    return code.save()
  },
  async mintRefreshToken() {
    const token = new provider.RefreshToken({
      accountId: FIXTURE.userId,
      client,
      grantId: await newGrant(),
      scope,
      resource: RESOURCE,
      gty: 'authorization_code',
      rotations: 0,
      iiat: Math.floor(Date.now() / 1000),
      authTime: Math.floor(Date.now() / 1000),
    })
    return token.save()
  },
})
