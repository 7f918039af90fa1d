import { defineConfig } from 'drizzle-kit'

// npx drizzle-kit generate --config drizzle.config.sqlite.ts
export default defineConfig({
  dialect: 'sqlite',
  schema: './drizzle/sqlite-schema.ts',
  out: './migrations/sqlite',
})
