// @node-oauth/oauth2-server 5 wrapped in Koa + @koa/bodyparser, with an in-memory model shaped as its docs show
// (Maps instead of arrays so that lookups stay O(1) with a large pre-minted pool).
import { bodyParser } from '@koa/bodyparser'
import OAuth2Server from '@node-oauth/oauth2-server'
import Koa from 'koa'
import { BASIC_AUTHORIZATION, CODE_CHALLENGE, FIXTURE, tokenRequestBody } from '../fixture.js'
import { serveTarget } from './harness.js'
import { sendLibraryResponse } from './koa-wrap.js'

const { Request, Response } = OAuth2Server

interface Client {
  id: string
  clientSecret: string
  grants: string[]
  redirectUris: string[]
  scope: string[]
}
interface User {
  id: string
  username: string
  password: string
}
// The model's records are what the library hands in; `any` keeps the model as the docs write it.
/* eslint-disable @typescript-eslint/no-explicit-any */
const clients = new Map<string, Client>([
  [
    FIXTURE.clientId,
    {
      id: FIXTURE.clientId,
      clientSecret: FIXTURE.clientSecret,
      grants: [...FIXTURE.grants],
      redirectUris: [FIXTURE.redirectUri],
      scope: FIXTURE.scope.split(' '),
    },
  ],
])
const users = new Map<string, User>([[FIXTURE.username, { id: FIXTURE.userId, username: FIXTURE.username, password: FIXTURE.password }]])
const accessTokens = new Map<string, any>()
const refreshTokens = new Map<string, any>()
const codes = new Map<string, any>()

const model = {
  async getClient(clientId: string, clientSecret: string | null) {
    const client = clients.get(clientId)
    if (client === undefined) return false
    if (clientSecret !== null && clientSecret !== client.clientSecret) return false
    return client
  },
  async saveToken(token: any, client: Client, user: any) {
    const record = { ...token, client, user }
    accessTokens.set(token.accessToken, record)
    if (token.refreshToken) refreshTokens.set(token.refreshToken, record)
    return record
  },
  async getAccessToken(accessToken: string) {
    return accessTokens.get(accessToken) ?? false
  },
  async getRefreshToken(refreshToken: string) {
    return refreshTokens.get(refreshToken) ?? false
  },
  // Rotation: the used refresh token is revoked (alwaysIssueNewRefreshToken is on by default).
  async revokeToken(token: any) {
    return refreshTokens.delete(token.refreshToken)
  },
  async getUser(username: string, password: string) {
    const user = users.get(username)
    return user !== undefined && user.password === password ? user : false
  },
  async getUserFromClient(client: Client) {
    return { id: `client:${client.id}` }
  },
  async saveAuthorizationCode(code: any, client: Client, user: any) {
    const record = { ...code, client, user }
    codes.set(code.authorizationCode, record)
    return record
  },
  async getAuthorizationCode(authorizationCode: string) {
    return codes.get(authorizationCode) ?? false
  },
  async revokeAuthorizationCode(code: any) {
    return codes.delete(code.authorizationCode)
  },
  async validateScope(_user: any, client: Client, scope: string[] | undefined) {
    if (scope === undefined) return client.scope
    return scope.every((s) => client.scope.includes(s)) ? scope : false
  },
}

const oauth = new OAuth2Server({ model, accessTokenLifetime: 3600, allowExtendedTokenAttributes: false })

const app = new Koa()
app.use(bodyParser({ enableTypes: ['form'] }))
app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/token') return
  const request = new Request({ method: ctx.method, headers: ctx.headers as Record<string, string>, query: ctx.query as Record<string, string>, body: ctx.request.body as Record<string, unknown> })
  const response = new Response({ headers: {} })
  try {
    await oauth.token(request, response)
  } catch (error: any) {
    ctx.status = error.code ?? 500
    ctx.body = { error: error.name, error_description: error.message }
    return
  }
  sendLibraryResponse(ctx, response.status ?? 200, response.headers ?? {}, response.body)
})

await serveTarget({
  handler: app.callback(),
  async mintRefreshToken() {
    const request = new Request({
      method: 'POST',
      headers: { authorization: BASIC_AUTHORIZATION, 'content-type': 'application/x-www-form-urlencoded', 'content-length': '1' },
      query: {},
      body: Object.fromEntries(new URLSearchParams(tokenRequestBody('password'))),
    })
    const token: any = await oauth.token(request, new Response({ headers: {} }))
    return token.refreshToken
  },
  async mintAuthorizationCode() {
    const request = new Request({
      method: 'GET',
      headers: {},
      query: {
        response_type: 'code',
        client_id: FIXTURE.clientId,
        redirect_uri: FIXTURE.redirectUri,
        scope: FIXTURE.scope,
        state: 'bench',
        code_challenge: CODE_CHALLENGE,
        code_challenge_method: 'S256',
      },
      body: {},
    })
    const code: any = await oauth.authorize(request, new Response({ headers: {} }), {
      authenticateHandler: { handle: () => users.get(FIXTURE.username) },
    })
    return code.authorizationCode
  },
})
