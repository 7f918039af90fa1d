// The default error logger: names and codes only (never a message, a
// parameter or a stack), the driver's code under a wrapper, and one line per
// second for an error that repeats during an outage.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { RequestTimeoutError } from './internal/deadline.js'
import { defaultErrorLogger, describeError, suppressRepeatedLines } from './log.js'

const SECRET = 'hunter2'

/** Shaped as drizzle-orm's DrizzleQueryError: a class that leaves `name` as `Error`, with the SQL and parameters in its message. */
class DrizzleQueryError extends Error {
  constructor(
    readonly query: string,
    readonly params: unknown[],
    cause: unknown,
  ) {
    super(`Failed query: ${query}\nparams: ${params.join(',')}`, { cause })
  }
}

/** Shaped as node-postgres' DatabaseError: `name` is the protocol message name, `code` the SQLSTATE. */
class DatabaseError extends Error {
  readonly code: string
  constructor(message: string, code: string) {
    super(message)
    this.name = 'error'
    this.code = code
  }
}

const pgShutdown = () => new DrizzleQueryError('select * from clients where secret = $1', [SECRET], new DatabaseError('terminating connection due to administrator command', '57P01'))

describe('describeError', () => {
  it('names a wrapper by its class and shows the driver code below it, never the SQL or its parameters', () => {
    const line = describeError(pgShutdown())
    expect(line).toBe('DrizzleQueryError caused by DatabaseError[57P01]')
    expect(line).not.toContain(SECRET)
  })

  it('keeps a meaningful name and a numeric code (a MongoDB server error)', () => {
    const mongo = Object.assign(new Error('E11000 duplicate key { _id: "hunter2" }'), { name: 'MongoServerError', code: 11000 })
    expect(describeError(mongo)).toBe('MongoServerError[11000]')
    expect(describeError(new RequestTimeoutError(10))).toBe('RequestTimeoutError')
    expect(describeError(new TypeError(SECRET))).toBe('TypeError')
  })

  it('says nothing more about an error whose getters throw, and ignores codes that could carry text', () => {
    const hostile = Object.defineProperty(new Error(SECRET), 'code', {
      get() {
        throw new Error('no')
      },
    })
    expect(describeError(hostile)).toBe('Error')
    expect(describeError(Object.assign(new Error('x'), { code: `bad code with ${SECRET}` }))).toBe('Error')
    expect(describeError('a string')).toBe('string')
  })
})

describe('defaultErrorLogger', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  /** A logger on a clock the test moves, writing to an array. */
  function logger(repeatInterval?: number) {
    const lines: string[] = []
    const clock = { now: 1_000_000 }
    const log = defaultErrorLogger('the authorization server', { write: (line) => lines.push(line), clock: () => clock.now, ...(repeatInterval === undefined ? {} : { repeatInterval }) })
    return { lines, clock, log }
  }

  it('prints one line naming where it happened and the driver code in the cause chain', () => {
    const { lines, log } = logger()
    log(pgShutdown())
    expect(lines).toEqual(['[grantkit] unexpected error in the authorization server: DrizzleQueryError caused by DatabaseError[57P01]'])
    expect(lines.join('\n')).not.toContain(SECRET)
  })

  it('prints an identical line at most once a second, and counts the suppressed ones on the next line printed', () => {
    const { lines, clock, log } = logger()
    for (let i = 0; i < 500; i++) log(pgShutdown())
    expect(lines).toHaveLength(1)
    clock.now += 999
    log(pgShutdown())
    expect(lines).toHaveLength(1)
    clock.now += 1
    log(pgShutdown())
    expect(lines).toEqual([
      '[grantkit] unexpected error in the authorization server: DrizzleQueryError caused by DatabaseError[57P01]',
      '[grantkit] unexpected error in the authorization server: DrizzleQueryError caused by DatabaseError[57P01] (500 identical lines suppressed)',
    ])
    clock.now += 1000
    log(pgShutdown())
    expect(lines[2]).toBe('[grantkit] unexpected error in the authorization server: DrizzleQueryError caused by DatabaseError[57P01]')
  })

  it('suppresses per line: a different error is printed at once', () => {
    const { lines, log } = logger()
    log(pgShutdown())
    log(new TypeError('x'))
    log(pgShutdown())
    log(new TypeError('x'))
    expect(lines).toEqual([
      '[grantkit] unexpected error in the authorization server: DrizzleQueryError caused by DatabaseError[57P01]',
      '[grantkit] unexpected error in the authorization server: TypeError',
    ])
  })

  it('says "line" for one suppressed line', () => {
    const { lines, clock, log } = logger()
    log(new TypeError('x'))
    log(new TypeError('x'))
    clock.now += 1000
    log(new TypeError('x'))
    expect(lines[1]).toBe('[grantkit] unexpected error in the authorization server: TypeError (1 identical line suppressed)')
  })

  it('prints every line with repeatInterval 0', () => {
    const { lines, log } = logger(0)
    for (let i = 0; i < 3; i++) log(new TypeError('x'))
    expect(lines).toHaveLength(3)
  })

  it('writes to console.error by default, and loggers do not share their counts', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const a = defaultErrorLogger('requireToken')
    const b = defaultErrorLogger('requireToken')
    a(new TypeError('x'))
    a(new TypeError('x'))
    b(new TypeError('x'))
    expect(errors.mock.calls).toEqual([['[grantkit] unexpected error in requireToken: TypeError'], ['[grantkit] unexpected error in requireToken: TypeError']])
  })

  it('refuses a negative repeatInterval', () => {
    expect(() => defaultErrorLogger('x', { repeatInterval: -1 })).toThrow(TypeError)
  })
})

describe('suppressRepeatedLines (an app\'s own log during an outage)', () => {
  it('prints a repeated line once per interval with the count of those left out', () => {
    const lines: string[] = []
    let now = 0
    const write = suppressRepeatedLines((line) => lines.push(line), { clock: () => now })
    for (let i = 0; i < 5; i++) write('[error] DatabaseError[57P01]')
    write('[error] other')
    now = 1500
    write('[error] DatabaseError[57P01]')
    expect(lines).toEqual(['[error] DatabaseError[57P01]', '[error] other', '[error] DatabaseError[57P01] (4 identical lines suppressed)'])
  })

  it('refuses a writer that is not a function and a bad interval', () => {
    expect(() => suppressRepeatedLines(undefined as never)).toThrow(TypeError)
    expect(() => suppressRepeatedLines(() => {}, { repeatInterval: -1 })).toThrow(TypeError)
  })
})
