export { OAuthError, invalidClient, invalidGrant, invalidRequest, invalidScope, isOAuthError, unauthorizedClient } from './errors.js'
export type { ErrorRedirect, OAuthErrorCode, OAuthErrorOptions } from './errors.js'
export { createOAuthRequest, getHeader, getParam, parseFormEncoded, requireParam } from './request.js'
export type { OAuthRequest, OAuthRequestInit, RequestHeaders } from './request.js'
export { errorResponse, jsonResponse, redirectResponse } from './response.js'
export type { OAuthResponse } from './response.js'
export { generateToken, hashSecret, hashToken, timingSafeEqualString, verifySecret } from './secrets.js'
export type { SecretHashAlgorithm } from './secrets.js'
export { formatScope, parseScope, resolveScope } from './scope.js'
export { clientScopes, createClient, isPublicClient } from './client.js'
export type { BuiltinClientAuthMethod, Client, ClientInput } from './client.js'
export { clientSecretBasic, clientSecretPost, noneAuth, parseBasicCredentials } from './client-auth.js'
export type { ClientAuthContext, ClientAuthMethod } from './client-auth.js'
export { opaqueTokens } from './token-strategy.js'
export { jwtAccessTokens } from './jwt-access-tokens.js'
export type { JwtAccessTokenAlgorithm, JwtAccessTokensOptions, JwtAccessTokenStrategy } from './jwt-access-tokens.js'
export type { OpaqueTokensOptions, TokenContext, TokenStrategy } from './token-strategy.js'
export { BaseGrant } from './grant.js'
export type {
  AuthorizationHookContext,
  AuthorizationRequest,
  AuthorizationResponseHookContext,
  GrantClass,
  GrantExtension,
  GrantHookName,
  GrantUser,
  IssueTokensOptions,
  TokenHookContext,
  TokenResponseBody,
  TokenResponseHookContext,
} from './grant.js'
export { AuthorizationServer } from './server.js'
export type { AccessTokenInfo, AuthorizationServerOptions, EndpointPaths, ResolvedServerOptions, SecurityEvent } from './server.js'
export type { Endpoint, EndpointClass } from './endpoint.js'
export { RevocationEndpoint } from './revocation-endpoint.js'
export { IntrospectionEndpoint } from './introspection-endpoint.js'
export { memoryStore } from './memory-store.js'
export type { MemoryStore } from './memory-store.js'
export type {
  AuthorizationCodeRecord,
  AuthorizationCodeStore,
  ClientStore,
  ConsumeResult,
  FullStore,
  GrantkitStore,
  PurgeableStore,
  ReplayStore,
  RotateResult,
  TokenRecord,
  TokenStore,
  TokenType,
  UserRecord,
  UserStore,
} from './store.js'
