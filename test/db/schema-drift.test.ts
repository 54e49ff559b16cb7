// prisma/schema.prisma and prisma/migrations must agree: editing the schema
// without adding a migration (npx tsx scripts/migrate-diff.ts --name <name>)
// fails here. Uses Prisma's WASM schema engine with a throwaway shadow database
// on the test PostgreSQL server (see scripts/lib/schema-diff.ts); each diff
// takes a few seconds.

import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import pg from "pg";
import { describe, expect, inject, it } from "vitest";

import { diffMigrationsToSchema } from "../../scripts/lib/schema-diff.ts";
import { createTestDatabase } from "../support/postgres.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const schemaPath = path.join(root, "prisma", "schema.prisma");
const migrationsDir = path.join(root, "prisma", "migrations");

const TIMEOUT = 60_000;

/** Shadow databases made by this process's diffs (scripts/lib/schema-diff.ts names them firebreak_shadow_<time>_<pid>_<random>) still on the server. */
async function leftoverShadowDatabases(): Promise<string[]> {
  const client = new pg.Client({ connectionString: inject("postgresUrl") });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname ~ $1 ORDER BY datname",
      [`^firebreak_shadow_[0-9a-z]+_${process.pid.toString(36)}_`],
    );
    return rows.map((row) => row.datname);
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe("schema.prisma vs prisma/migrations", () => {
  it(
    "has no drift (every schema change has a migration)",
    async () => {
      const sql = await diffMigrationsToSchema({ databaseUrl: inject("postgresUrl"), schemaPath, migrationsDir });
      expect(sql, "schema.prisma differs from the migrations; run: npx tsx scripts/migrate-diff.ts --name <name>").toBe(
        "",
      );
      expect(await leftoverShadowDatabases()).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    "reports drift when the schema gains a field without a migration",
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), "firebreak-drift-"));
      try {
        const original = await readFile(schemaPath, "utf8");
        const edited = original.replace(/^(model IdempotencyKey \{\n)/m, "$1  driftProbe String?\n");
        expect(edited, "test setup: model IdempotencyKey not found in schema.prisma").not.toBe(original);
        const editedPath = path.join(dir, "schema.prisma");
        await writeFile(editedPath, edited, "utf8");

        const sql = await diffMigrationsToSchema({ databaseUrl: inject("postgresUrl"), schemaPath: editedPath, migrationsDir });
        expect(sql).not.toBe("");
        expect(sql).toMatch(/ALTER TABLE "idempotency_keys" ADD COLUMN\s+"driftProbe" TEXT/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    TIMEOUT,
  );

  it(
    "names a migration that fails on the shadow database, and still drops the shadow database",
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), "firebreak-drift-"));
      try {
        await cp(migrationsDir, dir, { recursive: true });
        await mkdir(path.join(dir, "29991231000000_broken"));
        await writeFile(
          path.join(dir, "29991231000000_broken", "migration.sql"),
          `CREATE TABLE "broken_probe" ("id" INTEGER);\nINSERT INTO "no_such_table" VALUES (1);\n`,
          "utf8",
        );

        const error = await diffMigrationsToSchema({ databaseUrl: inject("postgresUrl"), schemaPath, migrationsDir: dir }).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toContain("29991231000000_broken");
        expect(await leftoverShadowDatabases()).toEqual([]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    TIMEOUT,
  );
});

describe("migration SQL", () => {
  it(
    "applies to a fresh database and keeps timeline_events append-only",
    async () => {
      const names = (await readdir(migrationsDir, { withFileTypes: true }))
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
      expect(names.length).toBeGreaterThan(0);

      const database = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_drift" });
      const db = new pg.Client({ connectionString: database.url });
      db.on("error", () => undefined);
      try {
        await db.connect();
        for (const name of names) {
          // No parameters: one simple query, which may hold several statements.
          await db.query(await readFile(path.join(migrationsDir, name, "migration.sql"), "utf8"));
        }
        const incident = await db.query<{ id: string }>(
          `INSERT INTO "incidents" ("id", "number", "title", "severity", "updated_at")
           VALUES (gen_random_uuid(), 1, 'drift test', 'SEV3', now()) RETURNING "id"`,
        );
        const incidentId = incident.rows[0]?.id;
        await db.query(
          `INSERT INTO "timeline_events" ("incident_id", "type", "source", "text")
           VALUES ($1, 'incident.declared', 'SYSTEM', 'declared')`,
          [incidentId],
        );
        // Edits are allowed (flags), deletes are not.
        await db.query(`UPDATE "timeline_events" SET "hidden" = true, "removed_at" = now()`);
        await expect(db.query(`DELETE FROM "timeline_events"`)).rejects.toThrow("timeline events are append-only");
        const count = await db.query<{ n: number }>(`SELECT count(*)::int AS "n" FROM "timeline_events"`);
        expect(count.rows[0]?.n).toBe(1);
      } finally {
        await db.end().catch(() => undefined);
        await database.drop();
      }
    },
    TIMEOUT,
  );
});
