// prisma/schema.prisma and prisma/migrations must agree: editing the schema
// without adding a migration (npx tsx scripts/migrate-diff.ts --name <name>)
// fails here. Uses Prisma's WASM schema engine with an in-memory PGlite shadow
// database (see scripts/lib/schema-diff.ts); each diff takes ~5-10 s.

import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { PGlite } from "@electric-sql/pglite";
import { describe, expect, it } from "vitest";

import { diffMigrationsToSchema } from "../../scripts/lib/schema-diff.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const schemaPath = path.join(root, "prisma", "schema.prisma");
const migrationsDir = path.join(root, "prisma", "migrations");

const TIMEOUT = 60_000;

describe("schema.prisma vs prisma/migrations", () => {
  it(
    "has no drift (every schema change has a migration)",
    async () => {
      const sql = await diffMigrationsToSchema({ schemaPath, migrationsDir });
      expect(sql, "schema.prisma differs from the migrations; run: npx tsx scripts/migrate-diff.ts --name <name>").toBe(
        "",
      );
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

        const sql = await diffMigrationsToSchema({ schemaPath: editedPath, migrationsDir });
        expect(sql).not.toBe("");
        expect(sql).toMatch(/ALTER TABLE "idempotency_keys" ADD COLUMN\s+"driftProbe" TEXT/);
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

      const db = new PGlite();
      try {
        for (const name of names) {
          await db.exec(await readFile(path.join(migrationsDir, name, "migration.sql"), "utf8"));
        }
        const incident = await db.query<{ id: string }>(
          `INSERT INTO "incidents" ("id", "title", "severity", "updated_at")
           VALUES (gen_random_uuid(), 'drift test', 'SEV3', now()) RETURNING "id"`,
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
        await db.close();
      }
    },
    TIMEOUT,
  );
});
