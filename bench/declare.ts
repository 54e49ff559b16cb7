/**
 * Declare latency: from `/incident declare` reaching Firebreak to `conversations.create`
 * reaching Slack, and to the header message posted in the new channel.
 *
 *   npm run bench:declare -- [--declares 15] [--runs 4] [--warmup 1] [--gap-ms 0] [--node-options=<flags>]
 *                            [--idle-s 0] [--idle-declares 3] [--postgres <url>] [--out bench/results/declare.md]
 *
 * Writes the Markdown report and, next to it, its headline figures as JSON (`declare.json`).
 *
 * Per run: the app as a process of its own (src/main.ts with `npm start`'s node flags, the
 * production poll interval, on a fresh database) and a fake Slack that answers at once, in this
 * process, on loopback; `--declares` signed
 * `/incident declare sev2 ...` commands one after the other, each sent as soon as the previous
 * incident's header is posted (or `--gap-ms` after it). The times come from the fake Slack's
 * record of each call's arrival. Two databases: the embedded default (the app's own server) and
 * an external PostgreSQL through DATABASE_URL (a second embedded server started for the run, or
 * `--postgres <url>`, on which a fresh database is created and dropped).
 *
 * The job worker runs with its default poll interval (500 ms), as in production: a job that waits
 * for the poll shows up here. Channel creation is paced at 6,000 a minute instead of the default
 * 20 (Slack's Tier 2), which back-to-back declares would otherwise measure.
 *
 * With `--idle-s N`, each run then leaves the app idle for N seconds (no request; incidents come
 * after quiet hours, and the pool closes connections idle for longer than its idle timeout) and
 * times `--idle-declares` more declares, reported apart ("after idle"); the first of them is
 * also listed on its own.
 */
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeSlack, type FakeSlack } from "../test/fakes/slack/index.ts";
import { mainEnv, startMain } from "../test/support/main-process.ts";
import { freePort } from "../test/support/net.ts";
import { createTestDatabase, startThrowawayServer, type ThrowawayServer } from "../test/support/postgres.ts";
import { sendCommand } from "../test/support/slack-requests.ts";
import { describeCpu, watchCpu, type CpuWindow } from "./lib/machine.ts";
import { benchArgs } from "./lib/options.ts";
import { below, commandLine, writeResult, type Figure } from "./lib/results.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Options {
  declares: number;
  runs: number;
  /** Declares before the measured ones, not counted (JIT, prepared statements, the pool). */
  warmup: number;
  gapMs: number;
  /** Seconds of idleness after the measured declares, before the after-idle ones (0: none). */
  idleS: number;
  idleDeclares: number;
  postgres: string | undefined;
  out: string;
  /** NODE_OPTIONS of the app (default: package.json config.nodeOptions, as `npm start`). */
  nodeOptions: string;
}

function parseOptions(argv: readonly string[]): Options {
  const args = benchArgs("bench/declare.ts", argv, { numbers: ["declares", "runs", "gap-ms", "warmup", "idle-s", "idle-declares"], strings: ["postgres", "out", "node-options"] });
  return {
    declares: Math.round(args.number("declares", 15)),
    runs: Math.round(args.number("runs", 4)),
    warmup: args.count("warmup", 1),
    gapMs: args.string("gap-ms") === undefined ? 0 : args.number("gap-ms", 0),
    idleS: args.string("idle-s") === undefined ? 0 : args.number("idle-s", 0),
    idleDeclares: Math.round(args.number("idle-declares", 3)),
    postgres: args.string("postgres"),
    out: args.path("out", path.join(ROOT, "bench/results/declare.md")),
    nodeOptions: args.string("node-options") ?? productionNodeOptions(),
  };
}

/** Resolves when `check` returns a value, polling the fake's records every 2 ms; bounded. */
async function waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

interface Sample {
  channelMs: number;
  headerMs: number;
}

