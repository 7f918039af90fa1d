export { RESOURCES_EXTRA, ResourceIndicators, audienceClaim, resourceProblem } from './resource-indicators.js'
export type { AllowedResources, ResourceIndicatorsOptions, ResourceRequestContext } from './resource-indicators.js'
