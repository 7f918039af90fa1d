// The Fastify floor: Fastify with a form content-type parser (what @fastify/formbody registers) answering a fixed token JSON.
import { parse } from 'node:querystring'
import Fastify from 'fastify'
import { FIXED_TOKEN_RESPONSE } from '../fixture.js'
import { serveTarget } from './harness.js'

const app = Fastify()
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, parse(body as string)))
app.post('/token', (_request, reply) => {
  reply.headers({ 'cache-control': 'no-store', pragma: 'no-cache', 'content-type': 'application/json;charset=UTF-8' })
  return reply.send(FIXED_TOKEN_RESPONSE)
})
await app.ready()

// Fastify's request listener on the harness's server, as in grantkit-fastify.ts.
await serveTarget({ handler: app.routing })
