/**
 * Every benchmark in one command, and one results table.
 *
 *   npm run bench                       the default scale (about 25 minutes on a busy 2-core machine)
 *   npm run bench -- --full             every script with its own defaults (about 40 minutes)
 *   npm run bench -- --only ack --only postmortem     some of them
 *
 * Runs, one after the other, each as a process of its own (`node --import tsx bench/<name>.ts`):
 * ack, declare (after 1 warm-up declare, then after 15), paging, ingest, postmortem, memory. Each
 * writes its Markdown report and its headline figures as JSON into bench/results/latest/ (the
 * reports the README discusses in bench/results/ are left as they are); this script reads the
 * JSON files and writes bench/results/summary.md (and summary.json): the machine (CPUs, model,
 * memory, Node, kernel), the date, the commit and the state of the working tree, every figure next
 * to its target with the verdict, and for each benchmark how long it ran and what else was busy
 * on the machine meanwhile (other processes by what started them, CPU time no visible process
 * accounts for, steal time).
 *
 * The default scale differs from the scripts' own defaults only where a full run would take long:
 *   declare       `--runs 2` (full: 4 runs)
 *   declare-warm  `--warmup 15 --runs 2` (full: 4 runs)
 *   paging        `--runs 2` (full: 3 runs)
 *   ingest        `--attempts 1 --quiet-wait 30` (full: a noisy phase is measured up to 3 times,
 *                 after waiting up to 120 s for a quiet machine)
 * ingest runs with `npm start`'s node flags (package.json config.nodeOptions) as NODE_OPTIONS:
 * the app runs inside its process there, and the other benchmarks give the app those flags.
 *
 * Options: --full, --only <name> (repeatable), --dir <reports dir> (default bench/results/latest),
 * --out <summary> (default bench/results/summary.md), --step-timeout <minutes> (default 45; the
 * step is stopped with SIGTERM, then SIGKILL 30 s later), --snapshot (run on a clean checkout of
 * HEAD: `git clone --shared` into a temp dir, this checkout's node_modules linked, the Prisma
 * client generated as `npm ci` does; the summary and reports are copied back here; for a
 * checkout someone is editing during the run, whose half-made changes would otherwise be
 * measured or break the app). Exits 1 when a benchmark failed (the summary is written anyway,
 * with the failure).
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describeCpu, describeMachine, describeOthers, machineInfo, watchCpu, type CpuWindow } from "./lib/machine.ts";
import { benchArgs } from "./lib/options.ts";
import { resultPathFor, type BenchResult } from "./lib/results.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const execFileAsync = promisify(execFile);

interface Step {
  name: string;
  script: string;
  /** What it measures, for the table. */
  what: string;
  args: readonly string[];
  /** Arguments of the full run (`--full`), when they differ. */
  fullArgs?: readonly string[];
  /** Run with `npm start`'s node flags as NODE_OPTIONS. */
  productionFlags?: boolean;
}

const STEPS: readonly Step[] = [
  { name: "ack", script: "bench/ack.ts", what: "slash-command acknowledgement under alert load, against a bare node:http server", args: [] },
  { name: "declare", script: "bench/declare.ts", what: "declare → channel created and → header posted, after 1 warm-up declare", args: ["--runs", "2"], fullArgs: [] },
  { name: "declare-warm", script: "bench/declare.ts", what: "the same after 15 warm-up declares", args: ["--warmup", "15", "--runs", "2"], fullArgs: ["--warmup", "15"] },
  { name: "paging", script: "bench/paging.ts", what: "alert → PagerDuty trigger and → first channel message", args: ["--runs", "2"], fullArgs: [] },
  { name: "ingest", script: "bench/ingest.ts", what: "Alertmanager ingest: latency at 100 req/s, a burst against a plain-HTTP ceiling", args: ["--attempts", "1", "--quiet-wait", "30"], fullArgs: [], productionFlags: true },
  { name: "postmortem", script: "bench/postmortem.ts", what: "post-mortem generation for 5,000 events", args: [] },
  { name: "memory", script: "bench/memory.ts", what: "resident memory idle and after load", args: [] },
];

interface Options {
  full: boolean;
  snapshot: boolean;
  /** Set by --snapshot for the run inside the snapshot (the summary says how it was run). */
  inSnapshot: boolean;
  only: string[];
  dir: string;
  out: string;
  stepTimeoutMs: number;
}

