// Values that global setup modules hand to test files through `inject(key)`.
// The import makes this file a module (so `declare module` augments vitest's types instead of
// declaring a new module) and loads vitest's types, which an augmentation alone does not do.
import type {} from "vitest";
import type { TestTls } from "./tls.global.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /**
     * Connection URL of the PostgreSQL server for this test run (set by
     * test/setup/postgres.global.ts): `TEST_DATABASE_URL` when set, otherwise a throwaway
     * local server, e.g. `postgresql://postgres@127.0.0.1:41234/firebreak_test`.
     * Test files should not share it directly: use `createTestDatabase(url)` from
     * test/support/postgres.ts for an isolated database per file.
     */
    postgresUrl: string;
    /** The run's private CA (trusted through NODE_EXTRA_CA_CERTS) and a certificate for 127.0.0.1 (test/setup/tls.global.ts). */
    tls: TestTls;
  }
}
