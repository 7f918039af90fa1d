import {
  AuthorizationServer,
  OAuthError,
  createClient,
  createOAuthRequest,
  hashToken,
  memoryStore,
  type Client,
  type FullStore,
  type GrantExtension,
  type GrantUser,
  type OAuthResponse,
  type SecurityEvent,
  type TokenRecord,
} from '@grantkit/core'
import { describe, expect, it } from 'vitest'
import { describeOnEveryStore } from '../../../test-support/every-store.js'
import { openTempSqliteStore, readSqliteRows, TEST_STORES, type TestStore } from '../../../test-support/stores.js'
import * as grants from './index.js'
import { RefreshTokenGrant } from './refresh-token-grant.js'

const ISSUER = 'https://auth.example.com'
const T0 = Date.UTC(2025, 0, 1)
const REFRESH_LIFETIME = 24 * 3600

function basic(id: string, secret: string): string {
  return 'Basic ' + btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)
}

const APP = { authorization: basic('app', 'app-secret') }

class PostRefreshTokenGrant extends RefreshTokenGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']
}

/** Public clients (no secret) refresh with `none`: the subclass the README shows. */
class PublicRefreshTokenGrant extends RefreshTokenGrant {
  static override TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'none']
}

class GraceRefreshTokenGrant extends RefreshTokenGrant {
  static override REUSE_GRACE_PERIOD = 10
}

/** Saves its tokens a moment late, as a slow database would: the reuses revoke the family first. */
class SlowIssuingRefreshTokenGrant extends RefreshTokenGrant {
  override async issueTokens(options: Parameters<RefreshTokenGrant['issueTokens']>[0]) {
    await new Promise((resolve) => setTimeout(resolve, 5))
    return super.issueTokens(options)
  }
}

class NonRotatingRefreshTokenGrant extends RefreshTokenGrant {
  static override ROTATE_REFRESH_TOKEN = false
}

async function setupOn<S extends FullStore = TestStore>(openStore: () => Promise<S>, grant: typeof RefreshTokenGrant = RefreshTokenGrant, extensions: GrantExtension[] = []) {
  const store = await openStore()
  const clock = { t: T0 }
  const errors: unknown[] = []
  const events: SecurityEvent[] = []
  const server = new AuthorizationServer({
    issuer: ISSUER,
    store,
    clock: () => clock.t,
    refreshTokenLifetime: REFRESH_LIFETIME,
    onError: (e) => errors.push(e),
    onSecurityEvent: (e) => events.push(e),
  })
  server.registerGrant(grant, extensions)
  const clients: Record<string, Client> = {}
  for (const input of [
    { clientId: 'app', clientSecret: 'app-secret', grantTypes: ['authorization_code', 'refresh_token'], scope: 'read write admin' },
    { clientId: 'other', clientSecret: 'other-secret', grantTypes: ['authorization_code', 'refresh_token'], scope: 'read write' },
    { clientId: 'no-refresh', clientSecret: 'nr-secret', grantTypes: ['authorization_code'], scope: 'read' },
    { clientId: 'post-app', clientSecret: 'post-secret', grantTypes: ['refresh_token'], scope: 'read', tokenEndpointAuthMethod: 'client_secret_post' },
    { clientId: 'spa', grantTypes: ['authorization_code', 'refresh_token'], scope: 'read', tokenEndpointAuthMethod: 'none' },
  ]) {
    const { client } = await createClient({ ...input, secretHash: 'sha256' })
    clients[client.clientId] = client
    await store.saveClient(client)
  }
  await store.saveUser({ id: 'u-1', username: 'alice', passwordHash: 'unused' })

  /** Issues an access + refresh token pair as another grant would (the real core code path). */
  const issue = async (clientId = 'app', scopes: string[] = ['read', 'write'], userId: string | null = 'u-1') => {
    const issuer = new RefreshTokenGrant(server, createOAuthRequest({ method: 'POST', url: '/token' }), [])
    const body = await issuer.issueTokens({
      client: clients[clientId] as Client,
      user: userId === null ? null : { id: userId },
      scopes,
      refreshToken: true,
    })
    return { accessToken: body.access_token, refreshToken: body.refresh_token as string }
  }
  const token = (body: string, headers: Record<string, string> = APP): Promise<OAuthResponse> =>
    server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body }))
  const refresh = (refreshToken: string, extra = '', headers?: Record<string, string>) =>
    token(`grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}${extra}`, headers)
  const record = async (value: unknown) => (await store.findToken(hashToken(value as string))) as TokenRecord
  return { store, server, clock, errors, events, issue, token, refresh, record }
}

