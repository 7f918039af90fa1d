import express, { type RequestHandler } from 'express'
import { isPageAnswer, runAdapterContractSuite, type AdapterHarness, type PreBodyParser } from '@grantkit/adapter-test-suite'
import { oauthRouter, type AuthorizeResult } from './oauth-router.js'
import { requireToken } from './require-token.js'
import { serveResourceMetadata } from './serve-resource-metadata.js'
import { listen } from './internal/testing.js'

/** The app's global body parsers, as an Express app mounts them. */
const PARSERS: Record<PreBodyParser, RequestHandler> = {
  form: express.urlencoded({ extended: false }),
  json: express.json(),
  // A signature check: reads the stream to its end and keeps no body.
  consume: (req, _res, next) => {
    req.on('end', () => next())
    req.resume()
  },
}

const expressHarness: AdapterHarness = {
  name: '@grantkit/adapter-express',
  preBodyParsers: ['form', 'json', 'consume'],
  async start({ server, oauth, resource, preBodyParser }) {
    const app = express()
    if (resource.metadata !== undefined) app.use(serveResourceMetadata(resource.metadata))
    if (preBodyParser !== undefined) app.use(PARSERS[preBodyParser])
    const { authorize, renderError, onError, ...handlerOptions } = oauth
    app.use(
      oauthRouter(server, {
        ...handlerOptions,
        async authorize(_req, res, interaction) {
          const answer = await authorize(interaction)
          if (!isPageAnswer(answer)) return answer as AuthorizeResult
          res.status(answer.status ?? 200).type('html').send(answer.page)
          return undefined
        },
        ...(renderError === undefined
          ? {}
          : {
              renderError(_req, res, error) {
                const { status, html } = renderError(error)
                res.status(status).type('html').send(html)
              },
            }),
        ...(onError === undefined ? {} : { onError: (error) => onError(error) }),
      }),
    )
    // The suite asserts onError(error) with one argument; Express's adds req.
    const { onError: resourceOnError, ...guardOptions } = resource
    const guard = requireToken(server, { ...guardOptions, ...(resourceOnError === undefined ? {} : { onError: (error) => resourceOnError(error) }) })
    app.get('/resource', guard, (_req, res) => {
      const { clientId, userId, scopes } = res.locals.oauth
      res.json({ client_id: clientId, sub: userId, scope: scopes.join(' ') })
    })
    return listen(app)
  },
}

runAdapterContractSuite(expressHarness)
