export { CLIENT_ID_METADATA_DOCUMENT_SUPPORTED, isMetadataDocumentClient, withClientMetadataDocuments } from './client-metadata-documents.js'
export type { ClientMetadataDocumentOptions, ClientMetadataDocumentRejection, ClientMetadataDocumentRejectionReason } from './client-metadata-documents.js'
export { MAX_CLIENT_ID_LENGTH, clientIdUrlProblem } from './client-id.js'
