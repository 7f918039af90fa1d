import { MongoServerError } from 'mongodb'

/** E11000: a unique index (or `_id`) already holds the key. Same code on MongoDB and FerretDB. */
export function isDuplicateKeyError(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === 11000
}

/**
 * The server does not implement an index option. FerretDB v1 answers
 * `NotImplemented` (238) for `expireAfterSeconds`; other wire-compatible
 * servers use `CommandNotSupported` (115).
 */
export function isNotImplementedError(error: unknown): boolean {
  return error instanceof MongoServerError && (error.code === 238 || error.code === 115 || error.codeName === 'NotImplemented')
}
