import { hashSecret, verifySecret, type GrantUser, type UserStore } from '@grantkit/core'

// A scrypt hash to verify against when the username is unknown, made once on
// first use, so that an unknown user costs as much as a wrong password and
// timing does not tell which usernames exist.
let dummyHash: Promise<string> | undefined

/**
 * Checks a username and password against a {@link UserStore} (the built-in
 * stores are): finds the user with `findUserByUsername` and verifies the
 * password against its `passwordHash` in constant time. An unknown user
 * spends the same work on a dummy scrypt hash. Returns `{ id, username }`,
 * or `null` when the credentials are wrong.
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
): Promise<GrantUser | null> {
  const user = await store.findUserByUsername(username)
  if (user === null) {
    await verifySecret(password, await (dummyHash ??= hashSecret('grantkit:unknown-user', 'scrypt')))
    return null
  }
  return (await verifySecret(password, user.passwordHash)) ? { id: user.id, username: user.username } : null
}
