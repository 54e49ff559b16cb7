// Generates the Prisma client offline. Prisma's CLI insists that a schema-engine
// binary exists before `generate`, and would otherwise download one from a host
// that is not reachable on offline machines. Generation itself never runs the
// engine, so we point it at /bin/false (never /bin/true: that would make
// `migrate deploy` report success having applied nothing).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (!existsSync("node_modules/prisma")) {
  // Production install (devDependencies omitted): the client was generated at build time.
  process.exit(0);
}
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= "/bin/false";
env.PRISMA_HIDE_UPDATE_MESSAGE = "1";
const result = spawnSync("npx", ["--no-install", "prisma", "generate"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
