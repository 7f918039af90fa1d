// End to end over real HTTP with an unmodified client library (oauth4webapi):
// discovery (RFC 8414), device authorization (RFC 8628 §3.1–3.2), the app's
// verification page (§3.3) built on deviceVerification, polling (§3.4–3.5).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AuthorizationServer, createClient, createHttpHandler, nodeBodySource, parseFormEncoded, type HttpHandler } from '@grantkit/core'
import * as oauth from 'oauth4webapi'
import { describe, expect, it, onTestFinished } from 'vitest'
import { DeviceAuthorizationEndpoint } from './device-authorization-endpoint.js'
import { DeviceCodeGrant } from './device-code-grant.js'
import { deviceVerification, type DeviceVerification } from './device-verification.js'
import { ALICE, CLIENTS, RegisteredRefreshTokenGrant, T0, deviceStores, type OpenDeviceStore } from './internal/testing.js'

const insecure = { [oauth.allowInsecureRequests]: true } as const

/** Reads a small urlencoded body (the verification page's form). */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return parseFormEncoded(text)
}

/**
 * The app's verification page (RFC 8628 §3.3), as small as it gets: POST
 * /device with `user_code` and `decision`; the signed-in user is Alice.
 */
async function verificationPage(verification: DeviceVerification, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req)
  const key = req.socket.remoteAddress ?? 'unknown'
  const userCode = form.get('user_code') ?? ''
  const result = form.get('decision') === 'approve' ? await verification.approve(userCode, ALICE, { key }) : await verification.deny(userCode, { key })
  res.writeHead(result.ok ? 200 : 400, { 'content-type': 'text/plain' }).end(result.ok ? 'done' : result.error)
}

/** core's HTTP handler over node:http: IncomingMessage in, the outcome written out. */
async function serve(handler: HttpHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const outcome = await handler.handle({ method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), url: req.url ?? '/', headers: req.headers, body: nodeBodySource(req) })
  if (outcome.kind === 'handled') return
  res.writeHead(outcome.status, outcome.headers)
  res.end(outcome.kind === 'json' || outcome.kind === 'html' ? outcome.body : outcome.kind === 'error_page' ? outcome.html : undefined)
}

const tv: oauth.Client = { client_id: CLIENTS.tv.clientId }
const cli: oauth.Client = { client_id: CLIENTS.cli.clientId }
const tvAuth = oauth.None()
const cliAuth = oauth.ClientSecretBasic('cli-secret')

