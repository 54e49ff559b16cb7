// A real Unleash server (the `unleash-server` devDependency, 8.2.0) for the remediation tests,
// one per call, on its own database in the test PostgreSQL:
//
//   const unleash = await startUnleash({ postgresUrl: inject("postgresUrl") });
//   afterAll(() => unleash.stop());
//   await unleash.createFlag("default", "new-checkout-flow");
//   ... UNLEASH_ADMIN_TOKEN = unleash.adminToken, url: unleash.url ...
//   expect(await unleash.isEnabled("default", "new-checkout-flow", "production")).toBe(false);
//
// It runs as a child process (node <dir>/start-unleash.mjs, through test/support/daemon.ts):
// Unleash installs process-wide handlers (unhandledRejection; SIGINT/SIGTERM unless
// `gracefulShutdownEnable: false`), keeps a scheduler and a database pool, and logs on its own;
// none of that belongs in a vitest worker, and SIGTERM/SIGKILL ends all of it at once.
//
// Start options, checked in node_modules/unleash-server/dist/lib/create-config.js and
// server-impl.js of 8.2.0: `start({ db, server: { host, port, gracefulShutdownEnable },
// authentication: { initApiTokens }, versionCheck: { enable }, logLevel, disableScheduler })`.
// Telemetry is off only with the environment variable SEND_TELEMETRY=false (`options.telemetry ||
// env`), so the start script sets it before anything is loaded. `initApiTokens` are inserted only
// while the api_tokens table is empty: every call gets a fresh database, so the token is always ours.
//
// Timing, measured here (2 cores, 8.2.0, an empty database each time): 5.6-9.7 s from spawning to
// GET /health answering 200, up to 19 s while other test files load the machine. Of that, about
// 2 s are Unleash's migrations and 0.3 s its boot; the rest is Node loading unleash-server's module
// graph, so a pre-migrated template database would save little. `startedInMs` reports each start.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createTestDatabase } from "./postgres.ts";
import { startDaemon, type RunningDaemon } from "./daemon.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SERVER_IMPL = pathToFileURL(path.join(ROOT, "node_modules/unleash-server/dist/lib/server-impl.js")).href;
const READY_TIMEOUT_MS = 120_000;

export interface StartUnleashOptions {
  /** The test PostgreSQL server (`inject("postgresUrl")`); Unleash gets a database of its own on it. */
  postgresUrl: string;
  /** Unleash's log level (default "warn"); its output is in `logs()`. */
  logLevel?: "debug" | "info" | "warn" | "error";
}

export interface UnleashAnswer {
  status: number;
  json: unknown;
  text: string;
}

