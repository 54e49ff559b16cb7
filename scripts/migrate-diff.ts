// Offline replacement for `prisma migrate dev --create-only` / `prisma migrate diff`.
//
//   npx tsx scripts/migrate-diff.ts [--name <name>]   write prisma/migrations/<timestamp>_<name>/migration.sql
//                                                     when schema.prisma differs from the migrations
//   npx tsx scripts/migrate-diff.ts --check           print the difference; exit 1 if there is one, 0 if none
//
// Options: --schema <file|dir> (default prisma/schema.prisma), --migrations <dir> (default prisma/migrations).
// Exit code 2 on errors. See scripts/lib/schema-diff.ts.
//
// The diff needs a PostgreSQL server whose user may CREATE DATABASE (the migrations are replayed
// on a throwaway database, dropped afterwards): TEST_DATABASE_URL, else DATABASE_URL, when set
// (their own databases are only asked for the server's version). With neither set, Firebreak's
// embedded PostgreSQL server (src/db/embedded-server.ts) is started on a temporary directory for
// the run, then stopped and the directory removed.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { startEmbeddedServer, type EmbeddedServer } from "../src/db/embedded-server.ts";
import { createLogger } from "../src/lib/logger.ts";
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
  const sql = await withPostgres((databaseUrl) =>
    diffMigrationsToSchema({ databaseUrl, schemaPath: values.schema, migrationsDir: values.migrations }),
  );
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

/** Runs `work` with the URL of a PostgreSQL server: the configured one, or a temporary embedded one. */
async function withPostgres<T>(work: (url: string) => Promise<T>): Promise<T> {
  const configured = process.env.TEST_DATABASE_URL?.trim() || process.env.DATABASE_URL?.trim();
  if (configured) return work(configured);

  const dir = await mkdtemp(path.join(tmpdir(), "fb-diff-pg-"));
  // Warnings and errors only, on stderr (stdout carries the SQL with --check).
  const logger = createLogger({ level: "warn", format: "json" }, process.stderr);
  let starting: Promise<EmbeddedServer> | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaned ??= (async () => {
      try {
        // Interrupted while starting: let the start finish or fail (initdb and the server get
        // the terminal's SIGINT too) before stopping and removing what it made.
        const server = await starting?.catch(() => undefined);
        await server?.stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    })());
  // Ctrl-C / kill: stop the server and remove the directory, then exit. The handlers stay
  // installed until then, so that a repeated signal (tsx relays the terminal's SIGINT to this
  // process a second time) is ignored instead of ending the process half-way through.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    starting = startEmbeddedServer({ dataDir: dir, logger });
    const server = await starting;
    return await work(server.url);
  } finally {
    await cleanup();
    if (!interrupted) {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
    }
  }
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
