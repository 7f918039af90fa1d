import type { Client } from './client.js'
import { codeDates, deviceCodeDates, purgeLimit, refuseInvalidDates, refuseInvalidTokenDates } from './store-dates.js'
import type { AuthorizationCodeRecord, DeviceCodeRecord, FullStore, TokenRecord, UserRecord } from './store.js'

/** A {@link FullStore} in process memory, with a look at what it holds. */
export interface MemoryStore extends FullStore {
  /** A copy of everything stored, as the store holds it (for tests that check what was really stored). */
  snapshot(): {
    clients: Client[]
    codes: AuthorizationCodeRecord[]
    tokens: TokenRecord[]
    replay: { key: string; expiresAt: Date }[]
    users: UserRecord[]
    deviceCodes: DeviceCodeRecord[]
  }
}

/** RFC 8628 §3.5: each `slow_down` adds 5 seconds to the polling interval. */
const SLOW_DOWN_SECONDS = 5

/**
 * A store in process memory, for tests and quick starts. It honours every
 * store contract (JavaScript runs each call's check-and-set without an
 * `await` in between, so consume, rotate and the device-code transitions are
 * atomic). Records are copied in and out, as a database would. An invalid `Date` (argument or record
 * field) is refused with a `TypeError` before anything is stored.
 */
