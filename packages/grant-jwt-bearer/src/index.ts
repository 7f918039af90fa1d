export { JWTBearerGrant, JWT_BEARER_GRANT_TYPE } from './jwt-bearer-grant.js'
export type { AssertionVerificationKey } from './jwt-bearer-grant.js'
