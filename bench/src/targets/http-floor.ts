// The floor of all floors: node:http reading the body and answering a fixed token JSON.
import { FIXED_TOKEN_RESPONSE } from '../fixture.js'
import { serveTarget } from './harness.js'

const body = Buffer.from(FIXED_TOKEN_RESPONSE)

await serveTarget({
  handler(req, res) {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json;charset=UTF-8',
        'content-length': body.length,
        'cache-control': 'no-store',
        pragma: 'no-cache',
      })
      res.end(body)
    })
  },
})
