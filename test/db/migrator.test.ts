// src/db/migrator.ts against the test PostgreSQL server (a fresh database per
// test): Prisma-compatible bookkeeping, one transaction per migration, refusal
// to run over an unresolved failure, folder-name order, and the advisory lock.

import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { applyMigrations, readMigrations, type MigrationConnection, type MigrationFile } from "../../src/db/migrator.ts";
import { MigrationError } from "../../src/lib/errors.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";

const REAL_MIGRATIONS = resolve("prisma/migrations");
const PRISMA_ADVISORY_LOCK = 72707369;

interface Backend {
  readonly connection: MigrationConnection;
  close(): Promise<void>;
}

interface LogCall {
  level: "info" | "warn";
  args: unknown[];
}

/** A plain logger stand-in that records what the migrator says. */
function stubLogger(): { calls: LogCall[]; info: (...args: unknown[]) => void; warn: (...args: unknown[]) => void } {
  const calls: LogCall[] = [];
  return {
    calls,
    info: (...args) => void calls.push({ level: "info", args }),
    warn: (...args) => void calls.push({ level: "warn", args }),
  };
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function pgConnection(client: pg.Client): MigrationConnection {
  return {
    exec: async (sql) => {
      await client.query(sql);
    },
    query: async <Row>(sql: string, params: readonly unknown[] = []) => (await client.query(sql, [...params])).rows as Row[],
  };
}

/** Per test: a fresh database on the test server and one session on it. */
let openedDatabases: TestDatabase[] = [];
async function startPostgres(): Promise<Backend & { url: string }> {
  const database = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_migrator" });
  openedDatabases.push(database);
  const client = new pg.Client({ connectionString: database.url });
  client.on("error", () => undefined);
  await client.connect();
  return {
    url: database.url,
    connection: pgConnection(client),
    close: async () => {
      await client.end().catch(() => undefined);
      await database.drop();
    },
  };
}

// ---------------------------------------------------------------------------
// Temporary migrations folders

let tempDirs: string[] = [];

/** Writes the migrations' folders, in `creationOrder` when given. */
async function migrationsDir(migrations: Record<string, string>, creationOrder: readonly string[] = Object.keys(migrations)): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "firebreak-migrations-"));
  tempDirs.push(dir);
  for (const name of creationOrder) await writeMigration(dir, name, migrations[name] ?? "");
  // Prisma keeps this file next to the folders; it is not a migration.
  await writeFile(join(dir, "migration_lock.toml"), 'provider = "postgresql"\n', "utf8");
  return dir;
}

async function writeMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(join(dir, name), { recursive: true });
  await writeFile(join(dir, name, "migration.sql"), sql, "utf8");
}

interface BookkeepingRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
  applied_steps_count: number;
  logs: string | null;
}

async function bookkeeping(connection: MigrationConnection): Promise<BookkeepingRow[]> {
  return connection.query<BookkeepingRow>(
    `SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count, logs FROM "_prisma_migrations" ORDER BY migration_name`,
  );
}

async function tableExists(connection: MigrationConnection, table: string): Promise<boolean> {
  const rows = await connection.query<{ found: string | null }>(`SELECT to_regclass($1)::text AS found`, [`public.${table}`]);
  return rows[0]?.found !== null && rows[0]?.found !== undefined;
}

async function columnNames(connection: MigrationConnection, table: string): Promise<string[]> {
  const rows = await connection.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return rows.map((row) => row.column_name);
}

/**
 * Sends each statement on its own. PostgreSQL already runs a multi-statement
 * simple query as one implicit transaction, so only a connection like this one
 * shows whether the migrator's own transaction makes a migration atomic.
 */
function statementByStatement(connection: MigrationConnection): MigrationConnection {
  return {
    exec: async (sql) => {
      for (const statement of sql.split(/;\s*\n/).map((part) => part.trim()).filter((part) => part.length > 0)) {
        await connection.exec(statement);
      }
    },
    query: (sql, params) => connection.query(sql, params),
  };
}