function parseOptions(argv: readonly string[]): Options {
  const args = benchArgs("bench/all.ts", argv, { numbers: ["step-timeout"], strings: ["dir", "out"], flags: ["full", "snapshot", "in-snapshot"], lists: ["only"] });
  const only = args.list("only");
  for (const name of only) if (!STEPS.some((step) => step.name === name)) throw new Error(`--only ${name}: no such benchmark (${STEPS.map((step) => step.name).join(", ")})`);
  return {
    full: args.flag("full"),
    snapshot: args.flag("snapshot"),
    inSnapshot: args.flag("in-snapshot"),
    only,
    dir: args.path("dir", path.join(ROOT, "bench/results/latest")),
    out: args.path("out", path.join(ROOT, "bench/results/summary.md")),
    stepTimeoutMs: args.number("step-timeout", 45) * 60_000,
  };
}

function productionNodeOptions(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { config?: { nodeOptions?: string } };
  return pkg.config?.nodeOptions ?? "";
}

interface StepOutcome {
  step: Step;
  args: string[];
  report: string;
  /** null: it did not finish (failed, stopped). */
  result: BenchResult | null;
  exitCode: number | null;
  signal: string | null;
  seconds: number;
  cpu: CpuWindow;
  /** The end of its error output, when it failed. */
  errorTail: string;
}

