import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/tls.global.ts", "test/setup/postgres.global.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two test files at a time (each app starts its own embedded PostgreSQL).
    maxWorkers: 2,
    reporters: process.env.CI ? ["default"] : ["default"],
  },
});
