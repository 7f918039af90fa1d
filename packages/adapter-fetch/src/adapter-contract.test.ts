import { isPageAnswer, runAdapterContractSuite, type ResourceAnswer } from '@grantkit/adapter-test-suite'
import { oauthHandler, type OAuthHandlerOptions } from './oauth-handler.js'
import { requireToken } from './require-token.js'
import { serveResourceMetadata } from './serve-resource-metadata.js'
import { serveFetch } from './internal/testing.js'

// The Fetch handler served by node:http (as @hono/node-server or Next.js do): a
// Fetch host has no global body parser, only an app that read the body first.
runAdapterContractSuite({
  name: '@grantkit/adapter-fetch',
  preBodyParsers: ['consume'],
  async start({ server, oauth, resource, preBodyParser }) {
    const { authorize, renderError, onError, ...handlerOptions } = oauth
    const options: OAuthHandlerOptions = {
      ...handlerOptions,
      authorize: async (_request, interaction) => {
        const answer = await authorize(interaction)
        if (!isPageAnswer(answer)) return answer
        return new Response(answer.page, { status: answer.status ?? 200, headers: { 'content-type': 'text/html; charset=utf-8' } })
      },
    }
    if (renderError !== undefined) {
      options.renderError = (_request, error) => {
        const page = renderError(error)
        return new Response(page.html, { status: page.status, headers: { 'content-type': 'text/html; charset=utf-8' } })
      }
    }
    if (onError !== undefined) options.onError = (error) => onError(error)
    const handler = oauthHandler(server, options)
    const { onError: resourceOnError, ...guardOptions } = resource
    const guard = requireToken(server, { ...guardOptions, ...(resourceOnError === undefined ? {} : { onError: (error) => resourceOnError(error) }) })
    const metadata = resource.metadata === undefined ? undefined : serveResourceMetadata(resource.metadata)
    return serveFetch(async (request, context) => {
      const document = metadata?.(request)
      if (document != null) return document
      if (preBodyParser === 'consume' && request.body !== null) await request.arrayBuffer()
      if (new URL(request.url).pathname === '/resource' && request.method === 'GET') {
        const auth = await guard(request)
        if (!auth.ok) return auth.response
        const { clientId, userId, scopes } = auth.token
        const body: ResourceAnswer = { client_id: clientId, sub: userId, scope: scopes.join(' ') }
        return Response.json(body)
      }
      return handler(request, context)
    })
  },
})
