import { readFile, writeFile } from 'node:fs/promises'
import { configError, emptyResponse, getParam, redirectResponse, type AuthorizationServer, type FullStore, type GrantExtension, type GrantUser } from '@grantkit/core'
import {
  DiscoveryEndpoint,
  EndSessionEndpoint,
  ID_TOKEN_ALGORITHMS,
  OpenIDCode,
  OpenIDKeySet,
  OpenIDProvider,
  UserInfoEndpoint,
  type ExportedOpenIDKey,
} from '@grantkit/openid'
import { OpenIDHybridGrant, authorizationHooks } from '@grantkit/openid/hybrid'
import { OpenIDImplicitGrant } from '@grantkit/openid/implicit'

/** The algorithms of the key set generated at start: RS256 (the default, Discovery §3) and every other one the package signs with. */
export const GENERATED_ALGORITHMS = ID_TOKEN_ALGORITHMS

/** A user's OpenID Connect claims from the seed (Core §5.1), kept by user id. */
export interface UserClaims {
  readonly name?: string | undefined
  readonly email?: string | undefined
  readonly email_verified?: boolean | undefined
}

/**
 * The ID token keys: generated in memory when `file` is absent (they then
 * live as long as the process: one process only, and relying parties must
 * fetch the JWK Set again after a restart); with `OAUTH_OIDC_KEY_FILE`,
 * read from that file, which holds `OpenIDKeySet.export()` and is created
 * (mode 0600, never overwritten) when missing, so that restarts and every
 * process serving the issuer sign with the same keys.
 */
export async function loadKeySet(file: string | undefined): Promise<OpenIDKeySet> {
  if (file === undefined) return OpenIDKeySet.generate(GENERATED_ALGORITHMS)
  let text: string | undefined
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw configError(`OAUTH_OIDC_KEY_FILE: cannot read ${file}: ${(error as Error).message}`)
  }
  if (text === undefined) {
    const keys = OpenIDKeySet.generate(GENERATED_ALGORITHMS)
    try {
      // `wx`: a file another process created in the meantime is not replaced (it is read below instead).
      await writeFile(file, JSON.stringify(keys.export()), { mode: 0o600, flag: 'wx' })
      return keys
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw configError(`OAUTH_OIDC_KEY_FILE: cannot create ${file}: ${(error as Error).message}`)
      text = await readFile(file, 'utf8')
    }
  }
  let exported: ExportedOpenIDKey[]
  try {
    exported = JSON.parse(text) as ExportedOpenIDKey[]
  } catch {
    // Not V8's message: it can quote the text around the mistake, and the file holds private keys.
    throw configError(`OAUTH_OIDC_KEY_FILE: ${file} is not valid JSON`)
  }
  try {
    return OpenIDKeySet.from(exported)
  } catch (error) {
    throw configError(`OAUTH_OIDC_KEY_FILE: ${file} is not an exported key set: ${(error as Error).message}`)
  }
}

/**
 * The claims `findClaims` releases (the provider keeps those the scopes
 * grant, Core §5.4): `preferred_username` from the store's username, and
 * `name`, `email`, `email_verified` from the seed's user.
 */
export function userClaims(store: FullStore, claims: ReadonlyMap<string, UserClaims>) {
  return async (userId: string): Promise<Record<string, unknown> | null> => {
    const user = await store.findUserById(userId)
    if (user === null) return null
    return { preferred_username: user.username, ...claims.get(userId) }
  }
}

/** The user of a login session, by id (`null` once deleted). */
export function findSessionUser(store: FullStore) {
  return async (id: string): Promise<GrantUser | null> => {
    const user = await store.findUserById(id)
    return user === null ? null : { id: user.id, username: user.username }
  }
}

/** What {@link installOpenID} needs of the demo server's options. */
export interface OpenIDOptions {
  readonly issuer: string
  readonly store: FullStore
  readonly openidKeys?: OpenIDKeySet | undefined
  readonly userClaims?: ReadonlyMap<string, UserClaims> | undefined
  readonly endSessionCookie?: ((secure: boolean) => string) | undefined
}

/**
 * Installs the demo's OpenID Provider on `server` (before the grants are
 * registered) and answers the `OpenIDCode` extension for the code and
 * refresh grants: ID tokens from the token endpoint (Core §3.1.3.3), the
 * nonce optional in the code flow and carried when sent (§3.1.2.1), a
 * fresh ID token on each refresh (§12.2).
 */
export function installOpenID(server: AuthorizationServer, options: OpenIDOptions): OpenIDCode {
  const secure = new URL(options.issuer).protocol === 'https:'
  new OpenIDProvider({
    keys: options.openidKeys ?? OpenIDKeySet.generate(GENERATED_ALGORITHMS),
    findClaims: userClaims(options.store, options.userClaims ?? new Map()),
    // RP-Initiated Logout 1.0 §2: clear the login session, then send the user where the endpoint would have.
    endSession: ({ request, postLogoutRedirectUri }) => {
      const clear = options.endSessionCookie?.(secure)
      if (clear === undefined) return undefined
      const state = getParam(request.method === 'POST' ? request.body : request.query, 'state')
      const answer = postLogoutRedirectUri === null ? emptyResponse(204) : redirectResponse(postLogoutRedirectUri, { state }, 'query')
      return { ...answer, headers: { ...answer.headers, 'set-cookie': clear } }
    },
  }).install(server)
  return new OpenIDCode({ requireNonce: false })
}

/**
 * The OpenID flows besides the code flow, for clients registered for them:
 * implicit (`id_token`, `id_token token`, Core §3.2) and hybrid
 * (`code id_token`, `code token`, `code id_token token`, §3.3; PKCE read by
 * the code grant's `pkce`), and the endpoints: discovery (Discovery §4),
 * UserInfo (Core §5.3) and RP-initiated logout.
 */
export function registerOpenIDFlows(server: AuthorizationServer, pkce: GrantExtension, authMethods: readonly string[]): void {
  class DemoOpenIDImplicitGrant extends OpenIDImplicitGrant {
    // No client authentication happens at the authorization endpoint; the registration decides.
    static override TOKEN_ENDPOINT_AUTH_METHODS: readonly string[] = authMethods
  }
  server.registerGrant(DemoOpenIDImplicitGrant)
  server.registerGrant(OpenIDHybridGrant, [authorizationHooks(pkce)])
  server.registerEndpoint(DiscoveryEndpoint).registerEndpoint(UserInfoEndpoint).registerEndpoint(EndSessionEndpoint)
}
