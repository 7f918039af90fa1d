import { parseArgs } from 'node:util'
import { createClient, type Client, type FullStore } from '@grantkit/core'
import { connectPostgres } from './connect-postgres.js'
import { pgStore } from './pg-store.js'
import { openSqlite } from './open-sqlite.js'
import { sqliteStore } from './sqlite-store.js'

/** The store `grantkit-clients` uses when `--store` is absent. */
export const DEFAULT_STORE_URL = 'sqlite:./data/grantkit.sqlite'

const USAGE = `Usage: grantkit-clients [--store <url>] <command> [options]

Commands:
  create --name <name> --redirect-uri <uri>... --grant-type <type>...
         [--response-type <type>...] [--scope "<scopes>"]
         [--auth-method client_secret_basic|client_secret_post|none] [--client-id <id>]
         Registers a client and prints its secret once (only its hash is stored).
  list [--json]
         Lists the registered clients.
  delete <client_id>
         Deletes a client.

Options:
  --store <url>   sqlite:<file> or postgres://… (default ${DEFAULT_STORE_URL})
  -h, --help      Shows this help.
`

/** Where {@link runClientsCli} writes. */
export interface CliIo {
  stdout(text: string): void
  stderr(text: string): void
}

class UsageError extends Error {
  override name = 'UsageError'
}

interface OpenedStore {
  store: FullStore
  close(): Promise<void>
}

async function openStore(url: string): Promise<OpenedStore> {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')
    if (file === '') throw new UsageError('--store sqlite:<file> needs a file')
    // A short-lived process: SQLite's own auto-checkpoint, no checkpoint thread to start and stop.
    const db = await openSqlite(file, { checkpoint: false })
    return { store: sqliteStore(db), close: async () => void db.$client.close() }
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { db, close } = await connectPostgres(url)
    return { store: pgStore(db), close }
  }
  throw new UsageError(`unsupported --store "${url}": use sqlite:<file> or postgres://…`)
}

/**
 * RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI" and
 * "MUST NOT include a fragment component".
 */
function checkRedirectUri(uri: string): void {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    throw new UsageError(`--redirect-uri "${uri}" is not an absolute URI (RFC 6749 §3.1.2)`)
  }
  if (url.hash !== '' || uri.includes('#')) throw new UsageError(`--redirect-uri "${uri}" must not have a fragment (RFC 6749 §3.1.2)`)
}

/** Response types implied by grant types when `--response-type` is absent (RFC 6749 §4.1.1, §4.2.1). */
function impliedResponseTypes(grantTypes: readonly string[]): string[] {
  const types: string[] = []
  if (grantTypes.includes('authorization_code')) types.push('code')
  if (grantTypes.includes('implicit')) types.push('token')
  return types
}

function describeClient(client: Client): string {
  return [
    client.clientId,
    client.clientName ?? '-',
    client.tokenEndpointAuthMethod,
    client.grantTypes.join(',') || '-',
    client.scope || '-',
    client.redirectUris.join(',') || '-',
  ].join('\t')
}

/**
 * The `grantkit-clients` command: registers, lists and deletes clients in a
 * SQLite or PostgreSQL store. Returns the exit code (0 done, 1 failed,
 * 2 bad usage).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2
 */
export async function runClientsCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        store: { type: 'string' },
        name: { type: 'string' },
        'client-id': { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        'grant-type': { type: 'string', multiple: true },
        'response-type': { type: 'string', multiple: true },
        scope: { type: 'string' },
        'auth-method': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  const [command, ...rest] = positionals
  if (values.help === true || command === undefined) {
    ;(values.help === true ? io.stdout : io.stderr)(USAGE)
    return values.help === true ? 0 : 2
  }

  let opened: OpenedStore | undefined
  try {
    if (command !== 'create' && command !== 'list' && command !== 'delete') throw new UsageError(`unknown command "${command}"`)
    if (command === 'delete' ? rest.length !== 1 : rest.length !== 0) {
      throw new UsageError(command === 'delete' ? 'delete needs exactly one <client_id>' : `unexpected argument "${rest[0]}"`)
    }
    let input: Parameters<typeof createClient>[0] | undefined
    if (command === 'create') {
      const grantTypes = values['grant-type'] ?? []
      if (grantTypes.length === 0) throw new UsageError('create needs at least one --grant-type')
      const redirectUris = values['redirect-uri'] ?? []
      redirectUris.forEach(checkRedirectUri)
      const method = values['auth-method'] ?? 'client_secret_basic'
      if (method.trim() === '') throw new UsageError('--auth-method must not be empty')
      input = {
        grantTypes,
        redirectUris,
        responseTypes: values['response-type'] ?? impliedResponseTypes(grantTypes),
        scope: (values.scope ?? '').split(/\s+/).filter(Boolean).join(' '),
        tokenEndpointAuthMethod: method,
        secretHash: 'sha256',
        ...(values.name === undefined ? {} : { clientName: values.name }),
        ...(values['client-id'] === undefined ? {} : { clientId: values['client-id'] }),
      }
    }

    opened = await openStore(values.store ?? DEFAULT_STORE_URL)
    const { store } = opened
    if (command === 'create' && input !== undefined) {
      const { client, clientSecret } = await createClient(input)
      if (input.clientId !== undefined && (await store.findClient(client.clientId)) !== null) {
        io.stderr(`a client "${client.clientId}" already exists\n`)
        return 1
      }
      await store.saveClient(client)
      io.stdout(`client_id: ${client.clientId}\n`)
      if (clientSecret !== null) {
        io.stdout(`client_secret: ${clientSecret}\n`)
        io.stderr('The secret is shown once: only its hash is stored.\n')
      }
      return 0
    }
    if (command === 'list') {
      const clients = await store.listClients()
      if (values.json === true) {
        // Secret hashes stay in the database.
        io.stdout(`${JSON.stringify(clients.map(({ clientSecretHash: _, ...client }) => client), null, 2)}\n`)
      } else {
        for (const client of clients) io.stdout(`${describeClient(client)}\n`)
      }
      return 0
    }
    const clientId = rest[0] as string
    if (await store.deleteClient(clientId)) {
      io.stdout(`deleted ${clientId}\n`)
      return 0
    }
    io.stderr(`no client "${clientId}"\n`)
    return 1
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`${error.message}\n\n${USAGE}`)
      return 2
    }
    io.stderr(`grantkit-clients: ${(error as Error).message}\n`)
    return 1
  } finally {
    await opened?.close()
  }
}
