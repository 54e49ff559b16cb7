/**
 * Post-mortem generation benchmark.
 *
 *   npx tsx bench/postmortem.ts [--events 5000] [--runs 20] [--out bench/results/postmortem.md]
 *
 * Input: the SEV1 fixture of the golden-file tests (test/golden/postmortem/fixtures.ts)
 * scaled to --events timeline events (notes, updates, status changes, alerts,
 * a reopen cycle, private/hidden/removed/edited entries, 4 alerts, 2
 * remediations, 4 action items), every note text distinct so that the
 * blameless review checks each one (the worst case: repeated texts are
 * reviewed once).
 *
 * Per run, timed separately: generatePostmortem (the pure document), then
 * renderMarkdown, renderHtml and toJson of that document; "total" is the sum.
 * Two warm-up runs are discarded. Reports median, p95 and max over --runs
 * runs, for both audiences (internal and public), and writes a Markdown report and, next
 * to it, its headline figures as JSON (`postmortem.json`).
 */
import { EVENT_CATALOGUE } from "../test/support/catalogue.ts";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { generatePostmortem, renderHtml, renderMarkdown, toJson } from "../src/postmortem/generate.ts";
import type { Audience } from "../src/postmortem/models.ts";
import { sev1 } from "../test/golden/postmortem/fixtures.ts";
import { describeCpu, watchCpu } from "./lib/machine.ts";
import { commandLine, untargeted, writeResult } from "./lib/results.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : process.argv[index + 1];
  return value ?? fallback;
}

function positiveInt(name: string, fallback: number): number {
  const value = Number(option(name, String(fallback)));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const EVENTS = positiveInt("events", 5000);
const RUNS = positiveInt("runs", 20);
const WARMUP = 2;
const OUT = path.resolve(ROOT, option("out", "bench/results/postmortem.md"));

const STAGES = ["generate", "markdown", "html", "json", "total"] as const;
type Stage = (typeof STAGES)[number];

function quantile(sorted: readonly number[], q: number): number {
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? Number.NaN;
}

interface Result {
  audience: Audience;
  samples: Record<Stage, number[]>;
  sizes: { markdown: number; html: number; json: number; entries: number; findings: number };
}

function measure(audience: Audience): Result {
  const input = sev1(EVENTS, { audience }, { distinctNotes: true });
  if (input.events.length !== EVENTS) throw new Error(`fixture built ${input.events.length} events, expected ${EVENTS}`);
  const samples: Record<Stage, number[]> = { generate: [], markdown: [], html: [], json: [], total: [] };
  let sizes: Result["sizes"] = { markdown: 0, html: 0, json: 0, entries: 0, findings: 0 };
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const t0 = performance.now();
    const doc = generatePostmortem(input, EVENT_CATALOGUE);
    const t1 = performance.now();
    const markdown = renderMarkdown(doc);
    const t2 = performance.now();
    const html = renderHtml(doc);
    const t3 = performance.now();
    const json = toJson(doc);
    const t4 = performance.now();
    if (run < WARMUP) continue;
    samples.generate.push(t1 - t0);
    samples.markdown.push(t2 - t1);
    samples.html.push(t3 - t2);
    samples.json.push(t4 - t3);
    samples.total.push(t4 - t0);
    sizes = { markdown: markdown.length, html: html.length, json: json.length, entries: doc.timeline.entryCount, findings: doc.review.findings.length };
  }
  return { audience, samples, sizes };
}

function fmt(ms: number): string {
  return ms.toFixed(1);
}

function kib(chars: number): string {
  return `${Math.round(chars / 1024)} KiB`;
}

const startedAt = new Date();
const watch = watchCpu();
const results = [measure("internal"), measure("public")];
const cpu = watch.stop();

const lines: string[] = [
  "# Post-mortem generation benchmark",
  "",
  `\`npx tsx bench/postmortem.ts --events ${EVENTS} --runs ${RUNS}\` on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores).`,
  "",
  `Load average when the report was written: ${loadavg().map((l) => l.toFixed(2)).join(", ")} (1, 5, 15 min); on a busy machine the tail grows. CPU during the measurements: ${describeCpu(cpu)}.`,
  "",
  `Input: the SEV1 golden-file fixture scaled to ${EVENTS.toLocaleString("en-US")} timeline events (4 alerts, 2 remediations, 4 action items), every note text distinct (each one reviewed for blameless language).`,
  `Times in milliseconds over ${RUNS} runs after ${WARMUP} warm-up runs, one process, no I/O.`,
  "",
  "| Audience | Stage | Median | p95 | Max |",
  "| --- | --- | ---: | ---: | ---: |",
];
for (const result of results) {
  for (const stage of STAGES) {
    const sorted = [...result.samples[stage]].sort((a, b) => a - b);
    lines.push(`| ${result.audience} | ${stage} | ${fmt(quantile(sorted, 0.5))} | ${fmt(quantile(sorted, 0.95))} | ${fmt(sorted[sorted.length - 1] ?? Number.NaN)} |`);
  }
}
lines.push("", "| Audience | Timeline entries | Review findings | Markdown | HTML | JSON |", "| --- | ---: | ---: | ---: | ---: | ---: |");
for (const { audience, sizes } of results) {
  lines.push(`| ${audience} | ${sizes.entries} | ${sizes.findings} | ${kib(sizes.markdown)} | ${kib(sizes.html)} | ${kib(sizes.json)} |`);
}
lines.push("");

const report = lines.join("\n");
await mkdir(path.dirname(OUT), { recursive: true });
await writeFile(OUT, report);
const stat = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted[sorted.length - 1] ?? Number.NaN, runs: sorted.length };
};
await writeResult(OUT, {
  bench: "postmortem",
  startedAt: startedAt.toISOString(),
  command: commandLine("bench/postmortem.ts"),
  cpu,
  figures: results.flatMap((result) => {
    const generate = stat(result.samples.generate);
    const total = stat(result.samples.total);
    return [
      untargeted({
        id: `postmortem.${result.audience}`,
        label: `Post-mortem of a SEV1 with ${EVENTS.toLocaleString("en-US")} timeline events, ${result.audience}: generate (median); generate + Markdown + HTML + JSON (median / p95)`,
        value: `${fmt(generate.median)} ms; ${fmt(total.median)} / ${fmt(total.p95)} ms`,
        numbers: { generateMedian: generate.median, generateP95: generate.p95, totalMedian: total.median, totalP95: total.p95, totalMax: total.max, runs: total.runs, events: EVENTS },
      }),
    ];
  }),
  notes: [],
});
process.stdout.write(`${report}\nwritten to ${path.relative(ROOT, OUT)}\n`);
