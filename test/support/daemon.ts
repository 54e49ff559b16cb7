// What test/support/alertmanager.ts and test/support/prometheus.ts share: installing a binary
// through scripts/test-alertmanager.sh, Prometheus-style durations, and running a throwaway server
// on a free 127.0.0.1 port in a fresh temporary directory until it answers its readiness check.
//
//   const bin = await ensureBinary("ensure-prometheus", "Prometheus");
//   const server = await startDaemon({ name: "Prometheus", bin, dirPrefix: "firebreak-prom-",
//     files: { "prometheus.yml": config }, args: ({ port, dir }) => [...] });
//   ... server.url, server.logs.text() ...
//   await server.stop(); // SIGTERM, SIGKILL after 3 s, then removes the directory
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./net.ts";

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../scripts/test-alertmanager.sh");

/** Tries this many ports before giving up (another process can take a port we picked in between). */
const START_ATTEMPTS = 3;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3_000;
const INSTALL_TIMEOUT_MS = 15 * 60_000;
/** Keeps at most this many characters of a server's output. */
const MAX_LOG_CHARS = 2 * 1024 * 1024;

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function runScript(command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [SCRIPT, command],
      { timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error) {
          const reason = error.killed ? `timed out after ${timeoutMs / 1000} s` : `exited with ${String(error.code ?? error.signal)}`;
          reject(new Error(`scripts/test-alertmanager.sh ${command} ${reason}\n${stderr.trim()}`));
          return;
        }
        const lines = stdout.trim().split("\n");
        const bin = (lines[lines.length - 1] ?? "").trim();
        if (!bin.startsWith("/")) {
          reject(new Error(`scripts/test-alertmanager.sh ${command} printed no binary path (stdout: ${JSON.stringify(stdout)})`));
          return;
        }
        resolve(bin);
      },
    );
  });
}

const ensured = new Map<string, Promise<string>>();

/**
 * Path of a binary that `scripts/test-alertmanager.sh <command>` provides, installing it first if
 * needed (once per process and command).
 */
export function ensureBinary(command: "ensure" | "ensure-prometheus", name: string): Promise<string> {
  let bin = ensured.get(command);
  if (!bin) {
    bin = (async () => {
      const started = Date.now();
      const found = await runScript(command, INSTALL_TIMEOUT_MS);
      const ms = Date.now() - started;
      if (ms > 3000) console.error(`[${name.toLowerCase()}] installed ${name} in ${(ms / 1000).toFixed(1)} s`);
      return found;
    })();
    ensured.set(command, bin);
  }
  return bin;
}

/** A Prometheus duration ("100ms", "1s", "1h") for a whole number of milliseconds > 0. */
export function duration(name: string, ms: number, caller: string): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new Error(`${caller}: ${name} must be a positive whole number of milliseconds, got ${ms}`);
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

/** `value` parsed as an http(s) URL; `caller` and `name` word the error (e.g. "startPrometheus", "alertmanagerUrl"). */
export function httpUrl(value: string, name: string, caller: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${caller}: ${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`${caller}: ${name} must be http(s), got ${url.protocol}`);
  }
  return url;
}

/** Collects a child's output, keeping only the newest MAX_LOG_CHARS characters. */
export class LogBuffer {
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

export interface DaemonOptions {
  /** For messages, e.g. "Alertmanager". */
  name: string;
  bin: string;
  /** Prefix of the temporary directory's name, e.g. "firebreak-am-". */
  dirPrefix: string;
  /** Files written into the directory before the start (mode 0600), by name. */
  files: Record<string, string>;
  /** Empty directories made in the directory before the start. */
  dirs?: string[];
  /** The command line; `url` is http://127.0.0.1:<port>. */
  args(where: { port: number; url: string; dir: string }): string[];
  /** GET this path answers 200 once the server is ready; default /-/ready. */
  readyPath?: string;
  readyTimeoutMs?: number;
}

export interface RunningDaemon {
  /** Base URL, e.g. http://127.0.0.1:40123. */
  url: string;
  port: number;
  /** The temporary directory (removed by stop()). */
  dir: string;
  /** The server's stdout and stderr, the newest MAX_LOG_CHARS characters. */
  logs: LogBuffer;
  /** Stops the server (SIGTERM, SIGKILL after 3 s) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

async function waitReady(options: DaemonOptions, url: string, child: ChildProcess, logs: LogBuffer): Promise<void> {
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const readyUrl = `${url}${options.readyPath ?? "/-/ready"}`;
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${options.name} exited (${String(child.exitCode ?? child.signalCode)}) before it was ready:\n${logs.tail(25)}`);
    }
    try {
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(1_000) });
      await response.body?.cancel();
      if (response.status === 200) return;
      lastProblem = `GET ${readyUrl} answered ${response.status}`;
    } catch (error) {
      lastProblem = errorMessage(error);
    }
    await sleep(50);
  }
  throw new Error(`${options.name} was not ready after ${timeoutMs / 1000} s (${lastProblem}):\n${logs.tail(25)}`);
}

async function startOnce(options: DaemonOptions): Promise<RunningDaemon> {
  const dir = await mkdtemp(path.join(tmpdir(), options.dirPrefix));
  let child: ChildProcess | undefined;
  let onExit: (() => void) | undefined;
  try {
    for (const [name, text] of Object.entries(options.files)) await writeFile(path.join(dir, name), text, { mode: 0o600 });
    for (const name of options.dirs ?? []) await mkdir(path.join(dir, name));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const logs = new LogBuffer();
    const spawned = spawn(options.bin, options.args({ port, url, dir }), { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    child = spawned;
    const spawnError = new Promise<never>((_, reject) => {
      spawned.once("error", (error) => reject(new Error(`could not run ${options.bin}: ${error.message}`, { cause: error })));
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

    await Promise.race([waitReady(options, url, spawned, logs), spawnError]);

    let stopped: Promise<void> | undefined;
    return {
      url,
      port,
      dir,
      logs,
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
    };
  } catch (error) {
    if (onExit) process.removeListener("exit", onExit);
    if (child) await killChild(child);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Runs `options.bin` on a free 127.0.0.1 port in a fresh temporary directory and resolves once
 * its readiness check answers 200. A lost race for the port is retried on another port.
 */
export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      const message = errorMessage(error);
      failures.push(`attempt ${attempt}: ${message}`);
      // Only a lost race for the port is worth another try; anything else (a bad configuration) fails again.
      if (!message.includes("address already in use")) break;
    }
  }
  throw new Error(`could not start ${options.name} for the tests:\n${failures.join("\n\n")}`);
}
