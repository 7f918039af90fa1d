export { CodeChallenge, createS256CodeChallenge } from './code-challenge.js'
export type { CodeChallengeMethod, CodeChallengeOptions } from './code-challenge.js'
