export { ClientCredentialsGrant } from './client-credentials-grant.js'
