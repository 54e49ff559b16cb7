import { cp, mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { openDatabase } from "../../src/db/client.ts";
import { rehearse } from "../../src/core/rehearsal.ts";
import { createIncident, type NewIncident } from "../../src/incident/service.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs, removeDir, startTestApp, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { sendCommand } from "../support/slack-requests.ts";

/**
 * The start-up rehearsal (src/core/rehearsal.ts): before the app listens, each module runs its
 * busiest database path (the declare and its channel's set-up) in a transaction that rolls back,
 * so the first incident after a start does not pay for first use. What it saves is measured by
 * `npm run bench:declare`; here: that it leaves nothing behind, calls no one, gives its incident
 * number back, and that a failing rehearsal does not stop the start. Incident numbers come from
 * a counter row in the declaring transaction: no gaps, whatever rolls back.
 */
const MIGRATIONS = "prisma/migrations";
const COUNTER_MIGRATION = "20261202190000_incident_number_counter";

let slack: FakeSlack;
let app: TestApp;
let testDatabase: TestDatabase;

beforeAll(async () => {
  slack = await startFakeSlack({ users: [{ id: "U0DECLARER", name: "declarer" }] });
  testDatabase = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_rehearsal" });
  app = await startTestApp({ slack, databaseUrl: testDatabase.url });
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await testDatabase?.drop();
  if (app) await removeDir(app.dataDir);
});

/** Rows in every table of the schema but the migrations' bookkeeping, by table. */
async function rowCounts(): Promise<Record<string, number>> {
  const tables = await app.database.prisma.$queryRaw<Array<{ name: string }>>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
    ORDER BY table_name`;
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await app.database.prisma.$queryRawUnsafe<Array<{ count: number }>>(`SELECT count(*)::int AS count FROM "${name}"`);
    counts[name] = row?.count ?? -1;
  }
  return counts;
}

function incidentInput(title: string): NewIncident {
  return { title, severity: "SEV3", private: false, source: "API", declaredById: null, commanderId: null };
}

describe("the start-up rehearsal", () => {
  it("ran the incident module's declare and the job bookkeeping before the app listened, and left nothing behind", async () => {
    const done = app.logs.lines.map((line) => JSON.parse(line) as { msg: string; modules?: Record<string, number> }).find((line) => line.msg === "start-up rehearsal done (rolled back)");
    expect(done?.modules).toEqual({ incident: expect.any(Number) as number, jobs: expect.any(Number) as number });
    const counts = await rowCounts();
    // Every table it wrote to (incidents, participants and roles, timeline, jobs, idempotency
    // keys, the rate-limit hold) is empty again; the incident counter is back at 0.
    expect(Object.keys(counts)).toEqual(expect.arrayContaining(["incidents", "participants", "participant_roles", "timeline_events", "jobs", "idempotency_keys", "rate_limit_holds", "counters"]));
    expect(Object.entries(counts).filter(([table, count]) => table !== "counters" && count !== 0)).toEqual([]);
    expect(await app.database.prisma.counter.findMany()).toEqual([{ name: "incident", value: 0 }]);
    // It called no one: the only Slack call so far is start-up's auth.test.
    expect(slack.calls.map((call) => call.method)).toEqual(["auth.test"]);
  });

  it("gave its incident number back: the first real incident is INC-1", async () => {
    const response = await sendCommand(app.url, "declare The first real one");
    expect(response.status).toBe(200);
    expect(JSON.stringify(response.body)).toContain("INC-1");
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);
    expect(slack.channels.byName("inc-1-the-first-real-one")).toBeDefined();
    await waitForIdleJobs(app);
  });

  it("a rehearsal that fails is logged and rolled back, and the start goes on", async () => {
    const logs = captureLogs();
    const before = await app.database.prisma.incident.count();
    await expect(
      rehearse(
        app.database.prisma,
        [
          { name: "writes", run: async (tx) => void (await createIncident(tx, incidentInput("Rehearsed, then failed"))) },
          {
            name: "fails",
            run: () => Promise.reject(new Error("the rehearsal broke")),
          },
        ],
        logs.logger,
      ),
    ).resolves.toBeUndefined();
    expect(logs.text()).toContain("the start-up rehearsal failed");
    expect(logs.text()).toContain("the rehearsal broke");
    expect(await app.database.prisma.incident.count()).toBe(before);
    expect(await app.database.prisma.incident.count({ where: { title: "Rehearsed, then failed" } })).toBe(0);
  });
});

describe("the rehearsal on every kept connection", () => {
  it("runs once on each of the connections asked for, each in a server process of its own, one after the other on the counter's lock", async () => {
    const logs = captureLogs();
    const pids: number[] = [];
    const numbers: number[] = [];
    await rehearse(
      app.database.prisma,
      [
        {
          name: "declare",
          run: async (tx) => {
            numbers.push((await createIncident(tx, incidentInput("Rehearsed on each connection"))).number);
            const [row] = await tx.$queryRaw<Array<{ pid: number }>>`SELECT pg_backend_pid() AS pid`;
            if (row) pids.push(row.pid);
          },
        },
      ],
      logs.logger,
      { connections: 3 },
    );
    expect(logs.text()).toContain("start-up rehearsal done");
    expect(pids).toHaveLength(3);
    expect(new Set(pids).size).toBe(3);
    // Each rolled back before the next took the counter: all three got the same number, kept by none.
    expect(new Set(numbers).size).toBe(1);
    expect(await app.database.prisma.incident.count({ where: { title: "Rehearsed on each connection" } })).toBe(0);
  });

  it("the app rehearsed on each of the pool's kept connections before it listened", () => {
    expect(app.database.keptConnections).toBe(5);
    const done = app.logs.lines.map((line) => JSON.parse(line) as { msg?: string; connections?: number }).find((entry) => entry.msg === "start-up rehearsal done (rolled back)");
    expect(done?.connections).toBe(5);
  });
});

describe("incident numbers", () => {
  async function highest(): Promise<number> {
    const { _max } = await app.database.prisma.incident.aggregate({ _max: { number: true } });
    return _max.number ?? 0;
  }

  it("a declare that rolls back gives its number back", async () => {
    const n = await highest();
    await expect(
      app.database.prisma.$transaction(async (tx) => {
        const taken = await createIncident(tx, incidentInput("Rolled back"));
        expect(taken.number).toBe(n + 1);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    const next = await app.database.prisma.$transaction((tx) => createIncident(tx, incidentInput("Kept")));
    expect(next.number).toBe(n + 1);
  });

  it("concurrent declares get consecutive numbers, each once", async () => {
    const n = await highest();
    const created = await Promise.all(
      Array.from({ length: 6 }, (_, i) => app.database.prisma.$transaction((tx) => createIncident(tx, incidentInput(`Concurrent ${i}`)))),
    );
    expect(created.map((incident) => incident.number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6].map((i) => n + i));
    expect(await app.database.prisma.counter.findUnique({ where: { name: "incident" } })).toEqual({ name: "incident", value: n + 6 });
  });

  it("on an existing database, the counter carries on from the highest number the sequence gave", async () => {
    // The migrations up to the one before the counter, some incidents numbered by the old
    // sequence (one rolled back: a gap), then the counter's migration.
    const old = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_counter" });
    const dir = await mkdtemp(join(tmpdir(), "firebreak-migrations-"));
    const all = (await readdir(MIGRATIONS, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
    expect(all).toContain(COUNTER_MIGRATION);
    for (const name of all.filter((migration) => migration < COUNTER_MIGRATION)) await cp(join(MIGRATIONS, name), join(dir, name), { recursive: true });
    await cp(join(MIGRATIONS, "migration_lock.toml"), join(dir, "migration_lock.toml"));
    const logs = captureLogs();
    const database = await openDatabase({ kind: "postgres", url: old.url, poolSize: 2 }, logs.logger);
    try {
      await database.migrate(dir);
      const insert = "INSERT INTO incidents (id, title, severity, updated_at) VALUES (gen_random_uuid(), $1, 'SEV3', now())";
      await database.prisma.$executeRawUnsafe(insert, "one");
      await database.prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(insert, "rolled back");
        throw new Error("roll back");
      }).catch(() => undefined);
      await database.prisma.$executeRawUnsafe(insert, "three");
      expect((await database.prisma.$queryRawUnsafe<Array<{ number: number }>>("SELECT number FROM incidents ORDER BY number")).map((row) => row.number)).toEqual([1, 3]);

      await database.migrate(MIGRATIONS);
      expect(await database.prisma.counter.findMany()).toEqual([{ name: "incident", value: 3 }]);
      const next = await database.prisma.$transaction((tx) => createIncident(tx, incidentInput("After the migration")));
      expect(next.number).toBe(4);
    } finally {
      await database.close();
      await old.drop();
      await removeDir(dir);
    }
  });
});
