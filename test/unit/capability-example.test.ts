import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

/**
 * docs/architecture.md's worked example, compiled for real: a copy of src/
 * gets the example capability (docs/examples/statuspage/: one subcommand, one
 * event type, one job, one lifecycle subscriber) as src/statuspage/, plus ONE
 * line in the composition root, and must type-check with no other file
 * touched. Without that line, the example's event type has no kind in the
 * catalogue and the copy must not compile.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLE = join(ROOT, "docs/examples/statuspage");
const ANCHOR = "      createPostmortemModule(core),\n";
const MODULE_LINE = "      createStatusPageModule(core),\n";
const IMPORT_LINE = 'import { createStatusPageModule } from "./statuspage/module.ts";\n';

const run = promisify(execFile);
const workspaces: string[] = [];

function workspace(withModuleLine: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "firebreak-capability-"));
  workspaces.push(dir);
  cpSync(join(ROOT, "src"), join(dir, "src"), { recursive: true });
  cpSync(join(ROOT, "package.json"), join(dir, "package.json"));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  const tsconfig = JSON.parse(readFileSync(join(ROOT, "tsconfig.json"), "utf8")) as { include: string[] };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ ...tsconfig, include: ["src"] }));
  for (const file of readdirSync(EXAMPLE)) cpSync(join(EXAMPLE, file), join(dir, "src/statuspage", file));
  const app = readFileSync(join(dir, "src/app.ts"), "utf8");
  expect(app, "the composition root lists its modules after createPostmortemModule(core)").toContain(ANCHOR);
  const edited = IMPORT_LINE + (withModuleLine ? app.replace(ANCHOR, ANCHOR + MODULE_LINE) : app);
  writeFileSync(join(dir, "src/app.ts"), edited);
  return dir;
}

async function typeCheck(dir: string): Promise<{ ok: boolean; output: string }> {
  try {
    await run(join(ROOT, "node_modules/.bin/tsc"), ["--noEmit", "-p", dir], { cwd: dir, timeout: 180_000 });
    return { ok: true, output: "" };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

afterAll(() => {
  for (const dir of workspaces) rmSync(dir, { recursive: true, force: true });
});

describe("adding a capability (docs/architecture.md's worked example)", () => {
  it("compiles as its own folder plus one line in the composition root", async () => {
    const result = await typeCheck(workspace(true));
    expect(result.output).toBe("");
    expect(result.ok).toBe(true);
  }, 200_000);

  it("does not compile while its event type has no kind in the assembled catalogue", async () => {
    const result = await typeCheck(workspace(false));
    expect(result.ok).toBe(false);
    // catalogueOf asks for the missing kinds by name.
    expect(result.output).toMatch(/src\/app\.ts\(\d+,\d+\): error TS2554/);
    expect(result.output.split("\n").filter((line) => line.includes("error TS"))).toHaveLength(1);
  }, 200_000);
});
