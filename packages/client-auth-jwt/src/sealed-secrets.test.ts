import { describe, expect, it } from 'vitest'
import { sealedClientSecrets } from './sealed-secrets.js'

const KEY = 'cd'.repeat(32)

describe('sealedClientSecrets (AES-256-GCM, bound to the client_id)', () => {
  it('opens what it sealed, and seals the same secret differently each time', () => {
    const secrets = sealedClientSecrets(KEY)
    const a = secrets.seal('svc', 'the secret')
    const b = secrets.seal('svc', 'the secret')
    expect(a).not.toBe(b)
    expect(a).not.toContain('the secret')
    expect(secrets.open('svc', a)).toBe('the secret')
    expect(secrets.resolveSecret({ clientId: 'svc', metadata: { sealed_client_secret: b } } as never)).toBe('the secret')
  })

  it('does not open a value sealed for another client, with another key, or altered', () => {
    const secrets = sealedClientSecrets(KEY)
    const sealed = secrets.seal('svc', 'the secret')
    expect(secrets.open('other', sealed)).toBeNull()
    expect(sealedClientSecrets(new Uint8Array(32)).open('svc', sealed)).toBeNull()
    const [version, nonce, body] = sealed.split('.') as [string, string, string]
    const flipped = body.slice(0, 4) + (body[4] === 'A' ? 'B' : 'A') + body.slice(5)
    expect(secrets.open('svc', `${version}.${nonce}.${flipped}`)).toBeNull()
    for (const bad of ['', 'v1', 'v2.a.b', 'v1.a.b', `${sealed}.x`, 'v1.AAAAAAAAAAAAAAAA.AA']) expect(secrets.open('svc', bad)).toBeNull()
  })

  it('resolves null for a client without a sealed secret', () => {
    const secrets = sealedClientSecrets(KEY)
    expect(secrets.resolveSecret({ clientId: 'svc' } as never)).toBeNull()
    expect(secrets.resolveSecret({ clientId: 'svc', metadata: { sealed_client_secret: 42 } } as never)).toBeNull()
  })

  it.each([['a short key', 'abcd'], ['a 31-byte key', new Uint8Array(31)], ['not hex', 'zz'.repeat(32)]])('refuses %s (TypeError)', (_name, key) => {
    expect(() => sealedClientSecrets(key)).toThrow(TypeError)
  })
})
