// A real Prometheus Alertmanager for end-to-end tests, one per call.
//
//   const am = await startAlertmanager({ webhookUrl: `${appUrl}/webhooks/alertmanager`, bearerToken: "t0ken" });
//   afterAll(() => am.stop());
//   await am.postAlerts([{ labels: { alertname: "HighErrorRate", service: "checkout" } }]);
//   ... wait until the app has received the webhook ...
//
// scripts/test-alertmanager.sh ensure installs Alertmanager if needed (Debian, root: apt-get; once
// per process). Each call writes an alertmanager.yml with a single receiver `firebreak` (a webhook
// to `webhookUrl`, send_resolved, no alert limit) into a fresh temporary directory, runs the
// binary on a free 127.0.0.1 port with clustering off, and waits for GET /-/ready. `stop()` kills
// the process (SIGTERM, SIGKILL after 3 s) and removes the directory.
//
// What Alertmanager 0.25 sends: see AlertmanagerWebhookPayload below. With the default timings
// (group_wait 100ms, group_interval 1s) a new alert's webhook arrives ~0.1-0.2 s after postAlerts;
// a resolve (endsAt in the past) of an already notified group waits for the next group_interval.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../scripts/test-alertmanager.sh");

/** Tries this many ports before giving up (another process can take a port we picked in between). */
const START_ATTEMPTS = 3;
const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Keeps at most this many characters of Alertmanager's output for logs(). */
const MAX_LOG_CHARS = 2 * 1024 * 1024;

