import type { AuthorizationServer, AuthorizeInteraction, GrantUser, HttpHandlerOptions, ResourceGuardOptions } from '@grantkit/core'

/**
 * What the suite's `authorize` hook answers, framework-neutral:
 *
 * - `{ user }` / `{ deny: true }`: hand it to the adapter as the hook's decision;
 * - `{ page }`: the app renders its own page — the harness writes `page`
 *   as `text/html` with `status` (default 200) through the framework
 *   itself (Koa: `ctx.body`; Express: `res.send`; fetch: a `Response`), the
 *   way an app's login page would, and answers the adapter "handled"
 *   (`undefined`, or the `Response` for adapter-fetch).
 *
 * Anything else (the suite also sends malformed answers) is handed to the
 * adapter unchanged; a hook that throws must throw from the adapter's hook.
 * Use {@link isPageAnswer} to tell the cases apart.
 */
export type HarnessAuthorizeAnswer =
  | { readonly user: GrantUser }
  | { readonly deny: true }
  | { readonly page: string; readonly status?: number }

/** The suite's authorization-endpoint hook: the harness calls it from the adapter's `authorize` option, once per call. */
export type HarnessAuthorizeHook = (interaction: AuthorizeInteraction) => HarnessAuthorizeAnswer | Promise<HarnessAuthorizeAnswer>

/**
 * The suite's error renderer: the harness calls it from the adapter's
 * `renderError` option and writes `html` as `text/html` with `status`
 * through the framework; when it throws, the harness's renderer throws too.
 */
export type HarnessRenderError = (error: { readonly status: number; readonly error: string; readonly description: string }) => {
  readonly status: number
  readonly html: string
}

/**
 * The adapter's OAuth endpoint options, framework-neutral: the core handler
 * options under their shared names (`bodyLimit`, `cors`, `metadata`,
 * `requestTimeout`), plus the hooks, which the harness adapts to the
 * framework's signatures (dropping the framework context).
 */
export interface HarnessOAuthOptions extends Omit<HttpHandlerOptions, 'onError'> {
  /** Always set: pass it to the adapter's `authorize` (see {@link HarnessAuthorizeAnswer}). */
  readonly authorize: HarnessAuthorizeHook
  /** When set, pass it to the adapter's `renderError` (see {@link HarnessRenderError}); when not, pass none. */
  readonly renderError?: HarnessRenderError | undefined
  /** When set, pass it to the adapter's `onError` (called as `onError(error)`); when not, pass none (the adapter's default logger). */
  readonly onError?: ((error: unknown) => void) | undefined
}

/**
 * The options of the adapter's `requireToken` (its own name may differ),
 * exactly core's `ResourceGuardOptions`; `onError`, when set, must receive
 * the error as its first argument.
 */
export type HarnessResourceOptions = ResourceGuardOptions

/**
 * A body parser the app mounted globally, BEFORE the OAuth routes, as apps
 * do (the adapter must cope, RFC 6749 §3.2 form bodies only):
 *
 * - `form`: the framework's usual `application/x-www-form-urlencoded`
 *   parser, leaving an object of strings (Koa `@koa/bodyparser`, Express
 *   `express.urlencoded({ extended: false })`, Fastify `@fastify/formbody`);
 * - `json`: the framework's usual `application/json` parser;
 * - `consume`: middleware that reads the request stream to its end and
 *   discards it WITHOUT setting a parsed body (e.g. a signature check, or
 *   for adapter-fetch an app that called `request.text()`).
 */
export type PreBodyParser = 'form' | 'json' | 'consume'

/** What the suite asks a harness to serve. */
export interface AdapterSetup {
  /** The server whose endpoints to serve (the suite builds it over `memoryStore()`). */
  readonly server: AuthorizationServer
  /** Options for the adapter's OAuth endpoints (Koa `oauthRouter`, Express/Fastify/fetch equivalent). */
  readonly oauth: HarnessOAuthOptions
  /**
   * Options for `requireToken` protecting `GET /resource`, which answers
   * 200 JSON {@link ResourceAnswer} from the token the adapter attached
   * (Koa `ctx.state.oauth`, …).
   */
  readonly resource: HarnessResourceOptions
  /** Mount this body parser globally before the OAuth routes (only ever one the harness lists in {@link AdapterHarness.preBodyParsers}). */
  readonly preBodyParser?: PreBodyParser | undefined
}

/** The JSON body of `GET /resource` when `requireToken` accepted the token. */
export interface ResourceAnswer {
  /** The token's client (`clientId`). */
  readonly client_id: string
  /** The token's resource owner (`userId`), `null` for a client-only token. */
  readonly sub: string | null
  /** The token's scopes, space-separated in the token's order. */
  readonly scope: string
}

/** A running server of the adapter under test. */
export interface RunningAdapter {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string
  /** Stops listening and closes every connection (including idle keep-alive ones). */
  close(): Promise<void>
}

/**
 * How the suite drives one adapter: serve an {@link AdapterSetup} with the
 * adapter, over real HTTP.
 */
export interface AdapterHarness {
  /** The adapter's name, used as the outer `describe` title. */
  readonly name: string
  /**
   * The global body parsers the framework has (see {@link PreBodyParser});
   * the suite runs the already-parsed-body checks for these only. Default: all three.
   */
  readonly preBodyParsers?: readonly PreBodyParser[]
  /**
   * Serves, on `127.0.0.1:0` (an ephemeral port):
   *
   * - `setup.server`'s OAuth endpoints through the adapter with `setup.oauth`;
   * - `GET /resource` behind the adapter's `requireToken(setup.server, setup.resource)`,
   *   answering 200 `application/json` {@link ResourceAnswer};
   * - when `setup.preBodyParser` is set, that body parser mounted globally
   *   before both.
   *
   * Any other path is the framework's own 404.
   */
  start(setup: AdapterSetup): Promise<RunningAdapter>
}

/** Whether the suite's hook asked the harness to render a page (see {@link HarnessAuthorizeAnswer}). */
export function isPageAnswer(answer: unknown): answer is { readonly page: string; readonly status?: number } {
  return typeof answer === 'object' && answer !== null && typeof (answer as { page?: unknown }).page === 'string'
}
