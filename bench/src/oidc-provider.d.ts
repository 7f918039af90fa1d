// oidc-provider 8 ships no types; the target uses it untyped.
declare module 'oidc-provider' {
  /* eslint-disable @typescript-eslint/no-explicit-any */
  export type AdapterPayload = Record<string, any>
  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void>
    find(id: string): Promise<AdapterPayload | undefined>
  }
  const Provider: any
  export default Provider
}
