import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHttpHandler, createResourceGuard, nodeBodySource, protectedResourceMetadataOutcome, type BodySource, type HttpOutcome } from '@grantkit/core'
import { isPageAnswer, runAdapterContractSuite, type PreBodyParser, type ResourceAnswer } from './index.js'

// The suite against core's HTTP layer alone, written to by bare node:http:
// what every adapter must match, with no framework in between. The global
// body parsers are the smallest faithful ones: they parse their media type
// and leave any other body unread.

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

async function parseBody(req: IncomingMessage, parser: PreBodyParser | undefined): Promise<BodySource> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (parser === 'consume') {
    await readAll(req)
    return nodeBodySource(req)
  }
  if (parser === 'form' && type === 'application/x-www-form-urlencoded') {
    const parsed: Record<string, string | string[]> = {}
    for (const [name, value] of new URLSearchParams(await readAll(req))) {
      const seen = parsed[name]
      parsed[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value]
    }
    return { kind: 'parsed', value: parsed }
  }
  if (parser === 'json' && type === 'application/json') return { kind: 'parsed', value: JSON.parse(await readAll(req)) as unknown }
  return nodeBodySource(req)
}

function write(res: ServerResponse, outcome: Exclude<HttpOutcome, { kind: 'handled' }>, html?: { status: number; html: string }): void {
  for (const [name, value] of Object.entries(outcome.headers)) res.setHeader(name, value)
  if (html !== undefined) {
    res.statusCode = html.status
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.end(html.html)
    return
  }
  res.statusCode = outcome.status
  if (outcome.kind === 'json' || outcome.kind === 'html') res.end(outcome.body)
  else if (outcome.kind === 'error_page') res.end(outcome.html)
  else res.end()
}

runAdapterContractSuite({
  name: 'core HTTP handler on bare node:http (reference)',
  async start({ server, oauth, resource, preBodyParser }) {
    const { authorize, renderError, onError, ...handlerOptions } = oauth
    const handler = createHttpHandler(server, { ...handlerOptions, ...(onError === undefined ? {} : { onError }) })
    const guard = createResourceGuard(server, resource)
    const http = createServer((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1')
        const document = resource.metadata === undefined ? null : protectedResourceMetadataOutcome(resource.metadata, { method: req.method ?? 'GET', url: url.pathname })
        if (document !== null) return write(res, document as Exclude<HttpOutcome, { kind: 'handled' }>)
        if (url.pathname === '/resource' && req.method === 'GET') {
          const result = await guard({ method: req.method, url: req.url ?? '/', headers: req.headers })
          if (!result.ok) return write(res, result.outcome as Exclude<HttpOutcome, { kind: 'handled' }>)
          const body: ResourceAnswer = { client_id: result.token.clientId, sub: result.token.userId, scope: result.token.scopes.join(' ') }
          res.setHeader('content-type', 'application/json')
          return res.end(JSON.stringify(body))
        }
        if (!handler.serves(url.pathname)) {
          res.statusCode = 404
          return res.end()
        }
        const body = await parseBody(req, preBodyParser)
        const outcome = await handler.handle(
          { method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), url: req.url ?? '/', headers: req.headers, body, remoteAddress: req.socket.remoteAddress },
          {
            authorize: async (interaction) => {
              for (const [name, value] of Object.entries(interaction.headers)) res.setHeader(name, value)
              const answer = await authorize(interaction)
              if (!isPageAnswer(answer)) return answer
              res.statusCode = answer.status ?? 200
              res.setHeader('content-type', 'text/html; charset=utf-8')
              res.end(answer.page)
              return undefined
            },
          },
        )
        if (outcome.kind === 'handled') return
        if (outcome.kind === 'error_page' && renderError !== undefined) {
          try {
            return write(res, outcome, renderError({ status: outcome.status, error: outcome.error, description: outcome.description }))
          } catch (error) {
            ;(onError ?? (() => {}))(error)
          }
        }
        write(res, outcome)
      })().catch(() => {
        res.statusCode = 500
        res.end()
      })
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    const { port } = http.address() as AddressInfo
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((resolve, reject) => {
          http.closeAllConnections()
          http.close((error) => (error ? reject(error) : resolve()))
        }),
    }
  },
})
