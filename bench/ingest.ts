/**
 * Alertmanager webhook ingest benchmark.
 *
 *   npx tsx bench/ingest.ts [options]
 *
 * Load: authenticated POST /webhooks/alertmanager requests carrying 20 alerts
 * each, from 50 distinct alert groups, every delivery sent twice (an HA pair
 * of Alertmanagers). Per target:
 *
 *   A. fixed rate (default 100 req/s for 10 s, open loop): latency p50/p99/max
 *      measured from each request's scheduled send time (no coordinated
 *      omission), errors;
 *   B. burst (default 10000 requests over 16 keep-alive connections, the same for
 *      every target): requests/s
 *      and alerts/s accepted (2xx), next to the alert_deliveries rows added
 *      (identical HA copies share their original's row);
 *   after each phase, how long the background processing takes to drain
 *   (every delivery processed, every due job done, incidents created).
 *
 * Targets: Firebreak on its embedded default (no DATABASE_URL: the app starts its own
 * PostgreSQL server, src/db/embedded-server.ts, on a DATA_DIR in tmpdir) and on an external
 * PostgreSQL server (DATABASE_URL; by default a second embedded server started here with
 * startEmbeddedServer, so the same engine and settings reached as an external server), and a
 * minimal node:http server that only reads and JSON.parses the body (the ceiling). The app,
 * its fake Slack and the ceiling run in this process, as in production (one Node process; the
 * database server is a process of its own either way); the load generator runs in a child
 * process (this file with --load-child) so it does not share the event loop.
 *
 * Options:
 *   --postgres <url>        external target: use this PostgreSQL server (a fresh database is created on it and dropped)
 *   --no-external           embedded default only (--no-postgres: the same)
 *   --no-embedded           external PostgreSQL only
 *   --no-ceiling            skip the node:http ceiling (for profiling the app alone)
 *   --no-processing         diagnostic: job worker off (concurrency 0), so only the webhook's own cost is measured
 *   --rate <n>              requests/s of phase A (default 100)
 *   --seconds <n>           duration of phase A (default 10)
 *   --concurrency <n>       connections of phase B (default 16)
 *   --burst <n>             requests of phase B (default 10000; also stops after 60 s)
 *   --drain-timeout <s>     give up waiting for the backlog after this long (default 300)
 *   --out <file>            markdown report (default bench/results/ingest.md)
 *   --quiet-wait <s>        before starting, wait at most this long for other processes to go idle (default 120)
 *   --attempts <n>          run a Firebreak phase (B: with its paired ceiling burst) again, after draining, while
 *                           other processes or steal time took more than 15 % of a core, at most n times in all;
 *                           the quietest attempt is reported, the others are listed (default 3)
 *   --latency-log <file>    also append every request as CSV: target/phase, start offset ms, latency ms, status
 *
 * Writes the Markdown report and, next to it, its headline figures as JSON (`ingest.json`).
 * Loopback only; every loop is bounded; the whole run is aborted after 60 minutes.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { appendFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, Agent, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startFakeSlack, type FakeSlack } from "../test/fakes/slack/index.ts";
import type { AlertmanagerWebhookAlert, AlertmanagerWebhookPayload } from "../test/support/alertmanager.ts";
import { startFirebreak } from "../src/app.ts";
import { loadConfig } from "../src/config/env.ts";
import { startEmbeddedServer } from "../src/db/embedded-server.ts";
import { captureLogs, startTestApp, type LogCapture, type TestApp } from "../test/support/app.ts";
import { loadManifest } from "../test/support/manifest.ts";
import { createTestDatabase, type TestDatabase } from "../test/support/postgres.ts";
import { TEST_BOT_TOKEN, TEST_SIGNING_SECRET } from "../test/support/slack-requests.ts";
import { describeCpu, watchCpu, type CpuWindow } from "./lib/machine.ts";
import { below, commandLine, untargeted, writeResult, type Figure } from "./lib/results.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const TOKEN = "bench-ingest-token-0123456789abcdef";
const GROUPS = 50;
const ALERTS_PER_DELIVERY = 20;
const COPIES = 2;
/** Groups 0..9 are critical (each declares an incident); the rest are warnings (recorded). */
const CRITICAL_GROUPS = 10;
const RUN_DEADLINE_MS = 60 * 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Requests sent to every target before it is measured (JIT, connection pool, prepared statements). */
const WARMUP_REQUESTS = 500;

// ---------------------------------------------------------------------------
// Payloads (shared by the parent and the load child: deterministic)

const BASE_TIME = Date.UTC(2025, 0, 1, 12, 0, 0);

function fingerprint(labels: Record<string, string>): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(",");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/**
 * Delivery `round` of group `group` (`namespace` keeps warm-up groups apart).
 * Rounds go in cycles of 19: round k of a cycle reports alerts 0..k-1 resolved
 * (a group never resolves completely), and a new cycle fires them all again
 * with a later startsAt. So every round is a distinct payload carrying real
 * transitions (a resolve, or alerts firing again), as re-sends do in life, and
 * the only identical payloads are the copies of the HA pair.
 */
export function buildPayload(namespace: string, group: number, round: number): AlertmanagerWebhookPayload {
  const critical = group < CRITICAL_GROUPS;
  const alertname = critical ? "CheckoutErrorRate" : "NodeHighLatency";
  const service = `${namespace}-svc-${group}`;
  const severity = critical ? "critical" : "warning";
  const cycle = Math.floor(round / (ALERTS_PER_DELIVERY - 1));
  const cycleStart = BASE_TIME + cycle * 10 * 60_000;
  const startsAt = new Date(cycleStart).toISOString();
  const resolvedCount = round % (ALERTS_PER_DELIVERY - 1);
  const alerts: AlertmanagerWebhookAlert[] = [];
  for (let index = 0; index < ALERTS_PER_DELIVERY; index += 1) {
    const labels = { alertname, service, severity, instance: `10.${group % 250}.${index}.7:9100`, job: "node", namespace: "production", cluster: "eu-west-1" };
    const resolved = index < resolvedCount;
    alerts.push({
      status: resolved ? "resolved" : "firing",
      labels,
      annotations: {
        summary: `${alertname} on ${service}`,
        description: `The p99 of ${service} on ${labels.instance} is above its objective for the last 5 minutes (value 1.42 s, objective 0.5 s).`,
        runbook_url: `https://runbooks.example.com/${alertname.toLowerCase()}`,
      },
      startsAt,
      endsAt: resolved ? new Date(cycleStart + 60_000 + index * 1_000).toISOString() : "0001-01-01T00:00:00Z",
      generatorURL: `http://prometheus.example.com:9090/graph?g0.expr=${encodeURIComponent(`${alertname}{service="${service}"}`)}&g0.tab=1`,
      fingerprint: fingerprint(labels),
    });
  }
  const firing = alerts.some((alert) => alert.status === "firing");
  return {
    version: "4",
    groupKey: `{}:{alertname="${alertname}", service="${service}"}`,
    truncatedAlerts: 0,
    status: firing ? "firing" : "resolved",
    receiver: "firebreak",
    groupLabels: { alertname, service },
    commonLabels: { alertname, service, severity, job: "node", namespace: "production", cluster: "eu-west-1" },
    commonAnnotations: { runbook_url: `https://runbooks.example.com/${alertname.toLowerCase()}` },
    externalURL: "http://alertmanager.example.com:9093",
    alerts,
  };
}