async function expectMigrationError(promise: Promise<unknown>): Promise<MigrationError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(MigrationError);
  return error as MigrationError;
}

afterEach(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs = [];
});

afterAll(async () => {
  await Promise.all(openedDatabases.map((database) => database.drop().catch(() => undefined)));
  openedDatabases = [];
});

// ---------------------------------------------------------------------------

describe("applyMigrations on PostgreSQL", () => {
  let backend: Backend | undefined;

  /** A fresh database for the test, and one session on it. */
  async function open(): Promise<MigrationConnection> {
    backend = await startPostgres();
    return backend.connection;
  }

  afterEach(async () => {
    await backend?.close();
    backend = undefined;
  });

  it("applies the real prisma/migrations with Prisma's bookkeeping (sha256 checksum, finished_at, one step)", async () => {
    const connection = await open();
    const logger = stubLogger();
    const names = (await readdir(REAL_MIGRATIONS, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(names.length).toBeGreaterThan(0);

    const report = await applyMigrations(connection, await readMigrations(REAL_MIGRATIONS), logger);

    expect(report).toEqual({ applied: names, alreadyApplied: 0 });
    const rows = await bookkeeping(connection);
    expect(rows.map((row) => row.migration_name)).toEqual(names);
    for (const row of rows) {
      const sql = await readFile(join(REAL_MIGRATIONS, row.migration_name, "migration.sql"), "utf8");
      expect(row.checksum).toBe(sha256(sql));
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.finished_at).not.toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
    // The schema really is there.
    expect(await tableExists(connection, "jobs")).toBe(true);
    expect(await tableExists(connection, "rate_limit_holds")).toBe(true);
    expect(logger.calls.filter((call) => call.level === "info").map((call) => call.args[0])).toEqual(
      names.map((migration) => ({ migration })),
    );
    expect(logger.calls.filter((call) => call.level === "warn")).toEqual([]);
  });

  it("applies nothing on a second run", async () => {
    const connection = await open();
    const migrations = await readMigrations(REAL_MIGRATIONS);
    await applyMigrations(connection, migrations, stubLogger());
    const before = await bookkeeping(connection);

    const logger = stubLogger();
    const report = await applyMigrations(connection, migrations, logger);

    expect(report).toEqual({ applied: [], alreadyApplied: migrations.length });
    expect(await bookkeeping(connection)).toEqual(before);
    expect(logger.calls).toEqual([]);
  });

  it("rolls back a failing migration completely, records no row for it, and names it in the error", async () => {
    const connection = statementByStatement(await open());
    const dir = await migrationsDir({
      "20240101000000_first": `CREATE TABLE "first_probe" ("id" INTEGER PRIMARY KEY);\nINSERT INTO "first_probe" VALUES (1);\n`,
      // Creates a table, then fails at run time (not at parse time).
      "20240102000000_broken": `CREATE TABLE "broken_probe" ("id" INTEGER);\nINSERT INTO "broken_probe" VALUES (1);\nINSERT INTO "no_such_table" VALUES (1);\n`,
    });
    const logger = stubLogger();

    const error = await expectMigrationError(applyMigrations(connection, await readMigrations(dir), logger));

    expect(error.message).toContain("20240102000000_broken");
    expect(error.message).toMatch(/no_such_table/);
    expect(error.code).toBe("migration_failed");
    // The migration before it stays applied; the broken one left nothing behind.
    expect(await tableExists(connection, "first_probe")).toBe(true);
    expect(await tableExists(connection, "broken_probe")).toBe(false);
    expect((await bookkeeping(connection)).map((row) => row.migration_name)).toEqual(["20240101000000_first"]);
    // The session is usable again (not stuck in an aborted transaction).
    expect(await connection.query<{ one: number }>("SELECT 1 AS one")).toEqual([{ one: 1 }]);

    // Once fixed, only the broken migration runs.
    await writeMigration(dir, "20240102000000_broken", `CREATE TABLE "broken_probe" ("id" INTEGER);\n`);
    const report = await applyMigrations(connection, await readMigrations(dir), stubLogger());
    expect(report).toEqual({ applied: ["20240102000000_broken"], alreadyApplied: 1 });
    expect(await tableExists(connection, "broken_probe")).toBe(true);
  });

  it("refuses to run over a migration that failed earlier and was never resolved", async () => {
    const connection = await open();
    const dir = await migrationsDir({
      "20240101000000_first": `CREATE TABLE "first_probe" ("id" INTEGER);\n`,
      "20240103000000_third": `CREATE TABLE "third_probe" ("id" INTEGER);\n`,
    });
    await applyMigrations(connection, (await readMigrations(dir)).slice(0, 1), stubLogger());
    // What `prisma migrate deploy` leaves behind when a migration fails half-way.
    await connection.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, rolled_back_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), NULL, NULL, 0)`,
      ["00000000-0000-4000-8000-000000000002", sha256("broken"), "20240102000000_second"],
    );

    const error = await expectMigrationError(applyMigrations(connection, await readMigrations(dir), stubLogger()));

    expect(error.message).toContain("20240102000000_second");
    expect(error.message).toContain("prisma migrate resolve");
    expect(await tableExists(connection, "third_probe")).toBe(false);

    // Marked as rolled back (`prisma migrate resolve --rolled-back`), it no longer blocks.
    await connection.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1`, ["20240102000000_second"]);
    const report = await applyMigrations(connection, await readMigrations(dir), stubLogger());
    expect(report.applied).toEqual(["20240103000000_third"]);
    expect(await tableExists(connection, "third_probe")).toBe(true);
  });

  it("warns about an applied migration that was edited afterwards, keeps its row, and goes on", async () => {
    const connection = await open();
    const original = `CREATE TABLE "edited_probe" ("id" INTEGER);\n`;
    const dir = await migrationsDir({ "20240101000000_first": original });
    await applyMigrations(connection, await readMigrations(dir), stubLogger());

    await writeMigration(dir, "20240101000000_first", `${original}-- edited after it ran\n`);
    await writeMigration(dir, "20240102000000_second", `ALTER TABLE "edited_probe" ADD COLUMN "name" TEXT;\n`);
    const logger = stubLogger();
    const report = await applyMigrations(connection, await readMigrations(dir), logger);

    expect(report).toEqual({ applied: ["20240102000000_second"], alreadyApplied: 1 });
    const warnings = logger.calls.filter((call) => call.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.args[0]).toEqual({ migration: "20240101000000_first" });
    expect(String(warnings[0]?.args[1])).toMatch(/checksum/);
    const rows = await bookkeeping(connection);
    expect(rows.find((row) => row.migration_name === "20240101000000_first")?.checksum).toBe(sha256(original));
    expect(await columnNames(connection, "edited_probe")).toEqual(["id", "name"]);
  });

  it("applies migrations in folder-name order, whatever order they were created or listed in", async () => {
    const connection = await open();
    const dir = await migrationsDir(
      {
        "20240101000000_create": `CREATE TABLE "ordered_probe" ("a" INTEGER);\n`,
        "20240102000000_add_b": `ALTER TABLE "ordered_probe" ADD COLUMN "b" INTEGER;\n`,
        "20240103000000_add_c": `ALTER TABLE "ordered_probe" ADD COLUMN "c" INTEGER;\n`,
      },
      // Created out of order (neither this order nor its reverse is right).
      ["20240102000000_add_b", "20240103000000_add_c", "20240101000000_create"],
    );

    const migrations = await readMigrations(dir);
    expect(migrations.map((migration: MigrationFile) => migration.name)).toEqual([
      "20240101000000_create",
      "20240102000000_add_b",
      "20240103000000_add_c",
    ]);
    const report = await applyMigrations(connection, migrations, stubLogger());

    expect(report.applied).toEqual(["20240101000000_create", "20240102000000_add_b", "20240103000000_add_c"]);
    expect(await columnNames(connection, "ordered_probe")).toEqual(["a", "b", "c"]);
  });
});

