// Child of footprint.ts: issues N client_credentials tokens on memoryStore() and prints the heap bytes kept per token.
import { AuthorizationServer, createClient, createOAuthRequest, memoryStore } from '@grantkit/core'
import { ClientCredentialsGrant } from '@grantkit/grant-client-credentials'

const count = Number(process.argv[2] ?? 100_000)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')

const store = memoryStore()
const server = new AuthorizationServer({ issuer: 'http://127.0.0.1', store, throttle: false })
server.registerGrant(ClientCredentialsGrant)
const { client, clientSecret } = await createClient({ clientId: 'footprint', grantTypes: ['client_credentials'], scope: 'read write', secretHash: 'sha256' })
await store.saveClient(client)
const authorization = 'Basic ' + Buffer.from(`footprint:${clientSecret}`).toString('base64')
const request = () =>
  createOAuthRequest({ method: 'POST', url: '/token', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: { grant_type: 'client_credentials', scope: 'read write' } })

// Warm up (caches, JIT), then measure the heap the store keeps for `count` more tokens.
for (let i = 0; i < 1000; i++) await server.createTokenResponse(request())
gc()
const before = process.memoryUsage().heapUsed
for (let i = 0; i < count; i++) {
  const response = await server.createTokenResponse(request())
  if (response.status !== 200) throw new Error(`token request failed with ${response.status}`)
}
gc()
const after = process.memoryUsage().heapUsed
console.log(`bytesPerToken=${((after - before) / count).toFixed(1)}`)