async function oneRun(slack: FakeSlack, appUrl: string, options: Options, runIndex: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let index = 0; index < options.declares; index += 1) {
    const title = `Bench run ${runIndex} declare ${index}`;
    const slug = title.toLowerCase().replaceAll(" ", "-");
    const sentAt = Date.now();
    const response = await sendCommand(appUrl, `declare sev2 ${title}`);
    if (response.status !== 200) throw new Error(`declare answered ${response.status}`);
    const create = await waitFor(
      () => slack.callsTo("conversations.create").find((call) => call.ok && String(call.args.name).endsWith(slug)),
      30_000,
      `conversations.create for ${title}`,
    );
    const channelId = (create.response.channel as { id?: string } | undefined)?.id;
    if (!channelId) throw new Error("conversations.create answered no channel id");
    const header = await waitFor(
      () => slack.callsTo("chat.postMessage").find((call) => call.ok && call.args.channel === channelId),
      30_000,
      `the header in ${channelId}`,
    );
    samples.push({ channelMs: create.at - sentAt, headerMs: header.at - sentAt });
    if (options.gapMs > 0) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
  }
  return samples;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

interface TargetResult {
  name: string;
  runs: Array<{ channel: [number, number]; header: [number, number] }>;
  all: Sample[];
  /** The declares after `--idle-s` of idleness, per run (empty without it). */
  idle: Sample[][];
}

/** The node flags `npm start` runs the app with (package.json config.nodeOptions). */
function productionNodeOptions(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { config?: { nodeOptions?: string } };
  return pkg.config?.nodeOptions ?? "";
}