describe("readMigrations", () => {
  it("fails with a MigrationError naming a missing folder", async () => {
    const missing = join(tmpdir(), "firebreak-no-such-migrations-folder");
    const error = await expectMigrationError(readMigrations(missing));
    expect(error.message).toContain(missing);
  });
});

describe("the advisory lock on PostgreSQL", () => {
  let backend: (Backend & { url: string }) | undefined;
  let observer: pg.Client | undefined;

  afterEach(async () => {
    await observer?.end().catch(() => undefined);
    observer = undefined;
    await backend?.close();
    backend = undefined;
  });

  /** Whether some session holds Prisma's migration lock in this test's database. */
  async function lockHeld(client: pg.Client): Promise<boolean> {
    const { rows } = await client.query<{ held: string }>(
      `SELECT count(*) AS held FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = $1 AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [PRISMA_ADVISORY_LOCK],
    );
    return Number(rows[0]?.held) > 0;
  }

  async function setUp(): Promise<{ connection: MigrationConnection; observer: pg.Client }> {
    backend = await startPostgres();
    observer = new pg.Client({ connectionString: backend.url });
    observer.on("error", () => undefined);
    await observer.connect();
    // The check sees the lock while the migration session holds it...
    await backend.connection.query("SELECT pg_advisory_lock($1)", [PRISMA_ADVISORY_LOCK]);
    expect(await lockHeld(observer)).toBe(true);
    await backend.connection.query("SELECT pg_advisory_unlock($1)", [PRISMA_ADVISORY_LOCK]);
    expect(await lockHeld(observer)).toBe(false);
    return { connection: backend.connection, observer };
  }

  it("is released after a successful run (the session stays open)", async () => {
    const { connection, observer } = await setUp();
    await applyMigrations(connection, await readMigrations(REAL_MIGRATIONS), stubLogger());
    expect(await lockHeld(observer)).toBe(false);
    const { rows } = await observer.query<{ taken: boolean }>("SELECT pg_try_advisory_lock($1) AS taken", [PRISMA_ADVISORY_LOCK]);
    expect(rows[0]?.taken).toBe(true);
    await observer.query("SELECT pg_advisory_unlock($1)", [PRISMA_ADVISORY_LOCK]);
  });

  it("is released after a failed migration", async () => {
    const { connection, observer } = await setUp();
    const dir = await migrationsDir({ "20240101000000_broken": `CREATE TABLE "x_probe" ("id" INTEGER);\nSELECT 1 / 0;\n` });
    await expectMigrationError(applyMigrations(connection, await readMigrations(dir), stubLogger()));
    expect(await lockHeld(observer)).toBe(false);
  });

  it("serialises two concurrent runs: every migration is applied exactly once", async () => {
    const { connection } = await setUp();
    const second = new pg.Client({ connectionString: backend?.url });
    second.on("error", () => undefined);
    await second.connect();
    try {
      const migrations = await readMigrations(REAL_MIGRATIONS);
      const reports = await Promise.all([
        applyMigrations(connection, migrations, stubLogger()),
        applyMigrations(pgConnection(second), migrations, stubLogger()),
      ]);
      expect(reports.flatMap((report) => report.applied).sort()).toEqual(migrations.map((migration) => migration.name));
      expect(reports.map((report) => report.alreadyApplied).sort((a, b) => a - b)).toEqual([0, migrations.length]);
      expect((await bookkeeping(connection)).map((row) => row.migration_name)).toEqual(migrations.map((migration) => migration.name));
    } finally {
      await second.end().catch(() => undefined);
    }
  });
});
