import { afterEach, vi, type Mock } from 'vitest'
import type { AuthorizationServer, MemoryStore, Throttle, TokenStrategy } from '@grantkit/core'
import type { AdapterHarness, HarnessAuthorizeHook, HarnessOAuthOptions, HarnessResourceOptions, PreBodyParser } from '../harness.js'
import { testServer } from '../fixtures.js'

/** What a check asks for: the suite's defaults, overridden. */
export interface StartOptions {
  /** The adapter's OAuth options; `authorize` defaults to denying, `onError` to a spy (pass `onError: undefined` for the adapter's default logger). */
  readonly oauth?: Partial<HarnessOAuthOptions>
  /** `requireToken` options; `onError` defaults to a spy (pass `onError: undefined` for the default logger). */
  readonly resource?: HarnessResourceOptions
  readonly preBodyParser?: PreBodyParser
  readonly issuer?: string
  readonly tokenStrategy?: TokenStrategy
  /** Register revocation and introspection (default true). */
  readonly endpoints?: boolean
  /** The server's `throttle` of failed credentials; default core's. */
  readonly throttle?: Throttle | false
}

/** A started adapter and the spies the checks assert on. */
export interface Started {
  readonly url: string
  readonly server: AuthorizationServer
  readonly store: MemoryStore
  /** The `authorize` hook as the harness was given it (counts calls). */
  readonly authorize: Mock<HarnessAuthorizeHook>
  /** The adapter's `onError` spy (unused when the check passed its own). */
  readonly onError: Mock<(error: unknown) => void>
  /** `requireToken`'s `onError` spy (unused when the check passed its own). */
  readonly resourceOnError: Mock<(error: unknown) => void>
  /** The server's own `onError`: store failures inside an endpoint are reported there. */
  readonly serverOnError: Mock<(error: unknown) => void>
}

/** The options every check of one harness shares. */
export interface SuiteContext {
  readonly harness: AdapterHarness
  /** The `requestTimeout` / `timeout` of the timeout checks, in ms. */
  readonly timeout: number
  /** Per-test time limit of checks that wait for a timeout, in ms (generous: the answer is expected after {@link timeout}). */
  readonly slowTestTimeout: number
  start(options?: StartOptions): Promise<Started>
  /** Silences `console.error` for this test and returns the spy (restored after the test). */
  consoleErrors(): Mock<(...args: unknown[]) => void>
}

/** Builds the context; call inside the suite's `describe` (it registers an `afterEach` that closes every started server). */
export function suiteContext(harness: AdapterHarness, timeout: number): SuiteContext {
  let running: { close(): Promise<void> }[] = []
  let spies: { mockRestore(): void }[] = []
  afterEach(async () => {
    const closing = running
    running = []
    for (const spy of spies) spy.mockRestore()
    spies = []
    await Promise.all(closing.map((r) => r.close()))
  })
  return {
    harness,
    timeout,
    slowTestTimeout: Math.max(20_000, timeout * 40),
    consoleErrors() {
      const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
      spies.push(spy)
      return spy as unknown as Mock<(...args: unknown[]) => void>
    },
    async start(options = {}) {
      const serverOnError = vi.fn<(error: unknown) => void>()
      const { server, store } = await testServer({
        issuer: options.issuer,
        tokenStrategy: options.tokenStrategy,
        throttle: options.throttle,
        endpoints: options.endpoints ?? true,
        tokens: true,
        onError: serverOnError,
      })
      const onError = vi.fn<(error: unknown) => void>()
      const resourceOnError = vi.fn<(error: unknown) => void>()
      const given = options.oauth ?? {}
      const authorize = vi.fn<HarnessAuthorizeHook>(given.authorize ?? (() => ({ deny: true })))
      const oauth: HarnessOAuthOptions = { ...given, authorize, ...('onError' in given ? {} : { onError }) }
      const resourceGiven = options.resource ?? {}
      const resource: HarnessResourceOptions = { ...resourceGiven, ...('onError' in resourceGiven ? {} : { onError: resourceOnError }) }
      const adapter = await harness.start({ server, oauth, resource, ...(options.preBodyParser === undefined ? {} : { preBodyParser: options.preBodyParser }) })
      running.push(adapter)
      return { url: adapter.url.replace(/\/$/, ''), server, store, authorize, onError, resourceOnError, serverOnError }
    },
  }
}

/** A promise that never settles: a hanging store or hook. */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => {})
}

/** Whether text shows a stack frame (`at fn (file:1:2)`). */
export const STACK_FRAME = /\bat .*:\d+:\d+/
