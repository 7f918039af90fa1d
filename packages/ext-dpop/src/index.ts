export { DPOP_SIGNING_ALGORITHMS, DPoP } from './dpop.js'
export type { DPoPOptions, DPoPSigningAlgorithm } from './dpop.js'
