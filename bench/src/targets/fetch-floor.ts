// The Fetch API floor: a `(Request) => Response` handler reading the form with `await request.text()` and
// URLSearchParams, answering a fixed token JSON, on node:http through the same bridge as grantkit-fetch.
import { FIXED_TOKEN_RESPONSE } from '../fixture.js'
import { fetchListener } from './fetch-bridge.js'
import { serveTarget } from './harness.js'

const headers = { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store', pragma: 'no-cache' }

async function handle(request: Request): Promise<Response> {
  if (request.method !== 'POST' || new URL(request.url).pathname !== '/token') return new Response(null, { status: 404 })
  new URLSearchParams(await request.text())
  return new Response(FIXED_TOKEN_RESPONSE, { headers })
}

await serveTarget({ handler: fetchListener(handle) })
