// The part of autocannon 9's programmatic API the runner uses (it ships no types).
declare module 'autocannon' {
  namespace autocannon {
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string | Buffer
      setupRequest?: (request: Request, context: Record<string, unknown>) => Request
      onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void
    }
    interface Options {
      url: string
      connections?: number
      pipelining?: number
      duration?: number
      timeout?: number
      requests?: Request[]
    }
    interface Histogram {
      average: number
      p50: number
      p99: number
      total: number
    }
    interface Result {
      requests: Histogram
      latency: Histogram
      non2xx: number
      errors: number
      timeouts: number
      duration: number
    }
  }
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>
  export default autocannon
}