export interface AlertmanagerOptions {
  /** Where the `firebreak` receiver posts, e.g. http://127.0.0.1:PORT/webhooks/alertmanager. */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>` (http_config.authorization). */
  bearerToken?: string;
  /** Sent as `Authorization: Basic ...` (http_config.basic_auth). Not together with bearerToken. */
  basicAuth?: { username: string; password: string };
  /** route.group_by; default ["alertname", "service"]. `["..."]` groups by all labels. */
  groupBy?: string[];
  /** route.group_wait; default 100 ms. */
  groupWaitMs?: number;
  /** route.group_interval; default 1 s. */
  groupIntervalMs?: number;
  /** route.repeat_interval; default 1 h. */
  repeatIntervalMs?: number;
  /** global.resolve_timeout (for alerts posted without endsAt); Alertmanager's default is 5 min. */
  resolveTimeoutMs?: number;
}

/** One alert for POST /api/v2/alerts (Alertmanager's `postableAlert`). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /** RFC 3339; Alertmanager uses "now" when omitted. */
  startsAt?: string;
  /** RFC 3339; in the past = resolved. When omitted, the alert resolves after resolve_timeout. */
  endsAt?: string;
  generatorURL?: string;
}

export interface RunningAlertmanager {
  /** Base URL, e.g. http://127.0.0.1:40123 (also passed as --web.external-url). */
  url: string;
  port: number;
  /** The generated alertmanager.yml. */
  configPath: string;
  /** Stops the server and removes its temporary directory. Safe to call twice. */
  stop(): Promise<void>;
  /** POST /api/v2/alerts; throws unless Alertmanager answers 200. */
  postAlerts(alerts: PostableAlert[]): Promise<void>;
  /** Everything Alertmanager has written to stdout/stderr so far (log level debug). */
  logs(): string;
}

/** One alert in a webhook notification (version "4"), as Alertmanager 0.25 sends it. */
export interface AlertmanagerWebhookAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** RFC 3339. */
  startsAt: string;
  /** RFC 3339; "0001-01-01T00:00:00Z" while firing. */
  endsAt: string;
  generatorURL: string;
  /** 16 lower-case hex digits, derived from the labels only. */
  fingerprint: string;
}

/** The JSON body of an Alertmanager 0.25 webhook notification. */
export interface AlertmanagerWebhookPayload {
  version: "4";
  /** e.g. `{}:{alertname="HighErrorRate", service="checkout"}` (route matchers, then group labels). */
  groupKey: string;
  /** Alerts left out because of max_alerts (always 0 here: max_alerts is 0 = unlimited). */
  truncatedAlerts: number;
  status: "firing" | "resolved";
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerWebhookAlert[];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function runEnsure(timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [SCRIPT, "ensure"],
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error) {
          const reason = error.killed ? `timed out after ${timeoutMs / 1000} s` : `exited with ${String(error.code ?? error.signal)}`;
          reject(new Error(`scripts/test-alertmanager.sh ensure ${reason}\n${stderr.trim()}`));
          return;
        }
        const lines = stdout.trim().split("\n");
        const bin = (lines[lines.length - 1] ?? "").trim();
        if (!bin.startsWith("/")) {
          reject(new Error(`scripts/test-alertmanager.sh ensure printed no binary path (stdout: ${JSON.stringify(stdout)})`));
          return;
        }
        resolve(bin);
      },
    );
  });
}

let ensured: Promise<string> | undefined;

/** Path of the Alertmanager binary, installing it first if needed (once per process). */
export function ensureAlertmanager(): Promise<string> {
  ensured ??= (async () => {
    const started = Date.now();
    const bin = await runEnsure(15 * 60_000);
    const ms = Date.now() - started;
    if (ms > 3000) console.error(`[alertmanager] installed Alertmanager in ${(ms / 1000).toFixed(1)} s`);
    return bin;
  })();
  return ensured;
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

/** A Prometheus duration ("100ms", "1s", "1h") for a whole number of milliseconds > 0. */
function duration(name: string, ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new Error(`startAlertmanager: ${name} must be a positive whole number of milliseconds, got ${ms}`);
  }
  const units: Array<[string, number]> = [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ];
  for (const [unit, size] of units) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function buildConfig(options: AlertmanagerOptions): string {
  let webhook: URL;
  try {
    webhook = new URL(options.webhookUrl);
  } catch {
    throw new Error(`startAlertmanager: webhookUrl is not a URL: ${JSON.stringify(options.webhookUrl)}`);
  }
  if (webhook.protocol !== "http:" && webhook.protocol !== "https:") {
    throw new Error(`startAlertmanager: webhookUrl must be http(s), got ${webhook.protocol}`);
  }
  if (options.bearerToken !== undefined && options.basicAuth !== undefined) {
    throw new Error("startAlertmanager: give bearerToken or basicAuth, not both (Alertmanager rejects that configuration)");
  }
  if (options.bearerToken === "") throw new Error("startAlertmanager: bearerToken is empty");

  const httpConfig: Record<string, unknown> = {};
  if (options.bearerToken !== undefined) {
    httpConfig.authorization = { type: "Bearer", credentials: options.bearerToken };
  }
  if (options.basicAuth !== undefined) {
    httpConfig.basic_auth = { username: options.basicAuth.username, password: options.basicAuth.password };
  }

  const config = {
    global: options.resolveTimeoutMs === undefined ? {} : { resolve_timeout: duration("resolveTimeoutMs", options.resolveTimeoutMs) },
    route: {
      receiver: "firebreak",
      group_by: options.groupBy ?? ["alertname", "service"],
      group_wait: duration("groupWaitMs", options.groupWaitMs ?? 100),
      group_interval: duration("groupIntervalMs", options.groupIntervalMs ?? 1_000),
      repeat_interval: duration("repeatIntervalMs", options.repeatIntervalMs ?? 3_600_000),
    },
    receivers: [
      {
        name: "firebreak",
        webhook_configs: [
          {
            url: webhook.href,
            send_resolved: true,
            max_alerts: 0,
            ...(Object.keys(httpConfig).length > 0 ? { http_config: httpConfig } : {}),
          },
        ],
      },
    ],
  };
  return `# Written by test/support/alertmanager.ts for one test run.\n${stringify(config)}`;
}

/** Collects a child's output, keeping only the newest MAX_LOG_CHARS characters. */
class LogBuffer {
  private chunks: string[] = [];
  private size = 0;

