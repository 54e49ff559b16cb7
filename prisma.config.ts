import { defineConfig } from "prisma/config";

// Read DATABASE_URL leniently: `prisma generate` runs at install time, when no
// database is configured (Prisma's env() helper would throw).
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost:5432/firebreak" },
});
