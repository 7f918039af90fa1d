// `@grantkit/openid/hybrid`: needs `@grantkit/grant-authorization-code` installed.
export { OpenIDHybridGrant, authorizationHooks } from './hybrid-grant.js'