export function memoryStore(): MemoryStore {
  const clients = new Map<string, Client>()
  const codes = new Map<string, AuthorizationCodeRecord>()
  const tokens = new Map<string, StoredToken>()
  // A family's token hashes: one string for the usual family of one token (client credentials), a list once it grows.
  const families = new Map<string, string | string[]>()
  const familyOf = (familyId: string): readonly string[] => {
    const family = families.get(familyId)
    return family === undefined ? [] : typeof family === 'string' ? [family] : family
  }
  const dropFromFamily = (familyId: string, hash: string): void => {
    const family = familyOf(familyId).filter((h) => h !== hash)
    if (family.length === 0) families.delete(familyId)
    else families.set(familyId, family.length === 1 ? (family[0] as string) : family)
  }
  const replay = new Map<string, number>()
  const users = new Map<string, UserRecord>()
  const usernames = new Map<string, string>()
  const devices = new Map<string, DeviceCodeRecord>()
  /** userCodeHash → deviceCodeHash, the unique index on user codes. */
  const userCodes = new Map<string, string>()
  /** The device authorization with this device code hash, when unexpired at `now`. */
  const liveDevice = (deviceCodeHash: string | undefined, now: Date): DeviceCodeRecord | null => {
    const record = deviceCodeHash === undefined ? undefined : devices.get(deviceCodeHash)
    return record === undefined || record.expiresAt.getTime() <= now.getTime() ? null : record
  }

  return {
    async findClient(clientId) {
      const client = clients.get(clientId)
      return client === undefined ? null : copy(client)
    },
    async saveClient(client) {
      clients.set(client.clientId, copy(client))
    },
    async deleteClient(clientId) {
      // RFC 7592 §2.3: the client's tokens and codes go with it.
      for (const [hash, token] of tokens) {
        if (token.clientId !== clientId) continue
        tokens.delete(hash)
        dropFromFamily(token.familyId, hash)
      }
      for (const [hash, code] of codes) if (code.clientId === clientId) codes.delete(hash)
      return clients.delete(clientId)
    },
    async listClients() {
      return [...clients.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0)).map(copy)
    },

    async saveAuthorizationCode(code) {
      refuseInvalidDates('memoryStore.saveAuthorizationCode', codeDates(code).required, codeDates(code).nullable)
      codes.set(code.codeHash, copy(code))
    },
    async findAuthorizationCode(codeHash, now) {
      // Read-only (store contract): the token endpoint checks the request against the code before consuming it.
      refuseInvalidDates('memoryStore.findAuthorizationCode', { now })
      const code = codes.get(codeHash)
      if (code === undefined || code.expiresAt.getTime() <= now.getTime()) return null
      return copy(code)
    },
    async consumeAuthorizationCode(codeHash, now) {
      refuseInvalidDates('memoryStore.consumeAuthorizationCode', { now })
      const code = codes.get(codeHash)
      if (code === undefined || code.expiresAt.getTime() <= now.getTime()) return null
      if (code.consumedAt !== null) return { consumed: false, code: copy(code) }
      codes.set(codeHash, { ...code, consumedAt: new Date(now.getTime()) })
      return { consumed: true, code: copy(code) }
    },

    async saveTokens(records) {
      // Every record is checked before the first is stored: the contract writes nothing when one date is invalid.
      for (let i = 0; i < records.length; i++) refuseInvalidTokenDates(() => `memoryStore.saveTokens (tokens[${i}])`, records[i]!)
      for (const token of records) {
        tokens.set(token.tokenHash, storedToken(token))
        const family = families.get(token.familyId)
        if (family === undefined) families.set(token.familyId, token.tokenHash)
        else if (typeof family === 'string') families.set(token.familyId, [family, token.tokenHash])
        else family.push(token.tokenHash)
      }
    },
    async findToken(tokenHash) {
      const token = tokens.get(tokenHash)
      return token === undefined ? null : tokenRecord(token)
    },
    async rotateRefreshToken(tokenHash, now) {
      refuseInvalidDates('memoryStore.rotateRefreshToken', { now })
      const token = tokens.get(tokenHash)
      if (token === undefined || token.type !== 'refresh_token') return null
      if (token.revokedAt !== null || token.rotatedAt !== null || token.expiresAt <= now.getTime()) {
        return { rotated: false, token: tokenRecord(token) }
      }
      tokens.set(tokenHash, { ...token, rotatedAt: now.getTime() })
      return { rotated: true, token: tokenRecord(token) }
    },
    async revokeToken(tokenHash, now) {
      refuseInvalidDates('memoryStore.revokeToken', { now })
      const token = tokens.get(tokenHash)
      if (token === undefined) return false
      if (token.revokedAt === null) tokens.set(tokenHash, { ...token, revokedAt: now.getTime() })
      return true
    },
    async revokeTokenFamily(familyId, now) {
      refuseInvalidDates('memoryStore.revokeTokenFamily', { now })
      let count = 0
      for (const hash of familyOf(familyId)) {
        const token = tokens.get(hash)
        if (token !== undefined && token.revokedAt === null) {
          tokens.set(hash, { ...token, revokedAt: now.getTime() })
          count++
        }
      }
      return count
    },

    async markUsed(key, expiresAt, now) {
      // An invalid expiresAt would be stored as NaN, which no `now` ever passes: the key would
      // stay recorded forever, and an invalid `now` would answer as if every record had expired.
      refuseInvalidDates('memoryStore.markUsed', { expiresAt, now })
      const existing = replay.get(key)
      if (existing !== undefined && existing > now.getTime()) return false
      replay.set(key, expiresAt.getTime())
      return true
    },

    async findUserById(id) {
      const user = users.get(id)
      return user === undefined ? null : copy(user)
    },
    async findUserByUsername(username) {
      const id = usernames.get(username)
      return id === undefined ? null : copy(users.get(id) as UserRecord)
    },
    async saveUser(user) {
      // Check the unique username before changing anything, as a unique index would.
      const owner = usernames.get(user.username)
      if (owner !== undefined && owner !== user.id) throw new Error('username already taken')
      const previous = users.get(user.id)
      if (previous !== undefined) usernames.delete(previous.username)
      users.set(user.id, copy(user))
      usernames.set(user.username, user.id)
    },

    async saveDeviceCode(record) {
      refuseInvalidDates('memoryStore.saveDeviceCode', deviceCodeDates(record).required, deviceCodeDates(record).nullable)
      // Both hashes are unique, as a database's indexes would make them: checked before anything is stored.
      if (devices.has(record.deviceCodeHash)) throw new Error('memoryStore.saveDeviceCode: device code already stored')
      if (userCodes.has(record.userCodeHash)) throw new Error('memoryStore.saveDeviceCode: user code already in use')
      devices.set(record.deviceCodeHash, copy(record))
      userCodes.set(record.userCodeHash, record.deviceCodeHash)
    },
    async findDeviceCodeByUserCode(userCodeHash, now) {
      refuseInvalidDates('memoryStore.findDeviceCodeByUserCode', { now })
      const record = liveDevice(userCodes.get(userCodeHash), now)
      return record === null ? null : copy(record)
    },
    async decideDeviceCode(userCodeHash, decision, now) {
      refuseInvalidDates('memoryStore.decideDeviceCode', { now })
      // A user code is single use (store contract): only a pending authorization may be decided.
      const record = liveDevice(userCodes.get(userCodeHash), now)
      if (record === null || record.status !== 'pending') return null
      const decided: DeviceCodeRecord = decision.approved
        ? { ...record, status: 'approved', userId: decision.userId, scope: decision.scope ?? record.scope }
        : { ...record, status: 'denied' }
      devices.set(record.deviceCodeHash, decided)
      return copy(decided)
    },
    async pollDeviceCode(deviceCodeHash, now) {
      refuseInvalidDates('memoryStore.pollDeviceCode', { now })
      const record = liveDevice(deviceCodeHash, now)
      if (record === null) return null
      // RFC 8628 §3.5 slow_down: a poll sooner than `interval` seconds after the previous one.
      const slowDown = record.lastPolledAt !== null && now.getTime() - record.lastPolledAt.getTime() < record.interval * 1000
      const polled: DeviceCodeRecord = {
        ...record,
        interval: slowDown ? record.interval + SLOW_DOWN_SECONDS : record.interval,
        lastPolledAt: new Date(now.getTime()),
      }
      devices.set(deviceCodeHash, polled)
      return { record: copy(polled), slowDown }
    },
    async redeemDeviceCode(deviceCodeHash, now) {
      refuseInvalidDates('memoryStore.redeemDeviceCode', { now })
      const record = liveDevice(deviceCodeHash, now)
      if (record === null || record.status !== 'approved') return null
      devices.set(deviceCodeHash, { ...record, status: 'redeemed' })
      return copy(record)
    },

    async purgeExpired(now, options) {
      refuseInvalidDates('memoryStore.purgeExpired', { now })
      const limit = purgeLimit('memoryStore.purgeExpired', options)
      const t = now.getTime()
      let count = 0
      let n = 0
      for (const [hash, code] of codes) {
        if (n >= limit) break
        if (code.expiresAt.getTime() <= t) {
          codes.delete(hash)
          n++
        }
      }
      count += n
      n = 0
      for (const [hash, token] of tokens) {
        if (n >= limit) break
        if (token.expiresAt <= t) {
          tokens.delete(hash)
          dropFromFamily(token.familyId, hash)
          n++
        }
      }
      count += n
      n = 0
      for (const [hash, record] of devices) {
        if (n >= limit) break
        if (record.expiresAt.getTime() <= t) {
          devices.delete(hash)
          userCodes.delete(record.userCodeHash)
          n++
        }
      }
      count += n
      n = 0
      for (const [key, expires] of replay) {
        if (n >= limit) break
        if (expires <= t) {
          replay.delete(key)
          n++
        }
      }
      return count + n
    },

    snapshot() {
      return {
        clients: [...clients.values()].map(copy),
        codes: [...codes.values()].map(copy),
        tokens: [...tokens.values()].map(tokenRecord),
        replay: [...replay].map(([key, expires]) => ({ key, expiresAt: new Date(expires) })),
        users: [...users.values()].map(copy),
        deviceCodes: [...devices.values()].map(copy),
      }
    },
  }
}