export interface RunningUnleash {
  /** Base URL, e.g. http://127.0.0.1:40123 (what an action's `url` names). */
  readonly url: string;
  /** An admin API token, `*:*.<random>`, as Unleash's `Authorization` header takes it. */
  readonly adminToken: string;
  /** The URL of Unleash's own database (e.g. to turn on what the open-source edition has no API for). */
  readonly databaseUrl: string;
  /** How long the start took, from spawning the process to GET /health answering 200. */
  readonly startedInMs: number;
  /** Calls Unleash's API with the admin token. */
  api(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", apiPath: string, body?: unknown): Promise<UnleashAnswer>;
  /** Creates a release flag in `project` (off in every environment); throws unless Unleash says 201. */
  createFlag(project: string, name: string): Promise<void>;
  /** Switches a flag in one environment through the Admin API (for a test's starting state). */
  setEnabled(project: string, feature: string, environment: string, enabled: boolean): Promise<void>;
  /** Reads back whether the flag is on in the environment, from Unleash's API. */
  isEnabled(project: string, feature: string, environment: string): Promise<boolean>;
  /** Everything Unleash wrote to stdout/stderr so far. */
  logs(): string;
  /** Stops Unleash and drops its database. Safe to call twice. */
  stop(): Promise<void>;
}

function startScript(): string {
  return `// Written by test/support/unleash.ts: starts unleash-server with ./options.json.
import { readFileSync } from "node:fs";
process.env.SEND_TELEMETRY = "false";
process.env.CHECK_VERSION = "false";
for (const name of ["INIT_ADMIN_API_TOKENS", "INIT_BACKEND_API_TOKENS", "INIT_CLIENT_API_TOKENS", "INIT_FRONTEND_API_TOKENS", "BASE_URI_PATH", "DATABASE_URL", "DATABASE_URL_FILE", "DATABASE_SSL"]) delete process.env[name];
const options = JSON.parse(readFileSync(new URL("./options.json", import.meta.url), "utf8"));
const { start } = await import(${JSON.stringify(SERVER_IMPL)});
await start(options);
`;
}

export async function startUnleash(options: StartUnleashOptions): Promise<RunningUnleash> {
  const database = await createTestDatabase(options.postgresUrl, { prefix: "unleash" });
  const adminToken = `*:*.${randomBytes(24).toString("hex")}`;
  const db = new URL(database.url);
  const started = Date.now();
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon({
      name: "Unleash",
      bin: process.execPath,
      dirPrefix: "firebreak-unleash-",
      files: { "start-unleash.mjs": startScript(), "options.json": "{}" },
      args: ({ port, dir }) => {
        // options.json is rewritten per attempt: the port is only known here.
        const unleashOptions = {
          db: {
            user: decodeURIComponent(db.username),
            password: decodeURIComponent(db.password),
            // The test server listens on a Unix socket only: its directory is the URL's ?host=.
            host: db.searchParams.get("host") ?? db.hostname,
            port: Number(db.port || "5432"),
            database: db.pathname.slice(1),
            ssl: false,
            pool: { min: 0, max: 4 },
          },
          server: { host: "127.0.0.1", port, gracefulShutdownEnable: false, enableRequestLogger: false },
          authentication: { initApiTokens: [{ secret: adminToken, type: "admin", environment: "*", projects: ["*"], tokenName: "firebreak-test-admin" }] },
          versionCheck: { enable: false },
          logLevel: options.logLevel ?? "warn",
        };
        writeOptions(path.join(dir, "options.json"), unleashOptions);
        return [path.join(dir, "start-unleash.mjs")];
      },
      readyPath: "/health",
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
  } catch (error) {
    await database.drop().catch(() => undefined);
    throw error;
  }
  const startedInMs = Date.now() - started;
  const running = daemon;

  async function api(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", apiPath: string, body?: unknown): Promise<UnleashAnswer> {
    const response = await fetch(`${running.url}${apiPath}`, {
      method,
      headers: { authorization: adminToken, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text };
  }

  function expectStatus(answer: UnleashAnswer, status: number, what: string): void {
    if (answer.status !== status) throw new Error(`Unleash ${what}: ${answer.status} ${answer.text.slice(0, 500)}`);
  }

  const enc = encodeURIComponent;
  let stopped: Promise<void> | undefined;
  return {
    url: running.url,
    adminToken,
    databaseUrl: database.url,
    startedInMs,
    api,
    async createFlag(project, name) {
      expectStatus(await api("POST", `/api/admin/projects/${enc(project)}/features`, { name, type: "release" }), 201, `create flag ${name}`);
    },
    async setEnabled(project, feature, environment, enabled) {
      const answer = await api("POST", `/api/admin/projects/${enc(project)}/features/${enc(feature)}/environments/${enc(environment)}/${enabled ? "on" : "off"}`);
      expectStatus(answer, 200, `turn ${feature} ${enabled ? "on" : "off"} in ${environment}`);
    },
    async isEnabled(project, feature, environment) {
      const answer = await api("GET", `/api/admin/projects/${enc(project)}/features/${enc(feature)}/environments/${enc(environment)}`);
      expectStatus(answer, 200, `read ${feature} in ${environment}`);
      const enabled = (answer.json as { enabled?: unknown } | undefined)?.enabled;
      if (typeof enabled !== "boolean") throw new Error(`Unleash read ${feature}: no "enabled" in ${answer.text.slice(0, 300)}`);
      return enabled;
    },
    logs: () => running.logs.text(),
    stop() {
      stopped ??= (async () => {
        try {
          await running.stop();
        } finally {
          await database.drop();
        }
      })();
      return stopped;
    },
  };
}

function writeOptions(file: string, value: unknown): void {
  // Synchronous on purpose: startDaemon builds the command line synchronously, just before spawning.
  writeFileSync(file, JSON.stringify(value), { mode: 0o600 });
}
