// Vitest global setup: one real PostgreSQL server for the whole test run.
//
// Wire it up in vitest.config.ts with `test: { globalSetup: ["test/setup/postgres.global.ts"] }`;
// test files read the URL with `inject("postgresUrl")` (typed in ./provided.d.ts) and create
// their own database on it with `createTestDatabase()` from ../support/postgres.ts.
//
// With TEST_DATABASE_URL set, that server is used and nothing is started. Otherwise
// scripts/test-postgres.sh installs PostgreSQL if needed (Debian, root: apt-get) and starts a
// throwaway server on a free loopback port in a temporary directory; the teardown stops it
// and removes the directory.
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../scripts/test-postgres.sh");

/** Tries this many ports before giving up (another process can take a port we picked). */
const START_ATTEMPTS = 3;

interface RunResult {
  stdout: string;
  stderr: string;
}

function runScript(args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [SCRIPT, ...args],
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error) {
          const reason = error.killed ? `timed out after ${timeoutMs / 1000} s` : `exited with ${String(error.code ?? error.signal)}`;
          reject(new Error(`scripts/test-postgres.sh ${args.join(" ")} ${reason}\n${stderr.trim()}`));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port of a probe socket"));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim();
}

interface RunningServer {
  url: string;
  dir: string;
}

async function startServer(): Promise<RunningServer> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const dir = await mkdtemp(path.join(tmpdir(), "firebreak-pg-"));
    const port = await freeLoopbackPort();
    try {
      const { stdout } = await runScript(["start", dir, String(port)], 120_000);
      const url = lastLine(stdout);
      if (!url.startsWith("postgresql://")) {
        throw new Error(`scripts/test-postgres.sh start printed no connection URL (stdout: ${JSON.stringify(stdout)})`);
      }
      return { url, dir };
    } catch (error) {
      failures.push(`attempt ${attempt} (port ${port}): ${error instanceof Error ? error.message : String(error)}`);
      await runScript(["stop", dir], 60_000).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`could not start a PostgreSQL server for the tests:\n${failures.join("\n\n")}`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TEST_DATABASE_URL?.trim();
  if (external) {
    project.provide("postgresUrl", external);
    return async () => {};
  }

  const ensureStarted = Date.now();
  await runScript(["ensure"], 15 * 60_000);
  const ensureMs = Date.now() - ensureStarted;
  if (ensureMs > 3000) {
    console.error(`[postgres.global] installed PostgreSQL in ${(ensureMs / 1000).toFixed(1)} s`);
  }

  const server = await startServer();
  project.provide("postgresUrl", server.url);

  // Last resort when the run ends without the teardown (e.g. process.exit on Ctrl-C):
  // stop the server synchronously so that no postgres outlives the test run.
  let stopped = false;
  const onExit = (): void => {
    if (stopped) return;
    stopped = true;
    spawnSync("bash", [SCRIPT, "stop", server.dir], { stdio: "ignore", timeout: 30_000 });
    rmSync(server.dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);

  return async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", onExit);
    try {
      await runScript(["stop", server.dir], 60_000);
    } finally {
      await rm(server.dir, { recursive: true, force: true });
    }
  };
}
