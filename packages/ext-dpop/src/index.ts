export { DPOP_SIGNING_ALGORITHMS, DPoP } from './dpop.js'
export type { DPoPOptions, DPoPSigningAlgorithm, TokenEndpointProof } from './dpop.js'
