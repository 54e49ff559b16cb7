import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../lib/logger.ts";
import { MigrationError, errorMessage } from "../lib/errors.ts";

/**
 * Applies prisma/migrations at start-up without the Prisma CLI (whose schema
 * engine binary cannot be downloaded offline). Keeps Prisma's own bookkeeping
 * (the `_prisma_migrations` table, sha256 checksums, the same advisory lock)
 * so that `prisma migrate deploy` / `status` keep working wherever the CLI is
 * available. Unlike the CLI, each migration runs in one transaction, so a
 * failing migration leaves nothing half-applied.
 */

/** The minimum a migration needs from a database connection: one session. */
export interface MigrationConnection {
  /** Runs one or more statements without parameters. */
  exec(sql: string): Promise<void>;
  query<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

/** Prisma Migrate's advisory lock key (same value, so the CLI and we exclude each other). */
const PRISMA_ADVISORY_LOCK = 72707369;

const CREATE_BOOKKEEPING = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);`;

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
}

export function checksum(sql: string): string {
  return createHash("sha256").update(sql, "utf8").digest("hex");
}

export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new MigrationError(`Cannot read the migrations folder ${dir}: ${errorMessage(error)}`, { cause: error });
  }
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const migrations: MigrationFile[] = [];
  for (const name of names) {
    const sql = await readFile(join(dir, name, "migration.sql"), "utf8");
    migrations.push({ name, sql, checksum: checksum(sql) });
  }
  return migrations;
}

export async function applyMigrations(
  connection: MigrationConnection,
  migrations: readonly MigrationFile[],
  logger: Pick<Logger, "info" | "warn">,
): Promise<MigrationReport> {
  await connection.query("SELECT pg_advisory_lock($1)", [PRISMA_ADVISORY_LOCK]);
  try {
    await connection.exec(CREATE_BOOKKEEPING);
    const rows = await connection.query<AppliedRow>(
      `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
    );
    const failed = rows.filter((row) => row.finished_at === null && row.rolled_back_at === null);
    if (failed.length > 0) {
      throw new MigrationError(
        `Migration ${failed.map((row) => row.migration_name).join(", ")} failed earlier and was never resolved. ` +
          `Fix the database by hand, then mark it with \`prisma migrate resolve\` before starting Firebreak again.`,
      );
    }
    const applied = new Map(rows.filter((row) => row.finished_at !== null).map((row) => [row.migration_name, row]));
    const known = new Set(migrations.map((migration) => migration.name));
    for (const name of applied.keys()) {
      if (!known.has(name)) logger.warn({ migration: name }, "database has a migration this version of Firebreak does not know (newer database?)");
    }

    const report: MigrationReport = { applied: [], alreadyApplied: 0 };
    for (const migration of migrations) {
      const existing = applied.get(migration.name);
      if (existing) {
        report.alreadyApplied += 1;
        if (existing.checksum !== migration.checksum) {
          logger.warn({ migration: migration.name }, "applied migration was edited after it ran (checksum differs); leaving it as is");
        }
        continue;
      }
      await connection.exec("BEGIN");
      try {
        await connection.exec(migration.sql);
        await connection.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), now(), 1)`,
          [randomUUID(), migration.checksum, migration.name],
        );
        await connection.exec("COMMIT");
      } catch (error) {
        await connection.exec("ROLLBACK").catch(() => undefined);
        throw new MigrationError(`Migration ${migration.name} failed and was rolled back: ${errorMessage(error)}`, { cause: error });
      }
      report.applied.push(migration.name);
      logger.info({ migration: migration.name }, "applied migration");
    }
    return report;
  } finally {
    await connection.query("SELECT pg_advisory_unlock($1)", [PRISMA_ADVISORY_LOCK]).catch(() => undefined);
  }
}
