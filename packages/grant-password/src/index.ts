export { ResourceOwnerPasswordCredentialsGrant } from './resource-owner-password-credentials-grant.js'
export { authenticateStoreUser } from './authenticate-store-user.js'
export type { AuthenticateStoreUserOptions } from './authenticate-store-user.js'
