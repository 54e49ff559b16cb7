/**
 * Slash-command acknowledgement latency while alerts flow, against a bare `node:http` floor.
 *
 *   npm run bench:ack -- [--seconds 20] [--warmup-seconds 5] [--command-rate 50] [--alert-rate 100]
 *                        [--command list --command help] [--no-external] [--postgres <url>]
 *                        [--node-options "<flags>"] [--out bench/results/ack.md]
 *
 * Per database (the embedded default, then an external PostgreSQL through DATABASE_URL: a second
 * embedded server started for the run, or `--postgres <url>`, on which a fresh database is
 * created and dropped; `--no-external` skips it): Firebreak as a process of its own (src/main.ts
 * with `npm start`'s node flags, as bench/declare.ts and bench/paging.ts start it), a fake Slack
 * (test/fakes/slack) answering at once with its rate limits off, in this process, on loopback.
 * For each `--command` (default `list`, then `help`), two series of the same load, one after the
 * other:
 *
 *   1. the floor: a bare `node:http` server (bench/lib/bare-server.ts, a process of its own with
 *      the same node flags) that reads each body, checks the Slack signature (v0 HMAC-SHA256,
 *      the 5-minute timestamp window, timingSafeEqual) or the Alertmanager bearer token (in
 *      constant time) and answers 200;
 *   2. Firebreak, once its backlog from the previous series is done (no job due or running, no
 *      delivery waiting: its /metrics).
 *
 * The load, open loop (every request is sent at its scheduled time whatever the answers, so a
 * slow answer cannot hold back the next request and hide its own latency): signed
 * `/incident <command>` slash commands at `--command-rate` per second and, at the same time,
 * Alertmanager deliveries at `--alert-rate` per second (bench/ingest.ts's payloads: 20 alerts,
 * ~14 KiB, 50 groups of which 10 critical, each delivery sent twice as an HA pair sends it) with
 * the bearer token, over keep-alive connections, for `--warmup-seconds` (not counted) and then
 * `--seconds` (measured). A command's latency runs from its scheduled send time to the end of
 * the HTTP response (Slack's acknowledgement). Each series declares its own 10 incidents (its
 * own alert groups), during its warm-up.
 *
 * Target: Firebreak's p99 under 5 times the bare server's p99 measured right before it.
 * Writes the report (default bench/results/ack.md) and its figures as JSON next to it.
 * Loopback only; every request has a 10 s timeout; the run is aborted after 20 minutes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { apologyFor } from "../src/slack/views.ts";
import { startFakeSlack, type FakeSlack } from "../test/fakes/slack/index.ts";
import { mainEnv, startMain } from "../test/support/main-process.ts";
import { freePort } from "../test/support/net.ts";
import { createTestDatabase, startThrowawayServer, type ThrowawayServer } from "../test/support/postgres.ts";
import { signature, slashCommandBody, TEST_SIGNING_SECRET } from "../test/support/slack-requests.ts";
import { buildPayload, goJson } from "./ingest.ts";
import { describeCpu, describeMachine, machineInfo, processTable, treeCpuMs, treeOf, watchCpu, type CpuWindow } from "./lib/machine.ts";
import { benchArgs } from "./lib/options.ts";
import { commandLine, untargeted, writeResult, type Figure } from "./lib/results.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const AM_TOKEN = "bench-ack-alertmanager-token-0123456789";
const REQUEST_TIMEOUT_MS = 10_000;
const RUN_DEADLINE_MS = 20 * 60_000;
/** bench/ingest.ts's load shape: 50 groups, every delivery sent twice (an HA pair). */
const GROUPS = 50;
const COPIES = 2;
/** The target: Firebreak's p99 under this many times the bare server's. */
const TARGET_RATIO = 5;
/** Slack's own deadline for an acknowledgement. */
const SLACK_DEADLINE_MS = 3_000;

interface Options {
  seconds: number;
  warmupSeconds: number;
  commandRate: number;
  alertRate: number;
  commands: string[];
  external: boolean;
  postgres: string | undefined;
  nodeOptions: string;
  out: string;
}