/** Runs one benchmark as a process of its own; its output goes through to ours. */
async function runStep(step: Step, options: Options): Promise<StepOutcome> {
  const report = path.join(options.dir, `${step.name}.md`);
  const args = [...(options.full && step.fullArgs ? step.fullArgs : step.args), "--out", path.relative(ROOT, report)];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (step.productionFlags) env.NODE_OPTIONS = productionNodeOptions();
  console.error(`\n[bench] ${step.name}: node --import tsx ${step.script} ${args.join(" ")}${step.productionFlags ? ` (NODE_OPTIONS="${env.NODE_OPTIONS ?? ""}")` : ""}`);
  const started = performance.now();
  const startedAt = Date.now();
  const watch = watchCpu();
  const child = spawn(process.execPath, ["--import", "tsx", step.script, ...args], { cwd: ROOT, env, stdio: ["ignore", "inherit", "pipe"] });
  let stderrTail = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    process.stderr.write(chunk);
    stderrTail = (stderrTail + chunk.toString()).slice(-4_000);
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const stopping = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  process.once("SIGINT", stopping);
  process.once("SIGTERM", stopping);
  const timer = setTimeout(() => {
    console.error(`[bench] ${step.name}: still running after ${options.stepTimeoutMs / 60_000} minutes; stopping it`);
    stopping();
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, 30_000).unref();
  }, options.stepTimeoutMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  process.removeListener("SIGINT", stopping);
  process.removeListener("SIGTERM", stopping);
  const cpu = watch.stop();
  let result: BenchResult | null = null;
  if (code === 0) {
    try {
      const file = resultPathFor(report);
      if ((await stat(file)).mtimeMs >= startedAt - 1_000) result = JSON.parse(await readFile(file, "utf8")) as BenchResult;
    } catch (error) {
      stderrTail += `\nno readable result next to the report: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  return { step, args, report, result, exitCode: code, signal, seconds: (performance.now() - started) / 1_000, cpu, errorTail: result ? "" : stderrTail };
}

async function git(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync("git", [...args], { cwd: ROOT, timeout: 10_000 });
    return stdout.trimEnd();
  } catch {
    return "";
  }
}

const escapeCell = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function minutes(seconds: number): string {
  return seconds >= 90 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(0)} s`;
}

function summary(outcomes: readonly StepOutcome[], context: { options: Options; startedAt: Date; seconds: number; before: CpuWindow; whole: CpuWindow; commit: string; dirty: string[] }): string {
  const { options } = context;
  const link = (file: string): string => path.relative(path.dirname(options.out), file).split(path.sep).join("/");
  const machine = outcomes.find((outcome) => outcome.result)?.result?.machine ?? machineInfo();
  const lines: string[] = [
    "# Benchmarks: one run of every benchmark",
    "",
    `- Date: ${context.startedAt.toISOString()}; the run took ${minutes(context.seconds)}.`,
    `- Machine: ${describeMachine(machine)}.`,
    `- Code: commit ${context.commit || "unknown"}${context.dirty.length > 0 ? `, with uncommitted changes in the working tree at the time (${context.dirty.length} file(s): ${context.dirty.slice(0, 12).join(", ")}${context.dirty.length > 12 ? ", ..." : ""}; others were editing it meanwhile)` : ", working tree clean"}.`,
    `- Command: \`npm run bench${options.full || options.inSnapshot ? ` --${options.full ? " --full" : ""}${options.inSnapshot ? " --snapshot" : ""}` : ""}\`${options.inSnapshot ? " (on a clean checkout of the commit below, in a temp dir: edits made to the working tree during the run could not reach it)" : ""} (${options.full ? "the full run: every script with its own defaults" : "the default scale; `npm run bench -- --full` runs every script with its own defaults (more runs, ingest's repeated noisy phases), about 40 minutes on the machine below"}${options.only.length > 0 ? `; only ${options.only.join(", ")}` : ""}). Each benchmark's own report and JSON are in [\`${link(options.dir)}/\`](${link(options.dir)}/).`,
    `- What else was running: in the 5 s before the run, other work kept ${context.before.othersPercent.toFixed(0)} % of the machine busy (${describeOthers(context.before)}; steal ${context.before.stealPercent.toFixed(1)} %). Over the whole run (${minutes(context.whole.seconds)}) the CPUs were ${context.whole.busyPercent.toFixed(0)} % busy: this run ${context.whole.oursPercent.toFixed(0)} %, everything else ${context.whole.othersPercent.toFixed(0)} % (busiest other process trees, by what started them: ${describeOthers(context.whole)}); steal ${context.whole.stealPercent.toFixed(1)} %; load average ${context.whole.load1.toFixed(2)} at the end. "Everything else" counts all CPU time not used by this run's processes, so it includes processes this machine does not show (other containers on the same kernel). Figures measured while other work took a large share of a 2-core machine are pessimistic, the latency tails most of all.`,
    "",
    "## Figures",
    "",
    "| Benchmark | Figure | Measured | Target | Verdict |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const outcome of outcomes) {
    const name = `[${outcome.step.name}](${link(outcome.report)})`;
    if (!outcome.result) {
      lines.push(`| ${outcome.step.name} | ${escapeCell(outcome.step.what)} | did not finish (${outcome.signal ? `signal ${outcome.signal}` : `exit ${outcome.exitCode ?? "?"}`}) | | **failed** |`);
      continue;
    }
    for (const figure of outcome.result.figures) {
      const verdict = figure.met === null ? "no target set" : figure.met ? "met" : "**not met**";
      lines.push(`| ${name} | ${escapeCell(figure.label)} | ${escapeCell(figure.value)} | ${figure.target === null ? "-" : escapeCell(figure.target)} | ${verdict} |`);
    }
  }
  lines.push(
    "",
    "## The runs",
    "",
    "CPU in % of the whole machine (100 % = every CPU busy) while the benchmark ran: busy in all, used by this run's processes (the benchmark, the app, PostgreSQL, the fakes), used by everything else, stolen by the hypervisor.",
    "",
    "| Benchmark | Arguments | Duration | CPU busy / this run / everything else / steal | Other process trees busy meanwhile | Notes |",
    "| --- | --- | ---: | --- | --- | --- |",
  );
  for (const outcome of outcomes) {
    const { cpu } = outcome;
    const args = outcome.args.filter((arg, index, all) => arg !== "--out" && all[index - 1] !== "--out").join(" ");
    const notes = outcome.result ? outcome.result.notes : [`failed: ${outcome.errorTail.trim().split("\n").slice(-3).join(" ").slice(0, 400)}`];
    lines.push(
      `| ${outcome.step.name} | \`${args || "(defaults)"}\`${outcome.step.productionFlags ? " with `npm start`'s node flags" : ""} | ${minutes(outcome.seconds)} | ${cpu.busyPercent.toFixed(0)} / ${cpu.oursPercent.toFixed(0)} / ${cpu.othersPercent.toFixed(0)} / ${cpu.stealPercent.toFixed(1)} % | ${escapeCell(describeOthers(cpu))} | ${escapeCell(notes.join("; ") || "-")} |`,
    );
  }
  lines.push("");
  return lines.join("\n");
}

/** Runs a command to its end (output through to ours), or throws; bounded by `timeoutMs`. */
async function runToEnd(file: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<number> {
  const child = spawn(file, [...args], { cwd, stdio: ["ignore", "inherit", "inherit"] });
  const forward = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  process.once("SIGINT", forward);
  process.once("SIGTERM", forward);
  const timer = setTimeout(forward, timeoutMs);
  const code = await new Promise<number>((resolve) => child.once("exit", (exitCode) => resolve(exitCode ?? 1)));
  clearTimeout(timer);
  process.removeListener("SIGINT", forward);
  process.removeListener("SIGTERM", forward);
  return code;
}

/** --snapshot: the same run on a clean checkout of HEAD in a temp dir; its summary and reports copied back. */
async function runInSnapshot(options: Options, argv: readonly string[]): Promise<number> {
  const commit = await git(["rev-parse", "HEAD"]);
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error("--snapshot: cannot read HEAD");
  const dir = await mkdtemp(path.join(tmpdir(), "firebreak-bench-snapshot-"));
  try {
    console.error(`[bench] --snapshot: commit ${commit.slice(0, 12)} checked out in ${dir}`);
    await execFileAsync("git", ["clone", "--quiet", "--shared", "--no-checkout", ROOT, dir], { timeout: 120_000 });
    await execFileAsync("git", ["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit], { cwd: dir, timeout: 120_000 });
    await symlink(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
    if ((await runToEnd(process.execPath, ["scripts/prisma-generate.mjs"], dir, 5 * 60_000)) !== 0) throw new Error("--snapshot: generating the Prisma client failed");
    const inner = [...argv.filter((arg) => arg !== "--snapshot"), "--in-snapshot"];
    const code = await runToEnd(process.execPath, ["--import", "tsx", "bench/all.ts", ...inner, "--dir", path.join(dir, "bench/results/latest"), "--out", path.join(dir, "bench/results/summary.md")], dir, 3 * 60 * 60_000);
    // The reports and the summary, back into this checkout.
    await mkdir(path.dirname(options.out), { recursive: true });
    await rm(options.dir, { recursive: true, force: true });
    await cp(path.join(dir, "bench/results/latest"), options.dir, { recursive: true });
    await cp(path.join(dir, "bench/results/summary.md"), options.out);
    await cp(resultPathFor(path.join(dir, "bench/results/summary.md")), resultPathFor(options.out));
    console.error(`[bench] --snapshot: summary and reports copied to ${path.relative(process.cwd(), options.out)} and ${path.relative(process.cwd(), options.dir)}/`);
    return code;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  if (options.snapshot) {
    process.exitCode = await runInSnapshot(options, argv);
    return;
  }
  const steps = options.only.length > 0 ? STEPS.filter((step) => options.only.includes(step.name)) : STEPS;
  await mkdir(options.dir, { recursive: true });
  const startedAt = new Date();
  const started = performance.now();
  const commit = await git(["rev-parse", "--short=12", "HEAD"]);
  const dirty = (await git(["status", "--porcelain", "--untracked-files=no"]))
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => line.slice(3));
  const sample = watchCpu();
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const before = sample.stop();
  console.error(`[bench] ${steps.length} benchmarks; before the run: ${describeCpu(before)}`);
  const whole = watchCpu();
  const outcomes: StepOutcome[] = [];
  for (const step of steps) {
    const outcome = await runStep(step, options);
    outcomes.push(outcome);
    console.error(`[bench] ${step.name}: ${outcome.result ? "done" : "FAILED"} in ${minutes(outcome.seconds)}; ${describeCpu(outcome.cpu)}`);
  }
  const text = summary(outcomes, { options, startedAt, seconds: (performance.now() - started) / 1_000, before, whole: whole.stop(), commit, dirty });
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, text);
  await writeFile(
    resultPathFor(options.out),
    `${JSON.stringify({ startedAt: startedAt.toISOString(), commit, dirty, full: options.full, steps: outcomes.map((outcome) => ({ name: outcome.step.name, args: outcome.args, seconds: outcome.seconds, exitCode: outcome.exitCode, cpu: outcome.cpu, result: outcome.result })) }, null, 2)}\n`,
  );
  console.log(`\n${text}\nWritten to ${path.relative(process.cwd(), options.out)}`);
  if (outcomes.some((outcome) => !outcome.result)) process.exitCode = 1;
}

await main();
