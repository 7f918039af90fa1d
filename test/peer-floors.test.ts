import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

// Issue 17, finding 11: the peer ranges of the adapters and stores must not
// admit framework or driver releases with public advisories (SECURITY.md,
// "Vulnerable framework or driver releases"). For each package, the first
// fixed release of every release line it may be used with; a range
// alternative on a line not listed here is refused too, so that widening a
// range (a new major) is a decision, not an accident.
const FIXED: Record<string, Record<string, string>> = {
  koa: { '3': '3.0.3' },
  'drizzle-orm': { '0.45': '0.45.2' },
  express: { '4': '4.21.2', '5': '5.1.0' },
  fastify: { '5': '5.3.2' },
}

type Version = readonly [major: number, minor: number, patch: number]

/** `x`, `x.y` or `x.y.z` (a partial version means its lowest release). */
function parseVersion(text: string): Version | null {
  const match = /^(\d+)(?:\.(\d+)(?:\.(\d+))?)?$/.exec(text)
  if (match === null) return null
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)]
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
}

/** A release line: the major, or `0.minor` below 1.0 (where a caret range stays within one minor). */
function lineOf(version: Version): string {
  return version[0] === 0 ? `0.${version[1]}` : String(version[0])
}

/**
 * The lowest version of each `||` alternative of a range: `^x.y.z`,
 * `>=x.y.z`, `~x.y.z` or an exact `x.y.z` (partial versions allowed). Any
 * other form (`*`, `x`-ranges, hyphen ranges, `<`, prereleases) is `null`:
 * the test then fails, asking for this parser to be taught the new form.
 */
function rangeFloors(range: string): Version[] | null {
  const floors: Version[] = []
  for (const alternative of range.split('||')) {
    const match = /^\s*(\^|~|>=)?\s*v?([\d.]+)\s*$/.exec(alternative)
    const version = match === null ? null : parseVersion(match[2] as string)
    if (version === null) return null
    floors.push(version)
  }
  return floors
}

/** Why `range` of `name` admits a release with an advisory, or `null` when it does not. */
function floorProblem(name: string, range: string): string | null {
  const fixed = FIXED[name]
  if (fixed === undefined) return null
  const floors = rangeFloors(range)
  if (floors === null) return `cannot read the range "${range}"`
  for (const floor of floors) {
    const first = fixed[lineOf(floor)]
    if (first === undefined) return `"${range}" admits the ${lineOf(floor)}.x line, which has no known fixed release here`
    if (compare(floor, parseVersion(first) as Version) < 0) return `"${range}" admits ${floor.join('.')}, below the fixed ${first}`
  }
  return null
}

interface Manifest {
  name: string
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

const root = new URL('..', import.meta.url).pathname
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Manifest
const packages = readdirSync(join(root, 'packages')).map((dir) => read(join(root, 'packages', dir, 'package.json')))
const workspaces = [...packages, read(join(root, 'examples', 'koa-server', 'package.json')), read(join(root, 'bench', 'package.json'))]

describe('peer ranges exclude framework and driver releases with advisories (issue 17, finding 11)', () => {
  describe('the range reader', () => {
    it.each([
      ['koa', '^3.0.3'],
      ['koa', '>=3.0.3'],
      ['koa', '3.3.0'],
      ['drizzle-orm', '^0.45.2'],
      ['drizzle-orm', '~0.45.4'],
      ['express', '^4.21.2 || ^5.1.0'],
      ['express', '>=5.1.0'],
      ['fastify', '^5.3.2'],
      ['mongodb', '^6'],
    ])('accepts %s %s', (name, range) => {
      expect(floorProblem(name, range)).toBeNull()
    })

    it.each([
      ['koa', '^3', /admits 3\.0\.0, below the fixed 3\.0\.3/],
      ['koa', '^3.0.2', /below the fixed 3\.0\.3/],
      ['koa', '^2.16.1 || ^3.0.3', /2\.x line/],
      ['drizzle-orm', '^0.45', /below the fixed 0\.45\.2/],
      ['drizzle-orm', '>=0.44.0', /0\.44\.x line/],
      ['express', '^4.21.2 || ^5.0.0', /admits 5\.0\.0, below the fixed 5\.1\.0/],
      ['express', '^4.21.1 || ^5.1.0', /below the fixed 4\.21\.2/],
      ['fastify', '>=5.3.1', /below the fixed 5\.3\.2/],
      ['fastify', '*', /cannot read/],
      ['fastify', '5.x', /cannot read/],
      ['fastify', '>=5.3.2 <6', /cannot read/],
    ])('refuses %s %s', (name, range, reason) => {
      expect(floorProblem(name, range)).toMatch(reason)
    })
  })

  it('finds the peer ranges it is meant to check', () => {
    const checked = packages.flatMap((p) => Object.keys(p.peerDependencies ?? {}).filter((name) => name in FIXED).map((name) => `${p.name} ${name}`))
    expect(checked.sort()).toEqual([
      '@grantkit/adapter-express express',
      '@grantkit/adapter-fastify fastify',
      '@grantkit/adapter-koa koa',
      '@grantkit/store-drizzle drizzle-orm',
    ])
  })

  it.each(packages.flatMap((p) => Object.entries(p.peerDependencies ?? {}).filter(([name]) => name in FIXED).map(([name, range]) => [p.name, name, range] as const)))(
    '%s: peerDependencies %s "%s" starts at a fixed release',
    (_pkg, name, range) => {
      expect(floorProblem(name, range)).toBeNull()
    },
  )

  it.each(
    workspaces.flatMap((p) =>
      (['dependencies', 'devDependencies'] as const).flatMap((field) =>
        Object.entries(p[field] ?? {}).filter(([name]) => name in FIXED).map(([name, range]) => [p.name, field, name, range] as const),
      ),
    ),
  )('%s: %s %s "%s" (what the tests and the demo run) is a fixed release', (_pkg, _field, name, range) => {
    expect(floorProblem(name, range)).toBeNull()
  })

  it.each(Object.keys(FIXED))('the installed %s is a fixed release', (name) => {
    const installed = read(join(root, 'node_modules', name, 'package.json')) as Manifest & { version: string }
    expect(floorProblem(name, installed.version)).toBeNull()
  })
})