/**
 * JSON as Alertmanager writes it: Go's encoder escapes <, > and & (so every generator URL
 * carries a \u0026), which decides which parsing path the webhook takes.
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replaceAll("<", "\\u003c").replaceAll(">", "\\u003e").replaceAll("&", "\\u0026");
}

/** Request i of a phase: delivery floor(i / COPIES) (each sent COPIES times in a row). */
function requestBody(namespace: string, firstRound: number, index: number, cache: Map<string, Buffer>): Buffer {
  const delivery = Math.floor(index / COPIES);
  const group = delivery % GROUPS;
  const round = firstRound + Math.floor(delivery / GROUPS);
  const key = `${group}:${round}`;
  let body = cache.get(key);
  if (!body) {
    body = Buffer.from(goJson(buildPayload(namespace, group, round)));
    cache.set(key, body);
  }
  return body;
}

// ---------------------------------------------------------------------------
// Load child: sends the requests, measures, reports back over IPC.

interface PhaseCommon {
  /** Appends "phase,start offset ms,latency ms,status" lines for every request here. */
  latencyLog?: string;
  label?: string;
  url: string;
  token: string | null;
  namespace: string;
  firstRound: number;
}

type LoadCommand =
  | (PhaseCommon & { kind: "rate"; rate: number; seconds: number })
  | (PhaseCommon & { kind: "burst"; concurrency: number; requests: number; maxSeconds: number });

export interface LoadResult {
  kind: "rate" | "burst";
  sent: number;
  ok: number;
  statuses: Record<string, number>;
  networkErrors: number;
  firstError: string | null;
  /** CPU time of the load generator during the phase (ms). */
  cpuMs: number;
  /** Filled in by the parent: CPU used during the phase, in % of one core. */
  cpu?: CpuShare;
  elapsedMs: number;
  bodyBytes: number;
  latency: { p50: number; p90: number; p99: number; max: number; mean: number };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

function summarize(latencies: number[]): LoadResult["latency"] {
  const sorted = [...latencies].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN, mean };
}

interface Outcome {
  status: number;
  error?: string;
}

function post(agent: Agent, target: URL, token: string | null, body: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": body.length };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, method: "POST", agent, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      res.on("error", (error) => resolve({ status: 0, error: error.message }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", (error) => resolve({ status: 0, error: error.message }));
    req.end(body);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runLoad(command: LoadCommand, prepared: () => Promise<void>): Promise<LoadResult> {
  const target = new URL(command.url);
  const cache = new Map<string, Buffer>();
  const total = command.kind === "rate" ? Math.round(command.rate * command.seconds) : command.requests;
  // Build every body before the clock starts.
  const bodies: Buffer[] = [];
  for (let index = 0; index < total; index += 1) bodies.push(requestBody(command.namespace, command.firstRound, index, cache));
  const bodyBytes = bodies.reduce((sum, body) => sum + body.length, 0) / Math.max(1, total);
  await prepared();

  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let networkErrors = 0;
  let firstError: string | null = null;
  let sent = 0;
  const samples: string[] = [];
  const record = (outcome: Outcome, ms: number, startedAt: number): void => {
    latencies.push(ms);
    if (command.latencyLog) samples.push(`${command.label ?? command.kind},${(startedAt - started).toFixed(1)},${ms.toFixed(2)},${outcome.status}`);
    const key = outcome.status === 0 ? "network" : String(outcome.status);
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (outcome.status >= 200 && outcome.status < 300) ok += 1;
    else if (outcome.status === 0) networkErrors += 1;
    firstError ??= outcome.status >= 200 && outcome.status < 300 ? null : (outcome.error ?? `HTTP ${outcome.status}`);
  };

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  if (command.kind === "rate") {
    const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    const interval = 1_000 / command.rate;
    const pending: Array<Promise<void>> = [];
    while (sent < total) {
      const now = performance.now();
      while (sent < total && started + sent * interval <= now) {
        const scheduled = started + sent * interval;
        const body = bodies[sent] ?? Buffer.alloc(0);
        pending.push(post(agent, target, command.token, body).then((outcome) => record(outcome, performance.now() - scheduled, scheduled)));
        sent += 1;
      }
      if (sent < total) await sleep(Math.max(0, started + sent * interval - performance.now()));
    }
    await Promise.all(pending);
    agent.destroy();
  } else {
    const agent = new Agent({ keepAlive: true, maxSockets: command.concurrency });
    const deadline = started + command.maxSeconds * 1_000;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < total && performance.now() < deadline) {
        const index = next;
        next += 1;
        const body = bodies[index] ?? Buffer.alloc(0);
        const begin = performance.now();
        const outcome = await post(agent, target, command.token, body);
        record(outcome, performance.now() - begin, begin);
      }
    };
    await Promise.all(Array.from({ length: command.concurrency }, lane));
    sent = next;
    agent.destroy();
  }
  const elapsedMs = performance.now() - started;
  if (command.latencyLog && samples.length > 0) await appendFile(command.latencyLog, `${samples.join("\n")}\n`);
  const cpu = process.cpuUsage(cpuBefore);
  return { kind: command.kind, sent, ok, statuses, networkErrors, firstError, elapsedMs, bodyBytes, cpuMs: (cpu.user + cpu.system) / 1_000, latency: summarize(latencies) };
}

function runLoadChild(): void {
  process.on("disconnect", () => process.exit(0));
  let release: (() => void) | undefined;
  const prepared = (): Promise<void> =>
    new Promise((resolve) => {
      release = resolve;
      process.send?.({ prepared: true } satisfies ChildReply);
    });
  process.on("message", (message: ParentMessage) => {
    if (message.type === "go") {
      release?.();
      return;
    }
    runLoad(message.command, prepared).then(
      (result) => process.send?.({ ok: true, result }),
      (error: unknown) => process.send?.({ ok: false, error: error instanceof Error ? error.stack : String(error) }),
    );
  });
  process.send?.({ ready: true });
}

interface CpuShare {
  /** This process: the app (or the ceiling), its database when embedded, the fake Slack. */
  app: number;
  load: number;
  /** The PostgreSQL server started by this run (postmaster and backends), when known. */
  db: number | null;
  /** Everything else on the machine: PostgreSQL, and any other process. */
  other: number;
  /** Time the hypervisor gave this virtual machine's CPUs to someone else ("steal"). */
  stolen: number;
}

/** Steal time of all CPUs so far (ms), from /proc/stat; 0 where it cannot be read. */
function machineStolenMs(): number {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/);
    // cpu user nice system idle iowait irq softirq steal ...: in USER_HZ ticks (10 ms).
    return Number(fields[8] ?? 0) * 10;
  } catch {
    return 0;
  }
}

function machineBusyMs(): number {
  return cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0);
}

/** Share of the machine's CPU used by others over `ms` (0-100 % of all cores). */
async function machineLoad(ms: number): Promise<number> {
  const before = machineBusyMs();
  const self = process.cpuUsage();
  await sleep(ms);
  const own = process.cpuUsage(self);
  return Math.max(0, (machineBusyMs() - before - (own.user + own.system) / 1_000) / (ms * cpus().length)) * 100;
}

type ParentMessage = { type: "run"; command: LoadCommand } | { type: "go" };
type ChildReply = { ready: true } | { prepared: true } | { ok: true; result: LoadResult } | { ok: false; error: string };

