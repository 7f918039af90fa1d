import { createHash } from 'node:crypto'

/**
 * The one fixture every target serves: a confidential client using
 * client_secret_basic, allowed every benchmarked grant, and one user.
 */
export const FIXTURE = {
  clientId: 'bench-client',
  // A server-generated-looking secret (256 bits of base64url), as the ones a real deployment hands out.
  clientSecret: 'q8J2sF0dX5vLkP1wN7tR4yB9cH3mZ6aE2uG8iO0pQ1s',
  grants: ['client_credentials', 'password', 'refresh_token', 'authorization_code'] as const,
  scope: 'read write',
  redirectUri: 'http://127.0.0.1/cb',
  username: 'alice',
  password: 'wonderland',
  userId: 'user-alice',
  // RFC 7636 PKCE pair sent with every pre-minted code (S256).
  codeVerifier: 'bench-code-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG',
} as const

export const CODE_CHALLENGE = createHash('sha256').update(FIXTURE.codeVerifier).digest('base64url')

export const BASIC_AUTHORIZATION = 'Basic ' + Buffer.from(`${FIXTURE.clientId}:${FIXTURE.clientSecret}`).toString('base64')

/** A token response with a fixed body, served by the two floor targets. */
export const FIXED_TOKEN_RESPONSE = JSON.stringify({
  access_token: 'Vq3zv8m1c7yXo2bLr9KsW4dN6fQ0hT5uJ8gP1eA3iZc',
  token_type: 'Bearer',
  expires_in: 3600,
  scope: FIXTURE.scope,
})

export const SCENARIOS = ['client_credentials', 'password', 'refresh_token', 'authorization_code'] as const
export type Scenario = (typeof SCENARIOS)[number]

/** What a scenario consumes from a target's pre-minted pools. */
export type PoolKind = 'refresh_token' | 'authorization_code'

export function poolOf(scenario: Scenario): PoolKind | null {
  return scenario === 'refresh_token' || scenario === 'authorization_code' ? scenario : null
}

/** The form body of one token request of a scenario; `credential` is the pooled refresh token or code. */
export function tokenRequestBody(scenario: Scenario, credential?: string): string {
  switch (scenario) {
    case 'client_credentials':
      return 'grant_type=client_credentials&scope=read%20write'
    case 'password':
      return `grant_type=password&username=${FIXTURE.username}&password=${FIXTURE.password}&scope=read%20write`
    case 'refresh_token':
      return `grant_type=refresh_token&refresh_token=${encodeURIComponent(credential ?? '')}`
    case 'authorization_code':
      return (
        `grant_type=authorization_code&code=${encodeURIComponent(credential ?? '')}` +
        `&redirect_uri=${encodeURIComponent(FIXTURE.redirectUri)}&code_verifier=${FIXTURE.codeVerifier}`
      )
  }
}
