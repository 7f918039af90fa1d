import { parse } from 'node:querystring'
import Fastify from 'fastify'
import { isPageAnswer, runAdapterContractSuite, type AdapterHarness } from '@grantkit/adapter-test-suite'
import { oauthPlugin, type OAuthPluginOptions } from './oauth-plugin.js'
import { requireToken } from './require-token.js'
import { serveResourceMetadata } from './serve-resource-metadata.js'
import { listen } from './internal/testing.js'

/**
 * adapter-fastify under the shared adapter contract. The suite's "global
 * body parser" is a content-type parser (or hook) of the root instance,
 * registered before the plugin, as Fastify apps do: the plugin's own
 * encapsulated parsing replaces it on the OAuth routes.
 */
const fastifyHarness: AdapterHarness = {
  name: '@grantkit/adapter-fastify',
  preBodyParsers: ['form', 'json', 'consume'],
  async start({ server, oauth, resource, preBodyParser }) {
    const app = Fastify()
    if (resource.metadata !== undefined) await app.register(serveResourceMetadata(resource.metadata))
    if (preBodyParser === 'form') {
      // What @fastify/formbody registers (querystring parsing, repeated names as arrays).
      app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body: string, done) => done(null, parse(body)))
    }
    // 'json': Fastify's own application/json parser, on by default.
    if (preBodyParser === 'consume') {
      app.addHook('onRequest', async (request) => {
        for await (const _chunk of request.raw) void _chunk
      })
    }
    const { authorize, renderError, onError, ...handlerOptions } = oauth
    const options: OAuthPluginOptions = {
      ...handlerOptions,
      server,
      async authorize(_request, reply, interaction) {
        const answer = await authorize(interaction)
        if (!isPageAnswer(answer)) return answer
        reply
          .code(answer.status ?? 200)
          .type('text/html; charset=utf-8')
          .send(answer.page)
        return undefined
      },
    }
    if (renderError !== undefined) {
      options.renderError = (_request, reply, error) => {
        const { status, html } = renderError(error)
        reply.code(status).type('text/html; charset=utf-8').send(html)
      }
    }
    if (onError !== undefined) options.onError = (error) => onError(error)
    await app.register(oauthPlugin, options)
    // The suite's spies expect the error alone; the adapter also passes the request.
    const { onError: resourceOnError, ...guardOptions } = resource
    const guard = requireToken(server, { ...guardOptions, onError: resourceOnError === undefined ? undefined : (error) => resourceOnError(error) })
    app.get('/resource', { preHandler: guard }, async (request) => {
      const { clientId, userId, scopes } = request.oauth!
      return { client_id: clientId, sub: userId, scope: scopes.join(' ') }
    })
    return listen(app)
  },
}

runAdapterContractSuite(fastifyHarness)
