import { request, type Agent, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { createServer, connect, type Server, type Socket } from 'node:net'

/** An answer read with node:http (so that the connection, its agent and its socket are the test's to watch). */
export interface HttpAnswer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** The socket it came on. */
  readonly socket: Socket
}

/** Reads a whole response. */
export function readAnswer(res: IncomingMessage): Promise<HttpAnswer> {
  // Taken now: once a keep-alive response has ended, its socket goes back to the agent.
  const socket = res.socket as Socket
  return new Promise((resolve, reject) => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => (body += chunk))
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket }))
    res.on('error', reject)
  })
}

/** A GET (or another method without a body) through `agent` (`false`: a connection of its own). */
export function httpGet(url: string, agent: Agent | false, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent }, (res) => void readAnswer(res).then(resolve, reject))
    req.on('error', reject)
    req.end()
  })
}

/** Waits until `condition` holds, polling every 20 ms, for at most `seconds`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, seconds = 30): Promise<void> {
  const deadline = Date.now() + seconds * 1000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${seconds} s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * A TCP relay on 127.0.0.1 in front of a database server: the store
 * connects through it, and `down()` makes the database unreachable the way a
 * network failure or a stopped server does (every open connection is reset,
 * every new one is accepted and reset at once) until `up()`.
 */
export interface TcpProxy {
  /** The relay's port, to put in the connection URL in place of the server's. */
  readonly port: number
  down(): void
  up(): void
  close(): Promise<void>
}

/** Starts a {@link TcpProxy} to `host:port`. */
export async function tcpProxy(host: string, port: number): Promise<TcpProxy> {
  const open = new Set<Socket>()
  let isDown = false
  const server: Server = createServer((client) => {
    if (isDown) return void client.resetAndDestroy()
    const upstream = connect(port, host)
    open.add(client).add(upstream)
    const drop = () => {
      open.delete(client)
      open.delete(upstream)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    down() {
      isDown = true
      for (const socket of open) socket.resetAndDestroy()
      open.clear()
    },
    up() {
      isDown = false
    },
    async close() {
      for (const socket of open) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** The single host and port of a `postgres://` or `mongodb://` URL, and the URL with another port of 127.0.0.1 in their place. */
export function storeAddress(spec: string): { host: string; port: number; via(port: number): string } {
  const match = /^([a-z+]+:\/\/(?:[^@/?#]*@)?)([^:/?#,]+):(\d+)(.*)$/i.exec(spec)
  if (match === null) throw new Error('the store URL must name one host and its port')
  const [, prefix, host, port, rest] = match as unknown as [string, string, string, string, string]
  return { host, port: Number(port), via: (proxyPort) => `${prefix}127.0.0.1:${proxyPort}${rest}` }
}
