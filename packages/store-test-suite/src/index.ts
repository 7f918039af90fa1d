export { runStoreContractSuite } from './run-store-contract-suite.js'
export type { StoreContractOptions, StoreHarness } from './run-store-contract-suite.js'
