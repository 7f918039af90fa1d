export { REQUEST_URI_PREFIX, pushedAuthorizationRequestEndpoint } from './pushed-authorization-request-endpoint.js'
export type { PushedAuthorizationRequestEndpoint, PushedAuthorizationRequestEndpointClass, PushedAuthorizationRequestOptions } from './pushed-authorization-request-endpoint.js'
export { memoryPushedRequestStore } from './pushed-request-store.js'
export type { PushedRequestRecord, PushedRequestStore } from './pushed-request-store.js'
