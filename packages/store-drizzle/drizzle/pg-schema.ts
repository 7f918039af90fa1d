// The schema drizzle-kit reads to generate migrations/pg: the default tables, one export each.
import { pgTables } from '../src/pg-schema.js'

export const { clients, authorizationCodes, tokens, replayKeys, users, deviceCodes, throttle, pushedRequests } = pgTables
