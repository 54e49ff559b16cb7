/**
 * Paging latency: from an Alertmanager delivery reaching Firebreak to the PagerDuty trigger
 * (Events API v2) reaching PagerDuty, next to the same delivery to the first message in the new
 * incident channel.
 *
 *   npm run bench:paging -- [--alerts 15] [--runs 3] [--warmup 1] [--gap-ms 0 --gap-ms 600 ...]
 *                           [--node-options "<flags>"] [--postgres <url>] [--out bench/results/paging.md]
 *
 * Per run: the app as a process of its own (src/main.ts with `npm start`'s node flags, the
 * production poll interval, on a fresh database), a fake Slack and a fake PagerDuty (an HTTPS
 * server with a certificate of a private CA made for this benchmark, trusted by the app through
 * NODE_EXTRA_CA_CERTS, as a self-hoster trusts a corporate CA), both answering at once, in this
 * process, on loopback, with their rate limits off. The YAML configuration has one service,
 * `checkout`, with a `pagerduty` block (routing key and escalation policy) and an alerts route
 * declaring SEV1 for `service=checkout, severity=critical`; PAGERDUTY_TOKEN is set, so each
 * incident also asks PagerDuty who is on call (a user of the fake Slack by the same email, made
 * commander), as in production. `--alerts` Alertmanager v4 notifications of one firing alert
 * each, with a distinct alertname and instance (so each is a group of its own and declares its
 * own incident), POSTed to /webhooks/alertmanager one after the other, each `--gap-ms` after the
 * previous one's trigger has reached PagerDuty and its channel's first message has reached Slack.
 * `--gap-ms` may be given several times: each gap is measured on its own (runs × databases); the
 * default is 0 (as soon as the previous one arrived) and 600 (beyond the 500 ms pacing of
 * PagerDuty events below, which back-to-back alerts for one service otherwise measure). The times come from the fakes' records of each request's arrival:
 * the fake PagerDuty's request log (`at`) for the trigger, the fake Slack's call log for
 * `conversations.create` and the channel's first `chat.postMessage`. Two databases: the embedded
 * default (the app's own server) and an external PostgreSQL through DATABASE_URL (a second
 * embedded server started for the run, or `--postgres <url>`, on which a fresh database is
 * created and dropped).
 *
 * As in production: the job worker polls every 500 ms; an Alertmanager delivery is processed
 * once the webhook has been quiet for 100 ms ("ingest first"); events to one routing key are
 * paced 500 ms apart (PagerDuty's ~120 a minute). Channel creation is paced at 6,000 a minute
 * instead of the default 20 (Slack's Tier 2), which back-to-back incidents would otherwise measure.
 *
 * Writes the Markdown report and, next to it, its headline figures as JSON (`paging.json`).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFakePagerDuty, type FakePagerDuty, type FakePagerDutyRequest } from "../test/fakes/pagerduty/index.ts";
import { startFakeSlack, type FakeSlack, type FakeSlackCall } from "../test/fakes/slack/index.ts";
import { createTestTls, type TestTls } from "../test/setup/tls.global.ts";
import { mainEnv, startMain } from "../test/support/main-process.ts";
import { freePort } from "../test/support/net.ts";
import { createTestDatabase, startThrowawayServer, type ThrowawayServer } from "../test/support/postgres.ts";
import { describeCpu, watchCpu, type CpuWindow } from "./lib/machine.ts";
import { benchArgs } from "./lib/options.ts";
import { commandLine, untargeted, writeResult, type Figure } from "./lib/results.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const AM_TOKEN = "bench-alertmanager-token-0123456789abcdef";
/** An Events API v2 integration key: 32 alphanumeric characters. */
const ROUTING_KEY = "BENCHCHECKOUT0000000000000000001";
const POLICY_ID = "PBENCH01";
const ONCALL = { slackId: "U0BENCHONC", name: "Olivia Oncall", email: "olivia.oncall@example.com" };
const WAIT_MS = 30_000;

