// grantkit with the Express adapter (memory store unless BENCH_STORE says otherwise), mounted at the app root before any body parser, as its README says.
import { oauthRouter } from '@grantkit/adapter-express'
import express from 'express'
import { approve, benchServer } from './grantkit-setup.js'
import { serveTarget } from './harness.js'

const { server, target } = await benchServer()
const app = express()
app.use(oauthRouter(server, { authorize: approve }))

await serveTarget({ handler: app, ...target })
