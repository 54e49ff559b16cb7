// The embedded database runs on its own thread (src/db/pglite-thread.ts, pglite-worker.js).
// These tests go through the real thread and the real PGlite: answers reach the caller that
// asked, SQL errors keep their SQLSTATE, Prisma still sees its own error codes and
// transactions, a closed database refuses work with a clear error, and an idle database does
// not keep the process alive.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma } from "../../src/generated/prisma/client.ts";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { EmbeddedDatabaseError, startPGliteThread } from "../../src/db/pglite-thread.ts";
import { DatabaseUnavailableError } from "../../src/lib/errors.ts";
import { captureLogs } from "../support/app.ts";

const run = promisify(execFile);

describe("the embedded database's thread", () => {
  let dir = "";
  let database: Database | undefined;
  const db = () => database as Database;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fb-pglite-thread-"));
    database = await openDatabase({ kind: "embedded", dataDir: dir }, captureLogs().logger);
    await database.migrate(join(import.meta.dirname, "../../prisma/migrations"));
  });
  afterAll(async () => {
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("answers each of many concurrent statements with its own rows", async () => {
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, index) => db().sql.query<{ n: number; s: string }>({ text: "SELECT $1::int AS n, $2::text AS s", values: [index, `row ${index}`] })),
    );
    answers.forEach((rows, index) => expect(rows).toEqual([{ n: index, s: `row ${index}` }]));
  });

  it("returns an SQL error with its SQLSTATE, and the next statement runs", async () => {
    const error = await db()
      .sql.query({ text: "SELECT * FROM no_such_table_here", values: [] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddedDatabaseError);
    expect((error as EmbeddedDatabaseError).code).toBe("42P01");
    expect((error as Error).message).toMatch(/no_such_table_here/);
    expect(await db().sql.query({ text: "SELECT 2 AS two", values: [] })).toEqual([{ two: 2 }]);
  });

  it("gives Prisma its own error codes (a unique violation is P2002)", async () => {
    const group = { groupKey: "{}:{alertname=\"Thread\"}", receiver: "firebreak", status: "FIRING" as const };
    await db().prisma.alertGroup.create({ data: group });
    const error = await db()
      .prisma.alertGroup.create({ data: group })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    expect((error as Prisma.PrismaClientKnownRequestError).code).toBe("P2002");
    expect(await db().prisma.alertGroup.count({ where: { groupKey: group.groupKey } })).toBe(1);
  });

  it("commits an interactive transaction, and rolls one back when its callback throws", async () => {
    await db().prisma.$transaction(async (tx) => {
      await tx.alertGroup.create({ data: { groupKey: "tx-commit", receiver: "firebreak", status: "FIRING" } });
      await tx.alertGroup.update({ where: { groupKey: "tx-commit" }, data: { status: "RESOLVED" } });
    });
    expect(await db().prisma.alertGroup.findUnique({ where: { groupKey: "tx-commit" }, select: { status: true } })).toEqual({ status: "RESOLVED" });

    await expect(
      db().prisma.$transaction(async (tx) => {
        await tx.alertGroup.create({ data: { groupKey: "tx-rollback", receiver: "firebreak", status: "FIRING" } });
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect(await db().prisma.alertGroup.count({ where: { groupKey: "tx-rollback" } })).toBe(0);
    // The database is free again after the rollback.
    expect(await db().prisma.alertGroup.count({ where: { groupKey: "tx-commit" } })).toBe(1);
  });

  it("keeps bytes and big integers intact through Prisma", async () => {
    const rows = await db().prisma.$queryRaw<{ b: Uint8Array; n: bigint }[]>`SELECT ${Buffer.from([0, 255, 39, 92])}::bytea AS b, 9007199254740993::int8 AS n`;
    expect(Buffer.from(rows[0]?.b ?? new Uint8Array()).equals(Buffer.from([0, 255, 39, 92]))).toBe(true);
    expect(rows[0]?.n).toBe(9007199254740993n);
  });
});

describe("a closed embedded database", () => {
  it("refuses work with DatabaseUnavailableError and keeps what was written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fb-pglite-closed-"));
    try {
      const thread = await startPGliteThread(join(dir, "pglite"));
      await thread.exec("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");
      expect(thread.closed).toBe(false);
      await thread.close();
      expect(thread.closed).toBe(true);
      await expect(thread.exec("SELECT 1")).rejects.toBeInstanceOf(DatabaseUnavailableError);
      await thread.close(); // a second close is harmless

      const reopened = await startPGliteThread(join(dir, "pglite"));
      expect(await reopened.query("SELECT v FROM kept")).toEqual([{ v: "still here" }]);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an idle open database does not keep the process alive", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fb-pglite-idle-"));
    const script = `
      import { startPGliteThread } from ${JSON.stringify(join(import.meta.dirname, "../../src/db/pglite-thread.ts"))};
      const thread = await startPGliteThread(${JSON.stringify(join(dir, "pglite"))});
      const rows = await thread.query("SELECT 41 + 1 AS answer");
      console.log(JSON.stringify(rows));
    `;
    try {
      const { stdout } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { timeout: 60_000 });
      expect(JSON.parse(stdout.trim())).toEqual([{ answer: 42 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
