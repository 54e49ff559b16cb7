// Vitest global setup: one PostgreSQL server for the whole test run.
//
// Wire it up in vitest.config.ts with `test: { globalSetup: ["test/setup/postgres.global.ts"] }`;
// test files read the URL with `inject("postgresUrl")` (typed in ./provided.d.ts) and create
// their own database on it with `createTestDatabase()` from ../support/postgres.ts.
//
// With TEST_DATABASE_URL set, that server is used and nothing is started. Otherwise the server
// is Firebreak's own embedded PostgreSQL (src/db/embedded-server.ts, binaries from the npm
// registry: nothing to install), started on a temporary directory, listening on a Unix socket
// only; the teardown stops it and removes the directory.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedServer } from "../../src/db/embedded-server.ts";
import { createLogger } from "../../src/lib/logger.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TEST_DATABASE_URL?.trim();
  if (external) {
    project.provide("postgresUrl", external);
    return async () => {};
  }

  const dir = await mkdtemp(path.join(tmpdir(), "fb-pg-"));
  const logger = createLogger({ level: "warn", format: "json" });
  const server = await startEmbeddedServer({ dataDir: dir, logger });
  project.provide("postgresUrl", server.url);

  // Last resort when the run ends without the teardown (e.g. process.exit on Ctrl-C): stop the
  // server synchronously (SIGQUIT: immediate shutdown) so that no postgres outlives the run.
  let stopped = false;
  const onExit = (): void => {
    if (stopped) return;
    stopped = true;
    spawnSync("kill", ["-QUIT", String(server.pid)], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);

  return async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", onExit);
    try {
      await server.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
