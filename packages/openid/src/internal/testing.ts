// Test-only set-up shared by this package's tests (never exported): an
// OpenID Provider over a real store, served by Koa through
// @grantkit/adapter-koa on a loopback port, and openid-client configured
// for it by discovery.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AuthorizationServer, createClient, type ClientInput, type GrantUser } from '@grantkit/core'
import { oauthRouter } from '@grantkit/adapter-koa'
import { DPoP } from '@grantkit/ext-dpop'
import { CodeChallenge } from '@grantkit/ext-pkce'
import { AuthorizationCodeGrant } from '@grantkit/grant-authorization-code'
import { RefreshTokenGrant } from '@grantkit/grant-refresh-token'
import { pushedAuthorizationRequestEndpoint } from '@grantkit/par'
import Koa from 'koa'
import * as client from 'openid-client'
import { onTestFinished } from 'vitest'
import { TEST_STORES, type OpenTestStore, type TestStore } from '../../../../test-support/stores.js'
import { DiscoveryEndpoint } from '../discovery-endpoint.js'
import { EndSessionEndpoint } from '../end-session-endpoint.js'
import { OpenIDHybridGrant, authorizationHooks } from '../hybrid.js'
import { OpenIDImplicitGrant } from '../implicit.js'
import { OpenIDKeySet, type IdTokenAlgorithm } from '../key-set.js'
import { OpenIDCode, type OpenIDCodeOptions } from '../openid-code.js'
import { consentRequired, loginRequired, openidRequest, type OpenIDRequest } from '../openid-request.js'
import { OpenIDProvider, type EndSessionContext, type OpenIDProviderOptions } from '../provider.js'
import { UserInfoEndpoint } from '../userinfo-endpoint.js'

export { TEST_STORES, type OpenTestStore, type TestStore }

/** Keys are slow to generate (RSA): one set for the whole test run, per algorithm list. */
const keyCache = new Map<string, ReturnType<OpenIDKeySet['export']>>()
export function testKeys(algorithms: readonly IdTokenAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'], options: { clock?: () => number; retention?: number } = {}): OpenIDKeySet {
  const id = algorithms.join(',')
  let exported = keyCache.get(id)
  if (exported === undefined) {
    exported = OpenIDKeySet.generate(algorithms).export()
    keyCache.set(id, exported)
  }
  return OpenIDKeySet.from(exported, options)
}

export const ALICE_CLAIMS = {
  name: 'Alice Liddell',
  given_name: 'Alice',
  email: 'alice@example.com',
  email_verified: true,
  phone_number: '+1 555 0100',
  address: { country: 'GB' },
  // never released: findClaims may return more than is asked for
  password_hash: 'secret',
  sub: 'spoofed',
}

export const WEB_SECRET = 'web-secret-0123456789abcdef'
export const CLIENTS = {
  web: {
    clientId: 'web',
    clientSecret: WEB_SECRET,
    redirectUris: ['http://localhost/cb'],
    grantTypes: ['authorization_code', 'refresh_token', 'implicit'],
    responseTypes: ['code', 'code id_token', 'code token', 'code id_token token'],
    scope: 'openid profile email phone address',
    tokenEndpointAuthMethod: 'client_secret_basic',
    metadata: { post_logout_redirect_uris: ['http://localhost/logged-out'] },
  },
  spa: {
    clientId: 'spa',
    redirectUris: ['http://localhost/spa'],
    grantTypes: ['implicit'],
    responseTypes: ['id_token', 'id_token token'],
    scope: 'openid profile email',
    tokenEndpointAuthMethod: 'none',
  },
  pairwise: {
    clientId: 'pairwise',
    clientSecret: WEB_SECRET,
    redirectUris: ['https://rp.example/cb', 'https://rp.example/other'],
    grantTypes: ['authorization_code'],
    scope: 'openid profile',
    metadata: { subject_type: 'pairwise' },
  },
  pairwise2: {
    clientId: 'pairwise2',
    clientSecret: WEB_SECRET,
    redirectUris: ['https://other.example/cb'],
    grantTypes: ['authorization_code'],
    scope: 'openid profile',
    metadata: { subject_type: 'pairwise' },
  },
  es256: { clientId: 'es256', clientSecret: WEB_SECRET, redirectUris: ['http://localhost/cb'], scope: 'openid', metadata: { id_token_signed_response_alg: 'ES256' } },
  eddsa: { clientId: 'eddsa', clientSecret: WEB_SECRET, redirectUris: ['http://localhost/cb'], scope: 'openid', metadata: { id_token_signed_response_alg: 'EdDSA' } },
  ps256: { clientId: 'ps256', clientSecret: WEB_SECRET, redirectUris: ['http://localhost/cb'], scope: 'openid', metadata: { id_token_signed_response_alg: 'PS256' } },
} satisfies Record<string, ClientInput>