interface Options {
  alerts: number;
  runs: number;
  /** Alerts before the measured ones, not counted (JIT, prepared statements, the pool, TLS). */
  warmup: number;
  /** Pause after each alert's trigger and first message, before the next delivery; each gap is a series of its own. */
  gaps: number[];
  postgres: string | undefined;
  out: string;
  /** NODE_OPTIONS of the app (default: package.json config.nodeOptions, as `npm start`). */
  nodeOptions: string;
}

function parseOptions(argv: readonly string[]): Options {
  const args = benchArgs("bench/paging.ts", argv, { numbers: ["alerts", "runs", "warmup"], strings: ["postgres", "out", "node-options"], lists: ["gap-ms"] });
  const gaps = args.list("gap-ms").map((raw) => {
    const gap = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(gap) || gap < 0) throw new Error(`--gap-ms needs a number of milliseconds (0 or more), got ${raw}`);
    return Math.round(gap);
  });
  return {
    alerts: Math.round(args.number("alerts", 15)),
    runs: Math.round(args.number("runs", 3)),
    warmup: args.string("warmup") === undefined ? 1 : Math.round(args.number("warmup", 1)),
    gaps: gaps.length > 0 ? [...new Set(gaps)] : [0, 600],
    postgres: args.string("postgres"),
    out: args.path("out", path.join(ROOT, "bench/results/paging.md")),
    nodeOptions: args.string("node-options") ?? productionNodeOptions(),
  };
}

/** The node flags `npm start` runs the app with (package.json config.nodeOptions). */
function productionNodeOptions(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { config?: { nodeOptions?: string } };
  return pkg.config?.nodeOptions ?? "";
}

/** Resolves when `check` returns a value, polling the fakes' records every 2 ms; bounded. */
async function waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

// ---- the load ---------------------------------------------------------------------------------

/** One alert's names: distinct alertname and instance, so it is a group (and an incident) of its own. */
function alertNames(tag: string) {
  const alertname = `CheckoutDown${tag.toUpperCase()}`;
  const instance = `checkout-${tag}.bench.internal:9100`;
  // The incident's title is the notification's common summary; the channel is inc-<n>-<slug of it>.
  const title = `Bench ${tag} checkout down`;
  return { alertname, instance, title, slug: title.toLowerCase().replaceAll(" ", "-") };
}

/** An Alertmanager v4 notification of one firing alert, as Alertmanager sends it (group_by alertname, service). */
function notification(tag: string): string {
  const { alertname, instance, title } = alertNames(tag);
  const labels = { alertname, instance, job: "checkout", service: "checkout", severity: "critical" };
  const annotations = { summary: title, description: `${instance} answers 5xx to more than 20 % of requests.` };
  return JSON.stringify({
    version: "4",
    groupKey: `{}:{alertname="${alertname}", service="checkout"}`,
    truncatedAlerts: 0,
    status: "firing",
    receiver: "firebreak",
    groupLabels: { alertname, service: "checkout" },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: "http://alertmanager.bench.internal:9093",
    alerts: [
      {
        status: "firing",
        labels,
        annotations,
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: "0001-01-01T00:00:00Z",
        generatorURL: "http://prometheus.bench.internal:9090/graph?g0.expr=up",
        fingerprint: createHash("sha256").update(JSON.stringify(Object.entries(labels).sort())).digest("hex").slice(0, 16),
      },
    ],
  });
}

interface Sample {
  tag: string;
  /** Alertmanager's delivery answered (stored). */
  ackMs: number;
  /** The trigger reached PagerDuty (the fake's record of the accepted request). */
  triggerMs: number;
  /** conversations.create reached Slack. */
  channelMs: number;
  /** The new channel's first chat.postMessage reached Slack. */
  messageMs: number;
  /** Events API requests carrying this trigger (1 unless something was retried). */
  triggerAttempts: number;
  /** When the trigger reached PagerDuty (epoch ms). */
  triggerAt: number;
  /** From the previous trigger (to the same routing key) reaching PagerDuty to this one; null for the first. */
  sincePreviousMs: number | null;
  channelId: string;
  /** The on-call engineer invited into the channel (conversations.invite), measured after the run; null if it never came. */
  oncallMs: number | null;
}

