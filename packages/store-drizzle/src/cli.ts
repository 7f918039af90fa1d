#!/usr/bin/env node
import { runClientsCli } from './clients-cli.js'

void runClientsCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code
})
