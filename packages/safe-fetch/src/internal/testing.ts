// Test-only helpers (never exported from the package): real local HTTP(S)
// servers, closed when the current test finishes.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** A started server: its origin, and every request it received (method, path, Host header). */
export interface TestServer {
  readonly origin: string
  readonly port: number
  readonly requests: Array<{ readonly path: string; readonly host: string | undefined }>
}

async function listen(server: Server, scheme: 'http' | 'https', handler: Handler): Promise<TestServer> {
  const requests: Array<{ path: string; host: string | undefined }> = []
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ path: req.url ?? '', host: req.headers.host })
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  )
  const port = (server.address() as AddressInfo).port
  return { origin: `${scheme}://127.0.0.1:${port}`, port, requests }
}

/** A node:http server on 127.0.0.1. */
export function startHttp(handler: Handler): Promise<TestServer> {
  return listen(createHttpServer(), 'http', handler)
}

/** A self-signed certificate for `localhost` and `127.0.0.1`, made with openssl, valid one day. */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'grantkit-safe-fetch-'))
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    )
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A node:https server on 127.0.0.1 with the given certificate. */
export function startHttps(certificate: { key: string; cert: string }, handler: Handler): Promise<TestServer> {
  return listen(createHttpsServer(certificate) as unknown as Server, 'https', handler)
}

/**
 * A raw TCP server that answers every connection with `head` and then
 * `extraBytes` more bytes: a response whose framing lies.
 */
export async function startLyingServer(head: string, extraBytes: number): Promise<{ origin: string }> {
  let written = 0
  const server = createNetServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', () => {
      socket.write(head)
      const chunk = Buffer.alloc(64 * 1024, 'a')
      const pump = () => {
        while (written < extraBytes && !socket.destroyed) {
          written += chunk.length
          if (!socket.write(chunk)) return void socket.once('drain', pump)
        }
        socket.end()
      }
      pump()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

/** Answers JSON with the given status and headers. */
export function json(res: ServerResponse, value: unknown, headers: Record<string, string> = {}, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value))
}
