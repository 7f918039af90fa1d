// RFC 6749 §4.1.2 and §4.1.3 at the store: a code is consumed only once its
// tokens are saved, so a failure on the way leaves it usable (an honest retry
// is not a replay), and a replay consuming first revokes what it issued.
import {
  AuthorizationServer,
  createClient,
  createOAuthRequest,
  type AuthorizationCodeRecord,
  type AuthorizationRequest,
  type Client,
  type GrantUser,
  type OAuthResponse,
  type SecurityEvent,
} from '@grantkit/core'
import { expect, it } from 'vitest'
import { describeOnEveryStore } from '../../../test-support/every-store.js'
import { AuthorizationCodeGrant } from './authorization-code-grant.js'

const ISSUER = 'https://auth.example.com'
const REDIRECT = 'https://client.example.com/cb'
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'

// On every store, PostgreSQL and MongoDB included (issue 17, finding 12): a missing database fails in CI.
describeOnEveryStore('AuthorizationCodeGrant redemption', (openStore) => {
  async function world(grantClass: typeof AuthorizationCodeGrant = AuthorizationCodeGrant) {
    const store = await openStore()
    const events: SecurityEvent[] = []
    const server = new AuthorizationServer({ issuer: ISSUER, store, onError: () => {}, onSecurityEvent: (e) => events.push(e) })
    // A challenge accepted as S256, standing in for PKCE (the extension has its own tests).
    server.registerGrant(grantClass, [
      {
        codeChallengePolicy: false,
        afterValidateAuthorizationRequest({ authorization }) {
          const challenge = authorization.params.get('code_challenge')
          if (challenge !== null) {
            authorization.codeChallenge = challenge
            authorization.codeChallengeMethod = 'S256'
          }
        },
      },
    ])
    for (const input of [
      { clientId: 'web', clientSecret: 'web-secret', redirectUris: [REDIRECT] },
      { clientId: 'spa', redirectUris: [REDIRECT], tokenEndpointAuthMethod: 'none' },
    ]) {
      const { client } = await createClient({ ...input, secretHash: 'sha256' })
      await store.saveClient(client)
    }
    const issueCode = async (clientId = 'web', extra: Record<string, string> = {}) => {
      const response = await server.createAuthorizationResponse(
        createOAuthRequest({ url: '/authorize', query: { response_type: 'code', client_id: clientId, ...extra } }),
        { id: 'alice' },
      )
      return new URL(response.headers['location']!).searchParams.get('code')!
    }
    const redeem = (code: string, body: Record<string, string> = {}, headers: Record<string, string> = { authorization: `Basic ${btoa('web:web-secret')}` }): Promise<OAuthResponse> =>
      server.createTokenResponse(createOAuthRequest({ method: 'POST', url: '/token', headers, body: { grant_type: 'authorization_code', code, ...body } }))
    return { store, server, events, issueCode, redeem }
  }

  it('leaves the code usable when the store fails after saving the tokens, so the retry is not a replay (RFC 6749 §4.1.2)', async () => {
    const { store, events, issueCode, redeem } = await world()
    const code = await issueCode()
    const consume = store.consumeAuthorizationCode.bind(store)
    let failures = 1
    store.consumeAuthorizationCode = async (hash, now) => {
      if (failures-- > 0) throw new Error('connection reset')
      return consume(hash, now)
    }
    const failed = await redeem(code)
    expect(failed.status).toBe(500)
    const retried = await redeem(code)
    expect(retried.status).toBe(200)
    expect(events).toEqual([])
    expect((await redeem(code)).body).toMatchObject({ error: 'invalid_grant' })
    expect(events.map((e) => e.type)).toEqual(['authorization_code_replay'])
  })

  it('revokes the tokens of a redemption that a replay raced (RFC 6749 §4.1.2: exactly one 200, and a replay revokes it)', async () => {
    const { store, issueCode, redeem } = await world()
    const code = await issueCode()
    const responses = await Promise.all(Array.from({ length: 10 }, () => redeem(code)))
    const winners = responses.filter((r) => r.status === 200)
    expect(winners).toHaveLength(1)
    expect(responses.filter((r) => r.status === 400).every((r) => r.body?.['error'] === 'invalid_grant')).toBe(true)
    const { hashToken } = await import('@grantkit/core')
    const issued = await store.findToken(hashToken(winners[0]!.body!['access_token'] as string))
    expect(issued?.revokedAt).not.toBeNull()
  })

  it('spends a code whose redemption failed a check, so it never gets a second chance (RFC 6749 §4.1.3)', async () => {
    const { issueCode, redeem } = await world()
    const code = await issueCode('web', { redirect_uri: REDIRECT })
    expect((await redeem(code, { redirect_uri: 'https://client.example.com/other' })).body).toMatchObject({ error: 'invalid_grant' })
    expect((await redeem(code, { redirect_uri: REDIRECT })).body).toMatchObject({ error: 'invalid_grant' })
  })

  it("re-checks at the token endpoint that a public client's code carried a PKCE challenge, even when a storage override lost it (RFC 9700 §2.1.1)", async () => {
    class LossyCodes extends AuthorizationCodeGrant {
      override async createAuthorizationCode(client: Client, user: GrantUser, authorization: AuthorizationRequest): Promise<string> {
        // A custom store that forgot the PKCE columns.
        return super.createAuthorizationCode(client, user, { ...authorization, codeChallenge: undefined, codeChallengeMethod: undefined })
      }
    }
    const { issueCode, redeem } = await world(LossyCodes)
    const code = await issueCode('spa', { code_challenge: CHALLENGE })
    const response = await redeem(code, { client_id: 'spa', code_verifier: VERIFIER }, {})
    expect(response.status).toBe(400)
    expect(response.body).toMatchObject({ error: 'invalid_grant' })
  })

  it('reads the code without consuming it until the tokens are saved (findAuthorizationCode)', async () => {
    const { store, issueCode, redeem } = await world()
    const code = await issueCode()
    const seen: Array<AuthorizationCodeRecord | null> = []
    const save = store.saveTokens.bind(store)
    store.saveTokens = async (records) => {
      const { hashToken } = await import('@grantkit/core')
      seen.push(await store.findAuthorizationCode(hashToken(code), new Date()))
      return save(records)
    }
    expect((await redeem(code)).status).toBe(200)
    expect(seen).toHaveLength(1)
    expect(seen[0]?.consumedAt).toBeNull()
  })
})
