import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

// Hono, Next.js (edge), Bun, Deno and Workers run this package: it may use
// Web APIs only. internal/testing.ts is the tests' Node host, never imported by index.ts.
const dir = new URL('.', import.meta.url).pathname
const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && file !== join('internal', 'testing.ts'))
  .sort()

describe('web standards only', () => {
  it('has sources to check', () => {
    expect(sources).toEqual(expect.arrayContaining(['index.ts', 'oauth-handler.ts', 'require-token.ts']))
  })

  it.each(sources)('%s imports no Node module and uses no Node global', (file) => {
    const source = readFileSync(join(dir, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
    const imports = [...source.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2])
    expect(imports.filter((m) => !(m?.startsWith('.') || m === '@grantkit/core'))).toEqual([])
    expect(source).not.toMatch(/\b(Buffer|process|__dirname|__filename|setImmediate)\b|\brequire\s*\(|\bglobal\./)
  })

  it('no source imports the Node test host', () => {
    for (const file of sources) expect(readFileSync(join(dir, file), 'utf8')).not.toContain('testing.js')
  })
})
