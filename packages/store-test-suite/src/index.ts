export { runStoreContractSuite } from './run-store-contract-suite.js'
export type { StoreContractOptions, StoreHarness } from './run-store-contract-suite.js'
export { runThrottleContractSuite } from './run-throttle-contract-suite.js'
export type { ThrottleContractOptions, ThrottleHarness, ThrottleLimitOptions } from './run-throttle-contract-suite.js'
export { runPushedRequestStoreContractSuite } from './run-pushed-request-store-contract-suite.js'
export type {
  PushedRequestRecordShape,
  PushedRequestStoreContractOptions,
  PushedRequestStoreHarness,
  PushedRequestStoreShape,
} from './run-pushed-request-store-contract-suite.js'
