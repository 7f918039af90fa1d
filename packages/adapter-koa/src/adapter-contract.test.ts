import Koa from 'koa'
import { Router } from '@koa/router'
import { bodyParser } from '@koa/bodyparser'
import { isPageAnswer, runAdapterContractSuite, type ResourceAnswer } from '@grantkit/adapter-test-suite'
import { oauthRouter, type OAuthRouterOptions } from './oauth-router.js'
import { requireToken, type TokenState } from './require-token.js'
import { serveResourceMetadata } from './serve-resource-metadata.js'
import { listen } from './internal/testing.js'

runAdapterContractSuite({
  name: '@grantkit/adapter-koa',
  preBodyParsers: ['form', 'json', 'consume'],
  async start({ server, oauth, resource, preBodyParser }) {
    const app = new Koa()
    if (resource.metadata !== undefined) app.use(serveResourceMetadata(resource.metadata))
    if (preBodyParser === 'form') app.use(bodyParser({ enableTypes: ['form'] }))
    if (preBodyParser === 'json') app.use(bodyParser({ enableTypes: ['json'] }))
    if (preBodyParser === 'consume') {
      app.use(async (ctx, next) => {
        await new Promise<void>((resolve, reject) => {
          ctx.req.on('end', resolve).on('error', reject).resume()
        })
        await next()
      })
    }
    const { authorize, renderError, onError, ...handlerOptions } = oauth
    const options: OAuthRouterOptions = {
      ...handlerOptions,
      authorize: async (ctx, interaction) => {
        const answer = await authorize(interaction)
        if (!isPageAnswer(answer)) return answer
        ctx.status = answer.status ?? 200
        ctx.type = 'html'
        ctx.body = answer.page
        return undefined
      },
    }
    if (renderError !== undefined) {
      options.renderError = (ctx, error) => {
        const page = renderError(error)
        ctx.status = page.status
        ctx.type = 'html'
        ctx.body = page.html
      }
    }
    if (onError !== undefined) options.onError = (error) => onError(error)
    app.use(oauthRouter(server, options).routes())

    const { onError: resourceOnError, ...guardOptions } = resource
    const router = new Router()
    router.get('/resource', requireToken(server, { ...guardOptions, ...(resourceOnError === undefined ? {} : { onError: (error) => resourceOnError(error) }) }), (ctx) => {
      const { clientId, userId, scopes } = ctx.state['oauth'] as TokenState
      const body: ResourceAnswer = { client_id: clientId, sub: userId, scope: scopes.join(' ') }
      ctx.body = body
    })
    app.use(router.routes())
    return listen(app)
  },
})
