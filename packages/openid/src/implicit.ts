// `@grantkit/openid/implicit`: needs `@grantkit/grant-implicit` installed.
export { OpenIDImplicitGrant } from './implicit-grant.js'