class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}

  static async start(): Promise<LoadGenerator> {
    const child = fork(fileURLToPath(import.meta.url), ["--load-child"], { execArgv: process.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("message", () => resolve());
    });
    return new LoadGenerator(child);
  }

  /** Sends the command; the child builds its bodies, then the clock (and the CPU accounting) starts. */
  run(command: LoadCommand, dbCpuMs: () => number | undefined = () => undefined): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      let busyBefore = 0;
      let stolenBefore = 0;
      let dbBefore: number | undefined;
      let ownBefore = process.cpuUsage();
      const cleanup = (): void => {
        this.child.removeListener("exit", onExit);
        this.child.removeListener("message", onMessage);
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`load generator exited (${code})`));
      };
      const onMessage = (reply: ChildReply): void => {
        if ("prepared" in reply) {
          busyBefore = machineBusyMs();
          stolenBefore = machineStolenMs();
          dbBefore = dbCpuMs();
          ownBefore = process.cpuUsage();
          this.child.send({ type: "go" } satisfies ParentMessage);
          return;
        }
        cleanup();
        if ("error" in reply) {
          reject(new Error(reply.error));
          return;
        }
        if (!("result" in reply)) {
          reject(new Error("unexpected message from the load generator"));
          return;
        }
        const own = process.cpuUsage(ownBefore);
        const result = reply.result;
        const appMs = (own.user + own.system) / 1_000;
        const busy = machineBusyMs() - busyBefore;
        const dbAfter = dbCpuMs();
        const dbMs = dbBefore === undefined || dbAfter === undefined ? null : dbAfter - dbBefore;
        const pct = (value: number): number => Math.max(0, (value / result.elapsedMs) * 100);
        resolve({ ...result, cpu: { app: pct(appMs), load: pct(result.cpuMs), db: dbMs === null ? null : pct(dbMs), other: pct(busy - appMs - result.cpuMs - (dbMs ?? 0)), stolen: pct(machineStolenMs() - stolenBefore) } });
      };
      this.child.on("exit", onExit);
      this.child.on("message", onMessage);
      this.child.send({ type: "run", command } satisfies ParentMessage);
    });
  }

  stop(): void {
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }
}

// ---------------------------------------------------------------------------
// Targets

interface Options {
  postgresUrl: string | undefined;
  external: boolean;
  embedded: boolean;
  ceiling: boolean;
  processing: boolean;
  rate: number;
  seconds: number;
  concurrency: number;
  burst: number;
  drainTimeoutS: number;
  out: string;
  latencyLog: string | undefined;
  quietWaitS: number;
  attempts: number;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    postgresUrl: undefined,
    external: true,
    embedded: true,
    ceiling: true,
    processing: true,
    rate: 100,
    seconds: 10,
    concurrency: 16,
    burst: 10_000,
    drainTimeoutS: 300,
    out: path.join(ROOT, "bench/results/ingest.md"),
    latencyLog: undefined,
    quietWaitS: 120,
    attempts: 3,
  };
  const number = (name: string, value: string | undefined): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${name} needs a positive number, got ${String(value)}`);
    return parsed;
  };
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    const value = argv[index + 1];
    switch (arg) {
      case "--postgres":
        if (!value) throw new Error("--postgres needs a URL");
        options.postgresUrl = value;
        index += 1;
        break;
      case "--no-external":
      case "--no-postgres":
        options.external = false;
        break;
      case "--no-embedded":
        options.embedded = false;
        break;
      case "--no-ceiling":
        options.ceiling = false;
        break;
      case "--no-processing":
        options.processing = false;
        break;
      case "--rate":
        options.rate = number(arg, value);
        index += 1;
        break;
      case "--seconds":
        options.seconds = number(arg, value);
        index += 1;
        break;
      case "--concurrency":
        options.concurrency = Math.round(number(arg, value));
        index += 1;
        break;
      case "--burst":
        options.burst = Math.round(number(arg, value));
        index += 1;
        break;
      case "--drain-timeout":
        options.drainTimeoutS = number(arg, value);
        index += 1;
        break;
      case "--out":
        if (!value) throw new Error("--out needs a path");
        options.out = path.resolve(value);
        index += 1;
        break;
      case "--quiet-wait":
        options.quietWaitS = number(arg, value);
        index += 1;
        break;
      case "--attempts":
        options.attempts = Math.round(number(arg, value));
        index += 1;
        break;
      case "--latency-log":
        if (!value) throw new Error("--latency-log needs a path");
        options.latencyLog = path.resolve(value);
        index += 1;
        break;
      default:
        throw new Error(`unknown option ${String(arg)} (see the header of bench/ingest.ts)`);
    }
  }
  return options;
}

interface PostgresTarget {
  url: string;
  label: string;
  /** CPU time used so far by the server (undefined when it is not ours to watch). */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

/** Server version and durability settings, for the report; `show` runs `SHOW <name>` and returns its rows. */
async function describeSettings(show: (name: string) => Promise<Array<Record<string, unknown>>>): Promise<string> {
  const setting = async (name: string): Promise<string> => {
    const value = (await show(name))[0]?.[name];
    return typeof value === "string" ? value : "?";
  };
  return `PostgreSQL ${await setting("server_version")} (fsync ${await setting("fsync")}, synchronous_commit ${await setting("synchronous_commit")}, shared_buffers ${await setting("shared_buffers")})`;
}

async function describeServer(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await describeSettings(async (name) => (await client.query<Record<string, unknown>>(`SHOW ${name}`)).rows);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The external target: a fresh database on the given server, or else a second embedded server
 * (the same engine and settings as the app's own) started here in a temp dir, whose URL the app
 * gets as DATABASE_URL, so it treats it as an external server.
 */
async function openPostgres(options: Options): Promise<PostgresTarget> {
  if (options.postgresUrl) {
    const database: TestDatabase = await createTestDatabase(options.postgresUrl, { prefix: "fb_bench" });
    try {
      return { url: database.url, label: `external: ${await describeServer(database.url)}, the given server`, cpuMs: () => undefined, stop: () => database.drop() };
    } catch (error) {
      await database.drop().catch(() => undefined);
      throw error;
    }
  }
  const dir = await mkdtemp(path.join(tmpdir(), "firebreak-bench-pg-"));
  let server: Awaited<ReturnType<typeof startEmbeddedServer>>;
  try {
    server = await startEmbeddedServer({ dataDir: dir, logger: captureLogs("warn").logger });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const stopOnExit = (): void => {
    try {
      process.kill(server.pid, "SIGQUIT"); // this process is exiting without stop(): do not leave the server behind
    } catch {
      // already gone
    }
  };
  process.once("exit", stopOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener("exit", stopOnExit);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const label = `external: ${await describeServer(server.url)}, a second embedded server (src/db/embedded-server.ts) started by the benchmark in tmpdir and given to the app as DATABASE_URL: the same engine and settings as the embedded target`;
    return { url: server.url, label, cpuMs: () => serverCpuMs(server.pid), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The postmaster pid of the embedded server of the app whose DATA_DIR is `dataDir`. */
function embeddedPostmaster(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time (ms) used so far by the PostgreSQL server whose postmaster is `postmaster`: the
 * postmaster, its live children (backends and auxiliary processes), and the children it already reaped.
 */
function serverCpuMs(postmaster: number | undefined): number | undefined {
  if (postmaster === undefined) return undefined;
  try {
    let ticks = 0;
    let found = false;
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      } catch {
        continue; // exited meanwhile
      }
      // After "(comm) ": state ppid ... utime(12th) stime cutime cstime.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const self = Number(entry) === postmaster;
      if (!self && Number(fields[1]) !== postmaster) continue;
      found ||= self;
      ticks += Number(fields[11]) + Number(fields[12]) + (self ? Number(fields[13]) + Number(fields[14]) : 0);
    }
    return found ? ticks * 10 : undefined; // USER_HZ = 100 on Linux
  } catch {
    return undefined;
  }
}

interface Ceiling {
  url: string;
  close(): Promise<void>;
}

/** The ceiling: reads the body and JSON.parses it, nothing else. */
async function startCeiling(): Promise<Ceiling> {
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      let alerts = 0;
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (parsed && typeof parsed === "object" && "alerts" in parsed && Array.isArray(parsed.alerts)) alerts = parsed.alerts.length;
      } catch {
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, alerts }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/alertmanager`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------
// Measurements against the app

