import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './support/browser.js'
import { startDemoServer, tempDir, writeSeed, type DemoServer } from './support/demo-server.js'
import { CONFIDENTIAL, USER, seed } from './support/fixtures.js'


let demo: DemoServer
let browser: Browser
let callbackServer: Server
let callback: string
let removeDir: () => Promise<void>

beforeAll(async () => {
  // The client's redirect URI: a tiny page that shows where the browser landed.
  callbackServer = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>callback</title><p>client callback</p>')
  })
  await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve))
  callback = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`
  const tmp = await tempDir()
  removeDir = tmp.remove
  demo = await startDemoServer({ OAUTH_STORE: `sqlite:${tmp.dir}/browser.sqlite`, OAUTH_SEED: await writeSeed(tmp.dir, seed({ callback })) }, tmp.dir)
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await demo?.stop()
  callbackServer?.closeAllConnections()
  await new Promise((resolve) => callbackServer?.close(resolve))
  await removeDir?.()
})

function authorizationUrl(state: string): string {
  const url = new URL(`${demo.issuer}/authorize`)
  url.search = new URLSearchParams({ response_type: 'code', client_id: CONFIDENTIAL.client_id, redirect_uri: callback, scope: 'profile', state }).toString()
  return url.toString()
}

// On Koa, the default, only: the other frameworks answer these pages byte for byte alike (wire-equivalence.test.ts).
describe('the login and consent page in a real browser (RFC 6749 §4.1.1, §4.1.2)', () => {
  it('logs in, approves and lands on the redirect URI with a code and the state', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(authorizationUrl('browser-state'))
    expect(await page.locator('form').count()).toBe(1)
    await page.fill('input[name=username]', USER.username)
    await page.fill('input[name=password]', USER.password)
    await Promise.all([page.waitForURL((url) => url.toString().startsWith(callback)), page.click('button[value=approve]')])
    const landed = new URL(page.url())
    expect(landed.searchParams.get('code')).toEqual(expect.any(String))
    expect(landed.searchParams.get('state')).toBe('browser-state')
    expect(await page.textContent('p')).toBe('client callback')
    await context.close()
  })

  it('shows the form again after a wrong password, then accepts the right one', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(authorizationUrl('retry'))
    await page.fill('input[name=username]', USER.username)
    await page.fill('input[name=password]', 'wrong password')
    await Promise.all([page.waitForLoadState('load'), page.click('button[value=approve]')])
    expect(page.url().startsWith(demo.issuer)).toBe(true)
    expect(await page.textContent('[role=alert]')).toContain('Wrong username or password')
    await page.fill('input[name=password]', USER.password)
    await Promise.all([page.waitForURL((url) => url.toString().startsWith(callback)), page.click('button[value=approve]')])
    expect(new URL(page.url()).searchParams.get('state')).toBe('retry')
    await context.close()
  })

  it('denies and lands on the redirect URI with error=access_denied and the state', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(authorizationUrl('denied'))
    await Promise.all([page.waitForURL((url) => url.toString().startsWith(callback)), page.click('button[value=deny]')])
    const landed = new URL(page.url())
    expect(landed.searchParams.get('error')).toBe('access_denied')
    expect(landed.searchParams.get('state')).toBe('denied')
    expect(landed.searchParams.has('code')).toBe(false)
    await context.close()
  })
})
