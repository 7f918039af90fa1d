// grantkit with the Koa adapter, over the store named by BENCH_STORE: memory (default), sqlite (temp file, WAL) or postgres (DATABASE_URL).
import { oauthRouter } from '@grantkit/adapter-koa'
import Koa from 'koa'
import { approve, benchServer } from './grantkit-setup.js'
import { serveTarget } from './harness.js'

const { server, target } = await benchServer()
const app = new Koa()
app.use(oauthRouter(server, { authorize: approve }).routes())

await serveTarget({ handler: app.callback(), ...target })
