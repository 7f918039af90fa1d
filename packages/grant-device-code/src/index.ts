export { DEVICE_CODE_GRANT_TYPE, DeviceCodeGrant } from './device-code-grant.js'
export type { DeviceCodeGrantClass } from './device-code-grant.js'
export { DeviceAuthorizationEndpoint } from './device-authorization-endpoint.js'
export type { DeviceAuthorizationResponseBody } from './device-authorization-endpoint.js'
export { deviceVerification } from './device-verification.js'
export type {
  ApprovedDeviceAuthorization,
  DeviceApproveOptions,
  DeviceVerification,
  DeviceVerificationCallOptions,
  DeviceVerificationError,
  DeviceVerificationFailure,
  DeviceVerificationOptions,
  PendingDeviceAuthorization,
} from './device-verification.js'
export { memoryAttemptLimiter } from './attempt-limiter.js'
export type { AttemptLimiter, MemoryAttemptLimiterOptions } from './attempt-limiter.js'
