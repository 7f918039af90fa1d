import { memoryStore, type FullStore } from '@grantkit/core'

/** An open store and how to close its connection. */
export interface OpenStore {
  readonly store: FullStore
  /** What the store is, without credentials, for the start-up log. */
  readonly description: string
  close(): Promise<void>
}

/** Hides the password of a connection URL. */
function redact(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}

/**
 * Opens the store `OAUTH_STORE` names, creating tables and indexes when
 * missing: `memory:`, `sqlite:<file>` (relative to the working directory),
 * `postgres://…` / `postgresql://…`, or `mongodb://…/<db>` / `mongodb+srv://…`.
 * Only the package of that store (and its driver) is loaded: each start,
 * and each refusal to start, spends no time loading the others.
 */
export async function openStore(spec: string): Promise<OpenStore> {
  if (spec === 'memory:' || spec === 'memory') {
    return { store: memoryStore(), description: 'memory', close: async () => {} }
  }
  if (spec.startsWith('sqlite:')) {
    const file = spec.slice('sqlite:'.length)
    if (file === '') throw new Error('OAUTH_STORE=sqlite:<file> needs a file name')
    const { drizzleStore, openSqlite } = await import('@grantkit/store-drizzle')
    const db = await openSqlite(file)
    return {
      store: drizzleStore(db),
      description: `sqlite ${file}`,
      close: async () => {
        db.$client.close()
      },
    }
  }
  if (spec.startsWith('postgres://') || spec.startsWith('postgresql://')) {
    const { connectPostgres, drizzleStore } = await import('@grantkit/store-drizzle')
    const { db, close } = await connectPostgres(spec)
    return { store: drizzleStore(db), description: `postgres ${redact(spec)}`, close }
  }
  if (spec.startsWith('mongodb://') || spec.startsWith('mongodb+srv://')) {
    const { connectMongo } = await import('@grantkit/store-mongo')
    const { store, close } = await connectMongo(spec)
    return { store, description: `mongodb ${redact(spec)}`, close }
  }
  throw new Error(`OAUTH_STORE must be sqlite:<file>, postgres://…, mongodb://…/<db> or memory:, not "${redact(spec)}"`)
}
