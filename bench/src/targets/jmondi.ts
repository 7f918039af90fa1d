// @jmondi/oauth2-server 4 wrapped in Koa + @koa/bodyparser, with in-memory repositories.
// Its JWT secret is a KeyObject: as a string, jsonwebtoken re-imports it on every sign, several times slower.
import { createSecretKey } from 'node:crypto'
import { bodyParser } from '@koa/bodyparser'
import {
  AuthorizationServer,
  DateInterval,
  JwtService,
  OAuthRequest,
  generateRandomToken,
  isOAuthError,
  type OAuthAuthCode,
  type OAuthAuthCodeRepository,
  type OAuthClient,
  type OAuthClientRepository,
  type OAuthScope,
  type OAuthScopeRepository,
  type OAuthToken,
  type OAuthTokenRepository,
  type OAuthUser,
  type OAuthUserRepository,
} from '@jmondi/oauth2-server'
import Koa from 'koa'
import { BASIC_AUTHORIZATION, CODE_CHALLENGE, FIXTURE, tokenRequestBody } from '../fixture.js'
import { serveTarget } from './harness.js'
import { sendLibraryResponse } from './koa-wrap.js'

const scopes: OAuthScope[] = FIXTURE.scope.split(' ').map((name) => ({ name }))
const client: OAuthClient = {
  id: FIXTURE.clientId,
  name: 'bench',
  secret: FIXTURE.clientSecret,
  redirectUris: [FIXTURE.redirectUri],
  allowedGrants: [...FIXTURE.grants],
  scopes,
}
const user: OAuthUser = { id: FIXTURE.userId, username: FIXTURE.username, password: FIXTURE.password }

const accessTokens = new Map<string, OAuthToken>()
const refreshTokens = new Map<string, OAuthToken>()
const revoked = new WeakSet<OAuthToken>()
const codes = new Map<string, OAuthAuthCode>()
const revokedCodes = new Set<string>()

const clientRepository: OAuthClientRepository = {
  async getByIdentifier(clientId) {
    if (clientId !== client.id) throw new Error('unknown client')
    return client
  },
  async isClientValid(grantType, c, clientSecret) {
    if (c.secret && c.secret !== clientSecret) return false
    return c.allowedGrants.includes(grantType)
  },
}
const tokenRepository: OAuthTokenRepository = {
  async issueToken(c, s, u) {
    return { accessToken: generateRandomToken(), accessTokenExpiresAt: new DateInterval('1h').getEndDate(), client: c, user: u, scopes: s }
  },
  async issueRefreshToken(token) {
    token.refreshToken = generateRandomToken()
    token.refreshTokenExpiresAt = new DateInterval('30d').getEndDate()
    // The library persists the access token before adding the refresh token: save it here, as its examples do.
    refreshTokens.set(token.refreshToken, token)
    return token
  },
  async persist(token) {
    accessTokens.set(token.accessToken, token)
    if (token.refreshToken) refreshTokens.set(token.refreshToken, token)
  },
  async revoke(token) {
    revoked.add(token)
    if (token.refreshToken) refreshTokens.delete(token.refreshToken)
  },
  async isRefreshTokenRevoked(token) {
    return revoked.has(token) || (token.refreshTokenExpiresAt?.getTime() ?? 0) < Date.now()
  },
  async getByRefreshToken(refreshToken) {
    const token = refreshTokens.get(refreshToken)
    if (token === undefined) throw new Error('unknown refresh token')
    return token
  },
}
const scopeRepository: OAuthScopeRepository = {
  async getAllByIdentifiers(names) {
    return scopes.filter((scope) => names.includes(scope.name))
  },
  async finalize(s) {
    return s
  },
}
const authCodeRepository: OAuthAuthCodeRepository = {
  async getByIdentifier(code) {
    const record = codes.get(code)
    if (record === undefined) throw new Error('unknown code')
    return record
  },
  issueAuthCode(c, u, s) {
    return { code: generateRandomToken(), expiresAt: new DateInterval('1m').getEndDate(), client: c, user: u, scopes: s }
  },
  async persist(code) {
    codes.set(code.code, code)
  },
  async isRevoked(code) {
    return revokedCodes.has(code)
  },
  async revoke(code) {
    revokedCodes.add(code)
  },
}
const userRepository: OAuthUserRepository = {
  async getUserByCredentials(identifier, password) {
    return identifier === user['username'] && password === user['password'] ? user : undefined
  },
}

const secret = createSecretKey(Buffer.from('bench-jwt-secret-0123456789abcdef0123456789abcdef'))
const server = new AuthorizationServer(clientRepository, tokenRepository, scopeRepository, new JwtService(secret), {
  issuer: 'http://127.0.0.1',
  requiresPKCE: true,
})
server.enableGrantTypes(
  'client_credentials',
  'refresh_token',
  { grant: 'password', userRepository },
  { grant: 'authorization_code', authCodeRepository, userRepository },
)

const app = new Koa()
app.use(bodyParser({ enableTypes: ['form'] }))
app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/token') return
  try {
    const response = await server.respondToAccessTokenRequest(new OAuthRequest({ headers: ctx.headers, query: ctx.query, body: ctx.request.body as Record<string, unknown> }))
    sendLibraryResponse(ctx, response.status, response.headers, response.body)
  } catch (error) {
    if (!isOAuthError(error)) throw error
    ctx.status = error.status
    ctx.body = { error: error.errorType, error_description: error.errorDescription ?? error.message }
  }
})

await serveTarget({
  handler: app.callback(),
  async mintRefreshToken() {
    const body = Object.fromEntries(new URLSearchParams(tokenRequestBody('password')))
    const response = await server.respondToAccessTokenRequest(new OAuthRequest({ headers: { authorization: BASIC_AUTHORIZATION }, body }))
    return response.body['refresh_token'] as string
  },
  async mintAuthorizationCode() {
    const authorization = await server.validateAuthorizationRequest(
      new OAuthRequest({
        query: {
          response_type: 'code',
          client_id: FIXTURE.clientId,
          redirect_uri: FIXTURE.redirectUri,
          scope: FIXTURE.scope,
          state: 'bench',
          code_challenge: CODE_CHALLENGE,
          code_challenge_method: 'S256',
        },
      }),
    )
    authorization.user = user
    authorization.isAuthorizationApproved = true
    const response = await server.completeAuthorizationRequest(authorization)
    const code = new URL(response.get('location')).searchParams.get('code')
    if (code === null) throw new Error('minting a code failed')
    return code
  },
})
