// Memory footprint figures for bench/RESULTS.md (issue 18): bytes the memory store keeps per issued token,
// and the idle RSS of the demo server. Measured in child processes so that nothing else shares their heap.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from './runner.js'

/** One figure of the footprint table. */
export interface FootprintFigure {
  readonly what: string
  readonly value: string
  readonly goal: string
  readonly reached: boolean | null
}

/** Runs a child node process and answers its stdout. */
function run(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited with ${code}`))))
  })
}

/** Heap bytes per access token retained by `memoryStore()` after N client_credentials grants (gc before and after). */
async function memoryBytesPerToken(count: number): Promise<number> {
  const out = await run(['--expose-gc', '--import', 'tsx', join(REPO_ROOT, 'bench/src/footprint-child.ts'), String(count)])
  return Number(/bytesPerToken=(\d+(?:\.\d+)?)/.exec(out)?.[1] ?? NaN)
}

/** VmRSS of the demo server (`examples/koa-server/dist/main.js`) 3 s after it is ready, idle. */
async function demoIdleRss(store: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'grantkit-footprint-'))
  try {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'examples/koa-server/dist/main.js')], {
      cwd: dir,
      env: { ...process.env, PORT: '0', OAUTH_STORE: store.replace('<dir>', dir), OAUTH_LOG: 'off', OAUTH_PURGE_INTERVAL: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    await new Promise<void>((resolve, reject) => {
      let out = ''
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('listening on')) resolve()
      })
      child.on('exit', (code) => reject(new Error(`the demo exited with ${code} before listening`)))
    })
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN)
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
    return kb * 1024
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Measures every footprint figure; each one that cannot be measured says why instead of failing the bench. */
export async function measureFootprint(log: (line: string) => void): Promise<FootprintFigure[]> {
  const figures: FootprintFigure[] = []
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`
  try {
    const bytes = await memoryBytesPerToken(100_000)
    log(`footprint: memory store ${bytes.toFixed(0)} bytes per access token`)
    figures.push({ what: 'memory store, heap per retained access token (100,000 client_credentials tokens)', value: `${bytes.toFixed(0)} bytes`, goal: 'kept small (was ~1.1 KB)', reached: bytes < 1100 })
  } catch (error) {
    figures.push({ what: 'memory store, heap per retained access token', value: `not measured: ${(error as Error).message}`, goal: '', reached: null })
  }
  for (const [label, store] of [
    ['memory store', 'memory:'],
    ['SQLite', 'sqlite:<dir>/grantkit.sqlite'],
  ] as const) {
    try {
      const rss = await demoIdleRss(store)
      log(`footprint: demo idle RSS on ${label} ${mb(rss)}`)
      figures.push({ what: `demo server idle RSS (${label})`, value: mb(rss), goal: '≤ 80 MB', reached: rss <= 80 * 2 ** 20 })
    } catch (error) {
      figures.push({ what: `demo server idle RSS (${label})`, value: `not measured: ${(error as Error).message}`, goal: '≤ 80 MB', reached: null })
    }
  }
  return figures
}

/** The footprint section of RESULTS.md. */
export function renderFootprint(figures: readonly FootprintFigure[]): string[] {
  const lines = ['## Memory footprint', '', '| figure | measured | goal | reached |', '|---|---:|---|---|']
  for (const f of figures) lines.push(`| ${f.what} | ${f.value} | ${f.goal} | ${f.reached === null ? 'n/a' : f.reached ? 'yes' : '**no**'} |`)
  return lines
}
