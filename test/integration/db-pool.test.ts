// The pool's kept connections (src/db/client.ts): opened before the database is handed to the
// app, kept however long the pool idles, re-opened when lost. A declare after start or after a
// quiet spell then finds its connections open instead of opening them on its way.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { captureLogs, eventually } from "../support/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";

let testDatabase: TestDatabase;
let observer: pg.Client;
const opened: Database[] = [];

/** Server processes of the pool's connections (application_name `firebreak`) on the test database. */
async function poolPids(): Promise<number[]> {
  const name = new URL(testDatabase.url).pathname.slice(1);
  const { rows } = await observer.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'firebreak'", [name]);
  return rows.map((row) => row.pid);
}

async function open(poolSize: number): Promise<Database> {
  const database = await openDatabase({ kind: "postgres", url: testDatabase.url, poolSize }, captureLogs().logger);
  opened.push(database);
  return database;
}

beforeAll(async () => {
  testDatabase = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_pool" });
  observer = new pg.Client({ connectionString: testDatabase.url, application_name: "firebreak-test-observer" });
  observer.on("error", () => undefined);
  await observer.connect();
});

afterEach(async () => {
  vi.useRealTimers();
  for (const database of opened.splice(0)) await database.close();
  await eventually(async () => (await poolPids()).length === 0, 10_000, "the pools of the previous test to close");
});

afterAll(async () => {
  await observer?.end();
  await testDatabase?.drop();
});

describe("the pool's kept connections", () => {
  it("are open as soon as the database is, before any query", async () => {
    await open(10);
    expect(await poolPids()).toHaveLength(5);
  });

  it("are the whole pool when the pool is smaller", async () => {
    await open(2);
    expect(await poolPids()).toHaveLength(2);
  });

  it("stay open when the pool idles, while the ones opened beyond them close", async () => {
    const database = await open(10);
    // The pool's idle timers are armed when a connection is released: fake them from here on.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    // Eight statements at once: the pool opens three connections beyond the five it keeps.
    await Promise.all(Array.from({ length: 8 }, () => database.sql.query({ text: "SELECT pg_sleep(0.3)", values: [] })));
    const eight = await poolPids();
    expect(eight).toHaveLength(8);
    vi.advanceTimersByTime(60_000); // a quiet minute, twice the pool's idle timeout
    vi.useRealTimers();
    // Five statements at once after the quiet minute find five connections open: none is opened.
    await Promise.all(Array.from({ length: 5 }, () => database.sql.query({ text: "SELECT pg_sleep(0.1)", values: [] })));
    const now = await eventually(
      async () => {
        const pids = await poolPids();
        return pids.length === 5 ? pids : undefined;
      },
      10_000,
      "three of the eight connections to close",
    );
    expect(now.filter((pid) => !eight.includes(pid))).toEqual([]);
  });

  it("are opened again when the server closes them", async () => {
    const database = await open(10);
    const before = await poolPids();
    expect(before).toHaveLength(5);
    await observer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1::int[])", [before]);
    await eventually(
      async () => {
        const now = await poolPids();
        return now.length === 5 && now.every((pid) => !before.includes(pid));
      },
      15_000,
      "five new kept connections",
    );
    await database.ping();
  });
});