interface Backlog {
  /** Rows of alert_deliveries not processed yet. */
  unprocessed: number;
  dueJobs: number;
  /** Rows of alert_deliveries. */
  deliveries: number;
}

/** Rows of alert_deliveries (every acknowledged delivery is committed there before its 2xx). */
async function storedDeliveries(app: TestApp): Promise<number> {
  return app.database.prisma.alertDelivery.count();
}

async function backlog(app: TestApp): Promise<Backlog> {
  const prisma = app.database.prisma;
  const unprocessed = await prisma.alertDelivery.count({ where: { processedAt: null } });
  const dueJobs = await prisma.job.count({ where: { status: { in: ["PENDING", "RUNNING"] }, runAt: { lte: new Date() } } });
  const deliveries = await prisma.alertDelivery.count();
  return { unprocessed, dueJobs, deliveries };
}

interface Drain {
  /** Seconds until nothing was left, or null when it did not drain within the timeout. */
  seconds: number | null;
  left: Backlog;
  /** Deliveries processed per second while draining. */
  processedPerSecond: number;
}

/**
 * Waits until every delivery is processed, no job is due, and no request is
 * still being stored (the row count stopped moving: requests the client gave
 * up on may still be in the server).
 */
async function waitDrain(app: TestApp, timeoutS: number): Promise<Drain> {
  const started = performance.now();
  const initial = await backlog(app);
  let left = initial;
  let previous = -1;
  while (performance.now() - started < timeoutS * 1_000) {
    left = await backlog(app);
    if (left.unprocessed === 0 && left.dueJobs === 0 && left.deliveries === previous) {
      const seconds = (performance.now() - started) / 1_000;
      const processed = initial.unprocessed + (left.deliveries - initial.deliveries);
      return { seconds, left, processedPerSecond: seconds > 0 ? processed / seconds : Number.NaN };
    }
    previous = left.deliveries;
    await sleep(250);
  }
  const seconds = (performance.now() - started) / 1_000;
  return { seconds: null, left, processedPerSecond: (initial.unprocessed + (left.deliveries - initial.deliveries) - left.unprocessed) / seconds };
}

/** Without processing: waits (bounded) until the server has stored every request it still holds. */
async function waitStored(app: TestApp, timeoutS: number): Promise<void> {
  const started = performance.now();
  let previous = -1;
  while (performance.now() - started < timeoutS * 1_000) {
    const count = await storedDeliveries(app);
    if (count === previous) return;
    previous = count;
    await sleep(250);
  }
}

interface PhaseReport {
  target: string;
  phase: string;
  load: LoadResult;
  storedRows: number | null;
  backlogAtEnd: Backlog | null;
  drain: Drain | null;
  /** The noise (see noiseOf) of attempts measured and discarded for a noisier one than this. */
  discarded?: number[];
}

interface TargetReport {
  target: string;
  phases: PhaseReport[];
  /** The ceiling's burst, measured right before this target's burst (same load, same moment's machine). */
  pairedCeiling?: LoadResult;
  totals: Record<string, number | string>;
  problems: string[];
  /** The database server the app ran on, when the report should name it (the embedded one). */
  database?: string;
}

function logTo(options: Options, label: string): Pick<PhaseCommon, "latencyLog" | "label"> {
  return options.latencyLog ? { latencyLog: options.latencyLog, label: label.replaceAll(",", "") } : {};
}

/**
 * Runs phases A and B against a Firebreak on `databaseUrl` (the external target; `dbCpuMs` is its
 * server's CPU) or, without one, on its embedded default in a temp DATA_DIR (then the CPU of the
 * app's own server is measured here).
 */