type Ctx = Awaited<ReturnType<typeof setupOn>> & { refreshToken: string; accessToken: string }

describe.each(TEST_STORES)('RefreshTokenGrant (RFC 6749 §6) on the %s', (_storeName, openStore) => {
  const setup = (grant?: typeof RefreshTokenGrant, extensions?: GrantExtension[]) => setupOn(openStore, grant, extensions)

  it('carries the claims of the grant (audience, act, cnf) over to the refreshed tokens', async () => {
    const { server, refresh, record } = await setup()
    const issuer = new RefreshTokenGrant(server, createOAuthRequest({ method: 'POST', url: '/token' }), [])
    const client = (await server.store.findClient('app'))!
    const body = await issuer.issueTokens({ client, user: { id: 'u-1' }, scopes: ['read'], refreshToken: true, claims: { aud: ['https://api.example.com'], act: { sub: 'svc' } } })
    const refreshed = await refresh(body.refresh_token as string)
    expect(refreshed.status).toBe(200)
    for (const token of [refreshed.body!['access_token'], refreshed.body!['refresh_token']]) {
      expect((await record(token)).extra).toEqual({ claims: { aud: ['https://api.example.com'], act: { sub: 'svc' } } })
    }
  })

  it('declares the refresh_token grant type at the token endpoint, rotation on', () => {
    expect(RefreshTokenGrant.GRANT_TYPE).toBe('refresh_token')
    expect(RefreshTokenGrant.TOKEN_ENDPOINT).toBe(true)
    expect(RefreshTokenGrant.AUTHORIZATION_ENDPOINT).toBe(false)
    expect(RefreshTokenGrant.TOKEN_ENDPOINT_AUTH_METHODS).toEqual(['client_secret_basic'])
    expect(RefreshTokenGrant.ROTATE_REFRESH_TOKEN).toBe(true)
    expect(RefreshTokenGrant.REUSE_GRACE_PERIOD).toBe(0)
  })

  describe('when the refresh token is valid (RFC 6749 §6, RFC 9700 §4.14.2)', () => {
    it('issues a new access token and a new refresh token, not cached', async () => {
      const { issue, refresh } = await setup()
      const { refreshToken, accessToken } = await issue()
      const response = await refresh(refreshToken)
      expect(response.status).toBe(200)
      expect(response.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' })
      expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read write' })
      expect(response.body?.['access_token']).not.toBe(accessToken)
      expect(typeof response.body?.['refresh_token']).toBe('string')
      expect(response.body?.['refresh_token']).not.toBe(refreshToken)
    })

    it('keeps the new tokens in the family of the old one and marks the old one rotated', async () => {
      const { issue, refresh, record, clock } = await setup()
      const { refreshToken } = await issue()
      const old = await record(refreshToken)
      clock.t += 60_000
      const response = await refresh(refreshToken)
      const newAccess = await record(response.body?.['access_token'])
      const newRefresh = await record(response.body?.['refresh_token'])
      expect(newAccess).toMatchObject({ type: 'access_token', clientId: 'app', userId: 'u-1', familyId: old.familyId, revokedAt: null })
      expect(newRefresh).toMatchObject({ type: 'refresh_token', clientId: 'app', userId: 'u-1', familyId: old.familyId, rotatedAt: null })
      expect((await record(refreshToken)).rotatedAt).toEqual(new Date(T0 + 60_000))
    })

    it('lets the new refresh token be used in turn', async () => {
      const { issue, refresh } = await setup()
      const first = await refresh((await issue()).refreshToken)
      const second = await refresh(first.body?.['refresh_token'] as string)
      expect(second.status).toBe(200)
    })

    it('grants a narrower scope to the access token and keeps the refresh token scope (RFC 6749 §6)', async () => {
      const { issue, refresh, record } = await setup()
      const { refreshToken } = await issue('app', ['read', 'write'])
      const response = await refresh(refreshToken, '&scope=read')
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ scope: 'read' })
      expect((await record(response.body?.['access_token'])).scope).toBe('read')
      // "the refresh token scope MUST be identical to that of the refresh token included by the client in the request"
      expect((await record(response.body?.['refresh_token'])).scope).toBe('read write')
      const again = await refresh(response.body?.['refresh_token'] as string)
      expect(again.body).toMatchObject({ scope: 'read write' })
    })

    it('says what is true when the scope asks for more than was granted: not granted to this refresh token, even if the client may have it (RFC 6749 §6, §5.2)', async () => {
      const { issue, refresh } = await setup()
      const { refreshToken } = await issue('app', ['read'])
      const response = await refresh(refreshToken, '&scope=read%20admin')
      expect(response.status).toBe(400)
      expect(response.body).toEqual({ error: 'invalid_scope', error_description: 'a requested scope was not granted to this refresh token' })
      expect(JSON.stringify(response.body)).not.toContain('admin')
      // The token is not spent by the refusal.
      expect((await refresh(refreshToken, '&scope=read')).status).toBe(200)
    })

    it('keeps a client-only token client-only (userId null)', async () => {
      const { issue, refresh, record } = await setup()
      const { refreshToken } = await issue('app', ['read'], null)
      const response = await refresh(refreshToken)
      expect(response.status).toBe(200)
      expect((await record(response.body?.['access_token'])).userId).toBeNull()
    })

    it('resolves the username through the server by default', async () => {
      let user: GrantUser | null = null
      const spy: GrantExtension = { afterValidateTokenRequest: ({ grant }) => void (user = (grant as RefreshTokenGrant).user) }
      const { issue, refresh } = await setup(RefreshTokenGrant, [spy])
      await refresh((await issue()).refreshToken)
      expect(user).toEqual({ id: 'u-1', username: 'alice' })
    })

    it('hands the extensions the presented refresh token: afterValidateTokenRequest, beforeIssueTokens and beforeTokenResponse (e.g. DPoP binding, RFC 9449 §5)', async () => {
      const seen: Record<string, string | undefined> = {}
      const spy: GrantExtension = {
        afterValidateTokenRequest: ({ refreshToken }) => void (seen['validate'] = refreshToken?.tokenHash),
        beforeIssueTokens: ({ presentedRefreshToken, claims }) => {
          seen['issue'] = presentedRefreshToken?.tokenHash
          claims['aud'] = 'https://api.example.com'
        },
        beforeTokenResponse: ({ presentedRefreshToken }) => void (seen['respond'] = presentedRefreshToken?.tokenHash),
      }
      const { issue, refresh, record } = await setup(RefreshTokenGrant, [spy])
      const { refreshToken } = await issue()
      const response = await refresh(refreshToken)
      expect(response.status).toBe(200)
      expect(seen).toEqual({ validate: hashToken(refreshToken), issue: hashToken(refreshToken), respond: hashToken(refreshToken) })
      expect((await record(response.body?.['refresh_token'])).extra).toEqual({ claims: { aud: 'https://api.example.com' } })
    })

    it('issues a token the resource server accepts', async () => {
      const { issue, refresh, server } = await setup()
      const response = await refresh((await issue()).refreshToken)
      const info = await server.authenticateBearerToken(
        createOAuthRequest({ url: '/api', headers: { authorization: `Bearer ${response.body?.['access_token'] as string}` } }),
      )
      expect(info).toMatchObject({ clientId: 'app', userId: 'u-1', scopes: ['read', 'write'] })
    })
  })

  describe('when the request is invalid (RFC 6749 §5.2)', () => {
    it.each<[string, (c: Ctx) => Promise<unknown> | unknown, (c: Ctx) => [string, Record<string, string>], number, string]>([
      ['the client is unknown', () => {}, (c) => [`refresh_token=${c.refreshToken}`, { authorization: basic('nobody', 'x') }], 401, 'invalid_client'],
      ['the client secret is wrong', () => {}, (c) => [`refresh_token=${c.refreshToken}`, { authorization: basic('app', 'wrong') }], 401, 'invalid_client'],
      ['the client does not authenticate', () => {}, (c) => [`refresh_token=${c.refreshToken}`, {}], 401, 'invalid_client'],
      [
        'the client uses client_secret_post, not allowed by default',
        () => {},
        (c) => [`refresh_token=${c.refreshToken}&client_id=post-app&client_secret=post-secret`, {}],
        401,
        'invalid_client',
      ],
      ['a public client uses none, not allowed by default', () => {}, (c) => [`refresh_token=${c.refreshToken}&client_id=spa`, {}], 401, 'invalid_client'],
      ['the client is not allowed refresh_token', () => {}, (c) => [`refresh_token=${c.refreshToken}`, { authorization: basic('no-refresh', 'nr-secret') }], 400, 'unauthorized_client'],
      ['refresh_token is missing', () => {}, () => ['', APP], 400, 'invalid_request'],
      ['refresh_token is repeated', () => {}, (c) => [`refresh_token=${c.refreshToken}&refresh_token=${c.refreshToken}`, APP], 400, 'invalid_request'],
      ['scope is repeated', () => {}, (c) => [`refresh_token=${c.refreshToken}&scope=read&scope=write`, APP], 400, 'invalid_request'],
      ['the refresh token is unknown', () => {}, () => ['refresh_token=not-a-token', APP], 400, 'invalid_grant'],
      ['an access token is presented as a refresh token', () => {}, (c) => [`refresh_token=${c.accessToken}`, APP], 400, 'invalid_grant'],
      ['the refresh token expired', (c) => void (c.clock.t += REFRESH_LIFETIME * 1000), (c) => [`refresh_token=${c.refreshToken}`, APP], 400, 'invalid_grant'],
      ['the refresh token was revoked', (c) => c.store.revokeToken(hashToken(c.refreshToken), new Date(c.clock.t)), (c) => [`refresh_token=${c.refreshToken}`, APP], 400, 'invalid_grant'],
      ['the refresh token was issued to another client', () => {}, (c) => [`refresh_token=${c.refreshToken}`, { authorization: basic('other', 'other-secret') }], 400, 'invalid_grant'],
      ['the scope was not originally granted, even if the client may have it', () => {}, (c) => [`refresh_token=${c.refreshToken}&scope=read%20admin`, APP], 400, 'invalid_scope'],
    ])('should fail because %s', async (_case, arrange, request, status, error) => {
      const ctx = await setup()
      const c: Ctx = { ...ctx, ...(await ctx.issue()) }
      await arrange(c)
      const [params, headers] = request(c)
      const response = await c.token(`grant_type=refresh_token${params === '' ? '' : '&' + params}`, headers)
      expect(response.status).toBe(status)
      expect(response.body).toMatchObject({ error })
      expect(response.headers['cache-control']).toBe('no-store')
      // A refused request never rotates the token nor issues one.
      expect(ctx.store.snapshot().tokens.filter((t) => t.rotatedAt !== null)).toEqual([])
      expect(ctx.store.snapshot().tokens).toHaveLength(2)
    })

    it('answers a wrong client secret over Basic with 401 and WWW-Authenticate', async () => {
      const { issue, refresh } = await setup()
      const response = await refresh((await issue()).refreshToken, '', { authorization: basic('app', 'wrong') })
      expect(response.status).toBe(401)
      expect(response.headers['www-authenticate']).toMatch(/^Basic /)
    })

    it('does not rotate the token when an extension rejects the request', async () => {
      const reject: GrantExtension = {
        afterValidateTokenRequest: () => {
          throw new OAuthError('invalid_request', 'resource is required')
        },
      }
      const { issue, refresh, record } = await setup(RefreshTokenGrant, [reject])
      const { refreshToken } = await issue()
      expect((await refresh(refreshToken)).body).toMatchObject({ error: 'invalid_request' })
      expect((await record(refreshToken)).rotatedAt).toBeNull()
    })
  })

  describe('when a rotated refresh token is used again (RFC 9700 §4.14.2)', () => {
    it('rejects with invalid_grant and revokes the family', async () => {
      const { issue, refresh, record, clock } = await setup()
      const { refreshToken, accessToken } = await issue()
      const first = await refresh(refreshToken)
      clock.t += 60_000
      const reuse = await refresh(refreshToken)
      expect(reuse.status).toBe(400)
      expect(reuse.body).toMatchObject({ error: 'invalid_grant' })
      expect((await record(first.body?.['access_token'])).revokedAt).toEqual(new Date(T0 + 60_000))
      expect((await record(first.body?.['refresh_token'])).revokedAt).toEqual(new Date(T0 + 60_000))
      expect((await record(accessToken)).revokedAt).toEqual(new Date(T0 + 60_000))
      // The legitimate client's new refresh token is now refused as well.
      expect((await refresh(first.body?.['refresh_token'] as string)).body).toMatchObject({ error: 'invalid_grant' })
    })

    it('reports the reuse to onSecurityEvent with ids only', async () => {
      const { issue, refresh, record, events } = await setup()
      const { refreshToken } = await issue()
      await refresh(refreshToken)
      expect(events).toEqual([])
      await refresh(refreshToken)
      const familyId = (await record(refreshToken)).familyId
      expect(events).toEqual([{ type: 'refresh_token_reuse', clientId: 'app', userId: 'u-1', familyId }])
      expect(JSON.stringify(events)).not.toContain(refreshToken)
    })

    it('leaves other families alone', async () => {
      const { issue, refresh, record } = await setup()
      const stolen = await issue()
      const unrelated = await issue()
      await refresh(stolen.refreshToken)
      await refresh(stolen.refreshToken)
      expect((await record(unrelated.accessToken)).revokedAt).toBeNull()
      expect((await refresh(unrelated.refreshToken)).status).toBe(200)
    })

    describe('within REUSE_GRACE_PERIOD of the rotation', () => {
      it('rejects with invalid_grant without revoking the family, and issues no second token', async () => {
        const { issue, refresh, record, clock, store, events } = await setup(GraceRefreshTokenGrant)
        const { refreshToken } = await issue()
        const first = await refresh(refreshToken)
        clock.t += 5_000
        const retry = await refresh(refreshToken)
        expect(retry.body).toMatchObject({ error: 'invalid_grant' })
        expect(events).toEqual([])
        expect((await record(first.body?.['access_token'])).revokedAt).toBeNull()
        expect(store.snapshot().tokens).toHaveLength(4)
        expect((await refresh(first.body?.['refresh_token'] as string)).status).toBe(200)
      })

      it('revokes the family once the grace period is over', async () => {
        const { issue, refresh, record, clock } = await setup(GraceRefreshTokenGrant)
        const { refreshToken } = await issue()
        const first = await refresh(refreshToken)
        clock.t += 10_000
        expect((await refresh(refreshToken)).body).toMatchObject({ error: 'invalid_grant' })
        expect((await record(first.body?.['access_token'])).revokedAt).not.toBeNull()
      })
    })
  })

  describe('when one refresh token is used by concurrent requests (RFC 9700 §4.14.2)', () => {
    it('lets exactly one of 20 succeed', async () => {
      const { issue, refresh } = await setup()
      const { refreshToken } = await issue()
      const responses = await Promise.all(Array.from({ length: 20 }, () => refresh(refreshToken)))
      expect(responses.filter((r) => r.status === 200)).toHaveLength(1)
      expect(responses.filter((r) => r.status === 400 && r.body?.['error'] === 'invalid_grant')).toHaveLength(19)
    })

    it.each([
      ['a fast store', RefreshTokenGrant],
      ['a store that saves tokens late', SlowIssuingRefreshTokenGrant],
    ])('revokes the winner’s tokens too when the losers are reuses, with %s', async (_, grant) => {
      for (let round = 0; round < 5; round++) {
        const { issue, refresh, record } = await setup(grant)
        const { refreshToken } = await issue()
        const responses = await Promise.all(Array.from({ length: 20 }, () => refresh(refreshToken)))
        const winner = responses.find((r) => r.status === 200)
        expect((await record(winner?.body?.['access_token'])).revokedAt).not.toBeNull()
        expect((await record(winner?.body?.['refresh_token'])).revokedAt).not.toBeNull()
      }
    })

    it('keeps the winner’s tokens valid when the losers fall in the grace period', async () => {
      const { issue, refresh, record } = await setup(GraceRefreshTokenGrant)
      const { refreshToken } = await issue()
      const responses = await Promise.all(Array.from({ length: 20 }, () => refresh(refreshToken)))
      const winners = responses.filter((r) => r.status === 200)
      expect(winners).toHaveLength(1)
      expect((await record(winners[0]?.body?.['access_token'])).revokedAt).toBeNull()
    })
  })

  describe('when ROTATE_REFRESH_TOKEN is false', () => {
    it('issues only an access token and keeps the refresh token valid', async () => {
      const { issue, refresh, record } = await setup(NonRotatingRefreshTokenGrant)
      const { refreshToken } = await issue()
      const first = await refresh(refreshToken)
      expect(first.status).toBe(200)
      expect(first.body).not.toHaveProperty('refresh_token')
      const second = await refresh(refreshToken)
      expect(second.status).toBe(200)
      expect((await record(refreshToken)).rotatedAt).toBeNull()
      expect((await record(second.body?.['access_token'])).familyId).toBe((await record(refreshToken)).familyId)
    })

    it('still refuses a token rotated earlier', async () => {
      const rotating = await setup()
      const { refreshToken } = await rotating.issue()
      await rotating.refresh(refreshToken)
      // Same store, rotation now turned off.
      const server = new AuthorizationServer({ issuer: ISSUER, store: rotating.store, clock: () => T0 })
      server.registerGrant(NonRotatingRefreshTokenGrant)
      const response = await server.createTokenResponse(
        createOAuthRequest({ method: 'POST', url: '/token', headers: APP, body: `grant_type=refresh_token&refresh_token=${refreshToken}` }),
      )
      expect(response.body).toMatchObject({ error: 'invalid_grant' })
    })
  })

  describe('with a subclass changing TOKEN_ENDPOINT_AUTH_METHODS (Authlib’s example)', () => {
    it('accepts client_secret_post when added', async () => {
      const { issue, refresh } = await setup(PostRefreshTokenGrant)
      const { refreshToken } = await issue('post-app', ['read'])
      const response = await refresh(refreshToken, '&client_id=post-app&client_secret=post-secret', {})
      expect(response.status).toBe(200)
    })

    it('lets a public client refresh with none when added', async () => {
      const { issue, refresh } = await setup(PublicRefreshTokenGrant)
      const { refreshToken } = await issue('spa', ['read'])
      const response = await refresh(refreshToken, '&client_id=spa', {})
      expect(response.status).toBe(200)
      expect(response.body).toMatchObject({ scope: 'read' })
      expect(typeof response.body?.['refresh_token']).toBe('string')
    })
  })

  describe('with Authlib’s hooks overridden', () => {
    // The application's own users, as in Authlib’s `User.query.get(credential.user_id)`.
    const appUsers = new Map<string, { id: string; username: string; active: boolean }>()

    class AppRefreshTokenGrant extends grants.RefreshTokenGrant {
      override async authenticateRefreshToken(refreshToken: string): Promise<TokenRecord | null> {
        const item = await this.store.findToken(hashToken(refreshToken))
        // The reference's is_refresh_token_expired, defined by the application.
        const isRefreshTokenExpired = (token: TokenRecord) => token.expiresAt.getTime() <= this.now().getTime() || token.revokedAt !== null
        if (item !== null && item.type === 'refresh_token' && !isRefreshTokenExpired(item)) return item
        return null
      }

      override async authenticateUser(credential: TokenRecord): Promise<GrantUser | null> {
        const user = appUsers.get(credential.userId ?? '')
        return user !== undefined && user.active ? { id: user.id, username: user.username } : null
      }
    }

    it('refreshes for an active user', async () => {
      appUsers.set('u-1', { id: 'u-1', username: 'alice', active: true })
      const { issue, refresh } = await setup(AppRefreshTokenGrant)
      expect((await refresh((await issue()).refreshToken)).status).toBe(200)
    })

    it('refuses with invalid_grant once the user is deactivated', async () => {
      appUsers.set('u-1', { id: 'u-1', username: 'alice', active: false })
      const { issue, refresh, record } = await setup(AppRefreshTokenGrant)
      const { refreshToken } = await issue()
      expect((await refresh(refreshToken)).body).toMatchObject({ error: 'invalid_grant' })
      expect((await record(refreshToken)).rotatedAt).toBeNull()
    })

    it('keeps rotation and reuse detection', async () => {
      appUsers.set('u-1', { id: 'u-1', username: 'alice', active: true })
      const { issue, refresh, record } = await setup(AppRefreshTokenGrant)
      const { refreshToken } = await issue()
      const first = await refresh(refreshToken)
      expect((await refresh(refreshToken)).body).toMatchObject({ error: 'invalid_grant' })
      expect((await record(first.body?.['access_token'])).revokedAt).not.toBeNull()
    })
  })

  describe('with a misconfigured subclass', () => {
    it.each([
      ['a negative REUSE_GRACE_PERIOD', { REUSE_GRACE_PERIOD: -1 }, /REUSE_GRACE_PERIOD/],
      ['a string ROTATE_REFRESH_TOKEN', { ROTATE_REFRESH_TOKEN: 'yes' }, /ROTATE_REFRESH_TOKEN/],
    ])('refuses %s at registration with a TypeError, never a 500 per request', async (_, statics, message) => {
      class Broken extends RefreshTokenGrant {}
      Object.assign(Broken, statics)
      const server = new AuthorizationServer({ issuer: 'https://auth.example.com', store: memoryStore() })
      expect(() => server.registerGrant(Broken)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_GRANTKIT_CONFIG', message: expect.stringMatching(message) }))
      expect(server.hasGrantType('refresh_token')).toBe(false)
    })
  })
})

