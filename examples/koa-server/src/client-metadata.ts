import type { FullStore } from '@grantkit/core'
import { withClientMetadataDocuments, type ClientMetadataDocumentRejection } from '@grantkit/client-metadata-document'

/** The RFC 8414 metadata field saying this server resolves Client ID Metadata Documents. */
export { CLIENT_ID_METADATA_DOCUMENT_SUPPORTED } from '@grantkit/client-metadata-document'

/** Options of {@link withMetadataDocuments}. */
export interface MetadataDocumentOptions {
  /** The scopes such a client may be granted (its document's `scope`, narrowed to these). */
  readonly scopes: readonly string[]
  /** `OAUTH_ALLOW_INSECURE_FETCH=1`: also `http` documents, and documents on loopback addresses (test suites). */
  readonly allowInsecureFetch: boolean
  /** Told why a document was refused: the reason and a short operator text, never the document's values. */
  readonly onRejected: (rejection: ClientMetadataDocumentRejection) => void
}

/**
 * The store, where a `client_id` that is an `https` URL names a Client ID
 * Metadata Document, fetched (3 s, 5 KiB, no redirect, public addresses
 * only unless `allowInsecureFetch`) and cached as the package does
 * (docs/demo-server.md, "Client ID Metadata Documents").
 */
export function withMetadataDocuments<S extends FullStore>(store: S, options: MetadataDocumentOptions): S {
  return withClientMetadataDocuments(store, {
    allowedScopes: options.scopes.filter((scope) => scope !== ''),
    onRejected: options.onRejected,
    ...(options.allowInsecureFetch ? { allowHttp: true, allowAddresses: ['loopback'] as const } : {}),
  })
}
