import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'

/** Milliseconds the requests in flight get to finish once the server drains; then their connections are cut. */
export const DRAIN_TIMEOUT = 5000

/** Options of {@link gracefulShutdown}. */
export interface GracefulShutdownOptions {
  /** The server main.ts listens with. */
  readonly http: Server
  /** Seconds to go on accepting and serving after SIGTERM before draining (`OAUTH_SHUTDOWN_DELAY`). */
  readonly delay: number
  /** Milliseconds in-flight requests get once draining; default {@link DRAIN_TIMEOUT}. */
  readonly drainTimeout?: number | undefined
  /** Runs once every connection has closed: stop the purge, close the store. */
  readonly close: () => Promise<void>
  /** Exits the process with this code (0 once `close` succeeded, 1 if it failed). */
  readonly exit: (code: number) => void
  /** The shutdown's lines (`[grantkit] …`). */
  readonly log: (line: string) => void
  /** Why `close` failed. */
  readonly logError: (error: unknown) => void
}

/** What {@link gracefulShutdown} gives main.ts. */
export interface GracefulShutdown {
  /** Whether shutdown began: readiness answers 503 and every response `Connection: close`. */
  stopping(): boolean
  /** The request listener for the server: `listener`, with `Connection: close` on every response once shutdown began. */
  wrap(listener: RequestListener): RequestListener
  /**
   * Begins the shutdown. SIGTERM waits the delay first (a second signal
   * ends the wait); SIGINT (Ctrl-C) drains at once.
   */
  stop(signal: NodeJS.Signals): void
}

/**
 * Stops the server without cutting a request or surprising a keep-alive
 * client:
 *
 * 1. At once: readiness answers 503, and every response not yet written
 *    (those in flight included) says `Connection: close` (RFC 9112 section
 *    9.6), so that no client sends another request on a connection about
 *    to close.
 * 2. For `delay` seconds after SIGTERM, the server goes on accepting and
 *    serving (a load balancer may still send requests until its health
 *    check or endpoint list catches up); each connection closes after its
 *    next response.
 * 3. Then it drains: stops accepting, closes idle connections, lets the
 *    requests in flight finish for up to `drainTimeout` milliseconds and
 *    cuts what is left.
 * 4. Once every connection has closed, `close` runs (the store closes
 *    last, after the last request used it) and the process exits 0.
 */
export function gracefulShutdown(options: GracefulShutdownOptions): GracefulShutdown {
  const { http } = options
  const drainTimeout = options.drainTimeout ?? DRAIN_TIMEOUT
  /** Responses whose request is being served. */
  const inFlight = new Set<ServerResponse>()
  let stopping = false
  let draining = false
  let endDelay: (() => void) | undefined

  const closeAfter = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('connection', 'close')
  }

  const drain = () => {
    if (draining) return
    draining = true
    endDelay = undefined
    const cut = setTimeout(() => http.closeAllConnections(), drainTimeout)
    cut.unref()
    http.close(() => {
      clearTimeout(cut)
      options.close().then(
        () => options.exit(0),
        (error: unknown) => {
          options.logError(error)
          options.exit(1)
        },
      )
    })
    // Node's close() closes the connections idle now; the others close after their response.
    http.closeIdleConnections()
  }

  return {
    stopping: () => stopping,
    wrap(listener) {
      return (req: IncomingMessage, res: ServerResponse) => {
        if (stopping) closeAfter(res)
        inFlight.add(res)
        res.once('close', () => {
          inFlight.delete(res)
          // A response whose headers went out before shutdown began left its connection open: close it now that it is idle.
          if (draining) setImmediate(() => http.closeIdleConnections())
        })
        listener(req, res)
      }
    },
    stop(signal) {
      if (stopping) {
        // A second signal during the delay: drain now.
        endDelay?.()
        return
      }
      stopping = true
      for (const res of inFlight) closeAfter(res)
      const delay = signal === 'SIGTERM' ? options.delay : 0
      if (delay === 0) {
        options.log(`[grantkit] ${signal}: shutting down`)
        drain()
        return
      }
      options.log(`[grantkit] ${signal}: shutting down in ${delay} s (readiness answers 503 meanwhile)`)
      const timer = setTimeout(drain, delay * 1000)
      endDelay = () => {
        clearTimeout(timer)
        drain()
      }
    },
  }
}
