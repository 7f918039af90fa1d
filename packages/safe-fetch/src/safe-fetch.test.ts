// safeFetch and fetchJson against real local servers (node:http, node:https
// with a self-signed certificate, raw TCP for lying framing).
import { beforeAll, describe, expect, it } from 'vitest'
import { SafeFetchError, fetchJson, safeFetch, type SafeFetchErrorCode, type SafeFetchOptions } from './safe-fetch.js'
import { json, selfSignedCertificate, startHttp, startHttps, startLyingServer } from './internal/testing.js'

/** The opt-ins a test against a loopback http server needs. */
const LOCAL: SafeFetchOptions = { allowHttp: true, allowAddresses: ['loopback'] }

/** The code of the SafeFetchError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<SafeFetchErrorCode> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(SafeFetchError)
    return (error as SafeFetchError).code
  }
  throw new Error('expected a SafeFetchError')
}

describe('fetchJson', () => {
  it('answers the parsed JSON of an allowed URL', async () => {
    const server = await startHttp((_req, res) => json(res, { keys: [] }))
    expect(await fetchJson(`${server.origin}/jwks`, LOCAL)).toEqual({ keys: [] })
    expect(server.requests).toEqual([{ path: '/jwks', host: `127.0.0.1:${server.port}` }])
  })

  it.each([['application/json; charset=utf-8'], ['application/jwk-set+json'], ['application/a+json'], ['Application/JSON']])('accepts the content type %s', async (type) => {
    const server = await startHttp((_req, res) => res.writeHead(200, { 'content-type': type }).end('{"a":1}'))
    expect(await fetchJson(server.origin, LOCAL)).toEqual({ a: 1 })
  })

  it.each([['text/html'], ['application/jsonx'], ['text/json+xml'], ['application/+json']])('refuses the content type %s (bad_content_type)', async (type) => {
    const server = await startHttp((_req, res) => res.writeHead(200, { 'content-type': type }).end('{}'))
    expect(await failure(fetchJson(server.origin, LOCAL))).toBe('bad_content_type')
  })

  it('refuses a response without a content type (bad_content_type)', async () => {
    const server = await startHttp((_req, res) => {
      res.removeHeader('content-type')
      res.end('{}')
    })
    expect(await failure(fetchJson(server.origin, LOCAL))).toBe('bad_content_type')
  })

  it.each([
    ['malformed JSON', Buffer.from('{"keys": [')],
    ['an empty body', Buffer.alloc(0)],
    ['invalid UTF-8', Buffer.from([0x22, 0xff, 0xfe, 0x22])],
  ])('refuses %s (bad_json)', async (_name, body) => {
    const server = await startHttp((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body))
    expect(await failure(fetchJson(server.origin, LOCAL))).toBe('bad_json')
  })

  it.each([[404], [401], [500], [304]])('refuses status %i (http_status) and says which', async (status) => {
    const server = await startHttp((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(status === 304 ? undefined : '{}'))
    const error = await fetchJson(server.origin, LOCAL).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'http_status', status })
  })
})

describe('safeFetch: https only, no private addresses (SSRF)', () => {
  it('refuses http without allowHttp, before any connection (bad_url)', async () => {
    const server = await startHttp((_req, res) => json(res, {}))
    expect(await failure(safeFetch(server.origin, { allowAddresses: ['loopback'] }))).toBe('bad_url')
    expect(server.requests).toHaveLength(0)
  })

  it.each(['ftp://example.com/x', 'file:///etc/passwd', 'not a url', '/relative', 'https://user:pass@example.com/'])('refuses %s (bad_url)', async (url) => {
    expect(await failure(safeFetch(url))).toBe('bad_url')
  })

  it.each([
    ['a loopback IPv4 literal', (port: number) => `http://127.0.0.1:${port}/`],
    ['the loopback IPv6 literal', (port: number) => `http://[::1]:${port}/`],
    ['an IPv4-mapped IPv6 loopback literal', (port: number) => `http://[::ffff:127.0.0.1]:${port}/`],
    ['localhost, which resolves to loopback', (port: number) => `http://localhost:${port}/`],
    ['the unspecified address', (port: number) => `http://0.0.0.0:${port}/`],
  ])('refuses %s by default (forbidden_address), before any connection', async (_name, url) => {
    const server = await startHttp((_req, res) => json(res, {}))
    expect(await failure(safeFetch(url(server.port), { allowHttp: true }))).toBe('forbidden_address')
    expect(server.requests).toHaveLength(0)
  })

  it.each([
    ['a private address', ['10.0.0.7']],
    ['the cloud metadata address', ['169.254.169.254']],
    ['a unique-local address', ['fd00::1']],
    ['a public and a private address', ['93.184.216.34', '192.168.0.10']],
  ])('refuses a host name resolving to %s (forbidden_address)', async (_name, addresses) => {
    const lookup = async () => addresses.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) }))
    expect(await failure(safeFetch('https://jwks.example/keys', { lookup }))).toBe('forbidden_address')
  })

  it('connects to the address it resolved and checked, once (no DNS rebinding), with the original Host', async () => {
    const server = await startHttp((_req, res) => json(res, { ok: true }))
    const queries: string[] = []
    const lookup = async (host: string) => {
      queries.push(host)
      return [{ address: '127.0.0.1', family: 4 as const }]
    }
    const body = await fetchJson(`http://keys.example:${server.port}/jwks`, { ...LOCAL, lookup })
    expect(body).toEqual({ ok: true })
    expect(queries).toEqual(['keys.example'])
    expect(server.requests).toEqual([{ path: '/jwks', host: `keys.example:${server.port}` }])
  })

  it('answers dns when the host does not resolve', async () => {
    const lookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })
    }
    expect(await failure(safeFetch('https://nowhere.example/', { lookup }))).toBe('dns')
    expect(await failure(safeFetch('https://nowhere.example/', { lookup: async () => [] }))).toBe('dns')
  })

  it('answers network when nothing listens', async () => {
    const { createServer } = await import('node:net')
    // Take a free port, then release it: a connection to it is refused.
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as { port: number }).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    expect(await failure(safeFetch(`http://127.0.0.1:${port}/`, LOCAL))).toBe('network')
  })
})

describe('safeFetch: time and size limits', () => {
  it('times out when the server never answers, and the server does not hang the caller', async () => {
    const server = await startHttp(() => {
      /* never answers */
    })
    expect(await failure(safeFetch(server.origin, { ...LOCAL, timeout: 300 }))).toBe('timeout')
    expect(server.requests).toHaveLength(1)
  })

  it('times out when the body trickles forever (the limit covers the body too)', async () => {
    const server = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('[')
      const timer = setInterval(() => res.write('1,'), 50)
      res.on('close', () => clearInterval(timer))
    })
    expect(await failure(fetchJson(server.origin, { ...LOCAL, timeout: 500 }))).toBe('timeout')
  })

  it('times out when the DNS lookup never answers', async () => {
    const lookup = () => new Promise<never>(() => {})
    expect(await failure(safeFetch('https://slow-dns.example/', { lookup, timeout: 200 }))).toBe('timeout')
  })

  it('stops reading a body larger than maxBytes while streaming (too_large, no Content-Length)', async () => {
    let closedEarly = false
    const server = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      let sent = 0
      const pump = () => {
        while (sent < 64 * 1024 * 1024 && !res.destroyed) {
          sent += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        res.end()
      }
      res.on('close', () => (closedEarly = sent < 64 * 1024 * 1024))
      pump()
    })
    expect(await failure(fetchJson(server.origin, { ...LOCAL, maxBytes: 100_000 }))).toBe('too_large')
    await expect.poll(() => closedEarly).toBe(true)
  })

  it('refuses a declared Content-Length above maxBytes without reading (too_large)', async () => {
    const server = await startHttp((_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' }).end(' '.repeat(5000)))
    expect(await failure(fetchJson(server.origin, { ...LOCAL, maxBytes: 4999 }))).toBe('too_large')
  })

  it('accepts a body of exactly maxBytes', async () => {
    const server = await startHttp((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[1]'))
    expect(await fetchJson(server.origin, { ...LOCAL, maxBytes: 3 })).toEqual([1])
  })

  it('does not read past a lying (small) Content-Length: the response is refused (network)', async () => {
    const extra = 32 * 1024 * 1024
    const server = await startLyingServer('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}', extra)
    expect(await failure(fetchJson(server.origin, { ...LOCAL, maxBytes: 1000 }))).toBe('network')
  })

  it('refuses a body shorter than its Content-Length when the server closes (network)', async () => {
    const server = await startLyingServer('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a"', 0)
    expect(await failure(fetchJson(server.origin, LOCAL))).toBe('network')
  })
})

describe('safeFetch: redirects', () => {
  it('follows none by default (redirect)', async () => {
    const server = await startHttp((req, res) => (req.url === '/new' ? json(res, {}) : res.writeHead(302, { location: '/new' }).end()))
    const error = await safeFetch(`${server.origin}/old`, LOCAL).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'redirect', status: 302 })
    expect(server.requests.map((r) => r.path)).toEqual(['/old'])
  })

  it('follows a redirect on the same origin when maxRedirects allows', async () => {
    const server = await startHttp((req, res) => (req.url === '/new' ? json(res, { moved: true }) : res.writeHead(301, { location: '/new' }).end()))
    expect(await fetchJson(`${server.origin}/old`, { ...LOCAL, maxRedirects: 1 })).toEqual({ moved: true })
    expect(server.requests.map((r) => r.path)).toEqual(['/old', '/new'])
  })

  it('never follows a redirect to another host, even when allowed to follow redirects', async () => {
    const target = await startHttp((_req, res) => json(res, { stolen: true }))
    const server = await startHttp((_req, res) => res.writeHead(302, { location: `http://localhost:${target.port}/` }).end())
    expect(await failure(safeFetch(server.origin, { ...LOCAL, maxRedirects: 5 }))).toBe('redirect')
    expect(target.requests).toHaveLength(0)
  })

  it('never follows a redirect to another port of the same host', async () => {
    const target = await startHttp((_req, res) => json(res, {}))
    const server = await startHttp((_req, res) => res.writeHead(307, { location: `${target.origin}/` }).end())
    expect(await failure(safeFetch(server.origin, { ...LOCAL, maxRedirects: 5 }))).toBe('redirect')
    expect(target.requests).toHaveLength(0)
  })

  it('stops a redirect loop after maxRedirects', async () => {
    const server = await startHttp((_req, res) => res.writeHead(302, { location: '/loop' }).end())
    expect(await failure(safeFetch(server.origin, { ...LOCAL, maxRedirects: 3 }))).toBe('redirect')
    expect(server.requests).toHaveLength(4)
  })

  it('treats a 3xx without Location as an http_status', async () => {
    const server = await startHttp((_req, res) => res.writeHead(302).end())
    expect(await failure(safeFetch(server.origin, LOCAL))).toBe('http_status')
  })
})

