// Offline replacement for `prisma migrate dev --create-only` / `prisma migrate diff`.
//
//   npx tsx scripts/migrate-diff.ts [--name <name>]   write prisma/migrations/<timestamp>_<name>/migration.sql
//                                                     when schema.prisma differs from the migrations
//   npx tsx scripts/migrate-diff.ts --check           print the difference; exit 1 if there is one, 0 if none
//
// Options: --schema <file|dir> (default prisma/schema.prisma), --migrations <dir> (default prisma/migrations).
// Exit code 2 on errors. See scripts/lib/schema-diff.ts.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { diffMigrationsToSchema, writeMigration } from "./lib/schema-diff.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      name: { type: "string", short: "n", default: "migration" },
      check: { type: "boolean", default: false },
      schema: { type: "string", default: path.join(root, "prisma", "schema.prisma") },
      migrations: { type: "string", default: path.join(root, "prisma", "migrations") },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log("usage: tsx scripts/migrate-diff.ts [--name <name>] [--check] [--schema <path>] [--migrations <dir>]");
    return 0;
  }

  const started = performance.now();
  const sql = await diffMigrationsToSchema({ schemaPath: values.schema, migrationsDir: values.migrations });
  const took = `${((performance.now() - started) / 1000).toFixed(1)} s`;

  if (values.check) {
    if (sql === "") {
      console.error(`No drift: the migrations match ${path.relative(process.cwd(), values.schema)} (${took}).`);
      return 0;
    }
    process.stdout.write(sql.endsWith("\n") ? sql : `${sql}\n`);
    console.error(
      `\nDrift: ${path.relative(process.cwd(), values.schema)} has changes that no migration contains (${took}).\n` +
        "Create a migration with: npx tsx scripts/migrate-diff.ts --name <name>",
    );
    return 1;
  }

  if (sql === "") {
    console.error(`No schema changes: no migration created (${took}).`);
    return 0;
  }
  const dir = await writeMigration({ migrationsDir: values.migrations, name: values.name, sql });
  console.error(`Created ${path.relative(process.cwd(), path.join(dir, "migration.sql"))} (${took}).`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  },
);