function parseOptions(argv: readonly string[]): Options {
  const args = benchArgs("bench/ack.ts", argv, {
    numbers: ["seconds", "warmup-seconds", "command-rate", "alert-rate"],
    strings: ["postgres", "out", "node-options"],
    flags: ["no-external"],
    lists: ["command"],
  });
  const commands = args.list("command").map((text) => text.trim());
  for (const text of commands) if (text === "" || /^declare\b/i.test(text)) throw new Error(`--command ${JSON.stringify(text)}: give a subcommand such as list or help (a declare would measure channel creation, see bench/declare.ts)`);
  return {
    seconds: args.number("seconds", 20),
    warmupSeconds: args.number("warmup-seconds", 5),
    commandRate: args.number("command-rate", 50),
    alertRate: args.number("alert-rate", 100),
    commands: commands.length > 0 ? [...new Set(commands)] : ["list", "help"],
    external: !args.flag("no-external"),
    postgres: args.string("postgres"),
    nodeOptions: args.string("node-options") ?? productionNodeOptions(),
    out: args.path("out", path.join(ROOT, "bench/results/ack.md")),
  };
}

/** The node flags `npm start` runs the app with (package.json config.nodeOptions). */
function productionNodeOptions(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { config?: { nodeOptions?: string } };
  return pkg.config?.nodeOptions ?? "";
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the load ---------------------------------------------------------------------------------

interface Outcome {
  status: number;
  body: string;
  error?: string;
}

function post(agent: Agent, url: URL, headers: Record<string, string | number>, body: Buffer, keepBody: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent, headers: { ...headers, "content-length": body.length }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => {
        if (keepBody) chunks.push(chunk);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (error) => resolve({ status: 0, body: "", error: error.message }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", (error) => resolve({ status: 0, body: "", error: error.message }));
    req.end(body);
  });
}

interface Series {
  /** Latencies (ms) of the measured requests, from their scheduled send time. */
  latencies: number[];
  /** Each measured request's scheduled send time (ms after the measured part began), in the order of `latencies`. */
  offsets: number[];
  sent: number;
  /** Answered 200 with what was asked (for a command: not Firebreak's apology). */
  ok: number;
  statuses: Record<string, number>;
  /** Commands answered with Firebreak's "slow" or "error" apology instead of their reply. */
  apologies: number;
  firstError: string | null;
}

const emptySeries = (): Series => ({ latencies: [], offsets: [], sent: 0, ok: 0, statuses: {}, apologies: 0, firstError: null });

interface LoadResult {
  commands: Series;
  alerts: Series;
  /** The machine during the measured part. */
  cpu: CpuWindow;
  /** CPU (% of one core) during the measured part: the target's process and its database, the bare server, this process (load and fake Slack). */
  targetCpu: { app: number; db: number; generator: number };
}

const APOLOGIES = new Set([apologyFor("slow").text, apologyFor("error").text]);

/** The Alertmanager bodies of a series, built before the clock starts: request i is delivery floor(i / COPIES). */
function alertBodies(namespace: string, count: number): Buffer[] {
  const cache = new Map<string, Buffer>();
  const bodies: Buffer[] = [];
  for (let index = 0; index < count; index += 1) {
    const delivery = Math.floor(index / COPIES);
    const key = `${delivery % GROUPS}:${Math.floor(delivery / GROUPS)}`;
    let body = cache.get(key);
    if (!body) {
      body = Buffer.from(goJson(buildPayload(namespace, delivery % GROUPS, Math.floor(delivery / GROUPS))));
      cache.set(key, body);
    }
    bodies.push(body);
  }
  return bodies;
}

/**
 * Sends both streams open loop for warm-up + measured seconds; counts the requests scheduled in
 * the measured part. `cpuOf` returns the CPU time (ms) so far of the target's process and database.
 */
async function runLoad(baseUrl: string, commandText: string, namespace: string, options: Options, cpuOf: () => { app: number; db: number }): Promise<LoadResult> {
  const totalMs = (options.warmupSeconds + options.seconds) * 1_000;
  const warmupMs = options.warmupSeconds * 1_000;
  const commandCount = Math.round((totalMs / 1_000) * options.commandRate);
  const alertCount = Math.round((totalMs / 1_000) * options.alertRate);
  const bodies = alertBodies(namespace, alertCount);
  const commandsUrl = new URL("/slack/events", baseUrl);
  const alertsUrl = new URL("/webhooks/alertmanager", baseUrl);
  const commandAgent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const alertAgent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const result = { commands: emptySeries(), alerts: emptySeries() };
  const pending: Array<Promise<void>> = [];
  const record = (series: Series, outcome: Outcome, latency: number, offset: number, isCommand: boolean): void => {
    series.latencies.push(latency);
    series.offsets.push(offset - warmupMs);
    const key = outcome.status === 0 ? "network" : String(outcome.status);
    series.statuses[key] = (series.statuses[key] ?? 0) + 1;
    let apology = false;
    if (isCommand && outcome.status === 200) {
      try {
        const text = (JSON.parse(outcome.body) as { text?: unknown }).text;
        apology = typeof text === "string" && APOLOGIES.has(text);
      } catch {
        apology = false;
      }
      if (apology) series.apologies += 1;
    }
    if (outcome.status === 200 && !apology) series.ok += 1;
    else series.firstError ??= outcome.error ?? (apology ? "answered with an apology" : `HTTP ${outcome.status}: ${outcome.body.slice(0, 200)}`);
  };

  let cpuWatch: ReturnType<typeof watchCpu> | undefined;
  let targetBefore = { app: 0, db: 0 };
  let ownBefore = process.cpuUsage();
  const started = performance.now();
  const measureTimer = setTimeout(() => {
    cpuWatch = watchCpu();
    targetBefore = cpuOf();
    ownBefore = process.cpuUsage();
  }, warmupMs);
  const commandInterval = 1_000 / options.commandRate;
  const alertInterval = 1_000 / options.alertRate;
  let commandsSent = 0;
  let alertsSent = 0;
  while (commandsSent < commandCount || alertsSent < alertCount) {
    const now = performance.now();
    while (commandsSent < commandCount && started + commandsSent * commandInterval <= now) {
      const offset = commandsSent * commandInterval;
      const scheduled = started + offset;
      const body = slashCommandBody({ text: commandText });
      const timestamp = Math.floor(Date.now() / 1_000);
      const headers = { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": String(timestamp), "x-slack-signature": signature(TEST_SIGNING_SECRET, timestamp, body) };
      const counted = offset >= warmupMs;
      if (counted) result.commands.sent += 1;
      pending.push(post(commandAgent, commandsUrl, headers, Buffer.from(body), true).then((outcome) => (counted ? record(result.commands, outcome, performance.now() - scheduled, offset, true) : undefined)));
      commandsSent += 1;
    }
    while (alertsSent < alertCount && started + alertsSent * alertInterval <= now) {
      const offset = alertsSent * alertInterval;
      const scheduled = started + offset;
      const counted = offset >= warmupMs;
      if (counted) result.alerts.sent += 1;
      const body = bodies[alertsSent] ?? Buffer.alloc(0);
      pending.push(post(alertAgent, alertsUrl, { "content-type": "application/json", authorization: `Bearer ${AM_TOKEN}` }, body, false).then((outcome) => (counted ? record(result.alerts, outcome, performance.now() - scheduled, offset, false) : undefined)));
      alertsSent += 1;
    }
    const nextCommand = commandsSent < commandCount ? started + commandsSent * commandInterval : Number.POSITIVE_INFINITY;
    const nextAlert = alertsSent < alertCount ? started + alertsSent * alertInterval : Number.POSITIVE_INFINITY;
    const next = Math.min(nextCommand, nextAlert);
    if (Number.isFinite(next)) await sleep(Math.max(0, next - performance.now()));
  }
  await Promise.all(pending);
  clearTimeout(measureTimer);
  const watch = cpuWatch ?? watchCpu();
  const cpu = watch.stop();
  const targetAfter = cpuOf();
  const own = process.cpuUsage(ownBefore);
  const elapsedMs = cpu.seconds * 1_000;
  const share = (ms: number): number => (elapsedMs > 0 ? (ms / elapsedMs) * 100 : Number.NaN);
  commandAgent.destroy();
  alertAgent.destroy();
  return {
    ...result,
    cpu,
    targetCpu: { app: share(targetAfter.app - targetBefore.app), db: share(targetAfter.db - targetBefore.db), generator: share((own.user + own.system) / 1_000) },
  };
}

// ---- the processes ----------------------------------------------------------------------------

interface Target {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function waitReady(url: string, exited: () => string | undefined, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const reason = exited();
    if (reason !== undefined) throw new Error(`${what} exited before it was ready: ${reason}`);
    const ready = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`${what} was not ready within 60 s`);
    await sleep(100);
  }
}

/** Firebreak as its own process (src/main.ts, as `npm start` runs it, with its node flags), ready. */
async function startApp(slack: FakeSlack, dataDir: string, databaseUrl: string | undefined, nodeOptions: string): Promise<Target> {
  const port = await freePort();
  const main = startMain({
    ...mainEnv(port, slack.url, dataDir),
    NODE_OPTIONS: nodeOptions,
    LOG_LEVEL: "warn",
    ALERTMANAGER_TOKEN: AM_TOKEN,
    // The default paces conversations.create to 20 a minute (Slack's Tier 2): the incidents the
    // alerts declare would wait for it; channel creation is not what this measures.
    SLACK_CHANNELS_PER_MINUTE: "6000",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  void main.exit.then(() => (exited = true));
  await waitReady(`${url}/readyz`, () => (exited ? `${main.stderr()}${main.stdout().slice(-4_000)}` : undefined), "Firebreak");
  return {
    url,
    pid: main.child.pid ?? 0,
    async stop() {
      if (!exited) main.child.kill("SIGTERM");
      await Promise.race([main.exit, sleep(30_000).then(() => main.child.kill("SIGKILL"))]);
      await main.exit;
      const errors = main.stdout().split("\n").filter((line) => line.includes('"level":50') || line.includes('"level":60'));
      if (errors.length > 0) console.warn(`[ack] the app logged ${errors.length} error(s), e.g. ${errors[0]?.slice(0, 400)}`);
    },
  };
}

/** The bare server (bench/lib/bare-server.ts) as its own process, with the app's node flags, ready. */
async function startBare(nodeOptions: string): Promise<Target> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "bench/lib/bare-server.ts")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NODE_OPTIONS: nodeOptions, BARE_PORT: String(port), BARE_SIGNING_SECRET: TEST_SIGNING_SECRET, BARE_ALERTMANAGER_TOKEN: AM_TOKEN },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let exited = false;
  void exit.then(() => (exited = true));
  const deadline = Date.now() + 30_000;
  while (!output.includes("listening ")) {
    if (exited) throw new Error(`the bare server exited: ${output.slice(-2_000)}`);
    if (Date.now() > deadline) throw new Error("the bare server did not listen within 30 s");
    await sleep(50);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      await Promise.race([exit, sleep(5_000).then(() => child.kill("SIGKILL"))]);
      await exit;
    },
  };
}