describe.each(await deviceStores())('the device flow over HTTP with oauth4webapi (RFC 8628) on the %s', (_storeName, openStore: OpenDeviceStore) => {
  /**
   * A fresh server for one test: the store, the grant and endpoint, core's
   * HTTP handler and the verification page on a loopback port (closed when
   * the test ends), and oauth4webapi's view of it from discovery.
   */
  async function start() {
    let now = T0
    const http = createServer()
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => new Promise<void>((resolve) => http.close(() => resolve())))
    const issuer = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}`)
    const store = await openStore()
    const server = new AuthorizationServer({ issuer: issuer.origin, store, clock: () => now })
    server.registerGrant(DeviceCodeGrant).registerGrant(RegisteredRefreshTokenGrant).registerEndpoint(DeviceAuthorizationEndpoint)
    for (const input of Object.values(CLIENTS)) await store.saveClient((await createClient({ ...input, secretHash: 'sha256' })).client)
    const handler = createHttpHandler(server)
    const verification = deviceVerification(server)
    http.on('request', (req, res) => {
      const page = new URL(req.url ?? '/', issuer).pathname === '/device'
      void (page ? verificationPage(verification, req, res) : serve(handler, req, res))
    })
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oauth2' }))

    const begin = async (client = tv, auth = tvAuth, scope = 'read') =>
      oauth.processDeviceAuthorizationResponse(as, client, await oauth.deviceAuthorizationRequest(as, client, auth, { scope }, insecure))
    const pollOnce = async (deviceCode: string, client = tv, auth = tvAuth) =>
      oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, auth, deviceCode, insecure))
    /** The error code of a poll the server refused. */
    const pollError = async (deviceCode: string): Promise<string> => {
      try {
        await pollOnce(deviceCode)
      } catch (error) {
        if (error instanceof oauth.ResponseBodyError) return error.error
        throw error
      }
      throw new Error('expected an OAuth error response')
    }
    /** The user submits the verification page's form. */
    const decide = (userCode: string, decision: 'approve' | 'deny'): Promise<Response> =>
      fetch(new URL('/device', issuer), { method: 'POST', body: new URLSearchParams({ user_code: userCode, decision }) })
    const advance = (seconds: number) => void (now += seconds * 1000)
    return { issuer, as, begin, pollOnce, pollError, decide, advance }
  }

  it('advertises the device authorization endpoint and grant type in the metadata (RFC 8628 §4)', async () => {
    const { as, issuer } = await start()
    expect(as.device_authorization_endpoint).toBe(`${issuer.origin}/device_authorization`)
    expect(as.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:device_code')
  })

  it('runs the whole flow for a public client: pending, slow_down, approval, tokens once', async () => {
    const { issuer, begin, pollOnce, pollError, decide, advance } = await start()
    const device = await begin()
    expect(device).toMatchObject({ verification_uri: `${issuer.origin}/device`, expires_in: 600, interval: 5 })
    expect(device.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    expect(device.verification_uri_complete).toBe(`${issuer.origin}/device?user_code=${device.user_code}`)

    expect(await pollError(device.device_code)).toBe('authorization_pending')
    advance(1)
    expect(await pollError(device.device_code)).toBe('slow_down')
    advance(10)

    // The user types the code in lower case without the dash.
    const page = await decide(device.user_code.replace('-', '').toLowerCase(), 'approve')
    expect(page.status).toBe(200)

    const tokens = await pollOnce(device.device_code)
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read', expires_in: 3600 })
    expect(typeof tokens.access_token).toBe('string')
    expect(typeof tokens.refresh_token).toBe('string')
    advance(10)
    expect(await pollError(device.device_code)).toBe('invalid_grant')
  })

  it('answers access_denied once the user denied', async () => {
    const { begin, pollError, decide } = await start()
    const device = await begin()
    expect((await decide(device.user_code, 'deny')).status).toBe(200)
    expect(await pollError(device.device_code)).toBe('access_denied')
  })

  it('answers expired_token after expires_in', async () => {
    const { begin, pollError, decide, advance } = await start()
    const device = await begin()
    advance(device.expires_in)
    expect(await pollError(device.device_code)).toBe('expired_token')
    expect(await (await decide(device.user_code, 'approve')).text()).toBe('invalid')
  })

  it('serves a confidential client authenticating with client_secret_basic', async () => {
    const { begin, pollOnce, decide } = await start()
    const device = await begin(cli, cliAuth)
    expect((await decide(device.user_code, 'approve')).status).toBe(200)
    const tokens = await pollOnce(device.device_code, cli, cliAuth)
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read' })
    expect(tokens.refresh_token).toBeUndefined()
  })

  it('refuses a client not registered for the device grant with unauthorized_client', async () => {
    const { as } = await start()
    const spa: oauth.Client = { client_id: CLIENTS.spa.clientId }
    const response = await oauth.deviceAuthorizationRequest(as, spa, oauth.None(), { scope: 'read' }, insecure)
    await expect(oauth.processDeviceAuthorizationResponse(as, spa, response)).rejects.toMatchObject({ error: 'unauthorized_client', status: 400 })
  })

  it('answers a GET to the device authorization endpoint with 405', async () => {
    const { issuer } = await start()
    const response = await fetch(new URL('/device_authorization', issuer))
    expect(response.status).toBe(405)
    expect(await response.json()).toMatchObject({ error: 'invalid_request' })
  })
})
