// grantkit with the Fastify plugin (memory store unless BENCH_STORE says otherwise).
import { oauthPlugin } from '@grantkit/adapter-fastify'
import Fastify from 'fastify'
import { approve, benchServer } from './grantkit-setup.js'
import { serveTarget } from './harness.js'

const { server, target } = await benchServer()
const app = Fastify()
await app.register(oauthPlugin, { server, authorize: approve })
await app.ready()

// `routing` is the request listener Fastify's own server would get: the harness's server (the one every target
// shares) serves it, so no target differs in its node:http settings.
await serveTarget({ handler: app.routing, ...target })
