// The Express floor: Express + express.urlencoded() parsing the form and answering a fixed token JSON.
import express from 'express'
import { FIXED_TOKEN_RESPONSE } from '../fixture.js'
import { serveTarget } from './harness.js'

const app = express()
app.use(express.urlencoded())
app.post('/token', (_req, res) => {
  res.set({ 'cache-control': 'no-store', pragma: 'no-cache', 'content-type': 'application/json;charset=UTF-8' })
  res.send(FIXED_TOKEN_RESPONSE)
})

await serveTarget({ handler: app })
