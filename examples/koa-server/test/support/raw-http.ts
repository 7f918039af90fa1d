import { connect, type Socket } from 'node:net'

/** A request written byte for byte: nothing is validated or normalised (fetch and http.request refuse CRLF, NUL, bad methods). */
export interface RawRequest {
  /** The method token as sent (may be invalid). */
  readonly method: string
  /** The request target as sent (path and query, may hold any bytes). */
  readonly target: string
  /** Header lines as sent, in order; `Host` is added first unless `noHost`. */
  readonly headers: readonly (readonly [string, string])[]
  readonly body?: Buffer | undefined
  /** Send no Host header. */
  readonly noHost?: boolean | undefined
}

/** A parsed response. */
export interface RawResponse {
  readonly status: number
  /** The reason phrase of the status line. */
  readonly reason: string
  /** Lower-case names; repeated headers joined with `, `. */
  readonly headers: Record<string, string>
  readonly body: Buffer
  /** Whether the server asked to close or closed the connection. */
  readonly closed: boolean
}

/** Serialises a {@link RawRequest}. */
export function serialize(host: string, request: RawRequest): Buffer {
  const lines = [`${request.method} ${request.target} HTTP/1.1`]
  if (request.noHost !== true) lines.push(`Host: ${host}`)
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`)
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
  return request.body === undefined ? head : Buffer.concat([head, request.body])
}

/** Body length rules of RFC 9112 §6.3 for the few shapes a Koa server sends. */
function bodyEnd(buffer: Buffer, start: number, status: number, headers: Record<string, string>, head: boolean): number | 'until-close' | undefined {
  if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) return start
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let at = start
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at)
      if (lineEnd === -1) return undefined
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16)
      if (Number.isNaN(size)) throw new Error('bad chunk size from the server')
      at = lineEnd + 2 + size + 2
      if (at > buffer.length) return undefined
      if (size === 0) return at
    }
  }
  const length = headers['content-length']
  if (length !== undefined) {
    const end = start + Number(length)
    return end <= buffer.length ? end : undefined
  }
  return 'until-close'
}

function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at)
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16)
    if (size === 0) return Buffer.concat(parts)
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
}

/**
 * One keep-alive HTTP/1.1 connection that sends raw requests one at a time
 * and reconnects when the server closes it. Loopback only.
 */
export class RawConnection {
  readonly #host: string
  readonly #port: number
  #socket: Socket | undefined
  #buffer = Buffer.alloc(0)
  #ended = false
  #waiter: (() => void) | undefined

  constructor(origin: string) {
    const url = new URL(origin)
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') throw new Error('RawConnection is for loopback servers only')
    this.#host = url.host
    this.#port = Number(url.port)
  }

  async #open(): Promise<Socket> {
    if (this.#socket !== undefined && !this.#ended && !this.#socket.destroyed) return this.#socket
    this.#socket?.destroy()
    this.#buffer = Buffer.alloc(0)
    this.#ended = false
    const socket = connect({ host: '127.0.0.1', port: this.#port })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    // Events of a socket this connection already replaced are ignored.
    const ended = () => {
      if (this.#socket !== socket) return
      this.#ended = true
      this.#waiter?.()
    }
    socket.on('error', ended)
    socket.on('close', ended)
    socket.on('end', ended)
    socket.on('data', (chunk: Buffer) => {
      if (this.#socket !== socket) return
      this.#buffer = Buffer.concat([this.#buffer, chunk])
      this.#waiter?.()
    })
    this.#socket = socket
    return socket
  }

  /**
   * Sends `request` and reads the response. With `truncate`, only the first
   * `truncate` bytes are sent and the connection is half-closed: answers
   * `null` when the server closed without a response.
   */
  async send(request: RawRequest, options: { timeoutMs?: number; truncate?: number } = {}): Promise<RawResponse | null> {
    const reused = this.#socket !== undefined && !this.#ended
    const response = await this.#send(request, options)
    // A kept-alive connection the server closed meanwhile: retry once on a new one, as HTTP clients do.
    if (response === null && reused && options.truncate === undefined) return this.#send(request, options)
    return response
  }

  async #send(request: RawRequest, options: { timeoutMs?: number; truncate?: number }): Promise<RawResponse | null> {
    const socket = await this.#open()
    const bytes = serialize(this.#host, request)
    socket.write(options.truncate === undefined ? bytes : bytes.subarray(0, options.truncate))
    if (options.truncate !== undefined) socket.end()
    const head = request.method === 'HEAD'
    const deadline = Date.now() + (options.timeoutMs ?? 10_000)
    try {
      for (;;) {
        const parsed = this.#tryParse(head)
        if (parsed !== undefined) return parsed
        if (this.#ended) {
          const final = this.#tryParse(head, true)
          if (final !== undefined) return final
          if (this.#buffer.length === 0) return null
          throw new Error(`the server closed mid-response: ${JSON.stringify(this.#buffer.subarray(0, 200).toString('latin1'))}`)
        }
        const remaining = deadline - Date.now()
        if (remaining <= 0) throw new Error(`no response within ${options.timeoutMs ?? 10_000} ms to ${request.method} ${request.target.slice(0, 100)}`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, remaining)
          this.#waiter = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        this.#waiter = undefined
      }
    } catch (error) {
      this.close()
      throw error
    } finally {
      if (options.truncate !== undefined) this.close()
    }
  }

  #tryParse(head: boolean, atClose = false): RawResponse | undefined {
    const headerEnd = this.#buffer.indexOf('\r\n\r\n')
    if (headerEnd === -1) return undefined
    const lines = this.#buffer.subarray(0, headerEnd).toString('latin1').split('\r\n')
    const statusLine = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '')
    const status = Number(statusLine?.[1])
    if (Number.isNaN(status)) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`)
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    const start = headerEnd + 4
    let end = bodyEnd(this.#buffer, start, status, headers, head)
    if (end === undefined) return undefined
    if (end === 'until-close') {
      if (!atClose) return undefined
      end = this.#buffer.length
    }
    const raw = this.#buffer.subarray(start, end)
    const body = /chunked/i.test(headers['transfer-encoding'] ?? '') && !head ? dechunk(raw) : Buffer.from(raw)
    this.#buffer = this.#buffer.subarray(end)
    const closed = /close/i.test(headers['connection'] ?? '') || this.#ended
    if (closed) this.close()
    return { status, reason: statusLine?.[2] ?? '', headers, body, closed }
  }

  close(): void {
    this.#socket?.destroy()
    this.#socket = undefined
    this.#ended = true
  }
}

/** Sends one raw request on a fresh connection and closes it. */
export async function rawRequest(origin: string, request: RawRequest, options: { timeoutMs?: number } = {}): Promise<RawResponse | null> {
  const connection = new RawConnection(origin)
  try {
    return await connection.send(request, options)
  } finally {
    connection.close()
  }
}

/** Reads the resident set size of a process, in bytes, from /proc/<pid>/status (Linux). */
export async function residentSetSize(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1]
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(kib) * 1024
}

/** Whether a process is still running. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
