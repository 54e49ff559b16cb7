// Durable commits on the embedded database (src/db/pglite-durability.ts). PGlite's defaults
// run PostgreSQL with fsync off, on a Node file system without fsync: a commit would survive a
// crash of Firebreak but not of the machine. These tests use the real PGlite through
// openDatabase and count the fdatasync calls the installed fsync makes.

import { mkdir, mkdtemp, open, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { createFileSyncs, durableStartParams, isWalSegment } from "../../src/db/pglite-durability.ts";
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

  it("lets the event loop run between the statements of a transaction (PGlite runs them in this thread)", async () => {
    const order: string[] = [];
    await db().prisma.$transaction(async (tx) => {
      order.push("transaction started");
      // What an HTTP request's callback would be: it runs once the event loop gets a turn.
      setImmediate(() => order.push("event loop"));
      for (let statement = 0; statement < 3; statement += 1) await tx.$queryRawUnsafe("SELECT count(*) FROM durable_probe");
      order.push("transaction's statements done");
    });
    expect(order).toEqual(["transaction started", "event loop", "transaction's statements done"]);
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

  it("tells WAL segments from other files", () => {
    expect(isWalSegment("/data/pglite/pg_wal/000000010000000000000001")).toBe(true);
    expect(isWalSegment("/data/pglite/pg_wal/archive_status")).toBe(false);
    expect(isWalSegment("/data/pglite/base/5/16384")).toBe(false);
    expect(isWalSegment("/data/pglite/pg_wal")).toBe(false);
  });

  it("refuses a PGlite whose file system is not what it expects, instead of running without durable commits", () => {
    const syncs = createFileSyncs();
    expect(() => syncs.install({})).toThrow(/could not be made durable/);
    expect(() => syncs.install({ NODEFS: { stream_ops: {} } })).toThrow(/could not be made durable/);
  });

  it("defers a WAL segment's sync to flush(), syncs other files at once, and a flush waits for the one before it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fb-syncs-"));
    try {
      const walPath = join(dir, "pg_wal", "000000010000000000000001");
      const dataPath = join(dir, "base", "16384");
      await mkdir(dirname(walPath), { recursive: true });
      await mkdir(dirname(dataPath), { recursive: true });
      await writeFile(walPath, "wal");
      await writeFile(dataPath, "data");
      let synced = 0;
      const syncs = createFileSyncs(() => (synced += 1));
      const streamOps: Record<string, unknown> = {};
      syncs.install({ NODEFS: { stream_ops: streamOps, realPath: (node: { name: string }) => node.name } });
      const fsync = streamOps.fsync as (stream: { nfd: number; node: { name: string } }) => number;
      const walFile = await open(walPath, "r+");
      const dataFile = await open(dataPath, "r+");
      try {
        expect(fsync({ nfd: dataFile.fd, node: { name: dataPath } })).toBe(0);
        expect(synced).toBe(1); // at once
        expect(fsync({ nfd: walFile.fd, node: { name: walPath } })).toBe(0);
        expect(synced).toBe(1); // noted, not synced yet
        await walFile.close(); // PostgreSQL may close its descriptor (a segment switch) before the flush
        const first = syncs.flush();
        const second = syncs.flush(); // nothing new to sync, but must not resolve before the first
        await second;
        expect(synced).toBe(2);
        await first;
        await syncs.flush();
        expect(synced).toBe(2); // nothing left
        await syncs.close();
      } finally {
        await dataFile.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
