import { defineConfig } from 'drizzle-kit'

// npx drizzle-kit generate --config drizzle.config.pg.ts
export default defineConfig({
  dialect: 'postgresql',
  schema: './drizzle/pg-schema.ts',
  out: './migrations/pg',
})
