export { runAdapterContractSuite } from './run-adapter-contract-suite.js'
export type { AdapterContractOptions } from './run-adapter-contract-suite.js'
export { isPageAnswer } from './harness.js'
export type {
  AdapterHarness,
  AdapterSetup,
  HarnessAuthorizeAnswer,
  HarnessAuthorizeHook,
  HarnessOAuthOptions,
  HarnessRenderError,
  HarnessResourceOptions,
  PreBodyParser,
  ResourceAnswer,
  RunningAdapter,
} from './harness.js'
