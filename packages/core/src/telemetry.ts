import { configError } from './config-error.js'
import { STORE_CAPABILITY_METHODS } from './store-capabilities.js'

/** Attributes of a counter increment or a span: low-cardinality values only (never a token, a secret or a request value). */
export type TelemetryAttributes = Readonly<Record<string, string | number | boolean>>

/**
 * Metrics and tracing hooks (the `telemetry` option of `AuthorizationServer`),
 * shaped so that OpenTelemetry's API (`@opentelemetry/api`) fits in a few
 * lines without grantkit depending on it (see the core README). Both are
 * optional; a hook that throws is ignored and never changes an answer.
 *
 * Counters (`count`), each incremented by `value`:
 * - `grantkit.tokens.issued` — tokens handed to a client, with `grant_type`
 *   (the registered grant type, e.g. `client_credentials`) and `token_type`
 *   (`access_token`, `refresh_token`);
 * - `grantkit.errors` — error answers, with `endpoint` (`token`,
 *   `authorization`, `revocation`, `introspection`, a registered endpoint's
 *   name, or `resource` for `requireToken`), `error` (the RFC error code)
 *   and `status` (the HTTP status);
 * - `grantkit.security_events` — attack signals (see `onSecurityEvent`),
 *   with `type` (`authorization_code_replay`, `refresh_token_reuse`).
 *
 * Spans (`span`), each around the work it names, which `run` performs:
 * - `grantkit.token` (with `grant_type` when the grant type is registered),
 *   `grantkit.authorization` (validating an authorization request),
 *   `grantkit.authorization.response` (answering it), `grantkit.<endpoint>`
 *   (e.g. `grantkit.revocation`), `grantkit.resource` (a bearer token
 *   check) — one request's handling;
 * - `grantkit.store.<method>` (e.g. `grantkit.store.findClient`, with
 *   `db.operation.name`) — every store call the server, its grants and its
 *   endpoints make.
 */
export interface Telemetry {
  /** Adds `value` to the counter `name`. */
  count?(name: string, value: number, attributes: TelemetryAttributes): void
  /**
   * Runs `run` inside a span named `name` and returns (or rejects with) what
   * `run` did; call `run` exactly once.
   */
  span?<T>(name: string, attributes: TelemetryAttributes, run: () => Promise<T>): Promise<T>
}

/** The server's telemetry as grantkit calls it: every hook guarded, so that a failing one never breaks a request. */
export interface GuardedTelemetry {
  /** Whether a `count` hook is installed (skip working out attributes when not). */
  readonly counting: boolean
  /** Whether a `span` hook is installed (skip building span attributes when not). */
  readonly tracing: boolean
  /** Adds to a counter; a throwing hook is ignored. */
  count(name: string, value: number, attributes: TelemetryAttributes): void
  /**
   * Runs `run` inside a span, and answers exactly what `run` answered: a
   * hook that throws, that never calls `run` or that returns something else
   * cannot change the outcome, and `run` runs once.
   */
  span<T>(name: string, attributes: TelemetryAttributes, run: () => Promise<T>): Promise<T>
}

/** Checks the option at set-up. */
export function assertTelemetry(telemetry: unknown, where: string): void {
  if (telemetry === undefined) return
  if (typeof telemetry !== 'object' || telemetry === null) throw configError(`${where} must be an object with count() and/or span()`)
  const { count, span } = telemetry as Telemetry
  if (count !== undefined && typeof count !== 'function') throw configError(`${where}.count must be a function`)
  if (span !== undefined && typeof span !== 'function') throw configError(`${where}.span must be a function`)
}

/** Wraps the hooks so that they can never break a request. */
export function guardTelemetry(telemetry: Telemetry | undefined): GuardedTelemetry {
  const count = telemetry?.count
  const span = telemetry?.span
  return {
    counting: count !== undefined,
    tracing: span !== undefined,
    count:
      count === undefined
        ? () => {}
        : (name, value, attributes) => {
            try {
              count.call(telemetry, name, value, attributes)
            } catch {
              // Metrics must never break the protocol.
            }
          },
    span:
      span === undefined
        ? (_name, _attributes, run) => run()
        : async <T>(name: string, attributes: TelemetryAttributes, run: () => Promise<T>): Promise<T> => {
            let result: Promise<T> | undefined
            const once = (): Promise<T> => {
              if (result === undefined) {
                try {
                  result = Promise.resolve(run())
                } catch (error) {
                  result = Promise.reject(error)
                }
              }
              return result
            }
            try {
              await span.call(telemetry, name, attributes, once)
            } catch {
              // The hook failed, or rethrew run's rejection: the outcome is run's, below.
            }
            return once()
          },
  }
}

/** The store methods of the full contracts (`ClientStore`, `UserStore`) outside the capabilities. */
const MORE_STORE_METHODS = ['saveClient', 'deleteClient', 'listClients', 'saveUser']

/**
 * The store as the server uses it when a `span` hook is installed: every
 * store method (the capability methods core knows) runs inside a
 * `grantkit.store.<method>` span; anything else is the store's own,
 * unchanged. Methods are called on the store itself, so a store class with
 * private fields keeps working.
 */
export function traceStore<S extends object>(store: S, telemetry: GuardedTelemetry): S {
  const traced = new Set<string>([...Object.values(STORE_CAPABILITY_METHODS).flat(), ...MORE_STORE_METHODS])
  const wrapped = new Map<PropertyKey, unknown>()
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      const cached = wrapped.get(property)
      if (cached !== undefined && (cached as { original?: unknown }).original === value) return cached
      const method = value as (...args: unknown[]) => unknown
      let wrapper: ((...args: unknown[]) => unknown) & { original?: unknown }
      if (typeof property === 'string' && traced.has(property)) {
        const name = `grantkit.store.${property}`
        const attributes = { 'db.operation.name': property }
        wrapper = (...args) => telemetry.span(name, attributes, async () => method.apply(target, args))
      } else {
        wrapper = (...args) => method.apply(target, args)
      }
      wrapper.original = value
      wrapped.set(property, wrapper)
      return wrapper
    },
  })
}
