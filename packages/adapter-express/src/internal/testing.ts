import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Express } from 'express'

// The Express part of the tests' set-up; the server, client and grants they
// run on are @grantkit/adapter-test-suite's fixtures.

/** Starts an Express app on an ephemeral port of 127.0.0.1 (`app.listen(0, '127.0.0.1')`). */
export async function listen(app: Express): Promise<{ url: string; close: () => Promise<void> }> {
  const http: Server = await new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(server)))
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