/** Jobs due or running and deliveries waiting to be stored, from the app's /metrics. */
async function backlog(appUrl: string): Promise<{ jobs: number; waiting: number } | undefined> {
  try {
    const response = await fetch(`${appUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    let jobs = 0;
    let waiting = 0;
    for (const line of text.split("\n")) {
      const value = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (line.startsWith("firebreak_jobs_pending{") && !line.includes('state="scheduled"')) jobs += value;
      else if (line.startsWith("firebreak_alert_deliveries_waiting ")) waiting += value;
    }
    return { jobs, waiting };
  } catch {
    return undefined;
  }
}

/** Waits (at most `timeoutMs`) until the app has nothing due: the previous series' work must not load the next one. */
async function settle(appUrl: string, timeoutMs: number): Promise<{ seconds: number; left: { jobs: number; waiting: number } | undefined }> {
  const started = performance.now();
  let left = await backlog(appUrl);
  while ((left === undefined || left.jobs > 0 || left.waiting > 0) && performance.now() - started < timeoutMs) {
    await sleep(500);
    left = await backlog(appUrl);
  }
  await sleep(1_000); // the last job's connections and timers
  return { seconds: (performance.now() - started) / 1_000, left };
}

// ---- statistics -------------------------------------------------------------------------------

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

interface Stats {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const statsOf = (values: readonly number[]): Stats => ({ p50: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99), max: values.length > 0 ? Math.max(...values) : Number.NaN });
const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : "-");

/** p99 of each 5-second slice of the measured part, e.g. "12 · 30 · 41 · 25": where in the series the tail came from. */
function slices(series: Series, seconds: number): string {
  const count = Math.max(1, Math.ceil(seconds / 5));
  const parts: string[] = [];
  for (let slice = 0; slice < count; slice += 1) {
    const values = series.latencies.filter((_, index) => Math.floor((series.offsets[index] ?? 0) / 5_000) === slice);
    parts.push(values.length > 0 ? percentile(values, 99).toFixed(0) : "-");
  }
  return parts.join(" · ");
}

// ---- runs -------------------------------------------------------------------------------------

interface Pair {
  database: string;
  command: string;
  bare: LoadResult;
  app: LoadResult;
  /** Firebreak's backlog when its series ended (jobs due or running, deliveries waiting), and how long it took to clear before the next series. */
  backlogAfter: { jobs: number; waiting: number } | undefined;
  settledSeconds: number | null;
}

async function benchDatabase(name: string, options: Options, bare: Target, databaseUrl: string | undefined, dbCpu: () => number): Promise<Pair[]> {
  const slack = await startFakeSlack({ rateLimits: false }); // measures Firebreak, not Slack's tiers
  const dataDir = await mkdtemp(path.join(tmpdir(), "fb-bench-ack-"));
  let app: Target | undefined;
  const pairs: Pair[] = [];
  try {
    app = await startApp(slack, dataDir, databaseUrl, options.nodeOptions);
    const appPid = app.pid;
    const appCpu = (): { app: number; db: number } => {
      const table = processTable();
      const tree = treeCpuMs(appPid, table);
      const own = table.get(appPid)?.cpuMs ?? 0;
      return { app: own, db: tree - own + dbCpu() };
    };
    const bareCpu = (): { app: number; db: number } => ({ app: treeCpuMs(bare.pid), db: 0 });
    for (const [index, command] of options.commands.entries()) {
      const tag = `${name.startsWith("embedded") ? "e" : "x"}${index + 1}`;
      const settled = index === 0 ? undefined : await settle(app.url, 120_000);
      if (settled?.left && (settled.left.jobs > 0 || settled.left.waiting > 0)) console.warn(`[ack] ${name}: backlog not cleared after ${settled.seconds.toFixed(0)} s: ${JSON.stringify(settled.left)}`);
      console.error(`[ack] ${name}, /incident ${command}: the bare server (${options.warmupSeconds} s warm-up + ${options.seconds} s)`);
      const bareResult = await runLoad(bare.url, command, `bare${tag}`, options, bareCpu);
      console.error(`[ack]   bare: commands p50 ${ms(percentile(bareResult.commands.latencies, 50))} / p99 ${ms(percentile(bareResult.commands.latencies, 99))} ms; ${describeCpu(bareResult.cpu)}`);
      console.error(`[ack] ${name}, /incident ${command}: Firebreak`);
      const appResult = await runLoad(app.url, command, `ack${tag}`, options, appCpu);
      const left = await backlog(app.url);
      console.error(`[ack]   Firebreak: commands p50 ${ms(percentile(appResult.commands.latencies, 50))} / p99 ${ms(percentile(appResult.commands.latencies, 99))} ms, ${appResult.commands.ok}/${appResult.commands.sent} ok; alerts p99 ${ms(percentile(appResult.alerts.latencies, 99))} ms; backlog at the end ${JSON.stringify(left)}; ${describeCpu(appResult.cpu)}`);
      const after = await settle(app.url, 120_000);
      pairs.push({ database: name, command, bare: bareResult, app: appResult, backlogAfter: left, settledSeconds: after.left && after.left.jobs === 0 && after.left.waiting === 0 ? after.seconds : null });
    }
  } finally {
    await app?.stop();
    await slack.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  return pairs;
}

// ---- the report -------------------------------------------------------------------------------

function statusText(series: Series): string {
  const bad = Object.entries(series.statuses).filter(([status]) => status !== "200");
  const parts = bad.map(([status, count]) => `${count}× ${status}`);
  if (series.apologies > 0) parts.push(`${series.apologies} apologies`);
  return parts.length === 0 ? "none" : `${parts.join(", ")}${series.firstError ? ` (first: ${series.firstError.slice(0, 120)})` : ""}`;
}

const cpuCount = (): number => machineInfo().cpus;

/** Everything else busy during the series (other processes, other containers), in % of one core. */
function othersOfOneCore(result: LoadResult): number {
  return Math.max(0, result.cpu.busyPercent * cpuCount() - result.targetCpu.app - result.targetCpu.db - result.targetCpu.generator);
}

function cpuText(result: LoadResult, bare: boolean): string {
  const parts = [result.targetCpu.app, bare ? Number.NaN : result.targetCpu.db, result.targetCpu.generator, othersOfOneCore(result), result.cpu.stealPercent * cpuCount()];
  return parts.map((value) => (Number.isFinite(value) ? value.toFixed(0) : "-")).join(" / ");
}

function verdictOf(pair: Pair): { ratio: number; met: boolean } {
  const app = percentile(pair.app.commands.latencies, 99);
  const bare = percentile(pair.bare.commands.latencies, 99);
  const ratio = app / bare;
  const allAnswered = pair.app.commands.ok === pair.app.commands.sent;
  return { ratio, met: Number.isFinite(ratio) && ratio < TARGET_RATIO && allAnswered };
}

function report(pairs: readonly Pair[], options: Options, startedAt: Date, overall: CpuWindow, databases: readonly string[]): string {
  const machine = machineInfo();
  const lines = [
    "# Slash-command acknowledgement latency under alert load",
    "",
    `- Date: ${startedAt.toISOString()} (report written ${new Date().toISOString()})`,
    `- Machine: ${describeMachine(machine)}`,
    `- CPU during the whole run: ${describeCpu(overall)}`,
    `- Options: \`--seconds ${options.seconds} --warmup-seconds ${options.warmupSeconds} --command-rate ${options.commandRate} --alert-rate ${options.alertRate} ${options.commands.map((command) => `--command ${command}`).join(" ")}\`${options.external ? "" : " `--no-external`"}${options.postgres ? " with `--postgres <url>`" : ""}; the app's and the bare server's NODE_OPTIONS \`${options.nodeOptions}\``,
    `- Databases: ${databases.join("; ")}`,
    `- Load, open loop (each request sent at its scheduled time, whatever the answers): signed \`/incident <command>\` slash commands (\`application/x-www-form-urlencoded\`, X-Slack-Signature v0 over a fresh timestamp, as Slack sends them) at ${options.commandRate}/s and, at the same time, Alertmanager deliveries at ${options.alertRate}/s (bench/ingest.ts's payloads: 20 alerts, ~14 KiB, 50 groups of which 10 critical, each delivery sent twice as an HA pair does; bearer token), over keep-alive HTTP/1.1 connections on loopback; ${options.warmupSeconds} s of warm-up (not counted) then ${options.seconds} s measured: ${Math.round(options.seconds * options.commandRate)} commands and ${Math.round(options.seconds * options.alertRate)} deliveries per series. Every series sends alerts of groups of its own, so Firebreak declares 10 incidents (channels, headers: the fake Slack answering at once) during each warm-up, and records the alerts' transitions (resolves, alerts firing again) throughout.`,
    "- The app: a process of its own (`src/main.ts` through tsx, as `npm start`'s flags), production poll interval, channel creation paced at 6,000 a minute; fake Slack (`rateLimits: false`) in the benchmark's process. The bare server: `bench/lib/bare-server.ts`, a process of its own with the same node flags: reads the body, checks the Slack signature (HMAC-SHA256 v0, 5-minute window either way, timingSafeEqual) or the bearer token (SHA-256 of both, timingSafeEqual) and answers 200; measured right before each Firebreak series, with the same load.",
    `- Latency: from each request's scheduled send time to the end of its HTTP response (for a command, Slack's acknowledgement: Firebreak answers with the reply itself). Request timeout ${REQUEST_TIMEOUT_MS / 1_000} s; Slack gives up after ${SLACK_DEADLINE_MS / 1_000} s. Percentiles by nearest rank.`,
    `- Command: \`${commandLine("bench/ack.ts")}\``,
    "",
    "## Summary",
    "",
    `| Database | Command | Firebreak ack p50 / p90 / p99 / max (ms) | Bare server ack p50 / p90 / p99 / max (ms) | p99 ratio | Target: p99 < ${TARGET_RATIO} × the bare server's |`,
    "| --- | --- | ---: | ---: | ---: | --- |",
  ];
  for (const pair of pairs) {
    const app = statsOf(pair.app.commands.latencies);
    const bare = statsOf(pair.bare.commands.latencies);
    const { ratio, met } = verdictOf(pair);
    lines.push(
      `| ${pair.database} | \`/incident ${pair.command}\` | **${ms(app.p50)} / ${ms(app.p90)} / ${ms(app.p99)}** / ${ms(app.max)} | ${ms(bare.p50)} / ${ms(bare.p90)} / ${ms(bare.p99)} / ${ms(bare.max)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(1)} ×` : "-"} | ${met ? "met" : "**not met**"} (${ms(app.p99)} vs ${ms(TARGET_RATIO * bare.p99)} ms${pair.app.commands.ok === pair.app.commands.sent ? "" : `; ${pair.app.commands.sent - pair.app.commands.ok} commands not answered with their reply`}) |`,
    );
  }
  lines.push(
    "",
    "## Every series",
    "",
    `CPU in % of one core during the measured part (the machine has ${cpuCount() * 100} %): the target's process / its PostgreSQL (the app's own server, or the external one; "-" for the bare server) / this process (load generator and fake Slack) / everything else busy on the machine (other processes, other containers) / stolen by the hypervisor.`,
    "",
    "| Database | Command | Server | Commands (errors) | Command ack p50 / p90 / p99 / max | Command p99 per 5 s | Deliveries (errors) | Delivery ack p50 / p90 / p99 / max | CPU % target / db / load / others / stolen | Backlog at the end |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  );
  for (const pair of pairs) {
    for (const [server, result] of [
      ["bare", pair.bare],
      ["Firebreak", pair.app],
    ] as const) {
      const commands = statsOf(result.commands.latencies);
      const alerts = statsOf(result.alerts.latencies);
      const backlogText = server === "bare" ? "-" : pair.backlogAfter ? `${pair.backlogAfter.jobs} jobs due or running, ${pair.backlogAfter.waiting} deliveries waiting; ${pair.settledSeconds === null ? "not cleared within 120 s" : `cleared ${pair.settledSeconds.toFixed(0)} s later`}` : "?";
      lines.push(
        `| ${pair.database} | \`${pair.command}\` | ${server} | ${result.commands.sent} (${statusText(result.commands)}) | ${ms(commands.p50)} / ${ms(commands.p90)} / ${ms(commands.p99)} / ${ms(commands.max)} | ${slices(result.commands, options.seconds)} | ${result.alerts.sent} (${statusText(result.alerts)}) | ${ms(alerts.p50)} / ${ms(alerts.p90)} / ${ms(alerts.p99)} / ${ms(alerts.max)} | ${cpuText(result, server === "bare")} | ${backlogText} |`,
      );
    }
  }
  lines.push("");
  for (const pair of pairs) {
    for (const [server, result] of [
      ["bare", pair.bare],
      ["Firebreak", pair.app],
    ] as const) {
      lines.push(`- ${pair.database}, \`${pair.command}\`, ${server}: ${describeCpu(result.cpu)}.`);
    }
  }
  lines.push(
    "",
    `\`list\` reads the open incidents (one query on the app's pool, the same pool the alert ingest writes through; a second one counts them when there are more than the 20 it shows) and answers with them; \`help\` answers from memory. A declare is not measured here: its acknowledgement waits for the declare transaction, and what follows it is paced by Slack (bench/declare.ts).`,
    "",
  );
  return lines.join("\n");
}

