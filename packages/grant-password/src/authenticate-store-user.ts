import { dummySecretHash, verifySecret, type GrantUser, type ScryptParameters, type UserStore } from '@grantkit/core'

/** Options of {@link authenticateStoreUser}. */
export interface AuthenticateStoreUserOptions {
  /**
   * The scrypt cost the passwords are hashed with (`hashSecret(password,
   * 'scrypt', { scrypt })`), so that an unknown user's dummy verification
   * costs the same. Default: core's `DEFAULT_SCRYPT_PARAMETERS`.
   */
  readonly scrypt?: ScryptParameters
}

/**
 * Checks a username and password against a {@link UserStore} (the built-in
 * stores are): finds the user with `findUserByUsername` and verifies the
 * password against its `passwordHash` in constant time. An unknown user
 * verifies against core's dummy scrypt hash (`dummySecretHash`), so it
 * costs as much as a wrong password and timing does not tell which
 * usernames exist. Returns `{ id, username }`, or `null` when the
 * credentials are wrong.
 *
 * @example
 * ```ts
 * class PasswordGrant extends ResourceOwnerPasswordCredentialsGrant {
 *   authenticateUser(username: string, password: string) {
 *     return authenticateStoreUser(store, username, password)
 *   }
 * }
 * ```
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.3.2
 */
export async function authenticateStoreUser(
  store: Pick<UserStore, 'findUserByUsername'>,
  username: string,
  password: string,
  options: AuthenticateStoreUserOptions = {},
): Promise<GrantUser | null> {
  const user = await store.findUserByUsername(username)
  if (user === null) {
    await verifySecret(password, await dummySecretHash(options.scrypt))
    return null
  }
  return (await verifySecret(password, user.passwordHash)) ? { id: user.id, username: user.username } : null
}
