import path from "node:path";
import { parseArgs } from "node:util";

/**
 * Command-line options of a benchmark, through Node's own `util.parseArgs`: unknown options
 * and missing values are refused with its message; numbers must be positive and finite.
 */
export function benchArgs(script: string, argv: readonly string[], spec: { numbers?: readonly string[]; strings?: readonly string[]; flags?: readonly string[]; lists?: readonly string[] }) {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const name of [...(spec.numbers ?? []), ...(spec.strings ?? [])]) options[name] = { type: "string" };
  for (const name of spec.flags ?? []) options[name] = { type: "boolean" };
  for (const name of spec.lists ?? []) options[name] = { type: "string", multiple: true };
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (error) {
    throw new Error(`${error instanceof Error ? error.message : String(error)} (see the header of ${script})`, { cause: error });
  }
  return {
    /** A positive number, or `fallback` when the option is absent. */
    number(name: string, fallback: number): number {
      const raw = values[name];
      if (raw === undefined) return fallback;
      const parsed = Number(raw);
      if (typeof raw !== "string" || !Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} needs a positive number, got ${String(raw)}`);
      return parsed;
    },
    /** A whole number, 0 included (a count that may be none), or `fallback` when the option is absent. */
    count(name: string, fallback: number): number {
      const raw = values[name];
      if (raw === undefined) return fallback;
      const parsed = Number(raw);
      if (typeof raw !== "string" || !Number.isInteger(parsed) || parsed < 0) throw new Error(`--${name} needs a whole number (0 or more), got ${String(raw)}`);
      return parsed;
    },
    string(name: string): string | undefined {
      const raw = values[name];
      return typeof raw === "string" ? raw : undefined;
    },
    /** An absolute path (resolved against the working directory), or `fallback`. */
    path(name: string, fallback: string): string {
      const raw = values[name];
      return typeof raw === "string" ? path.resolve(raw) : fallback;
    },
    flag(name: string): boolean {
      return values[name] === true;
    },
    list(name: string): string[] {
      const raw = values[name];
      return Array.isArray(raw) ? raw : [];
    },
  };
}