async function benchApp(
  label: string,
  load: LoadGenerator,
  options: Options,
  databaseUrl: string | undefined,
  dbCpuMs?: () => number | undefined,
  ceilingBurst?: () => Promise<LoadResult>,
): Promise<TargetReport> {
  const slack: FakeSlack = await startFakeSlack({ scopes: loadManifest().oauth_config.scopes.bot, rateLimits: false }); // measures Firebreak, not Slack's tiers
  const dataDir = await mkdtemp(path.join(tmpdir(), "firebreak-bench-"));
  const logs = captureLogs("warn");
  const dbCpu = dbCpuMs ?? (() => serverCpuMs(embeddedPostmaster(dataDir)));
  // Should this process exit without app.stop() (the watchdog), the app's own server must not outlive it.
  const stopOrphan = (): void => {
    const pid = databaseUrl ? undefined : embeddedPostmaster(dataDir);
    try {
      if (pid !== undefined) process.kill(pid, "SIGQUIT");
    } catch {
      // already gone
    }
  };
  process.once("exit", stopOrphan);
  let app: TestApp | undefined;
  try {
    app = options.processing
      ? await startTestApp({ slack, dataDir, logs, env: { ALERTMANAGER_TOKEN: TOKEN }, ...(databaseUrl ? { databaseUrl } : {}) })
      : await startWithoutWorker(slack, dataDir, logs, databaseUrl);
    const url = `${app.url}/webhooks/alertmanager`;
    const sql = app.database.sql;
    const database = databaseUrl
      ? undefined
      : `embedded default: ${await describeSettings((name) => sql.query({ text: `SHOW ${name}`, values: [] }))}, the app's own server (src/db/embedded-server.ts) on a DATA_DIR in tmpdir`;
    console.error(`[bench] ${label}: app on ${app.url}${database ? `, ${database}` : ""}`);

    // Warm-up (JIT, connection pool, prepared plans) on groups of their own, then drained.
    await load.run({ kind: "burst", url, token: TOKEN, namespace: "warmup", firstRound: 0, concurrency: options.concurrency, requests: WARMUP_REQUESTS, maxSeconds: 30 });
    if (options.processing) await waitDrain(app, options.drainTimeoutS);
    else await waitStored(app, options.drainTimeoutS);
    const deliveryRows = async (): Promise<number> => (app ? storedDeliveries(app) : 0);

    const phases: PhaseReport[] = [];
    /** Rounds of payloads used so far: every attempt sends payloads of its own (new states). */
    let round = 0;
    const roundsOf = (requests: number): number => Math.ceil(requests / COPIES / GROUPS);

    // A: fixed rate.
    const phaseA = await quietest(options.attempts, `${label} A`, async () => {
      const before = await deliveryRows();
      console.error(`[bench] ${label}: phase A, ${options.rate} req/s for ${options.seconds} s`);
      const rate = await load.run({ ...logTo(options, `${label} A`), kind: "rate", url, token: TOKEN, namespace: "bench", firstRound: round, rate: options.rate, seconds: options.seconds }, dbCpu);
      round += roundsOf(rate.sent);
      const stored = (await deliveryRows()) - before;
      const atEnd = await backlog(app as TestApp);
      console.error(`[bench] ${label}: phase A done (p99 ${rate.latency.p99.toFixed(1)} ms, ${noiseText(noiseOf([rate]))}); draining ${atEnd.unprocessed} deliveries`);
      const drain = options.processing ? await waitDrain(app as TestApp, options.drainTimeoutS) : null;
      if (!options.processing) await waitStored(app as TestApp, options.drainTimeoutS);
      return { noise: noiseOf([rate]), report: { target: label, phase: `A: ${options.rate} req/s × ${options.seconds} s`, load: rate, storedRows: stored, backlogAtEnd: atEnd, drain } };
    });
    phases.push(phaseA.report);

    // B: burst, right after the ceiling's burst when there is one (the machine's speed drifts).
    const phaseB = await quietest(options.attempts, `${label} B`, async () => {
      const pairedCeiling = ceilingBurst ? await ceilingBurst() : undefined;
      const before = await deliveryRows();
      console.error(`[bench] ${label}: phase B, ${options.burst} requests over ${options.concurrency} connections`);
      const burst = await load.run({ ...logTo(options, `${label} B`), kind: "burst", url, token: TOKEN, namespace: "bench", firstRound: round, concurrency: options.concurrency, requests: options.burst, maxSeconds: 60 }, dbCpu);
      round += roundsOf(burst.sent);
      const stored = (await deliveryRows()) - before;
      const atEnd = await backlog(app as TestApp);
      const noise = noiseOf(pairedCeiling ? [pairedCeiling, burst] : [burst]);
      console.error(`[bench] ${label}: phase B done (${((burst.ok / burst.elapsedMs) * 1_000).toFixed(0)} req/s, ${noiseText(noise)}); draining ${atEnd.unprocessed} deliveries`);
      const drain = options.processing ? await waitDrain(app as TestApp, options.drainTimeoutS) : null;
      if (!options.processing) await waitStored(app as TestApp, options.drainTimeoutS);
      return { noise, pairedCeiling, report: { target: label, phase: `B: burst, ${options.concurrency} connections`, load: burst, storedRows: stored, backlogAtEnd: atEnd, drain } };
    });
    phases.push(phaseB.report);
    const pairedCeiling = phaseB.pairedCeiling;

    const prisma = app.database.prisma;
    const jobs = await prisma.job.groupBy({ by: ["status"], _count: { _all: true } });
    const totals: Record<string, number | string> = {
      deliveries: await prisma.alertDelivery.count(),
      "alert groups": await prisma.alertGroup.count(),
      alerts: await prisma.alert.count(),
      incidents: await prisma.incident.count(),
      "incidents with a channel": await prisma.incident.count({ where: { channelId: { not: null } } }),
      "timeline events": await prisma.timelineEvent.count(),
      "Slack calls": slack.calls.length,
      jobs: jobs.map((row) => `${row.status} ${row._count._all}`).join(", "),
    };
    if (options.processing) {
      // Two namespaces (warm-up, bench) of GROUPS groups; each critical group is one incident, whatever the duplicates.
      const expected = { groups: 2 * GROUPS, alerts: 2 * GROUPS * ALERTS_PER_DELIVERY, incidents: 2 * CRITICAL_GROUPS };
      const consistent = totals["alert groups"] === expected.groups && totals.alerts === expected.alerts && totals.incidents === expected.incidents;
      totals.consistent = consistent ? "yes (one group per groupKey, one incident per critical group)" : `NO (expected ${JSON.stringify(expected)})`;
    }
    const problems = logs.lines
      .map((line) => {
        try {
          const parsed = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
          return (parsed.level ?? 0) >= 50 ? `${parsed.msg ?? "?"}${parsed.err?.message ? `: ${parsed.err.message.split("\n")[0]}` : ""}` : undefined;
        } catch {
          return undefined;
        }
      })
      .filter((line): line is string => line !== undefined);
    return { target: label, phases, totals, problems, ...(pairedCeiling ? { pairedCeiling } : {}), ...(database ? { database } : {}) };
  } finally {
    await app?.stop();
    process.removeListener("exit", stopOrphan);
    await slack.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** As startTestApp, with the job worker claiming nothing (--no-processing). */
async function startWithoutWorker(slack: FakeSlack, dataDir: string, logs: LogCapture, databaseUrl: string | undefined): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
    SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
    SLACK_API_URL: slack.url,
    DATA_DIR: dataDir,
    ALERTMANAGER_TOKEN: TOKEN,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const app = await startFirebreak(config, { logger: logs.logger, worker: { concurrency: 0 } });
  return { url: app.url, database: app.database, fileConfig: app.fileConfig, stop: () => app.stop(), dataDir, logs };
}

async function benchCeiling(load: LoadGenerator, options: Options, ceiling: Ceiling): Promise<TargetReport> {
  await load.run({ kind: "burst", url: ceiling.url, token: null, namespace: "warmup", firstRound: 0, concurrency: options.concurrency, requests: WARMUP_REQUESTS, maxSeconds: 30 });
  const rate = await load.run({ ...logTo(options, "ceiling A"), kind: "rate", url: ceiling.url, token: null, namespace: "bench", firstRound: 0, rate: options.rate, seconds: options.seconds });
  const burst = await ceilingBurst(load, options, ceiling, "ceiling B");
  const label = "Ceiling: node:http + JSON.parse";
  return {
    target: label,
    phases: [
      { target: label, phase: `A: ${options.rate} req/s × ${options.seconds} s`, load: rate, storedRows: null, backlogAtEnd: null, drain: null },
      { target: label, phase: `B: burst, ${options.concurrency} connections`, load: burst, storedRows: null, backlogAtEnd: null, drain: null },
    ],
    totals: {},
    problems: [],
  };
}

function ceilingBurst(load: LoadGenerator, options: Options, ceiling: Ceiling, logLabel: string): Promise<LoadResult> {
  return load.run({ ...logTo(options, logLabel), kind: "burst", url: ceiling.url, token: null, namespace: "bench", firstRound: 0, concurrency: options.concurrency, requests: options.burst, maxSeconds: 60 });
}

// ---------------------------------------------------------------------------
// Report

const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : "-");
const thousands = (value: number): string => (Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "-");

const EMBEDDED_TARGET = "Firebreak, embedded PostgreSQL (default)";
const EXTERNAL_TARGET = "Firebreak, external PostgreSQL (DATABASE_URL)";

/**
 * The figures before the embedded database became a PostgreSQL server: bench/results/ingest.md as
 * committed (run of 2026-11-22 16:16 UTC, 0-1 % steal, Node v20.20.2), and its drains.
 */
const BEFORE = {
  source: "bench/results/ingest.md before this change (git HEAD: run of 2026-11-22 16:16 UTC, Node v20.20.2, 0-1 % steal)",
  pglite: { label: "PGlite (in-process, WebAssembly)", burst: 2_502, ceiling: 5_859, share: 42.7, p99: 8.8, drain: 22 },
  postgres: { label: "PostgreSQL 15.20 from Debian's packages (fsync + synchronous_commit on)", burst: 2_654, ceiling: 6_109, share: 43.5, p99: 35.6, drain: 59 },
} as const;

interface Headline {
  burst: number;
  ceiling: number;
  p99: number;
  /** Deliveries/s processed while draining after the burst; NaN when it did not drain. */
  drain: number;
}

