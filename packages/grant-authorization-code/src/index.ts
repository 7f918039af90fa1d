export { AuthorizationCodeGrant } from './authorization-code-grant.js'
