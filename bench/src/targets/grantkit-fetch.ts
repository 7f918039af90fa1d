// grantkit with the Web Fetch API adapter (memory store unless BENCH_STORE says otherwise), on node:http through the bench's bridge.
import { oauthHandler } from '@grantkit/adapter-fetch'
import { approve, benchServer } from './grantkit-setup.js'
import { fetchListener } from './fetch-bridge.js'
import { serveTarget } from './harness.js'

const { server, target } = await benchServer()
const oauth = oauthHandler(server, { authorize: approve })

await serveTarget({ handler: fetchListener(oauth), ...target })