function headline(report: TargetReport, fallbackCeiling: number): Headline | undefined {
  const [rate, burst] = report.phases;
  if (!rate || !burst) return undefined;
  const ceiling = report.pairedCeiling ? perSecond(report.pairedCeiling.ok, report.pairedCeiling.elapsedMs) : fallbackCeiling;
  const drain = burst.drain && burst.drain.seconds !== null ? burst.drain.processedPerSecond : Number.NaN;
  return { burst: perSecond(burst.load.ok, burst.load.elapsedMs), ceiling, p99: rate.load.latency.p99, drain };
}

/** `share` (%): as reported, when the ceiling given is rounded. */
function shareText(burst: number, ceiling: number, share = (burst / ceiling) * 100): string {
  return Number.isFinite(ceiling) ? `${thousands(burst)} req/s = ${share.toFixed(1)} % of ${thousands(ceiling)}` : `${thousands(burst)} req/s (no ceiling measured)`;
}

function signed(value: number, digits: number, unit: string): string {
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(digits)}${unit}`;
}
const perSecond = (count: number, elapsedMs: number): number => (count / elapsedMs) * 1_000;

function statusText(load: LoadResult): string {
  const bad = Object.entries(load.statuses).filter(([status]) => !status.startsWith("2"));
  return bad.length === 0 ? "0" : bad.map(([status, count]) => `${count}× ${status}`).join(", ");
}

function cpuText(load: LoadResult): string {
  if (!load.cpu) return "-";
  const { app, load: generator, db, other, stolen } = load.cpu;
  return `${app.toFixed(0)} / ${generator.toFixed(0)} / ${db === null ? "-" : db.toFixed(0)} / ${other.toFixed(0)} / ${stolen.toFixed(0)}${isNoisy(load) ? " (noisy)" : ""}`;
}

function attemptsText(phase: PhaseReport): string {
  if (!phase.discarded) return "";
  return ` (quietest of ${phase.discarded.length + 1} attempts; the others: noise ${phase.discarded.map((noise) => `${noise.toFixed(0)} %`).join(", ")})`;
}

function drainText(phase: PhaseReport): string {
  if (!phase.backlogAtEnd) return "-";
  if (!phase.drain) return "processing off";
  const { drain, backlogAtEnd } = phase;
  if (drain.seconds === null) return `not drained (${drain.left.unprocessed} deliveries, ${drain.left.dueJobs} jobs left)`;
  const processed = backlogAtEnd.unprocessed + (drain.left.deliveries - backlogAtEnd.deliveries);
  return `${drain.seconds.toFixed(1)} s for ${processed} deliveries (${drain.processedPerSecond.toFixed(0)}/s)`;
}

function render(options: Options, reports: TargetReport[], databases: string[], quiet: Quiet, window?: CpuWindow): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const lines: string[] = [];
  lines.push("# Alertmanager webhook ingest benchmark", "");
  lines.push(`- Date: ${new Date().toISOString()}`);
  lines.push(`- Machine: ${cpus().length} CPUs (nproc), ${cpu}; Node ${process.version}; ${process.platform}/${process.arch}`);
  lines.push(`- Databases: ${databases.join("; ")}`);
  if (window) lines.push(`- CPU during the whole run: ${describeCpu(window)}`);
  lines.push(
    `- Other processes used ${quiet.busy.toFixed(0)} % of the machine just before the run${quiet.busy > QUIET_BUSY_PERCENT ? ` (**not quiet** after waiting ${quiet.waitedS.toFixed(0)} s: the numbers below are pessimistic)` : ""}.`,
  );
  lines.push(
    `- Load: POST /webhooks/alertmanager with a bearer token, ${ALERTS_PER_DELIVERY} alerts per request (~${Math.round((reports[0]?.phases[0]?.load.bodyBytes ?? 0) / 1024)} KiB JSON, encoded as Alertmanager's Go encoder does: <, > and & as \\u escapes, so every generator URL has a \\u0026), ${GROUPS} groups (${CRITICAL_GROUPS} critical: each declares an incident), every delivery sent ${COPIES} times (identical copies, as from an HA pair); deliveries of a group go in cycles of ${ALERTS_PER_DELIVERY - 1}: the k-th of a cycle reports k of its alerts resolved, and a new cycle fires them again with a later startsAt, so every delivery is a distinct payload carrying real transitions (resolves, alerts firing again) and only the HA copies are identical; load generator in a child process, keep-alive HTTP/1.1 on loopback. Warm-up: ${WARMUP_REQUESTS} requests on other groups (drained), before phase A, for every target.`,
  );
  lines.push(`- Command: \`npx tsx bench/ingest.ts ${process.argv.slice(2).join(" ")}\``.replace(/ `$/, "`"), "");
  lines.push("| Target | Phase | Requests | 2xx | Errors | req/s | alerts/s accepted | p50 ms | p99 ms | max ms | CPU % app / load / db / other / stolen | Rows stored | Backlog at end | Drain |");
  lines.push("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |");
  for (const report of reports) {
    for (const phase of report.phases) {
      const { load } = phase;
      const reqs = perSecond(load.ok, load.elapsedMs);
      const alerts = (reqs * ALERTS_PER_DELIVERY).toFixed(0);
      lines.push(
        `| ${report.target} | ${phase.phase}${attemptsText(phase)} | ${load.sent} | ${load.ok} | ${statusText(load)} | ${reqs.toFixed(0)} | ${phase.storedRows === null ? `(${alerts} parsed)` : alerts} | ${ms(load.latency.p50)} | ${ms(load.latency.p99)} | ${ms(load.latency.max)} | ${cpuText(load)} | ${phase.storedRows ?? "-"} | ${phase.backlogAtEnd?.unprocessed ?? "-"} | ${drainText(phase)} |`,
      );
    }
  }
  lines.push("");
  lines.push(
    `Latency in phase A counts from each request's scheduled send time (open loop); in phase B, from its actual send. Alerts/s accepted = 2xx answers × ${ALERTS_PER_DELIVERY} ÷ phase duration; every 2xx means the delivery is durably stored, but an identical copy (the HA pair's second send, arriving while its original is being stored or within 1 s of its commit) is answered with its original's row instead of a row of its own: Rows stored = rows added to \`alert_deliveries\` during the phase, so about half the 2xx (each row × ${ALERTS_PER_DELIVERY} alerts is what processing works on). Drain = time after the phase until every delivery is processed and no job is due. CPU: % of one core used during the phase by this process (app and fake Slack; or the ceiling), by the load generator, by the target's PostgreSQL server (its postmaster and every child of it: backends, WAL writer, checkpointer...; the app's own server on the embedded target, the one this run started on the external target; "-" for a server given with --postgres), by everything else (other processes), and stolen: time the hypervisor gave this virtual machine's CPUs to other guests (steal time, counted on top of the rest); "(noisy)" when other processes or steal took more than ${NOISY_OTHER_PERCENT} %, then the phase's figures are pessimistic; the machine has ${cpus().length * 100} %. A Firebreak phase measured noisy is measured again after its drain (phase B with its paired ceiling burst), up to ${options.attempts} attempts in all, and the quietest attempt is the one shown; its noise is the most that other processes or steal took in any of its loads. Client timeout ${REQUEST_TIMEOUT_MS / 1_000} s ("network" errors).`,
    "",
  );

  const ceiling = reports.find((report) => report.target.startsWith("Ceiling"));
  const ceilingBurst = ceiling?.phases[1]?.load;
  const ceilingRate = ceilingBurst ? perSecond(ceilingBurst.ok, ceilingBurst.elapsedMs) : Number.NaN;
  lines.push("## Targets", "");
  lines.push(
    `Each target's burst is compared with the ceiling's burst measured right before it (the same load, ${options.burst} requests over ${options.concurrency} connections): on this virtual machine the CPU time available drifts by tens of percent within minutes (see the stolen column), so a ceiling measured minutes earlier is not a fair yardstick. The ceiling's own row above is its first measurement.`,
    "",
  );
  lines.push(`| Target | p99 < 50 ms at ${options.rate} req/s, no errors | ≥ 1/3 of the ceiling's throughput |`);
  lines.push("| --- | --- | --- |");
  for (const report of reports) {
    if (report === ceiling) continue;
    const [rate, burst] = report.phases;
    if (!rate || !burst) continue;
    const latencyOk = rate.load.latency.p99 < 50 && rate.load.ok === rate.load.sent;
    const throughput = perSecond(burst.load.ok, burst.load.elapsedMs);
    const yardstick = report.pairedCeiling ? perSecond(report.pairedCeiling.ok, report.pairedCeiling.elapsedMs) : ceilingRate;
    const share = throughput / yardstick;
    lines.push(
      `| ${report.target} | ${latencyOk ? "met" : "NOT met"} (p99 ${ms(rate.load.latency.p99)} ms, ${rate.load.sent - rate.load.ok} errors) | ${Number.isFinite(share) ? `${share >= 1 / 3 ? "met" : "NOT met"} (${throughput.toFixed(0)} req/s = ${(share * 100).toFixed(1)} % of ${yardstick.toFixed(0)}${report.pairedCeiling ? `, ceiling CPU ${cpuText(report.pairedCeiling)}` : ""})` : `${throughput.toFixed(0)} req/s (no ceiling measured)`} |`,
    );
  }
  lines.push("");

  const measured = reports.filter((report) => report !== ceiling).map((report) => ({ report, figures: headline(report, ceilingRate) }));
  if (measured.length > 0) {
    lines.push("## Against the embedded PGlite database it replaces", "");
    lines.push(
      `Per target: the burst as a share of the paired \`node:http\` ceiling measured right before it (the comparable figure across runs: absolute requests/s move with the machine), p99 at ${options.rate} req/s (phase A), and the processing drain after the burst (deliveries processed per second once the burst is over). The rows "before" are ${BEFORE.source}. Both targets now run the same engine, PostgreSQL in a process of its own; the embedded target is the app's own server (no DATABASE_URL), the external one is reached through DATABASE_URL.`,
      "",
    );
    lines.push(`| Target | Burst, share of the paired ceiling | p99 at ${options.rate} req/s | Processing drain after the burst |`);
    lines.push("| --- | ---: | ---: | ---: |");
    for (const { report, figures } of measured) {
      if (!figures) continue;
      lines.push(`| ${report.target} | ${shareText(figures.burst, figures.ceiling)} | ${ms(figures.p99)} ms | ${Number.isFinite(figures.drain) ? `${figures.drain.toFixed(0)} deliveries/s` : "did not drain"} |`);
    }
    for (const before of [BEFORE.pglite, BEFORE.postgres]) {
      lines.push(`| before: ${before.label} | ${shareText(before.burst, before.ceiling, before.share)} | ${ms(before.p99)} ms | ≈${before.drain} deliveries/s |`);
    }
    lines.push("");
    const pglite = BEFORE.pglite;
    for (const { report, figures } of measured) {
      if (!figures) continue;
      const share = (figures.burst / figures.ceiling) * 100;
      const pgliteShare = pglite.share;
      const parts = [
        Number.isFinite(share) ? `burst ${share.toFixed(1)} % of the paired ceiling vs PGlite's ${pgliteShare.toFixed(1)} % (${signed(share - pgliteShare, 1, " points")}; ${thousands(figures.burst)} vs ${thousands(pglite.burst)} req/s)` : `burst ${thousands(figures.burst)} req/s vs PGlite's ${thousands(pglite.burst)} (no ceiling measured)`,
        `p99 at ${options.rate} req/s ${ms(figures.p99)} ms vs ${ms(pglite.p99)} ms`,
        Number.isFinite(figures.drain) ? `processing drain ${figures.drain.toFixed(0)} deliveries/s vs ≈${pglite.drain}/s (×${(figures.drain / pglite.drain).toFixed(1)})` : "processing did not drain in time",
      ];
      lines.push(`- **${report.target} vs PGlite**: ${parts.join("; ")}.`);
      if (report.target.startsWith(EXTERNAL_TARGET) && Number.isFinite(share)) {
        const before = BEFORE.postgres;
        lines.push(
          `- ${report.target} vs the PostgreSQL target before (${before.label}): burst ${share.toFixed(1)} % vs ${before.share.toFixed(1)} % of the paired ceiling; p99 ${ms(figures.p99)} vs ${ms(before.p99)} ms; drain ${Number.isFinite(figures.drain) ? figures.drain.toFixed(0) : "-"} vs ≈${before.drain} deliveries/s.`,
        );
      }
    }
    lines.push("");
  }

  const noisy = reports.flatMap((report) =>
    [...report.phases, ...(report.pairedCeiling ? [{ phase: "ceiling measured before its burst", load: report.pairedCeiling }] : [])]
      .filter((phase) => isNoisy(phase.load))
      .map((phase) => `${report.target}, ${phase.phase} (other ${(phase.load.cpu?.other ?? 0).toFixed(0)} %, stolen ${(phase.load.cpu?.stolen ?? 0).toFixed(0)} %)`),
  );
  if (noisy.length > 0) {
    lines.push(`**Noisy run**: other processes or the hypervisor took more than ${NOISY_OTHER_PERCENT} % of a core during ${noisy.join("; ")}; those figures are pessimistic.`, "");
  }
  for (const report of reports) {
    if (Object.keys(report.totals).length === 0) continue;
    lines.push(`### ${report.target}: state at the end`, "");
    lines.push(Object.entries(report.totals).map(([key, value]) => `${key}: ${value}`).join(" · "), "");
    if (report.problems.length > 0) {
      const counts = new Map<string, number>();
      for (const problem of report.problems) counts.set(problem, (counts.get(problem) ?? 0) + 1);
      lines.push("Errors logged by the app:", "");
      for (const [problem, count] of [...counts.entries()].slice(0, 10)) lines.push(`- ${count}× ${problem.slice(0, 300)}`);
      lines.push("");
    }
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------

interface Quiet {
  busy: number;
  waitedS: number;
}

const QUIET_BUSY_PERCENT = 10;
/** A phase during which other processes, or the hypervisor (steal), took more than this (% of one core) is reported as noisy. */
const NOISY_OTHER_PERCENT = 15;

function isNoisy(load: LoadResult): boolean {
  return (load.cpu?.other ?? 0) > NOISY_OTHER_PERCENT || (load.cpu?.stolen ?? 0) > NOISY_OTHER_PERCENT;
}

/** A phase's noise: the most that other processes or steal took (% of one core) in any of its loads. */
function noiseOf(loads: readonly LoadResult[]): number {
  return Math.max(0, ...loads.map((load) => Math.max(load.cpu?.other ?? 0, load.cpu?.stolen ?? 0)));
}

function noiseText(noise: number): string {
  return `noise ${noise.toFixed(0)} %${noise > NOISY_OTHER_PERCENT ? " (noisy)" : ""}`;
}

/**
 * Measures (`measure` drains after itself, so attempts start alike) until an attempt is quiet or
 * `attempts` were made, or one did not drain in time; returns the quietest, with the noise of
 * the others in `discarded`.
 */
async function quietest<T extends { noise: number; report: PhaseReport }>(attempts: number, label: string, measure: () => Promise<T>): Promise<T> {
  const results: T[] = [];
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const result = await measure();
    results.push(result);
    if (result.noise <= NOISY_OTHER_PERCENT) break;
    if (result.report.drain && result.report.drain.seconds === null) {
      console.error(`[bench] ${label}: attempt ${attempt} was noisy, but its backlog did not drain, so another attempt would not start alike; keeping what was measured`);
      break;
    }
    if (attempt < attempts) console.error(`[bench] ${label}: attempt ${attempt} was noisy (${noiseText(result.noise)}); measuring again`);
  }
  const kept = results.reduce((best, result) => (result.noise < best.noise ? result : best));
  const discarded = results.filter((result) => result !== kept).map((result) => result.noise);
  return discarded.length > 0 ? { ...kept, report: { ...kept.report, discarded } } : kept;
}

/** Waits (bounded) until other processes leave the machine alone, so they do not skew the numbers. */
async function waitQuiet(maxWaitS: number): Promise<Quiet> {
  const started = performance.now();
  let busy = await machineLoad(2_000);
  while (busy > QUIET_BUSY_PERCENT && performance.now() - started < maxWaitS * 1_000) {
    console.error(`[bench] other processes use ${busy.toFixed(0)} % of the machine; waiting for quiet (at most ${maxWaitS} s)`);
    await sleep(3_000);
    busy = await machineLoad(2_000);
  }
  return { busy, waitedS: (performance.now() - started) / 1_000 };
}

/** The headline figures (for `npm run bench`'s summary): per target, p99 at the fixed rate, the burst against its paired ceiling, the drain. */
function figures(options: Options, reports: readonly TargetReport[]): Figure[] {
  const ceiling = reports.find((report) => report.target.startsWith("Ceiling"));
  const ceilingBurst = ceiling?.phases[1]?.load;
  const ceilingRate = ceilingBurst ? perSecond(ceilingBurst.ok, ceilingBurst.elapsedMs) : Number.NaN;
  const list: Figure[] = [];
  for (const report of reports) {
    if (report === ceiling) continue;
    const figures = headline(report, ceilingRate);
    const rate = report.phases[0]?.load;
    if (!figures || !rate) continue;
    const db = report.target.startsWith(EMBEDDED_TARGET) ? "embedded" : "external";
    const name = db === "embedded" ? "embedded (default)" : "external PostgreSQL (DATABASE_URL)";
    const errors = rate.sent - rate.ok;
    const share = figures.burst / figures.ceiling;
    list.push({
      ...below(
        { id: `ingest.${db}.p99`, label: `Alertmanager delivery ack p50 / p99 at ${options.rate} requests/s (open loop), ${name}`, value: `${ms(rate.latency.p50)} / ${ms(rate.latency.p99)} ms, ${errors} errors`, target: "p99 < 50 ms, no errors", numbers: { p50: rate.latency.p50, p99: rate.latency.p99, errors } },
        rate.latency.p99,
        50,
      ),
      ...(errors > 0 ? { met: false } : {}),
    });
    list.push({
      id: `ingest.${db}.burst`,
      label: `Ingest throughput, a burst of ${options.burst} requests over ${options.concurrency} connections, against a bare \`node:http\` + JSON.parse ceiling measured right before it, ${name}`,
      value: Number.isFinite(share) ? `${thousands(figures.burst)} req/s = ${(share * 100).toFixed(1)} % of ${thousands(figures.ceiling)}` : `${thousands(figures.burst)} req/s`,
      target: "≥ 1/3 of the ceiling",
      met: Number.isFinite(share) ? share >= 1 / 3 : false,
      numbers: { requestsPerSecond: figures.burst, ceiling: figures.ceiling, share },
    });
    list.push(untargeted({ id: `ingest.${db}.drain`, label: `Processing after the burst (deliveries processed per second while draining), ${name}`, value: Number.isFinite(figures.drain) ? `${figures.drain.toFixed(0)} deliveries/s` : "did not drain", numbers: { deliveriesPerSecond: figures.drain } }));
  }
  return list;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const watch = watchCpu();
  const watchdog = setTimeout(() => {
    console.error(`[bench] aborted: still running after ${RUN_DEADLINE_MS / 60_000} minutes`);
    process.exit(2);
  }, RUN_DEADLINE_MS);
  watchdog.unref();

  const quiet = await waitQuiet(options.quietWaitS);
  const load = await LoadGenerator.start();
  const reports: TargetReport[] = [];
  const databases: string[] = [];
  const ceiling = options.ceiling ? await startCeiling() : undefined;
  const pairedCeiling = ceiling ? (target: string) => () => ceilingBurst(load, options, ceiling, `ceiling before ${target} B`) : () => undefined;
  try {
    if (ceiling) {
      console.error("[bench] ceiling: node:http + JSON.parse");
      reports.push(await benchCeiling(load, options, ceiling));
    }
    if (options.embedded) {
      const report = await benchApp(`${EMBEDDED_TARGET}${options.processing ? "" : " (processing off)"}`, load, options, undefined, undefined, pairedCeiling("embedded"));
      databases.push(report.database ?? "embedded default");
      reports.push(report);
    }
    if (options.external) {
      let pg: PostgresTarget | undefined;
      try {
        pg = await openPostgres(options);
      } catch (error) {
        const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
        console.error(`[bench] external PostgreSQL skipped: ${reason}`);
        databases.push(`external PostgreSQL skipped (${reason})`);
      }
      if (pg) {
        try {
          databases.push(pg.label);
          reports.push(await benchApp(`${EXTERNAL_TARGET}${options.processing ? "" : " (processing off)"}`, load, options, pg.url, () => pg?.cpuMs(), pairedCeiling("external")));
        } finally {
          await pg.stop();
        }
      }
    }
  } finally {
    load.stop();
    await ceiling?.close();
  }

  const window = watch.stop();
  const markdown = render(options, reports, databases, quiet, window);
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, `${markdown}\n`);
  const noisy = reports.flatMap((report) => [...report.phases.map((phase) => phase.load), ...(report.pairedCeiling ? [report.pairedCeiling] : [])].filter(isNoisy).map((load) => `${report.target}: a ${load.kind} phase was noisy (other processes ${(load.cpu?.other ?? 0).toFixed(0)} %, stolen ${(load.cpu?.stolen ?? 0).toFixed(0)} % of a core)`));
  const notes = [...(quiet.busy > QUIET_BUSY_PERCENT ? [`other processes used ${quiet.busy.toFixed(0)} % of the machine just before the run, after waiting ${quiet.waitedS.toFixed(0)} s for quiet`] : []), ...noisy];
  await writeResult(options.out, { bench: "ingest", startedAt: startedAt.toISOString(), command: commandLine("bench/ingest.ts"), cpu: window, figures: figures(options, reports), notes });
  console.log(markdown);
  console.error(`[bench] written to ${path.relative(process.cwd(), options.out)}`);
}

const isEntry = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry && process.argv.includes("--load-child")) {
  runLoadChild();
} else if (isEntry) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
