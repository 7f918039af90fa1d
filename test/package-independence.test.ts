import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

// Keep the core tiny and the packages independent: a user who installs only
// grant-client-credentials must not pull in Koa, drizzle or mongodb, and an
// adapter brings its own framework only. Each published package may depend
// on exactly these.
const ALLOWED: Record<string, readonly string[]> = {
  '@grantkit/core': [],
  '@grantkit/store-test-suite': ['@grantkit/core', 'vitest'],
  '@grantkit/grant-authorization-code': ['@grantkit/core'],
  '@grantkit/grant-implicit': ['@grantkit/core'],
  '@grantkit/grant-password': ['@grantkit/core'],
  '@grantkit/grant-client-credentials': ['@grantkit/core'],
  '@grantkit/grant-refresh-token': ['@grantkit/core'],
  '@grantkit/grant-token-exchange': ['@grantkit/core'],
  '@grantkit/grant-jwt-bearer': ['@grantkit/core', 'jose'],
  '@grantkit/ext-pkce': ['@grantkit/core'],
  '@grantkit/adapter-koa': ['@grantkit/core', 'koa', '@koa/router', '@types/koa'],
  '@grantkit/adapter-express': ['@grantkit/core', 'express'],
  '@grantkit/adapter-fastify': ['@grantkit/core', 'fastify'],
  '@grantkit/adapter-fetch': ['@grantkit/core'],
  '@grantkit/adapter-test-suite': ['@grantkit/core', 'vitest'],
  '@grantkit/grant-device-code': ['@grantkit/core'],
  '@grantkit/store-drizzle': ['@grantkit/core', 'drizzle-orm', 'better-sqlite3', 'pg'],
  '@grantkit/store-mongo': ['@grantkit/core', 'mongodb'],
  '@grantkit/safe-fetch': [],
  '@grantkit/client-registration': ['@grantkit/core'],
  '@grantkit/ext-resource-indicators': ['@grantkit/core'],
  '@grantkit/openid': ['@grantkit/core', '@grantkit/grant-authorization-code', '@grantkit/grant-implicit', 'jose'],
  '@grantkit/client-auth-jwt': ['@grantkit/core', '@grantkit/safe-fetch', 'jose'],
  '@grantkit/ext-dpop': ['@grantkit/core'],
  '@grantkit/par': ['@grantkit/core'],
  '@grantkit/client-metadata-document': ['@grantkit/core', '@grantkit/safe-fetch'],
}

const root = new URL('..', import.meta.url).pathname
const packages = readdirSync(join(root, 'packages')).map((dir) => {
  const path = join(root, 'packages', dir)
  const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as {
    name: string
    private?: boolean
    dependencies?: Record<string, string>
    peerDependencies?: Record<string, string>
  }
  return { dir, path, manifest }
})
const published = packages.filter((p) => p.manifest.private !== true)
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)])

// import … from "x" / export … from "x" at the start of a statement, import "x", import("x"), require("x").
// (A `from "…"` inside a string, e.g. an error message, is not an import.)
const IMPORT_PATTERNS = [
  /^\s*(?:import|export)\b[^'";]*?\bfrom\s*["']([^"'./][^"']*)["']/gm,
  /^\s*import\s*["']([^"'./][^"']*)["']/gm,
  /\bimport\s*\(\s*["']([^"'./][^"']*)["']\s*\)/g,
  /\brequire\s*\(\s*["']([^"'./][^"']*)["']\s*\)/g,
]

/** The bare module specifiers a built file imports or requires, as written. */
function specifiersOf(source: string): string[] {
  return IMPORT_PATTERNS.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1] as string))
}

/** The packages a built file imports or requires (`node:builtin` dropped). */
function importedModules(file: string): string[] {
  const source = readFileSync(file, 'utf8')
  const found = new Set<string>()
  for (const specifier of specifiersOf(source)) {
    const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string)
    found.add(builtins.has(specifier) || builtins.has(name) ? 'node:builtin' : name)
  }
  found.delete('node:builtin')
  return [...found].sort()
}

describe('package independence ("keep the core tiny and the packages independent")', () => {
  it('knows every published package', () => {
    expect(published.map((p) => p.manifest.name).sort()).toEqual(Object.keys(ALLOWED).sort())
  })

  describe.each(published.map((p) => [p.manifest.name, p] as const))('%s', (name, pkg) => {
    const allowed = ALLOWED[name] ?? []

    it('declares only its allowed runtime and peer dependencies', () => {
      const declared = [...Object.keys(pkg.manifest.dependencies ?? {}), ...Object.keys(pkg.manifest.peerDependencies ?? {})]
      expect(declared.filter((d) => !allowed.includes(d))).toEqual([])
    })

    it('imports nothing else from its built files (no dependency bundled or pulled in by accident)', () => {
      for (const file of ['dist/index.js', 'dist/index.cjs']) {
        const path = join(pkg.path, file)
        expect(existsSync(path), `${name}: ${file} is missing — build first (npm test does)`).toBe(true)
        expect(importedModules(path).filter((m) => !allowed.includes(m))).toEqual([])
      }
    })
  })

  it('keeps @grantkit/adapter-fetch on Web standards: its built files import no Node built-in', () => {
    const pkg = published.find((p) => p.manifest.name === '@grantkit/adapter-fetch')
    expect(pkg, 'adapter-fetch is a published package').toBeDefined()
    for (const file of ['dist/index.js', 'dist/index.cjs']) {
      const source = readFileSync(join(pkg!.path, file), 'utf8')
      expect(specifiersOf(source).filter((s) => builtins.has(s) || builtins.has(s.split('/')[0] as string))).toEqual([])
    }
  })
})
