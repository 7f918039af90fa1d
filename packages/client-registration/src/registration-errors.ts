import { OAuthError, type OAuthErrorCode } from '@grantkit/core'

/**
 * The RFC 7591 §3.2.2 error codes core's `OAuthErrorCode` does not list yet.
 * Built with an explicit 400 so that they answer like the others.
 */
type SoftwareStatementErrorCode = 'invalid_software_statement' | 'unapproved_software_statement'

function softwareStatementError(code: SoftwareStatementErrorCode, description: string): OAuthError {
  return new OAuthError(code as unknown as OAuthErrorCode, description, { status: 400 })
}

/**
 * `invalid_software_statement` (400): "The software statement presented is
 * invalid" — throw it from `verifySoftwareStatement`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3.2.2
 */
export function invalidSoftwareStatement(description = 'the software statement is invalid'): OAuthError {
  return softwareStatementError('invalid_software_statement', description)
}

/**
 * `unapproved_software_statement` (400): "The software statement presented
 * is not approved for use by this authorization server" — throw it from
 * `verifySoftwareStatement`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7591#section-3.2.2
 */
export function unapprovedSoftwareStatement(description = 'the software statement is not approved by this server'): OAuthError {
  return softwareStatementError('unapproved_software_statement', description)
}
