import { defineConfig } from 'tsup'

export default defineConfig({
  // index: the library; cli: the `grantkit-clients` bin (its shebang is kept).
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  sourcemap: true,
  // import.meta.url in the CJS build, to find the shipped migrations.
  shims: true,
  target: 'node20',
})
