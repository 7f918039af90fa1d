// Real MongoDB driver failures through mongoStore, as core sees them: a
// server that cannot be reached is a passing outage (core's isTransientError,
// answered 503 with Retry-After), a write the server refuses is not, and the
// log line names the driver's error class and code only.
import { createServer } from 'node:net'
import { describeError, hashToken, isTransientError, type AuthorizationCodeRecord } from '@grantkit/core'
import { MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeWithMongo, openTestDatabase, type TestDatabase } from './internal/test-database.js'
import { mongoStore } from './mongo-store.js'

const now = new Date('2030-01-01T00:00:00.000Z')

const code = (secret: string): AuthorizationCodeRecord => ({
  codeHash: hashToken(secret),
  clientId: 'c',
  userId: 'u',
  redirectUri: null,
  scope: '',
  familyId: 'f',
  codeChallenge: null,
  codeChallengeMethod: null,
  createdAt: now,
  expiresAt: new Date(now.getTime() + 60_000),
  consumedAt: null,
})

async function failure(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => {
      throw new Error('expected the store call to fail')
    },
    (error: unknown) => error,
  )
}

describe('MongoDB with nothing listening', () => {
  it('is transient: a server selection timeout (MongoServerSelectionError), named in the log line without the URI', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const client = new MongoClient(`mongodb://nobody:secret@127.0.0.1:${port}/none`, { serverSelectionTimeoutMS: 200 })
    try {
      const error = await failure(mongoStore(client.db('none')).findClient('app'))
      expect(isTransientError(error)).toBe(true)
      // The driver's cause chain, when it has one, down to the socket's ECONNREFUSED; never the URI or its password.
      expect(describeError(error)).toMatch(/^MongoServerSelectionError(?: caused by [\w[\]]+)*$/)
      expect(describeError(error)).not.toContain('secret')
    } finally {
      await client.close()
    }
  })
})

describeWithMongo('MongoDB (or FerretDB) refusing a write', () => {
  let t: TestDatabase
  beforeAll(async () => {
    t = await openTestDatabase()
  })
  afterAll(async () => {
    await t?.close()
  })

  it('is not transient: a duplicate key (11000) is the write’s own failure, logged as MongoServerError[11000]', async () => {
    const store = mongoStore(t.db)
    await store.saveAuthorizationCode(code('twice'))
    const error = await failure(store.saveAuthorizationCode(code('twice')))
    expect(isTransientError(error)).toBe(false)
    expect(describeError(error)).toBe('MongoServerError[11000]')
  })
})
