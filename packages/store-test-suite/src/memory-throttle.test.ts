import { memoryThrottle } from '@grantkit/core'
import { runThrottleContractSuite } from './index.js'

// core's per-process throttle runs the same checks as the stores' shared ones (all but the cross-connection and purge checks).
runThrottleContractSuite('memoryThrottle', async () => ({ throttle: (limits) => memoryThrottle(limits), close: async () => {} }), { shared: false })
