#!/usr/bin/env node
// Runs publint --strict and attw --pack (node16 profile) on every published
// package (packages/* whose package.json is not private). Build first.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (name) => join(root, 'node_modules', '.bin', name)
const failures = []

for (const dir of readdirSync(join(root, 'packages')).sort()) {
  const cwd = join(root, 'packages', dir)
  const pjPath = join(cwd, 'package.json')
  if (!existsSync(pjPath)) continue
  const pj = JSON.parse(readFileSync(pjPath, 'utf8'))
  if (pj.private) continue
  if (!existsSync(join(cwd, 'dist'))) {
    console.error(`✗ ${pj.name}: no dist/ (run \`npm run build\` first)`)
    failures.push(`${pj.name}: not built`)
    continue
  }
  for (const [tool, args] of [
    ['publint', ['--strict']],
    ['attw', ['--pack', '.', '--profile', 'node16']],
  ]) {
    console.log(`\n── ${pj.name}: ${tool} ${args.join(' ')}`)
    const r = spawnSync(bin(tool), args, { cwd, stdio: 'inherit', env: { ...process.env, npm_config_loglevel: 'error' } })
    if (r.status !== 0) failures.push(`${pj.name}: ${tool} (exit ${r.status ?? r.signal})`)
  }
}

if (failures.length) {
  console.error(`\n${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`)
  process.exit(1)
}
console.log('\nAll published packages pass publint --strict and attw.')
