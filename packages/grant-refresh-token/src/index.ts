export { RefreshTokenGrant } from './refresh-token-grant.js'
