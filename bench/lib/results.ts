import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { machineInfo, type CpuWindow, type MachineInfo } from "./machine.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * One headline figure of a benchmark, as `npm run bench`'s summary shows it: what was measured,
 * the value, and its target with the verdict (or no target where none was set).
 */
export interface Figure {
  /** Stable identifier, e.g. `ack.embedded.list.p99`. */
  id: string;
  /** What was measured, in words (e.g. "`/incident list` ack p50 / p99, embedded"). */
  label: string;
  /** The measured value as shown (e.g. "12 / 31 ms"). */
  value: string;
  /** The target in words, or null when none was set for this figure. */
  target: string | null;
  /** The verdict: null when there is no target. */
  met: boolean | null;
  /** The numbers behind the value (ms, MiB, requests/s...), for whoever reads the JSON. */
  numbers: Record<string, number>;
}

/** What every benchmark writes next to its Markdown report: `<report>.json`. */
export interface BenchResult {
  schema: 1;
  bench: string;
  startedAt: string;
  finishedAt: string;
  /** The command line that produced it. */
  command: string;
  /** The Markdown report, relative to the repository. */
  report: string;
  machine: MachineInfo;
  /** The machine's CPUs during the run, when the benchmark watched them. */
  cpu: CpuWindow | null;
  figures: Figure[];
  /** Anything the reader of the figures must know (e.g. a noisy run). */
  notes: string[];
}

/** `bench/results/x.md` → `bench/results/x.json`. */
export function resultPathFor(reportPath: string): string {
  return `${reportPath.replace(/\.md$/, "")}.json`;
}

/** The command as typed, e.g. `npx tsx bench/ack.ts --seconds 10`. */
export function commandLine(script: string): string {
  return ["npx tsx", script, ...process.argv.slice(2)].join(" ");
}

/** Writes the machine-readable result next to the Markdown report. */
export async function writeResult(reportPath: string, result: Omit<BenchResult, "schema" | "report" | "machine" | "finishedAt"> & { finishedAt?: string }): Promise<string> {
  const file = resultPathFor(reportPath);
  const full: BenchResult = {
    schema: 1,
    ...result,
    finishedAt: result.finishedAt ?? new Date().toISOString(),
    report: path.relative(ROOT, reportPath),
    machine: machineInfo(),
  };
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(full, null, 2)}\n`);
  return file;
}

/** A figure against an upper bound: met when `value < limit`. */
export function below(figure: Omit<Figure, "met" | "target"> & { target: string }, value: number, limit: number): Figure {
  return { ...figure, met: Number.isFinite(value) ? value < limit : false };
}

/** A figure without a target. */
export function untargeted(figure: Omit<Figure, "met" | "target">): Figure {
  return { ...figure, target: null, met: null };
}
