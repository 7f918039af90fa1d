// The framework floor: Koa + @koa/bodyparser parsing the form and answering a fixed token JSON.
import { bodyParser } from '@koa/bodyparser'
import Koa from 'koa'
import { FIXED_TOKEN_RESPONSE } from '../fixture.js'
import { serveTarget } from './harness.js'

const app = new Koa()
app.use(bodyParser({ enableTypes: ['form'] }))
app.use((ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/token') return
  ctx.set('cache-control', 'no-store')
  ctx.set('pragma', 'no-cache')
  ctx.type = 'application/json;charset=UTF-8'
  ctx.body = FIXED_TOKEN_RESPONSE
})

await serveTarget({ handler: app.callback() })