  append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > MAX_LOG_CHARS && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }

  text(): string {
    return this.chunks.join("");
  }

  tail(lines: number): string {
    return this.text().trimEnd().split("\n").slice(-lines).join("\n");
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when the child has exited (immediately if it already has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = await Promise.race([
    done.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  if (gaveUp) {
    child.kill("SIGKILL");
    await done;
  }
}

async function waitReady(url: string, child: ChildProcess, logs: LogBuffer): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Alertmanager exited (${String(child.exitCode ?? child.signalCode)}) before it was ready:\n${logs.tail(25)}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.status === 200) return;
      lastProblem = `GET /-/ready answered ${response.status}`;
    } catch (error) {
      lastProblem = errorMessage(error);
    }
    await sleep(50);
  }
  throw new Error(`Alertmanager was not ready after ${READY_TIMEOUT_MS / 1000} s (${lastProblem}):\n${logs.tail(25)}`);
}

async function startOnce(bin: string, config: string): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(path.join(tmpdir(), "firebreak-am-"));
  const configPath = path.join(dir, "alertmanager.yml");
  const storagePath = path.join(dir, "data");
  let child: ChildProcess | undefined;
  let onExit: (() => void) | undefined;
  try {
    await writeFile(configPath, config, { mode: 0o600 });
    await mkdir(storagePath);
    const port = await freeLoopbackPort();
    const url = `http://127.0.0.1:${port}`;
    const logs = new LogBuffer();
    const spawned = spawn(
      bin,
      [
        `--config.file=${configPath}`,
        `--storage.path=${storagePath}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.external-url=${url}`,
        "--cluster.listen-address=",
        "--log.level=debug",
      ],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = spawned;
    const spawnError = new Promise<never>((_, reject) => {
      spawned.once("error", (error) => reject(new Error(`could not run ${bin}: ${error.message}`, { cause: error })));
    });
    spawnError.catch(() => undefined); // observed through the race below
    spawned.stdout?.setEncoding("utf8").on("data", (text: string) => logs.append(text));
    spawned.stderr?.setEncoding("utf8").on("data", (text: string) => logs.append(text));

    // Last resort when the process ends without stop() (e.g. a crashed test worker).
    const exitHandler = (): void => {
      spawned.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    };
    onExit = exitHandler;
    process.once("exit", exitHandler);

    await Promise.race([waitReady(url, spawned, logs), spawnError]);

    let stopped: Promise<void> | undefined;
    return {
      url,
      port,
      configPath,
      stop(): Promise<void> {
        stopped ??= (async () => {
          process.removeListener("exit", exitHandler);
          try {
            await killChild(spawned);
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        })();
        return stopped;
      },
      async postAlerts(alerts: PostableAlert[]): Promise<void> {
        let response: Response;
        try {
          response = await fetch(`${url}/api/v2/alerts`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(alerts),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
        } catch (error) {
          throw new Error(`POST ${url}/api/v2/alerts failed: ${errorMessage(error)}\n${logs.tail(15)}`, { cause: error });
        }
        const body = await response.text();
        if (response.status !== 200) {
          throw new Error(`POST ${url}/api/v2/alerts answered ${response.status}: ${body.trim()}`);
        }
      },
      logs: () => logs.text(),
    };
  } catch (error) {
    if (onExit) process.removeListener("exit", onExit);
    if (child) await killChild(child);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Starts a throwaway Alertmanager that sends every notification to `options.webhookUrl`
 * (receiver `firebreak`, send_resolved, version "4" payloads) and resolves once it is ready.
 */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<RunningAlertmanager> {
  const config = buildConfig(options); // validate before installing anything
  const bin = await ensureAlertmanager();
  const failures: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(bin, config);
    } catch (error) {
      const message = errorMessage(error);
      failures.push(`attempt ${attempt}: ${message}`);
      // Only a lost race for the port is worth another try; anything else (a bad configuration) fails again.
      if (!message.includes("address already in use")) break;
    }
  }
  throw new Error(`could not start Alertmanager for the tests:\n${failures.join("\n\n")}`);
}
