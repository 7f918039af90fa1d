import { runPushedRequestStoreContractSuite } from '@grantkit/store-test-suite'
import { memoryPushedRequestStore } from './pushed-request-store.js'

// The per-process default runs the same checks as the stores' shared ones (all but the cross-connection and purge checks).
runPushedRequestStoreContractSuite('memoryPushedRequestStore', async () => ({ store: memoryPushedRequestStore(), close: async () => {} }), { shared: false })
