export { OpenIDProvider, tokenHash } from './provider.js'
export type { EndSessionContext, FindClaimsContext, IdTokenInput, OpenIDProviderOptions } from './provider.js'
export { ID_TOKEN_ALGORITHMS, OpenIDKeySet } from './key-set.js'
export type { ExportedOpenIDKey, IdTokenAlgorithm, KeyStatus, OpenIDKeyInput, OpenIDKeySetOptions, SigningKey } from './key-set.js'
export { OpenIDCode } from './openid-code.js'
export type { OpenIDCodeOptions } from './openid-code.js'
export { UserInfoEndpoint } from './userinfo-endpoint.js'
export { DiscoveryEndpoint, OPENID_CONFIGURATION_PATH } from './discovery-endpoint.js'
export { EndSessionEndpoint, postLogoutRedirectUris } from './end-session-endpoint.js'
export { SCOPE_CLAIMS, parseClaimsRequest } from './claims.js'
export type { ClaimRequest, ClaimsRequest } from './claims.js'
export {
  accountSelectionRequired,
  consentRequired,
  interactionRequired,
  loginRequired,
  needsReauthentication,
  openidRequest,
} from './openid-request.js'
export type { Display, OpenIDApproval, OpenIDRequest, Prompt } from './openid-request.js'
