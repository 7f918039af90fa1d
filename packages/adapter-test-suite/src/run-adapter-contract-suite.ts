import { describe } from 'vitest'
import type { AdapterHarness, PreBodyParser } from './harness.js'
import { authorizationEndpointChecks } from './internal/checks/authorization-endpoint.js'
import { bodyAndTimeoutChecks } from './internal/checks/bodies-and-timeouts.js'
import { corsAndMetadataChecks } from './internal/checks/cors-and-metadata.js'
import { endpointChecks } from './internal/checks/endpoints.js'
import { errorDetailChecks } from './internal/checks/error-details.js'
import { outageChecks } from './internal/checks/outages.js'
import { requireTokenChecks } from './internal/checks/require-token.js'
import { resourceMetadataChecks } from './internal/checks/resource-metadata.js'
import { tokenEndpointChecks } from './internal/checks/token-endpoint.js'
import { suiteContext } from './internal/context.js'

/** Options of {@link runAdapterContractSuite}. */
export interface AdapterContractOptions {
  /**
   * The `requestTimeout` (and `requireToken` `timeout`) of the timeout
   * checks, in ms. Default 300. Those checks wait up to 40 times as long
   * (at least 20 s) before failing, and never assert how fast the answer came.
   */
  timeout?: number
}

const PARSERS: readonly PreBodyParser[] = ['form', 'json', 'consume']

/**
 * Registers the vitest suite every grantkit HTTP adapter must pass, driving
 * the adapter over real HTTP through `harness`: each endpoint and its
 * methods, media types and body limits, a body a global parser already
 * read, request timeouts, CORS, RFC 8414 metadata and the JWK Set, the
 * authorization endpoint and its `authorize` hook, `requireToken`'s RFC 6750
 * challenges, that no response carries an error message or a stack, and
 * that a store outage is answered 503 with `Retry-After`.
 *
 * The suite builds its own `AuthorizationServer` over `memoryStore()` for
 * every test; the harness only serves it with the adapter.
 *
 * @example
 * ```ts
 * // adapter-contract.test.ts
 * import { runAdapterContractSuite } from '@grantkit/adapter-test-suite'
 *
 * runAdapterContractSuite({
 *   name: 'my-adapter',
 *   async start({ server, oauth, resource, preBodyParser }) {
 *     // mount the adapter's endpoints with `oauth`, GET /resource behind requireToken(resource)
 *     return { url, close }
 *   },
 * })
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export function runAdapterContractSuite(harness: AdapterHarness, options: AdapterContractOptions = {}): void {
  if (typeof harness !== 'object' || harness === null || typeof harness.start !== 'function' || typeof harness.name !== 'string') {
    throw new TypeError('runAdapterContractSuite: expected a harness { name, start(setup) }')
  }
  if (harness.preBodyParsers !== undefined && !(Array.isArray(harness.preBodyParsers) && harness.preBodyParsers.every((p) => PARSERS.includes(p)))) {
    throw new TypeError(`runAdapterContractSuite: "preBodyParsers" must be a list of ${PARSERS.map((p) => `'${p}'`).join(', ')}`)
  }
  const timeout = options.timeout ?? 300
  if (!Number.isSafeInteger(timeout) || timeout <= 0) throw new TypeError('runAdapterContractSuite: "timeout" must be a positive number of milliseconds')

  describe(`${harness.name} (grantkit adapter contract)`, () => {
    const ctx = suiteContext(harness, timeout)
    endpointChecks(ctx)
    tokenEndpointChecks(ctx)
    bodyAndTimeoutChecks(ctx)
    corsAndMetadataChecks(ctx)
    authorizationEndpointChecks(ctx)
    requireTokenChecks(ctx)
    resourceMetadataChecks(ctx)
    errorDetailChecks(ctx)
    outageChecks(ctx)
  })
}
