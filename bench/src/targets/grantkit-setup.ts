// The grantkit server every grantkit target serves, whatever its adapter: the fixture's client and user, the
// same four grants, over the store named by BENCH_STORE: memory (default), sqlite (temp file, WAL) or postgres
// (DATABASE_URL, a schema of its own), pre-filled with BENCH_PREFILL rows of other clients, and how its
// credentials are pre-minted. Not a target itself.
import { AuthorizationServer, createClient, createOAuthRequest, hashSecret, type GrantUser } from '@grantkit/core'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { ResourceOwnerPasswordCredentialsGrant, authenticateStoreUser } from '@grantkit/grant-password'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { BASIC_AUTHORIZATION, CODE_CHALLENGE, FIXTURE, tokenRequestBody } from '../fixture.js'
import { openBenchStore } from '../stores.js'
import { isStopping, type TargetDefinition } from './harness.js'

const ISSUER = 'http://127.0.0.1'

const BENCH_USER: GrantUser = { id: FIXTURE.userId, username: FIXTURE.username }

/** Every adapter's `authorize` hook: the fixture's user approves (not measured: the bench times the token endpoint only). */
export const approve = () => ({ user: { id: FIXTURE.userId } })

/** A grantkit server with the fixture, and the rest of a {@link TargetDefinition}: minting, store facts, close (the handler is the adapter's). */
export interface BenchServer {
  server: AuthorizationServer
  target: Omit<TargetDefinition, 'handler' | 'unsupported'>
}

/**
 * Opens the store named by `BENCH_STORE`, registers the grants and saves the fixture's client and user,
 * then pre-fills `BENCH_PREFILL` tokens of other clients (and as many codes with `BENCH_PREFILL_CODES=1`).
 */
export async function benchServer(): Promise<BenchServer> {
  const kind = process.env['BENCH_STORE'] ?? 'memory'
  const opened = await openBenchStore(kind)
  const { store } = opened
  // Codes live 10 minutes (RFC 6749 §4.1.2's recommended maximum; the peers' defaults are 5–10): they are pre-minted when
  // the target starts and used after the other scenarios' cells, which took more than core's default 60 s in one run.
  const server = new AuthorizationServer({ issuer: ISSUER, store, authorizationCodeLifetime: 600, onError: (error) => isStopping() || console.error(error) })

  class PasswordGrant extends ResourceOwnerPasswordCredentialsGrant {
    authenticateUser(username: string, password: string): Promise<GrantUser | null> {
      return authenticateStoreUser(store, username, password)
    }
  }

  server.registerGrant(AuthorizationCodeGrant, [new CodeChallenge()])
  server.registerGrant(PasswordGrant)
  server.registerGrant(ClientCredentialsGrant)
  server.registerGrant(RefreshTokenGrant)

  // The secret is a server-generated 256-bit value, so the salted sha256 that
  // createClient uses for generated secrets is the right hash (scrypt is for
  // secrets a person chose). The password is hashed the same cheap way because
  // every peer's documented in-memory model compares passwords in clear: a
  // scrypt verification here would measure scrypt, not the framework.
  const { client } = await createClient({
    clientId: FIXTURE.clientId,
    clientSecret: FIXTURE.clientSecret,
    secretHash: 'sha256',
    grantTypes: [...FIXTURE.grants],
    responseTypes: ['code'],
    redirectUris: [FIXTURE.redirectUri],
    scope: FIXTURE.scope,
  })
  await store.saveClient(client)
  await store.saveUser({ id: FIXTURE.userId, username: FIXTURE.username, passwordHash: await hashSecret(FIXTURE.password, 'sha256') })

  const details = { ...opened.details }
  const rows = Number(process.env['BENCH_PREFILL'] ?? 0)
  if (rows > 0) {
    if (opened.prefill === undefined) throw new Error(`BENCH_PREFILL: the ${kind} store cannot be pre-filled`)
    const started = performance.now()
    await opened.prefill({ rows, codes: process.env['BENCH_PREFILL_CODES'] === '1', now: new Date() })
    details['prefill seconds'] = ((performance.now() - started) / 1000).toFixed(1)
  }
  if (opened.count !== undefined) {
    const counts = await opened.count()
    details['tokens stored before minting'] = String(counts.tokens)
    details['codes stored before minting'] = String(counts.codes)
  }

  const authorizeUrl =
    '/authorize?' +
    new URLSearchParams({
      response_type: 'code',
      client_id: FIXTURE.clientId,
      redirect_uri: FIXTURE.redirectUri,
      scope: FIXTURE.scope,
      state: 'bench',
      code_challenge: CODE_CHALLENGE,
      code_challenge_method: 'S256',
    }).toString()

  return {
    server,
    target: {
      details,
      close: () => opened.close(),
      // Refresh tokens come from password grant requests through the server's own token endpoint logic.
      async mintRefreshToken() {
        const response = await server.createTokenResponse(
          createOAuthRequest({
            method: 'POST',
            url: '/token',
            headers: { authorization: BASIC_AUTHORIZATION },
            body: tokenRequestBody('password'),
          }),
        )
        const token = response.body?.['refresh_token']
        if (response.status !== 200 || typeof token !== 'string') throw new Error(`minting a refresh token failed: ${JSON.stringify(response.body)}`)
        return token
      },
      // Codes come from approved authorization requests (what the consent page does).
      async mintAuthorizationCode() {
        const response = await server.createAuthorizationResponse(createOAuthRequest({ method: 'GET', url: authorizeUrl }), BENCH_USER)
        const code = new URL(response.headers['location'] ?? 'x:').searchParams.get('code')
        if (code === null) throw new Error(`minting a code failed: ${JSON.stringify(response)}`)
        return code
      },
    },
  }
}
