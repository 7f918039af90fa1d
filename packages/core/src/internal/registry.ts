import type { KeySource } from '../server.js'
import type { AuthorizationRequestResolver } from '../authorization-endpoint.js'
import type { ClientAuthMethod } from '../client-auth.js'
import { configError } from '../config-error.js'
import type { Endpoint, EndpointClass } from '../endpoint.js'
import { isGrantClass, type GrantClass, type GrantExtension } from '../grant.js'
import type { AuthorizationServer } from '../server.js'
import { assertStoreCapabilities, type StoreCapability } from '../store-capabilities.js'

/** A grant class with the extensions it was registered with. */
export interface RegisteredGrant {
  readonly grantClass: GrantClass
  readonly extensions: readonly GrantExtension[]
}

/** `code id_token` and `id_token code` are one response type (RFC 6749 §3.1.1: order does not matter). */
export function normalizeResponseType(value: string): string {
  return value.split(' ').filter((s) => s !== '').sort().join(' ')
}

/**
 * What a server has registered: grants by grant type and response type,
 * client authentication methods and endpoints. Every check of a
 * registration happens here, once, with a `TypeError` carrying a `code`.
 */
export class Registry {
  readonly tokenGrants = new Map<string, RegisteredGrant>()
  readonly authorizationGrants = new Map<string, RegisteredGrant>()
  readonly grants: RegisteredGrant[] = []
  readonly clientAuthMethods = new Map<string, ClientAuthMethod>()
  readonly endpoints = new Map<string, Endpoint>()
  readonly authorizationRequestResolvers: AuthorizationRequestResolver[] = []
  readonly keySources: KeySource[] = []

  addGrant(server: AuthorizationServer, grantClass: GrantClass, extensions: readonly GrantExtension[]): void {
    if (!isGrantClass(grantClass)) throw configError('registerGrant: expected a class extending BaseGrant')
    if (!Array.isArray(extensions) || extensions.some((e) => typeof e !== 'object' || e === null)) {
      throw configError('registerGrant: extensions must be an array of extension objects')
    }
    const name = grantClass.name || 'grant'
    // The class's own statics first (a subclass may check more and call super).
    if (typeof grantClass.validateConfiguration === 'function') grantClass.validateConfiguration(server)
    if (grantClass.TOKEN_ENDPOINT && this.tokenGrants.has(grantClass.GRANT_TYPE as string)) {
      throw configError(`registerGrant: grant type "${grantClass.GRANT_TYPE}" is already registered`, 'ERR_GRANTKIT_DUPLICATE')
    }
    const responseTypes = grantClass.AUTHORIZATION_ENDPOINT ? grantClass.RESPONSE_TYPES.map(normalizeResponseType) : []
    for (const type of responseTypes) {
      if (this.authorizationGrants.has(type)) throw configError(`registerGrant: response type "${type}" is already registered`, 'ERR_GRANTKIT_DUPLICATE')
    }
    assertStoreCapabilities(server.store, grantClass.STORE_CAPABILITIES as readonly StoreCapability[], `registerGrant: ${name}`)
    const frozen = Object.freeze([...extensions])
    for (const extension of frozen) extension.register?.(grantClass, server)
    const registered: RegisteredGrant = { grantClass, extensions: frozen }
    if (grantClass.TOKEN_ENDPOINT) this.tokenGrants.set(grantClass.GRANT_TYPE as string, registered)
    for (const type of responseTypes) this.authorizationGrants.set(type, registered)
    this.grants.push(registered)
  }

  addClientAuthMethod(name: string, method: ClientAuthMethod): void {
    if (typeof name !== 'string' || name === '') throw configError('registerClientAuthMethod: name must be a non-empty string')
    if (typeof method !== 'object' || method === null || typeof method.matches !== 'function' || typeof method.authenticate !== 'function') {
      throw configError('registerClientAuthMethod: method must have matches() and authenticate()')
    }
    this.clientAuthMethods.set(name, method)
  }

  addEndpoint(server: AuthorizationServer, endpointClass: EndpointClass): void {
    if (typeof endpointClass !== 'function' || typeof endpointClass.ENDPOINT_NAME !== 'string' || endpointClass.ENDPOINT_NAME === '') {
      throw configError('registerEndpoint: expected an endpoint class with a static ENDPOINT_NAME')
    }
    const name = endpointClass.ENDPOINT_NAME
    if (this.endpoints.has(name)) throw configError(`registerEndpoint: endpoint "${name}" is already registered`, 'ERR_GRANTKIT_DUPLICATE')
    const capabilities = endpointClass.STORE_CAPABILITIES ?? []
    assertStoreCapabilities(server.store, capabilities, `registerEndpoint: ${name}`)
    const endpoint = new endpointClass(server)
    if (typeof endpoint.handle !== 'function') throw configError('registerEndpoint: the endpoint has no handle()')
    this.endpoints.set(name, endpoint)
  }

  /** Whether the grant serving `grantType` accepts the authentication method `method`. */
  grantAcceptsMethod(grantType: string, method: string): boolean {
    const registered = this.tokenGrants.get(grantType)
    return registered !== undefined && registered.grantClass.TOKEN_ENDPOINT_AUTH_METHODS.includes(method)
  }
}