/**
 * A token as the memory store keeps it: its times as epoch milliseconds, not
 * `Date` objects (a `Date` costs V8 about 80 bytes; a token is kept for its
 * whole lifetime), in one fixed shape (tokens are the store's hot path).
 */
interface StoredToken {
  readonly tokenHash: string
  readonly type: TokenRecord['type']
  readonly clientId: string
  readonly userId: string | null
  readonly scope: string
  readonly familyId: string
  readonly issuedAt: number
  readonly expiresAt: number
  readonly revokedAt: number | null
  readonly rotatedAt: number | null
  readonly extra: TokenRecord['extra']
}

function storedToken(t: TokenRecord): StoredToken {
  return {
    tokenHash: t.tokenHash,
    type: t.type,
    clientId: t.clientId,
    userId: t.userId,
    scope: t.scope,
    familyId: t.familyId,
    issuedAt: t.issuedAt.getTime(),
    expiresAt: t.expiresAt.getTime(),
    revokedAt: t.revokedAt === null ? null : t.revokedAt.getTime(),
    rotatedAt: t.rotatedAt === null ? null : t.rotatedAt.getTime(),
    extra: t.extra === undefined ? undefined : structuredClone(t.extra),
  }
}

/** The record of a stored token: a copy, so that no caller shares what is stored. */
function tokenRecord(t: StoredToken): TokenRecord {
  const out: TokenRecord = {
    tokenHash: t.tokenHash,
    type: t.type,
    clientId: t.clientId,
    userId: t.userId,
    scope: t.scope,
    familyId: t.familyId,
    issuedAt: new Date(t.issuedAt),
    expiresAt: new Date(t.expiresAt),
    revokedAt: t.revokedAt === null ? null : new Date(t.revokedAt),
    rotatedAt: t.rotatedAt === null ? null : new Date(t.rotatedAt),
  }
  return t.extra === undefined ? out : { ...out, extra: structuredClone(t.extra) }
}

/**
 * A deep copy of a flat record, so that no caller shares a Date, an array or
 * metadata with what is stored, as with a real database. Cheaper than
 * `structuredClone` on the whole record: records are flat but for their
 * arrays of strings and their JSON `metadata` / `extra`.
 */
function copy<T extends object>(value: T): T {
  const out: Record<string, unknown> = {}
  for (const key in value) {
    const v: unknown = value[key]
    out[key] =
      v === null || typeof v !== 'object'
        ? v
        : v instanceof Date
          ? new Date(v.getTime())
          : Array.isArray(v) && v.every((item) => typeof item !== 'object' || item === null)
            ? v.slice()
            : structuredClone(v)
  }
  return out as T
}