describe('safeFetch over https (self-signed certificate)', () => {
  let certificate: { key: string; cert: string }
  beforeAll(() => {
    certificate = selfSignedCertificate()
  })

  it('fetches over https when the certificate is trusted (ca)', async () => {
    const server = await startHttps(certificate, (_req, res) => json(res, { tls: true }))
    expect(await fetchJson(`${server.origin}/`, { allowAddresses: ['loopback'], ca: certificate.cert })).toEqual({ tls: true })
  })

  it('verifies the certificate against the URL host even with a pinned address', async () => {
    const server = await startHttps(certificate, (_req, res) => json(res, { tls: true }))
    const lookup = async () => [{ address: '127.0.0.1', family: 4 as const }]
    const options = { allowAddresses: ['loopback'] as const, ca: certificate.cert, lookup }
    expect(await fetchJson(`https://localhost:${server.port}/`, options)).toEqual({ tls: true })
    // The certificate names localhost and 127.0.0.1, not other.example.
    expect(await failure(fetchJson(`https://other.example:${server.port}/`, options))).toBe('network')
  })

  it('refuses an untrusted certificate (network)', async () => {
    const server = await startHttps(certificate, (_req, res) => json(res, {}))
    expect(await failure(fetchJson(server.origin, { allowAddresses: ['loopback'] }))).toBe('network')
  })

  it('refuses a redirect from https to http on the same host', async () => {
    const plain = await startHttp((_req, res) => json(res, {}))
    const server = await startHttps(certificate, (_req, res) => res.writeHead(302, { location: plain.origin }).end())
    expect(await failure(fetchJson(server.origin, { allowAddresses: ['loopback'], allowHttp: true, ca: certificate.cert, maxRedirects: 2 }))).toBe('redirect')
    expect(plain.requests).toHaveLength(0)
  })
})

describe('safeFetch options are checked (TypeError)', () => {
  it.each<[string, SafeFetchOptions]>([
    ['timeout 0', { timeout: 0 }],
    ['timeout not an integer', { timeout: 1.5 }],
    ['maxBytes negative', { maxBytes: -1 }],
    ['maxRedirects above 5', { maxRedirects: 6 }],
    ['an unknown address class', { allowAddresses: ['everything' as never] }],
    ['an empty contentTypes', { contentTypes: [] }],
    ['a contentTypes entry that is not a media type', { contentTypes: ['json'] }],
    ['allowHttp not a boolean', { allowHttp: 'yes' as never }],
    ['an accept header with a newline', { accept: 'a\r\nx-evil: 1' }],
  ])('%s', async (_name, options) => {
    await expect(safeFetch('https://example.com/', options)).rejects.toThrow(TypeError)
  })
})