/** Firebreak as its own process (src/main.ts, as `npm start` runs it, with its node flags), ready. */
async function startApp(slack: FakeSlack, dataDir: string, databaseUrl: string | undefined, nodeOptions: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const main = startMain({
    ...mainEnv(port, slack.url, dataDir),
    NODE_OPTIONS: nodeOptions,
    LOG_LEVEL: "warn",
    // The default paces conversations.create to 20 a minute (Slack's Tier 2); back-to-back
    // declares would measure that pacing, not Firebreak.
    SLACK_CHANNELS_PER_MINUTE: "6000",
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  void main.exit.then(() => (exited = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`Firebreak exited before it was ready: ${main.stderr()}`);
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
    },
  };
}

async function benchTarget(name: string, options: Options, databaseUrl: () => Promise<{ url: string | undefined; drop(): Promise<void> }>): Promise<TargetResult> {
  const result: TargetResult = { name, runs: [], all: [], idle: [] };
  for (let run = 0; run < options.runs; run += 1) {
    const slack = await startFakeSlack({ rateLimits: false }); // measures Firebreak, not Slack's tiers
    const database = await databaseUrl();
    const dataDir = await mkdtemp(path.join(tmpdir(), "fb-bench-declare-"));
    let app: { url: string; stop(): Promise<void> } | undefined;
    try {
      app = await startApp(slack, dataDir, database.url, options.nodeOptions);
      // Warm-up declares (JIT, prepared statements, the pool), not counted.
      await oneRun(slack, app.url, { ...options, declares: options.warmup, gapMs: 0 }, 1000 + run);
      const samples = await oneRun(slack, app.url, options, run);
      const channel = samples.map((sample) => sample.channelMs);
      const header = samples.map((sample) => sample.headerMs);
      result.runs.push({ channel: [percentile(channel, 50), percentile(channel, 95)], header: [percentile(header, 50), percentile(header, 95)] });
      result.all.push(...samples);
      console.log(`${name}, run ${run + 1}: channels ${channel.join(" ")}; headers ${header.join(" ")}`);
      console.log(`${name}, run ${run + 1}: channel p50 ${percentile(channel, 50)} / p95 ${percentile(channel, 95)} ms; header p50 ${percentile(header, 50)} / p95 ${percentile(header, 95)} ms`);
      if (options.idleS > 0) {
        await new Promise((resolve) => setTimeout(resolve, options.idleS * 1000));
        const idle = await oneRun(slack, app.url, { ...options, declares: options.idleDeclares }, 2000 + run);
        result.idle.push(idle);
        console.log(`${name}, run ${run + 1}, after ${options.idleS} s idle: channels ${idle.map((sample) => sample.channelMs).join(" ")}; headers ${idle.map((sample) => sample.headerMs).join(" ")}`);
      }
    } finally {
      await app?.stop();
      await slack.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  return result;
}

function report(results: readonly TargetResult[], options: Options, cpu: CpuWindow): string {
  const lines = [
    "# Declare latency benchmark",
    "",
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${cpus().length} CPUs, ${cpus()[0]?.model ?? "unknown CPU"}; Node ${process.version}`,
    `- CPU during the run: ${describeCpu(cpu)}`,
    `- Load: ${options.runs} runs per database, each on a fresh database and app, ${options.warmup} warm-up declare(s), then ${options.declares} \`/incident declare sev2 ...\` one after the other, each sent ${options.gapMs > 0 ? `${options.gapMs} ms after` : "as soon as"} the previous header was posted${options.idleS > 0 ? `, then ${options.idleS} s idle and ${options.idleDeclares} more` : ""}; the app a process of its own (\`src/main.ts\` with NODE_OPTIONS \`${options.nodeOptions}\`, the production poll interval of 500 ms, channel creation paced at 6,000 a minute), fake Slack answering at once in the benchmark's process, on loopback.`,
    "- Times: from sending the command to `conversations.create` reaching the fake Slack (channel), and to the header's `chat.postMessage` reaching it (header).",
    `- Command: \`${commandLine("bench/declare.ts")}\``,
    "",
    "| Database | Run | Channel p50 / p95 (ms) | Header p50 / p95 (ms) |",
    "| --- | ---: | ---: | ---: |",
  ];
  for (const result of results) {
    result.runs.forEach((run, index) => lines.push(`| ${result.name} | ${index + 1} | ${run.channel[0]} / ${run.channel[1]} | ${run.header[0]} / ${run.header[1]} |`));
    const channel = result.all.map((sample) => sample.channelMs);
    const header = result.all.map((sample) => sample.headerMs);
    lines.push(`| ${result.name} | all ${result.all.length} | **${percentile(channel, 50)} / ${percentile(channel, 95)}** | **${percentile(header, 50)} / ${percentile(header, 95)}** |`);
  }
  if (options.idleS > 0) {
    lines.push(
      "",
      `After ${options.idleS} s idle (no request), ${options.idleDeclares} more declares per run, one after the other: each run's times, then p50 / p95 over all of them, and the first declare after idle of each run.`,
      "",
      "| Database | Run | Channel (ms) | Header (ms) |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const result of results) {
      result.idle.forEach((samples, index) => lines.push(`| ${result.name} | ${index + 1} | ${samples.map((sample) => sample.channelMs).join(", ")} | ${samples.map((sample) => sample.headerMs).join(", ")} |`));
      const idle = result.idle.flat();
      const firsts = result.idle.map((samples) => samples[0]).filter((sample) => sample !== undefined);
      lines.push(`| ${result.name} | all ${idle.length}, p50 / p95 | **${percentile(idle.map((sample) => sample.channelMs), 50)} / ${percentile(idle.map((sample) => sample.channelMs), 95)}** | **${percentile(idle.map((sample) => sample.headerMs), 50)} / ${percentile(idle.map((sample) => sample.headerMs), 95)}** |`);
      lines.push(`| ${result.name} | first after idle, each run | ${firsts.map((sample) => sample.channelMs).join(", ")} | ${firsts.map((sample) => sample.headerMs).join(", ")} |`);
    }
  }
  lines.push("", "Targets: channel created under 100 ms at p95, header posted under 150 ms at p95.", "");
  for (const result of results) {
    const channel95 = percentile(result.all.map((sample) => sample.channelMs), 95);
    const header95 = percentile(result.all.map((sample) => sample.headerMs), 95);
    lines.push(`- ${result.name}: channel p95 ${channel95} ms (${channel95 < 100 ? "met" : "NOT met"}), header p95 ${header95} ms (${header95 < 150 ? "met" : "NOT met"}).`);
  }
  return `${lines.join("\n")}\n`;
}

/** The headline figures (for `npm run bench`'s summary): per database, to the channel and to the header. */
function figures(results: readonly TargetResult[], options: Options): Figure[] {
  return results.flatMap((result) => {
    const db = result.name.startsWith("embedded") ? "embedded" : "external";
    const channel = result.all.map((sample) => sample.channelMs);
    const header = result.all.map((sample) => sample.headerMs);
    const stat = (values: readonly number[]) => ({ p50: percentile(values, 50), p95: percentile(values, 95), samples: values.length });
    const channelStat = stat(channel);
    const headerStat = stat(header);
    const after = `${options.warmup} warm-up declare${options.warmup === 1 ? "" : "s"}`;
    const idle = result.idle.flat();
    const idleFigures =
      idle.length === 0
        ? []
        : [
            below({ id: `declare.${db}.idle.channel`, label: `\`/incident declare\` → channel created, p50 / p95, ${result.name}, after ${options.idleS} s idle`, value: `${percentile(idle.map((sample) => sample.channelMs), 50)} / ${percentile(idle.map((sample) => sample.channelMs), 95)} ms`, target: "p95 < 100 ms", numbers: stat(idle.map((sample) => sample.channelMs)) }, percentile(idle.map((sample) => sample.channelMs), 95), 100),
            below({ id: `declare.${db}.idle.header`, label: `\`/incident declare\` → header posted, p50 / p95, ${result.name}, after ${options.idleS} s idle`, value: `${percentile(idle.map((sample) => sample.headerMs), 50)} / ${percentile(idle.map((sample) => sample.headerMs), 95)} ms`, target: "p95 < 150 ms", numbers: stat(idle.map((sample) => sample.headerMs)) }, percentile(idle.map((sample) => sample.headerMs), 95), 150),
          ];
    return [
      below({ id: `declare.${db}.channel`, label: `\`/incident declare\` → channel created, p50 / p95, ${result.name}, after ${after}`, value: `${channelStat.p50} / ${channelStat.p95} ms`, target: "p95 < 100 ms", numbers: channelStat }, channelStat.p95, 100),
      below({ id: `declare.${db}.header`, label: `\`/incident declare\` → header posted, p50 / p95, ${result.name}, after ${after}`, value: `${headerStat.p50} / ${headerStat.p95} ms`, target: "p95 < 150 ms", numbers: headerStat }, headerStat.p95, 150),
      ...idleFigures,
    ];
  });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const watch = watchCpu();
  const deadline = setTimeout(() => {
    console.error("bench/declare.ts: aborted after its time limit (20 minutes, plus the idle periods)");
    process.exit(2);
  }, (20 + (options.idleS * options.runs * 2) / 60) * 60_000);
  deadline.unref();
  const results: TargetResult[] = [];
  results.push(await benchTarget("embedded (default)", options, async () => ({ url: undefined, drop: async () => undefined })));
  let own: ThrowawayServer | undefined;
  try {
    const base = options.postgres ?? (own = await startThrowawayServer()).url;
    results.push(
      await benchTarget("external PostgreSQL (DATABASE_URL)", options, async () => {
        const database = await createTestDatabase(base, { prefix: "fb_bench_declare" });
        return { url: database.url, drop: () => database.drop() };
      }),
    );
  } finally {
    await own?.remove();
  }
  const cpu = watch.stop();
  const text = report(results, options, cpu);
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, text);
  await writeResult(options.out, { bench: "declare", startedAt: startedAt.toISOString(), command: commandLine("bench/declare.ts"), cpu, figures: figures(results, options), notes: [] });
  console.log(text);
}

await main();
