import type { AddressInfo } from 'node:net'
import type Koa from 'koa'

// The Koa part of the tests' set-up; the server, client and grants they run
// on are @grantkit/adapter-test-suite's fixtures.

/** Starts a Koa app on an ephemeral port of 127.0.0.1. */
export async function listen(app: Koa): Promise<{ url: string; close: () => Promise<void> }> {
  const http = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    http.once('listening', resolve)
    http.once('error', reject)
  })
  const { port } = http.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        http.closeAllConnections()
        http.close((error) => (error ? reject(error) : resolve()))
      }),
  }
}
