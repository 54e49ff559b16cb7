// Durable commits on the embedded database (src/db/pglite-durability.ts). PGlite's defaults
// run PostgreSQL with fsync off, on a Node file system without fsync: a commit would survive a
// crash of Firebreak but not of the machine. These tests use the real PGlite through
// openDatabase and count the fdatasync calls the installed fsync makes.

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { durableStartParams, installFsync } from "../../src/db/pglite-durability.ts";
import { captureLogs } from "../support/app.ts";

describe("durable commits on the embedded database", () => {
  let dir = "";
  let database: Database | undefined;
  let syncs = 0;
  const db = () => database as Database;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fb-durable-"));
    database = await openDatabase({ kind: "embedded", dataDir: dir }, captureLogs().logger, { onFileSync: () => (syncs += 1) });
    await db().sql.query({ text: "CREATE TABLE durable_probe (v text)", values: [] });
  });
  afterAll(async () => {
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("runs PostgreSQL with fsync on, flushing the WAL through fsync()", async () => {
    expect(await db().sql.query({ text: "SELECT current_setting('fsync') AS fsync, current_setting('wal_sync_method') AS method", values: [] })).toEqual([{ fsync: "on", method: "fsync" }]);
  });

  it("syncs the disk once per commit, through the Sql port and through Prisma, and not for a read", async () => {
    let before = syncs;
    await db().sql.query({ name: "fb_durable_probe", text: "INSERT INTO durable_probe VALUES ($1::text)", values: ["one"] });
    expect(syncs - before).toBe(1);

    before = syncs;
    await db().prisma.$executeRawUnsafe("INSERT INTO durable_probe VALUES ('two')");
    expect(syncs - before).toBe(1);

    before = syncs;
    await db().prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("INSERT INTO durable_probe VALUES ('three')");
      await tx.$executeRawUnsafe("INSERT INTO durable_probe VALUES ('four')");
    });
    expect(syncs - before).toBe(1);

    before = syncs;
    expect(await db().sql.query({ text: "SELECT count(*)::int AS n FROM durable_probe", values: [] })).toEqual([{ n: 4 }]);
    expect(syncs - before).toBe(0);
  });
});

describe("durableStartParams and installFsync", () => {
  it("keeps PGlite's own start parameters but fsync off (-F)", () => {
    const params = durableStartParams();
    expect(PGlite.defaultStartParams).toContain("-F");
    expect(params).not.toContain("-F");
    for (const param of PGlite.defaultStartParams.filter((p) => p !== "-F")) expect(params).toContain(param);
    expect(params.join(" ")).toContain("-c wal_sync_method=fsync");
  });

  it("refuses a PGlite whose file system is not where it expects it, instead of running without durable commits", () => {
    expect(() => installFsync({})).toThrow(/could not be made durable/);
    expect(() => installFsync({ NODEFS: {} })).toThrow(/could not be made durable/);
    const module = { NODEFS: { stream_ops: {} as Record<string, unknown> } };
    installFsync(module);
    expect(typeof module.NODEFS.stream_ops.fsync).toBe("function");
  });
});

describe("a new embedded database", () => {
  it("has every file initdb wrote synced to disk before it is used, and only when it is new", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fb-durable-new-"));
    try {
      const logs = captureLogs();
      let syncs = 0;
      const created = await openDatabase({ kind: "embedded", dataDir: dir }, logs.logger, { onFileSync: () => (syncs += 1) });
      await created.close();
      const entries = await readdir(join(dir, "pglite"), { recursive: true, withFileTypes: true });
      const files = entries.filter((entry) => entry.isFile()).length;
      expect(files).toBeGreaterThan(100);
      expect(syncs).toBeGreaterThan(files); // every file and directory, plus the commits
      expect(logs.text()).toContain("synced its files to disk");

      syncs = 0;
      const reopenLogs = captureLogs();
      const reopened = await openDatabase({ kind: "embedded", dataDir: dir }, reopenLogs.logger, { onFileSync: () => (syncs += 1) });
      await reopened.close();
      expect(syncs).toBeLessThan(files / 4);
      expect(reopenLogs.text()).not.toContain("synced its files to disk");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
