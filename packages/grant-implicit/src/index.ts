export { ImplicitGrant } from './implicit-grant.js'