/** What the test's login and consent step does; change it between requests. */
export interface Session {
  /** The signed-in user, or `null` (then prompt=none answers login_required, else the login page is shown). */
  user: GrantUser | null
  /** Whether the user consented to the client before (else prompt=none answers consent_required). */
  consented: boolean
  /** The OpenID parameters the last authorize call saw. */
  seen: OpenIDRequest | null
}

export interface StartOptions {
  code?: OpenIDCodeOptions
  provider?: Partial<OpenIDProviderOptions>
  keys?: OpenIDKeySet
  /** Register @grantkit/ext-dpop (no nonces) on the code and refresh grants: tokens requested with a proof are DPoP-bound (RFC 9449 §5). */
  dpop?: boolean
  /** Register @grantkit/par's pushed authorization request endpoint at /par (RFC 9126). */
  par?: boolean
}

/**
 * Starts a provider on a fresh store: the code grant with PKCE and
 * OpenIDCode, the refresh grant with OpenIDCode, the implicit and hybrid
 * grants, discovery, UserInfo and logout, served by Koa on 127.0.0.1:0.
 * `advance(s)` moves the server's clock (openid-client checks `iat`
 * against the real clock, so the server starts at real time).
 */
export async function startProvider(openStore: OpenTestStore, options: StartOptions = {}) {
  let offset = 0
  const clock = () => Date.now() + offset
  const http = createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections()
        http.close(() => resolve())
      }),
  )
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  const store = await openStore()
  for (const input of Object.values(CLIENTS)) await store.saveClient((await createClient({ ...input, secretHash: 'sha256' })).client)
  const errors: unknown[] = []
  const server = new AuthorizationServer({ issuer, store, clock, onError: (error) => void errors.push(error), scopesSupported: ['openid', 'profile', 'email', 'phone', 'address'] })
  const ended: EndSessionContext[] = []
  const provider = new OpenIDProvider({
    keys: options.keys ?? testKeys(undefined, { clock }),
    pairwiseSalt: 'a-long-secret-pairwise-salt',
    findClaims: (userId) => (userId === 'alice' ? ALICE_CLAIMS : null),
    endSession: (context) => void ended.push(context),
    ...options.provider,
  })
  provider.install(server)
  const pkce = new CodeChallenge()
  const dpop = options.dpop === true ? [new DPoP()] : []
  server.registerGrant(AuthorizationCodeGrant, [pkce, ...dpop, new OpenIDCode(options.code)])
  server.registerGrant(RefreshTokenGrant, [...dpop, new OpenIDCode()])
  if (options.par === true) server.registerEndpoint(pushedAuthorizationRequestEndpoint())
  server.registerGrant(OpenIDImplicitGrant)
  server.registerGrant(OpenIDHybridGrant, [authorizationHooks(pkce)])
  server.registerEndpoint(DiscoveryEndpoint).registerEndpoint(UserInfoEndpoint).registerEndpoint(EndSessionEndpoint)

  const session: Session = { user: { id: 'alice', authTime: new Date(clock() - 60_000), acr: 'urn:example:loa:2', amr: ['pwd', 'otp'] }, consented: true, seen: null }
  const app = new Koa()
  app.use(
    oauthRouter(server, {
      authorize: (ctx, { request }) => {
        const oidc = openidRequest(request)
        session.seen = oidc
        const silent = oidc?.prompt.includes('none') === true
        if (session.user === null) {
          if (silent) throw loginRequired()
          ctx.body = 'login page'
          return undefined
        }
        if (!session.consented && silent) throw consentRequired()
        return { user: session.user }
      },
      onError: () => undefined,
    }).routes(),
  )
  http.on('request', app.callback())

  /** openid-client's Configuration for a registered client, by discovery. */
  const rp = async (clientId: keyof typeof CLIENTS, metadata: Partial<client.ClientMetadata> = {}, execute: Array<(config: client.Configuration) => void> = []) => {
    const input: ClientInput = CLIENTS[clientId]
    const auth = input.tokenEndpointAuthMethod === 'none' ? client.None() : client.ClientSecretBasic(WEB_SECRET)
    return client.discovery(new URL(issuer), clientId, metadata, auth, { execute: [client.allowInsecureRequests, ...execute] })
  }
  /** Follows an authorization URL once (the user is signed in) and returns where the server redirected. */
  const authorize = async (url: URL | string): Promise<Response> => fetch(url, { redirect: 'manual' })
  const location = async (url: URL | string): Promise<URL> => {
    const response = await authorize(url)
    const target = response.headers.get('location')
    if (target === null) throw new Error(`expected a redirect, got ${response.status}: ${await response.text()}`)
    return new URL(target)
  }
  const advance = (seconds: number) => void (offset += seconds * 1000)
  return { issuer, server, store, provider, session, ended, errors, rp, authorize, location, advance, clock }
}

/** The parameters of a redirect's query or fragment. */
export function responseParams(url: URL): URLSearchParams {
  return url.hash.length > 1 ? new URLSearchParams(url.hash.slice(1)) : url.searchParams
}
