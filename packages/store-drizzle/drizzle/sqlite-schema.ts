// The schema drizzle-kit reads to generate migrations/sqlite: the default tables, one export each.
import { sqliteTables } from '../src/sqlite-schema.js'

export const { clients, authorizationCodes, tokens, replayKeys, users, deviceCodes, throttle, pushedRequests } = sqliteTables
