// Summarises a V8 .cpuprofile: top functions by self time, and self time grouped by package/area.
// Usage: node bench/scripts/summarize-profile.mjs <file.cpuprofile> [top=25]
/* global process, console */
import { readFileSync } from 'node:fs'

const [file, topArg] = process.argv.slice(2)
if (!file) throw new Error('usage: summarize-profile.mjs <file.cpuprofile> [top]')
const profile = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const dt = new Map()
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]
  dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
}
const total = [...dt.values()].reduce((a, b) => a + b, 0)
const area = (url, name) => {
  if (name === '(garbage collector)') return 'GC'
  if (name === '(idle)' || name === '(program)') return name
  if (!url) return 'native/V8 builtins'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? /packages\/([^/]+)\//.exec(url)?.[1]
  if (pkg) return pkg.startsWith('@grantkit') || !url.includes('node_modules') ? `@grantkit/${pkg.replace('@grantkit/', '')}` : pkg
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`
  return url.replace(/^.*\/work\/main\//, '')
}
const fns = new Map()
const areas = new Map()
for (const [id, time] of dt) {
  const { callFrame: f } = byId.get(id)
  const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|packages)\//, '')}:${f.lineNumber + 1}`
  fns.set(key, (fns.get(key) ?? 0) + time)
  const a = area(f.url, f.functionName)
  areas.set(a, (areas.get(a) ?? 0) + time)
}
const pct = (t) => ((100 * t) / total).toFixed(1).padStart(5) + '%'
console.log(`total ${(total / 1e6).toFixed(1)} s sampled\n\nself time by area:`)
for (const [a, t] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 20)) console.log(`${pct(t)}  ${a}`)
console.log(`\ntop ${topArg ?? 25} functions by self time:`)
for (const [k, t] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, Number(topArg ?? 25))) console.log(`${pct(t)}  ${k}`)