function figures(pairs: readonly Pair[], options: Options): Figure[] {
  const list: Figure[] = [];
  for (const pair of pairs) {
    const app = statsOf(pair.app.commands.latencies);
    const bare = statsOf(pair.bare.commands.latencies);
    const alerts = statsOf(pair.app.alerts.latencies);
    const { ratio, met } = verdictOf(pair);
    const db = pair.database.startsWith("embedded") ? "embedded" : "external";
    const id = `ack.${db}.${pair.command.replaceAll(/\W+/g, "_")}`;
    list.push({
      id,
      label: `\`/incident ${pair.command}\` ack p50 / p99, ${options.commandRate}/s with ${options.alertRate} deliveries/s, ${pair.database}; the bare server under the same load`,
      value: `${ms(app.p50)} / ${ms(app.p99)} ms; bare ${ms(bare.p50)} / ${ms(bare.p99)} ms (p99 ${Number.isFinite(ratio) ? ratio.toFixed(1) : "-"} ×)`,
      target: `p99 < ${TARGET_RATIO} × the bare server's (${ms(TARGET_RATIO * bare.p99)} ms)`,
      met,
      numbers: { p50: app.p50, p90: app.p90, p99: app.p99, max: app.max, bareP50: bare.p50, bareP90: bare.p90, bareP99: bare.p99, ratio, commands: pair.app.commands.sent, answered: pair.app.commands.ok },
    });
    list.push(
      untargeted({
        id: `${id}.alerts`,
        label: `Alertmanager delivery ack p50 / p99 meanwhile, ${pair.database}`,
        value: `${ms(alerts.p50)} / ${ms(alerts.p99)} ms; bare ${ms(percentile(pair.bare.alerts.latencies, 50))} / ${ms(percentile(pair.bare.alerts.latencies, 99))} ms`,
        numbers: { p50: alerts.p50, p99: alerts.p99, deliveries: pair.app.alerts.sent, accepted: pair.app.alerts.ok },
      }),
    );
  }
  return list;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const deadline = setTimeout(() => {
    console.error(`bench/ack.ts: aborted after ${RUN_DEADLINE_MS / 60_000} minutes`);
    process.exit(2);
  }, RUN_DEADLINE_MS);
  deadline.unref();
  const overall = watchCpu();
  const pairs: Pair[] = [];
  const databases: string[] = [];
  const bare = await startBare(options.nodeOptions);
  try {
    databases.push("embedded: the app's own PostgreSQL server (src/db/embedded-server.ts) on a DATA_DIR in tmpdir");
    pairs.push(...(await benchDatabase("embedded (default)", options, bare, undefined, () => 0)));
    if (options.external) {
      let own: ThrowawayServer | undefined;
      try {
        const base = options.postgres ?? (own = await startThrowawayServer()).url;
        databases.push(options.postgres ? "external: a fresh database on the server given with --postgres (its CPU not counted)" : "external: a second embedded server started by the benchmark, given to the app as DATABASE_URL");
        const database = await createTestDatabase(base, { prefix: "fb_bench_ack" });
        // The external server's processes are children of this one (own) or not ours to watch (--postgres).
        const serverCpu = (): number => {
          if (!own) return 0;
          const table = processTable();
          let total = 0;
          for (const pid of treeOf(table, process.pid)) {
            const entry = table.get(pid);
            if (entry && entry.ppid === process.pid && entry.comm === "postgres") total += treeCpuMs(pid, table);
          }
          return total;
        };
        try {
          pairs.push(...(await benchDatabase("external PostgreSQL (DATABASE_URL)", options, bare, database.url, serverCpu)));
        } finally {
          await database.drop();
        }
      } finally {
        await own?.remove();
      }
    }
  } finally {
    await bare.stop();
  }
  const cpu = overall.stop();
  const text = report(pairs, options, startedAt, cpu, databases);
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, text);
  const notes = pairs.filter((pair) => pair.app.cpu.stealPercent > 5 || othersOfOneCore(pair.app) > 15).map((pair) => `noisy: ${pair.database}, ${pair.command}: ${describeCpu(pair.app.cpu)}`);
  await writeResult(options.out, { bench: "ack", startedAt: startedAt.toISOString(), command: commandLine("bench/ack.ts"), cpu, figures: figures(pairs, options), notes });
  const summary = text.slice(text.indexOf("## Summary"), text.indexOf("## Every series"));
  console.log(`\n${summary.trim()}\n\nFull report: ${path.relative(process.cwd(), options.out)}`);
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