describe('RefreshTokenGrant on the SQLite store (issue 3: a real store, not only memory)', () => {
  it('marks the old refresh token rotated and writes the new pair to the SQLite file', async () => {
    const { issue, refresh, store } = await setupOn(openTempSqliteStore)
    const { refreshToken } = await issue()
    const response = await refresh(refreshToken)
    expect(response.status).toBe(200)
    const rows = readSqliteRows(store, 'grantkit_tokens')
    expect(rows).toHaveLength(4)
    expect(rows.find((row) => row['token_hash'] === hashToken(refreshToken))).toMatchObject({ type: 'refresh_token', rotated_at: T0, revoked_at: null })
    expect(rows.find((row) => row['token_hash'] === hashToken(response.body?.['refresh_token'] as string))).toMatchObject({ rotated_at: null })
  })
})

// The fault between the two steps, injected on every store, PostgreSQL and MongoDB included
// (issue 17, finding 12); a missing database fails in CI.
describeOnEveryStore('RefreshTokenGrant when the store fails between saving the successors and rotating (RFC 9700 §4.14.2)', (openStore) => {
  it('leaves the presented refresh token usable, so the honest retry is no reuse and revokes nothing', async () => {
    const { store, issue, refresh, events, record } = await setupOn(openStore)
    const { refreshToken } = await issue()
    const rotate = store.rotateRefreshToken.bind(store)
    let failures = 1
    store.rotateRefreshToken = async (hash, now) => {
      if (failures-- > 0) throw new Error('connection reset')
      return rotate(hash, now)
    }
    expect((await refresh(refreshToken)).status).toBe(500)
    const retried = await refresh(refreshToken)
    expect(retried.status).toBe(200)
    expect(events).toEqual([])
    expect((await record(retried.body!['access_token'])).revokedAt).toBeNull()
    expect((await record(refreshToken)).rotatedAt).not.toBeNull()
  })
})
