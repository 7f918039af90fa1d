// The grantkit server every grantkit target serves, whatever its adapter: the fixture's client and user, the
// same four grants, over the store named by BENCH_STORE: memory (default), sqlite (temp file, WAL) or postgres
// (DATABASE_URL), and how its credentials are pre-minted. Not a target itself.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AuthorizationServer, createClient, createOAuthRequest, hashSecret, memoryStore, type FullStore, type GrantUser } from '@grantkit/core'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'
import { ResourceOwnerPasswordCredentialsGrant, authenticateStoreUser } from '@grantkit/grant-password'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { connectPostgres, openSqlite, pgStore, sqliteStore } from '@grantkit/store-drizzle'
import { BASIC_AUTHORIZATION, CODE_CHALLENGE, FIXTURE, tokenRequestBody } from '../fixture.js'
import type { TargetDefinition } from './harness.js'

const ISSUER = 'http://127.0.0.1'

async function openStore(kind: string): Promise<FullStore> {
  if (kind === 'memory') return memoryStore()
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'grantkit-bench-'))
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
    return sqliteStore(await openSqlite(join(dir, 'grantkit.sqlite')))
  }
  if (kind === 'postgres') {
    const url = process.env['DATABASE_URL']
    if (url === undefined) throw new Error('BENCH_STORE=postgres needs DATABASE_URL')
    const { db } = await connectPostgres(url, { pool: { max: 10 } })
    return pgStore(db)
  }
  throw new Error(`unknown BENCH_STORE "${kind}"`)
}

const BENCH_USER: GrantUser = { id: FIXTURE.userId, username: FIXTURE.username }

/** Every adapter's `authorize` hook: the fixture's user approves (not measured: the bench times the token endpoint only). */
export const approve = () => ({ user: { id: FIXTURE.userId } })

/** A grantkit server with the fixture, and the minting half of a {@link TargetDefinition} (the handler is the adapter's). */
export interface BenchServer {
  server: AuthorizationServer
  mint: Pick<TargetDefinition, 'mintRefreshToken' | 'mintAuthorizationCode'>
}

/** Opens the store named by `BENCH_STORE`, registers the grants and saves the fixture's client and user. */
export async function benchServer(): Promise<BenchServer> {
  const store = await openStore(process.env['BENCH_STORE'] ?? 'memory')
  const server = new AuthorizationServer({ issuer: ISSUER, store, onError: (error) => console.error(error) })

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
    mint: {
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
