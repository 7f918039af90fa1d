import { defineConfig } from 'tsup'

export default defineConfig({
  // `implicit` and `hybrid` are subpaths: only they import the grant they extend.
  entry: ['src/index.ts', 'src/implicit.ts', 'src/hybrid.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  removeNodeProtocol: false,
  // The grants the subpaths extend are the app's own installs (peers), never bundled.
  external: ['@grantkit/grant-authorization-code', '@grantkit/grant-implicit'],
})