function isTriggerFor(request: FakePagerDutyRequest, title: string): boolean {
  const body = request.json as { event_action?: unknown; payload?: { custom_details?: { title?: unknown } } } | undefined;
  return request.api === "events" && body?.event_action === "trigger" && body.payload?.custom_details?.title === title;
}

async function sendAlerts(target: { slack: FakeSlack; pd: FakePagerDuty; appUrl: string }, count: number, gapMs: number, tagOf: (index: number) => string, previousTriggerAt?: number, oncall = true): Promise<Sample[]> {
  const { slack, pd, appUrl } = target;
  const samples: Sample[] = [];
  let previous = previousTriggerAt;
  const sentAts = new Map<string, number>();
  for (let index = 0; index < count; index += 1) {
    const tag = tagOf(index);
    const { title, slug } = alertNames(tag);
    const body = notification(tag);
    const sentAt = Date.now();
    const response = await fetch(`${appUrl}/webhooks/alertmanager`, {
      method: "POST",
      headers: { authorization: `Bearer ${AM_TOKEN}`, "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await response.text();
    const ackMs = Date.now() - sentAt;
    sentAts.set(tag, sentAt);
    if (response.status !== 200) throw new Error(`the Alertmanager webhook answered ${response.status}`);
    const trigger = await waitFor(() => pd.requests.find((request) => request.status === 202 && isTriggerFor(request, title)), WAIT_MS, `the PagerDuty trigger for "${title}"`);
    const create = await waitFor(
      () => slack.callsTo("conversations.create").find((call: FakeSlackCall) => call.ok && String(call.args.name).endsWith(`-${slug}`)),
      WAIT_MS,
      `conversations.create for "${title}"`,
    );
    const channelId = (create.response.channel as { id?: string } | undefined)?.id;
    if (!channelId) throw new Error("conversations.create answered no channel id");
    const message = await waitFor(() => slack.callsTo("chat.postMessage").find((call) => call.ok && call.args.channel === channelId), WAIT_MS, `the first message in ${channelId}`);
    samples.push({
      tag,
      ackMs,
      triggerMs: trigger.at - sentAt,
      channelMs: create.at - sentAt,
      messageMs: message.at - sentAt,
      triggerAttempts: pd.requests.filter((request) => isTriggerFor(request, title)).length,
      triggerAt: trigger.at,
      sincePreviousMs: previous === undefined ? null : trigger.at - previous,
      channelId,
      oncallMs: null,
    });
    previous = trigger.at;
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  // The on-call engineer's invitation is not waited for between alerts (it is not what paces
  // them); it is read afterwards from the fake Slack's record.
  for (const sample of oncall ? samples : []) {
    const invited = (): FakeSlackCall | undefined =>
      slack.callsTo("conversations.invite").find((call) => call.ok && call.args.channel === sample.channelId && String(call.args.users).split(",").includes(ONCALL.slackId));
    const call = await waitFor(invited, WAIT_MS, `the on-call engineer invited into ${sample.channelId}`).catch(() => undefined);
    sample.oncallMs = call ? call.at - (sentAts.get(sample.tag) ?? Number.NaN) : null;
  }
  return samples;
}

// ---- the app and its fakes --------------------------------------------------------------------

async function writeConfig(dir: string): Promise<string> {
  const file = path.join(dir, "firebreak.yml");
  await writeFile(
    file,
    [
      "paging:",
      "  severities: [SEV1, SEV2]",
      "services:",
      "  - key: checkout",
      "    name: Checkout",
      "    pagerduty:",
      `      routingKey: ${ROUTING_KEY}`,
      `      escalationPolicy: ${POLICY_ID}`,
      "alerts:",
      "  routes:",
      "    - name: checkout-critical",
      "      match: { service: checkout, severity: critical }",
      "      service: checkout",
      "      severity: SEV1",
      "      action: declare",
      "",
    ].join("\n"),
  );
  return file;
}

async function startPagerDuty(tls: TestTls): Promise<FakePagerDuty> {
  // Rate limits off: this measures Firebreak (which paces its own events), not PagerDuty's limits.
  const pd = await startFakePagerDuty({ tls, eventsRateLimit: false, restRateLimit: false });
  const user = pd.addUser({ name: ONCALL.name, email: ONCALL.email });
  const policy = pd.addEscalationPolicy({ id: POLICY_ID, name: "Checkout on-call" });
  pd.addService({ name: "Checkout", escalationPolicyId: policy.id, integrationKey: ROUTING_KEY });
  pd.setOnCall(policy.id, user.id, { level: 1 });
  return pd;
}

interface App {
  url: string;
  stop(): Promise<void>;
}

/** Firebreak as its own process (src/main.ts, as `npm start` runs it, with its node flags), ready. */
async function startApp(fakes: { slack: FakeSlack; pd: FakePagerDuty; tls: TestTls }, dirs: { data: string; config: string }, databaseUrl: string | undefined, nodeOptions: string): Promise<App> {
  const port = await freePort();
  const main = startMain({
    ...mainEnv(port, fakes.slack.url, dirs.data),
    NODE_OPTIONS: nodeOptions,
    // The fake PagerDuty's certificate is signed by this benchmark's CA.
    NODE_EXTRA_CA_CERTS: fakes.tls.caPath,
    LOG_LEVEL: "error",
    FIREBREAK_CONFIG: dirs.config,
    ALERTMANAGER_TOKEN: AM_TOKEN,
    PAGERDUTY_TOKEN: fakes.pd.token,
    PAGERDUTY_API_URL: fakes.pd.url,
    PAGERDUTY_EVENTS_URL: fakes.pd.url,
    // The default paces conversations.create to 20 a minute (Slack's Tier 2); back-to-back
    // incidents would measure that pacing, not Firebreak.
    SLACK_CHANNELS_PER_MINUTE: "6000",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  void main.exit.then(() => (exited = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`Firebreak exited before it was ready: ${main.stderr()}${main.stdout().slice(-4_000)}`);
    const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error("Firebreak was not ready within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    async stop() {
      if (!exited) main.child.kill("SIGTERM");
      await main.exit;
      const errors = main.stdout().split("\n").filter((line) => line.includes('"level":50') || line.includes('"level":60'));
      if (errors.length > 0) console.warn(`the app logged ${errors.length} error(s), e.g. ${errors[0]?.slice(0, 400)}`);
    },
  };
}

// ---- statistics and the machine ---------------------------------------------------------------

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

type Stat = [p50: number, p95: number, max: number];
const stat = (values: readonly number[]): Stat => [percentile(values, 50), percentile(values, 95), Math.max(...values)];
const showStat = ([p50, p95, max]: Stat): string => `${p50} / ${p95} / ${max}`;

/** Busy and stolen time of the machine's CPUs so far (ms), from /proc/stat; zeros where it cannot be read. */
function machineTimes(): { busy: number; steal: number; total: number } {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    return { busy: (user + nice + system + irq + softirq) * 10, steal: steal * 10, total: (user + nice + system + idle + iowait + irq + softirq + steal) * 10 };
  } catch {
    return { busy: 0, steal: 0, total: 0 };
  }
}

interface RunResult {
  samples: Sample[];
  seconds: number;
  busyPercent: number;
  stealPercent: number;
  load: number;
}

interface TargetResult {
  name: string;
  gapMs: number;
  runs: RunResult[];
}

// ---- runs -------------------------------------------------------------------------------------

async function benchTarget(name: string, gapMs: number, options: Options, tls: TestTls, databaseUrl: () => Promise<{ url: string | undefined; drop(): Promise<void> }>): Promise<TargetResult> {
  const result: TargetResult = { name, gapMs, runs: [] };
  const label = `${name}, gap ${gapMs} ms`;
  for (let run = 0; run < options.runs; run += 1) {
    const slack = await startFakeSlack({ rateLimits: false, users: [{ id: ONCALL.slackId, name: "olivia", real_name: ONCALL.name, email: ONCALL.email }] });
    const pd = await startPagerDuty(tls);
    const database = await databaseUrl();
    const dir = await mkdtemp(path.join(tmpdir(), "fb-bench-paging-"));
    const dataDir = path.join(dir, "data");
    let app: App | undefined;
    try {
      await mkdir(dataDir);
      app = await startApp({ slack, pd, tls }, { data: dataDir, config: await writeConfig(dir) }, database.url, options.nodeOptions);
      const target = { slack, pd, appUrl: app.url };
      // Warm-up alerts (JIT, prepared statements, the pool, the TLS session), not counted.
      // The gap after them too, so the first measured alert follows one as the others do.
      const warm = await sendAlerts(target, options.warmup, gapMs, (index) => `w${run + 1}a${index + 1}`, undefined, false);
      const before = machineTimes();
      const started = Date.now();
      const samples = await sendAlerts(target, options.alerts, gapMs, (index) => `r${run + 1}a${index + 1}`, warm.at(-1)?.triggerAt);
      const after = machineTimes();
      const elapsed = after.total - before.total;
      const runResult: RunResult = {
        samples,
        seconds: (Date.now() - started) / 1_000,
        busyPercent: elapsed > 0 ? ((after.busy - before.busy) / elapsed) * 100 : Number.NaN,
        stealPercent: elapsed > 0 ? ((after.steal - before.steal) / elapsed) * 100 : Number.NaN,
        load: loadavg()[0] ?? Number.NaN,
      };
      result.runs.push(runResult);
      if (pd.contractViolations.length > 0) console.warn(`fake PagerDuty contract violations: ${JSON.stringify(pd.contractViolations).slice(0, 400)}`);
      const refused = pd.requests.filter((request) => request.status !== 202 && request.status !== 200);
      if (refused.length > 0) console.warn(`${refused.length} PagerDuty request(s) not accepted, e.g. ${refused[0]?.method} ${refused[0]?.path} ${refused[0]?.status} ${JSON.stringify(refused[0]?.errors)}`);
      console.log(`${label}, run ${run + 1}: triggers ${samples.map((sample) => sample.triggerMs).join(" ")}; first messages ${samples.map((sample) => sample.messageMs).join(" ")}`);
      console.log(
        `${label}, run ${run + 1}: trigger p50/p95/max ${showStat(stat(samples.map((sample) => sample.triggerMs)))} ms; first message ${showStat(stat(samples.map((sample) => sample.messageMs)))} ms`,
      );
    } finally {
      await app?.stop();
      await slack.close();
      await pd.close();
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    }
  }
  return result;
}

function report(results: readonly TargetResult[], options: Options, startedAt: Date, cpu: CpuWindow): string {
  const all = (result: TargetResult) => result.runs.flatMap((run) => run.samples);
  const column = (samples: readonly Sample[], key: "ackMs" | "triggerMs" | "channelMs" | "messageMs") => samples.map((sample) => sample[key]);
  const showOncall = (samples: readonly Sample[]): string => {
    const invited = samples.flatMap((sample) => (sample.oncallMs === null ? [] : [sample.oncallMs]));
    const missing = samples.length - invited.length;
    return `${invited.length > 0 ? showStat(stat(invited)) : "-"}${missing > 0 ? ` (${missing} never)` : ""}`;
  };
  const lines = [
    "# Paging latency benchmark",
    "",
    `- Date: ${startedAt.toISOString()} (report written ${new Date().toISOString()})`,
    `- Machine: ${cpus().length} CPUs, ${cpus()[0]?.model ?? "unknown CPU"}; Node ${process.version}; ${process.platform} ${process.arch}`,
    `- CPU during the run: ${describeCpu(cpu)}`,
    `- Options: \`--alerts ${options.alerts} --runs ${options.runs} --warmup ${options.warmup} ${options.gaps.map((gap) => `--gap-ms ${gap}`).join(" ")}\`${options.postgres ? " with `--postgres <url>`" : ""}; the app's NODE_OPTIONS \`${options.nodeOptions}\``,
    `- Load: ${options.runs} runs per database and gap, each on a fresh database, app, fake Slack and fake PagerDuty; ${options.warmup} warm-up alert(s), then ${options.alerts} Alertmanager v4 notifications of one firing \`severity=critical, service=checkout\` alert each (distinct alertname and instance: one group, one SEV1 incident each), POSTed to \`/webhooks/alertmanager\` one after the other, each *gap* ms after the previous one's trigger reached PagerDuty and its channel's first message reached Slack (${options.gaps.map((gap) => `${gap} ms`).join(", ")}; the warm-up alerts are followed by the same gap).`,
    "- The app: a process of its own (`src/main.ts`), the production poll interval of 500 ms, processing a delivery after 100 ms without another (ingest first), events to a routing key paced 500 ms apart, channel creation paced at 6,000 a minute; `PAGERDUTY_TOKEN` set, so each incident also looks up the on-call engineer (`GET /oncalls`, `users.lookupByEmail`) and makes them commander.",
    "- The fakes: Slack (`rateLimits: false`) and PagerDuty (HTTPS with this run's private CA through `NODE_EXTRA_CA_CERTS`, `eventsRateLimit: false, restRateLimit: false`), in the benchmark's process, answering at once, on loopback.",
    "- Times, from sending the delivery: *ack* = the webhook's answer (delivery stored); *trigger* = the Events API v2 trigger recorded by the fake PagerDuty; *channel* = `conversations.create` recorded by the fake Slack; *first message* = the new channel's first `chat.postMessage` recorded by the fake Slack; *on-call invited* = the `conversations.invite` of the on-call engineer into the channel (not waited for before the next delivery; read after the run). p50 / p95 / max in ms.",
    `- Command: \`${commandLine("bench/paging.ts")}\``,
    "",
    "## Summary",
    "",
    "| Database | Gap | Alerts | Delivery → PagerDuty trigger | Delivery → first channel message |",
    "| --- | ---: | ---: | ---: | ---: |",
  ];
  for (const result of results) {
    const samples = all(result);
    lines.push(`| ${result.name} | ${result.gapMs} ms | ${samples.length} | **${showStat(stat(column(samples, "triggerMs")))}** | **${showStat(stat(column(samples, "messageMs")))}** |`);
  }
  lines.push(
    "",
    "Firebreak paces events to one routing key 500 ms apart (PagerDuty takes about 120 a minute per integration key): after each trigger a rate-limit hold on `pagerduty.events:<service>`, at whose end the job worker wakes (no poll wait). With a gap of 0 each delivery follows the previous trigger by a few ms, so its own trigger waits for that hold; the last column of *Every alert* (previous trigger → this one) shows the spacing.",
  );
  lines.push("", "## Per run (p50 / p95 / max, ms)", "", "| Database | Gap | Run | Ack | Trigger | Channel created | First message | On-call invited | Trigger first | Duration, CPU busy, steal, load |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const result of results) {
    result.runs.forEach((run, index) => {
      const ahead = run.samples.filter((sample) => sample.triggerMs <= sample.messageMs).length;
      lines.push(
        `| ${result.name} | ${result.gapMs} ms | ${index + 1} | ${showStat(stat(column(run.samples, "ackMs")))} | ${showStat(stat(column(run.samples, "triggerMs")))} | ${showStat(stat(column(run.samples, "channelMs")))} | ${showStat(stat(column(run.samples, "messageMs")))} | ${showOncall(run.samples)} | ${ahead} of ${run.samples.length} | ${run.seconds.toFixed(1)} s, ${run.busyPercent.toFixed(0)} % of ${cpus().length * 100} %, ${run.stealPercent.toFixed(1)} %, ${run.load.toFixed(2)} |`,
      );
    });
    const samples = all(result);
    const ahead = samples.filter((sample) => sample.triggerMs <= sample.messageMs).length;
    lines.push(
      `| ${result.name} | ${result.gapMs} ms | all ${samples.length} | ${showStat(stat(column(samples, "ackMs")))} | **${showStat(stat(column(samples, "triggerMs")))}** | ${showStat(stat(column(samples, "channelMs")))} | **${showStat(stat(column(samples, "messageMs")))}** | ${showOncall(samples)} | ${ahead} of ${samples.length} | |`,
    );
  }
  lines.push(
    "",
    "*Trigger first*: alerts whose trigger reached PagerDuty no later than their channel's first message. CPU busy: all the machine's processes during the measured alerts (the benchmark, the app, its PostgreSQL, anything else), from /proc/stat; steal: time the hypervisor gave the CPUs to other guests; load: the 1-minute load average at the run's end.",
    "",
    "## Every alert (ms from sending the delivery)",
    "",
  );
  for (const result of results) {
    result.runs.forEach((run, index) => {
      lines.push(`### ${result.name}, gap ${result.gapMs} ms, run ${index + 1}`, "", "| Alert | Ack | Trigger | Channel created | First message | On-call invited | Trigger requests | Previous trigger → this one |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
      for (const sample of run.samples) {
        lines.push(`| ${sample.tag} | ${sample.ackMs} | ${sample.triggerMs} | ${sample.channelMs} | ${sample.messageMs} | ${sample.oncallMs ?? "never"} | ${sample.triggerAttempts} | ${sample.sincePreviousMs ?? "-"} |`);
      }
      lines.push("");
    });
  }
  return `${lines.join("\n")}\n`;
}

/** The headline figures (for `npm run bench`'s summary): per database and gap, to the trigger and to the first message. No target was set for these. */
function figures(results: readonly TargetResult[]): Figure[] {
  return results.flatMap((result) => {
    const samples = result.runs.flatMap((run) => run.samples);
    const trigger = stat(samples.map((sample) => sample.triggerMs));
    const message = stat(samples.map((sample) => sample.messageMs));
    const db = result.name.startsWith("embedded") ? "embedded" : "external";
    const spacing = result.gapMs === 0 ? "back to back" : `${result.gapMs} ms apart`;
    const numbers = (values: Stat) => ({ p50: values[0], p95: values[1], max: values[2], alerts: samples.length });
    return [
      untargeted({ id: `paging.${db}.gap${result.gapMs}.trigger`, label: `Alert → PagerDuty trigger, p50 / p95 / max, ${result.name}, alerts ${spacing}`, value: `${showStat(trigger)} ms`, numbers: numbers(trigger) }),
      untargeted({ id: `paging.${db}.gap${result.gapMs}.message`, label: `Alert → first message in the incident channel, p50 / p95 / max, ${result.name}, alerts ${spacing}`, value: `${showStat(message)} ms`, numbers: numbers(message) }),
    ];
  });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const watch = watchCpu();
  const deadline = setTimeout(() => {
    console.error("bench/paging.ts: aborted after 20 minutes");
    process.exit(2);
  }, 20 * 60_000);
  deadline.unref();
  const tlsDir = await mkdtemp(path.join(tmpdir(), "fb-bench-paging-tls-"));
  const results: TargetResult[] = [];
  try {
    const tls = await createTestTls(tlsDir);
    for (const gap of options.gaps) results.push(await benchTarget("embedded (default)", gap, options, tls, async () => ({ url: undefined, drop: async () => undefined })));
    let own: ThrowawayServer | undefined;
    try {
      const base = options.postgres ?? (own = await startThrowawayServer()).url;
      for (const gap of options.gaps) {
        results.push(
          await benchTarget("external PostgreSQL (DATABASE_URL)", gap, options, tls, async () => {
            const database = await createTestDatabase(base, { prefix: "fb_bench_paging" });
            return { url: database.url, drop: () => database.drop() };
          }),
        );
      }
    } finally {
      await own?.remove();
    }
  } finally {
    await rm(tlsDir, { recursive: true, force: true });
  }
  const cpu = watch.stop();
  const text = report(results, options, startedAt, cpu);
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, text);
  await writeResult(options.out, { bench: "paging", startedAt: startedAt.toISOString(), command: commandLine("bench/paging.ts"), cpu, figures: figures(results), notes: [] });
  const summary = text.slice(text.indexOf("## Summary"), text.indexOf("## Per run"));
  console.log(`\n${summary.trim()}\n\nFull report: ${path.relative(process.cwd(), options.out)}`);
}

await main();
