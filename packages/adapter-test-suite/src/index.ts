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
export {
  CLIENT_FORM,
  CLIENT_ID,
  CLIENT_SECRET,
  FORM,
  ISSUER,
  REDIRECT_URI,
  RESOURCE,
  TOKENS,
  TestClientCredentialsGrant,
  TestCodeGrant,
  authorizeQuery,
  basicAuth,
  testServer,
} from './fixtures.js'
export type { TestServer, TestServerOptions } from './fixtures.js'
