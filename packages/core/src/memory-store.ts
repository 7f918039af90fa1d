import type { Client } from './client.js'
import type { AuthorizationCodeRecord, FullStore, TokenRecord, UserRecord } from './store.js'

/** A {@link FullStore} in process memory, with a look at what it holds. */
export interface MemoryStore extends FullStore {
  /** A copy of everything stored, as the store holds it (for tests that check what was really stored). */
  snapshot(): {
    clients: Client[]
    codes: AuthorizationCodeRecord[]
    tokens: TokenRecord[]
    replay: { key: string; expiresAt: Date }[]
    users: UserRecord[]
  }
}

/**
 * A store in process memory, for tests and quick starts. It honours every
 * store contract (JavaScript runs each call's check-and-set without an
 * `await` in between, so consume and rotate are atomic). Records are copied
 * in and out, as a database would.
 */
export function memoryStore(): MemoryStore {
  const clients = new Map<string, Client>()
  const codes = new Map<string, AuthorizationCodeRecord>()
  const tokens = new Map<string, TokenRecord>()
  const families = new Map<string, Set<string>>()
  const replay = new Map<string, number>()
  const users = new Map<string, UserRecord>()
  const usernames = new Map<string, string>()

  // A deep copy (Dates stay Dates), so that no caller shares nested arrays or
  // metadata with what is stored, as with a real database.
  const copy = <T extends object>(value: T): T => structuredClone(value)

  return {
    async findClient(clientId) {
      const client = clients.get(clientId)
      return client === undefined ? null : copy(client)
    },
    async saveClient(client) {
      clients.set(client.clientId, copy(client))
    },
    async deleteClient(clientId) {
      return clients.delete(clientId)
    },
    async listClients() {
      return [...clients.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0)).map(copy)
    },

    async saveAuthorizationCode(code) {
      codes.set(code.codeHash, copy(code))
    },
    async consumeAuthorizationCode(codeHash, now) {
      const code = codes.get(codeHash)
      if (code === undefined || code.expiresAt.getTime() <= now.getTime()) return null
      if (code.consumedAt !== null) return { consumed: false, code: copy(code) }
      codes.set(codeHash, { ...code, consumedAt: now })
      return { consumed: true, code: copy(code) }
    },

    async saveTokens(records) {
      for (const token of records) {
        tokens.set(token.tokenHash, copy(token))
        let family = families.get(token.familyId)
        if (family === undefined) families.set(token.familyId, (family = new Set()))
        family.add(token.tokenHash)
      }
    },
    async findToken(tokenHash) {
      const token = tokens.get(tokenHash)
      return token === undefined ? null : copy(token)
    },
    async rotateRefreshToken(tokenHash, now) {
      const token = tokens.get(tokenHash)
      if (token === undefined || token.type !== 'refresh_token') return null
      if (token.revokedAt !== null || token.rotatedAt !== null || token.expiresAt.getTime() <= now.getTime()) {
        return { rotated: false, token: copy(token) }
      }
      tokens.set(tokenHash, { ...token, rotatedAt: now })
      return { rotated: true, token: copy(token) }
    },
    async revokeToken(tokenHash, now) {
      const token = tokens.get(tokenHash)
      if (token === undefined) return false
      if (token.revokedAt === null) tokens.set(tokenHash, { ...token, revokedAt: now })
      return true
    },
    async revokeTokenFamily(familyId, now) {
      let count = 0
      for (const hash of families.get(familyId) ?? []) {
        const token = tokens.get(hash)
        if (token !== undefined && token.revokedAt === null) {
          tokens.set(hash, { ...token, revokedAt: now })
          count++
        }
      }
      return count
    },

    async markUsed(key, expiresAt, now) {
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

    async purgeExpired(now) {
      const t = now.getTime()
      let count = 0
      for (const [hash, code] of codes) {
        if (code.expiresAt.getTime() <= t) {
          codes.delete(hash)
          count++
        }
      }
      for (const [hash, token] of tokens) {
        if (token.expiresAt.getTime() <= t) {
          tokens.delete(hash)
          families.get(token.familyId)?.delete(hash)
          count++
        }
      }
      for (const [key, expires] of replay) {
        if (expires <= t) {
          replay.delete(key)
          count++
        }
      }
      return count
    },

    snapshot() {
      return {
        clients: [...clients.values()].map(copy),
        codes: [...codes.values()].map(copy),
        tokens: [...tokens.values()].map(copy),
        replay: [...replay].map(([key, expires]) => ({ key, expiresAt: new Date(expires) })),
        users: [...users.values()].map(copy),
      }
    },
  }
}
