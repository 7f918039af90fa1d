import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Debian's Chromium (scripts/services.sh installs it when it is missing). */
export const CHROMIUM = '/usr/bin/chromium'

/** These flags matter on a closed network: no QUIC, no background fetches, no first-run or sync traffic. */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/**
 * Launches headless Chromium through playwright-core. A missing Chromium
 * rejects with how to install it, so the tests that need it fail (never skip).
 */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) return Promise.reject(new Error(`${CHROMIUM} is missing: source scripts/services.sh (it installs Debian's chromium), or apt-get install -y chromium`))
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS })
}
