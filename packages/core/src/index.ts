export { OAuthError, invalidClient, invalidGrant, invalidRequest, invalidScope, invalidTarget, isOAuthError, safeDescription, unauthorizedClient } from './errors.js'
export type { ErrorRedirect, OAuthErrorCode, OAuthErrorOptions } from './errors.js'
export { authorizationParams, brandRequest, createOAuthRequest, getHeader, getParam, isOAuthRequest, parseFormEncoded, requireParam } from './request.js'
export type { OAuthRequest, OAuthRequestInit, RequestHeaders } from './request.js'
export { emptyResponse, errorPageResponse, errorResponse, jsonResponse, redirectResponse, responseKind } from './response.js'
export type { OAuthResponse } from './response.js'
export { DEFAULT_SCRYPT_PARAMETERS, dummySecretHash, generateToken, hashSecret, hashToken, meetsScryptFloor, secretNeedsRehash, timingSafeEqualString, verifySecret } from './secrets.js'
export type { HashSecretOptions, ScryptParameters, SecretHashAlgorithm } from './secrets.js'
export { createCsrfProtection } from './csrf.js'
export type { CsrfFailure, CsrfIssued, CsrfOptions, CsrfProtection, CsrfRequest, CsrfSecret, CsrfVerdict } from './csrf.js'
export {
  MAX_THROTTLE_KEY_LENGTH,
  memoryThrottle,
  remoteAddressOf,
  storableThrottleKey,
  throttleDecision,
  throttleLimitOf,
  throttleLimits,
  throttleNow,
  throttledError,
} from './throttle.js'
export type { CheckedThrottleLimits, MemoryThrottleOptions, Throttle, ThrottleDecision, ThrottleLimits } from './throttle.js'
export { SCOPE_LIMITS, formatScope, parseScope, resolveScope } from './scope.js'
export { clientScopes, createClient, defaultResponseTypes, isPublicClient, isRegisteredRedirectUri, redirectUriProblem } from './client.js'
export type { BuiltinClientAuthMethod, Client, ClientInput } from './client.js'
export { claimedClientId, clientSecretBasic, clientSecretPost, noneAuth, parseBasicCredentials } from './client-auth.js'
export type { ClientAuthContext, ClientAuthMethod } from './client-auth.js'
export { opaqueTokens } from './token-strategy.js'
export { jwtAccessTokens } from './jwt-access-tokens.js'
export type { JwtAccessTokenAlgorithm, JwtAccessTokensOptions, JwtAccessTokenStrategy } from './jwt-access-tokens.js'
export type { OpaqueTokensOptions, TokenContext, TokenStrategy } from './token-strategy.js'
export { BaseGrant, isGrantClass } from './grant.js'
export type {
  AuthorizationHookContext,
  AuthorizationRequest,
  AuthorizationResponseHookContext,
  BeforeTokenHookContext,
  DeviceAuthorizationHookContext,
  GrantClass,
  GrantExtension,
  GrantHookName,
  GrantUser,
  IssueTokensOptions,
  TokenHookContext,
  TokenResponseBody,
  TokenResponseHookContext,
  AuthorizationApprovedHookContext,
  IssueTokensHookContext,
} from './grant.js'
export { AuthorizationServer } from './server.js'
export type { AuthorizationServerOptions, EndpointPaths, KeySource, ResolvedServerOptions, SecurityEvent, ServerStore } from './server.js'
export { isAuthorizationHandle } from './authorization-endpoint.js'
export type { AuthorizationHandle, AuthorizationRequestResolver, ResolvedAuthorizationRequest } from './authorization-endpoint.js'
export { DPOP_ALGORITHMS, bearerChallenge, bearerErrorResponse, boundThumbprint, dpopChallenge, jwkThumbprint, tokenAudiences, verifyDPoPProof } from './bearer.js'
export type { AccessTokenInfo, BearerRequirements, DPoPProofCheck, DPoPProofRequirements, VerifiedDPoPProof } from './bearer.js'
export type { Endpoint, EndpointClass, EndpointRoute } from './endpoint.js'
export { configError } from './config-error.js'
export type { ConfigError, ConfigErrorCode } from './config-error.js'
export { defaultErrorLogger, describeError, suppressRepeatedLines } from './log.js'
export type { ErrorLogger, ErrorLoggerOptions } from './log.js'
export { RETRY_AFTER_SECONDS, isTransientError } from './transient.js'
export type { GuardedTelemetry, Telemetry, TelemetryAttributes } from './telemetry.js'
export { STORE_CAPABILITY_METHODS, assertStoreCapabilities, storeHasCapability } from './store-capabilities.js'
export type { StoreCapability } from './store-capabilities.js'
export { createHttpHandler, toOutcome } from './http-handler.js'
export type { AuthorizeDecision, AuthorizeInteraction, CorsOptions, HttpHandler, HttpHandlerOptions, HttpOutcome, HttpRequest, HttpRequestHooks } from './http-handler.js'
export { DEFAULT_BODY_LIMIT, bodyTooLarge, readBody } from './http-body.js'
export type { BodyFormat, BodySource, ReadBody } from './http-body.js'
export { nodeBodySource } from './node-body.js'
export type { NodeReadableRequest } from './node-body.js'
export { createResourceGuard } from './resource-guard.js'
export type { ResourceGuardOptions, ResourceGuardResult, ResourceRequest } from './resource-guard.js'
export { errorPage, escapeHtml } from './error-page.js'
export { RevocationEndpoint } from './revocation-endpoint.js'
export { IntrospectionEndpoint } from './introspection-endpoint.js'
export { memoryStore } from './memory-store.js'
export type { MemoryStore } from './memory-store.js'
export type {
  AuthorizationCodeRecord,
  AuthorizationCodeStore,
  ClientStore,
  ConsumeResult,
  DeviceCodeRecord,
  DeviceCodeStore,
  DevicePollResult,
  FullStore,
  GrantkitStore,
  PurgeableStore,
  PurgeOptions,
  ReplayStore,
  RotateResult,
  TokenRecord,
  TokenStore,
  TokenType,
  UserRecord,
  UserStore,
} from './store.js'
export { codeDates, deviceCodeDates, purgeLimit, refuseInvalidDates, refuseInvalidTokenDates, tokenDates } from './store-dates.js'
export { purgeExpiredInBatches, schedulePurge } from './purge.js'
export { PROTECTED_RESOURCE_WELL_KNOWN, protectedResourceMetadata, protectedResourceMetadataOutcome, protectedResourceMetadataUrl } from './protected-resource-metadata.js'
export type { ProtectedResourceMetadata, ProtectedResourceMetadataOptions } from './protected-resource-metadata.js'
export type { PurgeBatchesOptions, PurgeSchedule, PurgeScheduleOptions } from './purge.js'
export type { RecordDates } from './store-dates.js'
