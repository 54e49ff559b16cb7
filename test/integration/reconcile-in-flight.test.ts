import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Database } from "../../src/db/client.ts";
import { createIncident } from "../../src/incident/service.ts";
import { ROUND_KIND, CHECK_KIND } from "../../src/reconcile/flows.ts";
import { hasWorkInFlight } from "../../src/reconcile/service.ts";
import { migratedTestDatabase, type MigratedTestDatabase } from "../support/postgres.ts";

/**
 * The reconciler leaves an incident alone while its own jobs are under way
 * (src/reconcile/service.ts `hasWorkInFlight`), on the test PostgreSQL. "Due" must be
 * judged by the clock read after the rows arrive: a follow-up enqueued "for now" and
 * committed while the query was on its way is due, not scheduled for later.
 */
const T = new Date("2030-01-01T12:00:00.000Z").getTime();
const OWN = [ROUND_KIND, CHECK_KIND];

let migrated: MigratedTestDatabase;
let database: Database;

beforeAll(async () => {
  migrated = await migratedTestDatabase(inject("postgresUrl"), "fb_inflight");
  database = migrated.database;
});

afterAll(async () => {
  await migrated?.close();
});

async function newIncident(title: string): Promise<string> {
  const incident = await database.prisma.$transaction((tx) =>
    createIncident(tx, { title, severity: "SEV3", private: false, source: "API", declaredById: null, commanderId: null }),
  );
  return incident.id;
}

interface JobRow {
  kind?: string;
  status?: "PENDING" | "RUNNING" | "DONE" | "DEAD";
  runAt: number;
  lastError?: string;
}

async function addJobs(incidentId: string, jobs: readonly JobRow[]): Promise<void> {
  await database.prisma.job.createMany({
    data: jobs.map((job) => ({
      kind: job.kind ?? "incident.set_bookmark",
      payload: {},
      status: job.status ?? "PENDING",
      runAt: new Date(job.runAt),
      lastError: job.lastError ?? null,
      incidentId,
    })),
  });
}

/**
 * The database as the reconciler sees it, with time passing while a job query is on its way:
 * the clock reads `T` until a `job.findMany` answers, `T + 20 ms` after.
 */
function slowQueryClock(): { db: Pick<Database["prisma"], "job">; now: () => Date } {
  let now = T;
  const job = new Proxy(database.prisma.job, {
    get(target, key, receiver) {
      if (key !== "findMany") return Reflect.get(target, key, receiver) as unknown;
      return async (...args: Parameters<typeof target.findMany>) => {
        const rows = await target.findMany(...args);
        now = T + 20;
        return rows;
      };
    },
  });
  return { db: { job }, now: () => new Date(now) };
}

describe("hasWorkInFlight", () => {
  it("counts a follow-up enqueued for now while the query was on its way as due", async () => {
    const incidentId = await newIncident("Follow-up committed mid-query");
    await addJobs(incidentId, [{ runAt: T + 10 }]);
    const { db, now } = slowQueryClock();
    expect(await hasWorkInFlight(db, incidentId, OWN, now)).toBe(true);
  });

  it("counts running jobs and jobs waiting to be tried again, whenever they are due", async () => {
    const running = await newIncident("Running");
    await addJobs(running, [{ status: "RUNNING", runAt: T + 3_600_000 }]);
    const retrying = await newIncident("Retrying after a 429");
    await addJobs(retrying, [{ runAt: T + 3_600_000, lastError: "ratelimited" }]);
    for (const incidentId of [running, retrying]) {
      const { db, now } = slowQueryClock();
      expect(await hasWorkInFlight(db, incidentId, OWN, now)).toBe(true);
    }
  });

  it("does not count jobs scheduled for later and never tried, finished jobs, its own kinds, or other incidents' jobs", async () => {
    const quiet = await newIncident("Quiet");
    await addJobs(quiet, [
      { kind: "incident.status_reminder", runAt: T + 3_600_000 },
      { status: "DONE", runAt: T - 1_000 },
      { status: "DEAD", runAt: T - 1_000, lastError: "channel_not_found" },
      { kind: "reconcile.check", status: "RUNNING", runAt: T - 1_000 },
    ]);
    const busy = await newIncident("Busy neighbour");
    await addJobs(busy, [{ status: "RUNNING", runAt: T - 1_000 }]);
    const { db, now } = slowQueryClock();
    expect(await hasWorkInFlight(db, quiet, OWN, now)).toBe(false);
  });
});
