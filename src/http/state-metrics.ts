import { Gauge, type Registry } from "prom-client";
import type { Db } from "../db/client.ts";

/**
 * What an SRE alerts on, read from the database at scrape time (so every
 * replica reports the same truth, and nothing is counted in one process's
 * memory): open incidents by severity and status, the job queue's depth and
 * the age of its oldest due job, how late the status-update reminders are,
 * and pages PagerDuty has not accepted yet.
 */
/** A failed read (the database restarting) leaves the series out of this scrape instead of failing /metrics. */
async function read<T>(query: () => Promise<T>): Promise<T | undefined> {
  try {
    return await query();
  } catch {
    return undefined;
  }
}

export function registerStateMetrics(registry: Registry, db: Pick<Db, "$queryRaw">): void {
  new Gauge({
    name: "firebreak_incidents_open",
    help: "Incidents not resolved, by severity and status",
    labelNames: ["severity", "status"],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = (await read(() => db.$queryRaw<Array<{ severity: string; status: string; n: number }>>`
        SELECT severity::text AS severity, status::text AS status, count(*)::int AS n FROM incidents WHERE status <> 'RESOLVED' GROUP BY 1, 2`)) ?? [];
      for (const row of rows) this.set({ severity: row.severity, status: row.status }, row.n);
    },
  });
  new Gauge({
    name: "firebreak_jobs_pending",
    help: "Side-effect jobs waiting (due now or later) or running, by kind and state",
    labelNames: ["kind", "state"],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = (await read(() => db.$queryRaw<Array<{ kind: string; state: string; n: number }>>`
        SELECT kind, CASE WHEN status = 'RUNNING' THEN 'running' WHEN run_at <= now() THEN 'due' ELSE 'scheduled' END AS state, count(*)::int AS n
        FROM jobs WHERE status IN ('PENDING', 'RUNNING') GROUP BY 1, 2`)) ?? [];
      for (const row of rows) this.set({ kind: row.kind, state: row.state }, row.n);
    },
  });
  new Gauge({
    name: "firebreak_jobs_oldest_due_seconds",
    help: "How long the oldest due job has waited to run (0 when none is due)",
    registers: [registry],
    async collect() {
      this.reset();
      const [row] = (await read(() => db.$queryRaw<Array<{ s: number | null }>>`
        SELECT EXTRACT(EPOCH FROM (now() - min(run_at)))::float8 AS s FROM jobs WHERE status = 'PENDING' AND run_at <= now()`)) ?? [];
      if (row) this.set(Math.max(0, row.s ?? 0));
    },
  });
  new Gauge({
    name: "firebreak_jobs_dead",
    help: "Jobs that failed for good (each one is a side effect that did not happen)",
    registers: [registry],
    async collect() {
      this.reset();
      const [row] = (await read(() => db.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM jobs WHERE status = 'DEAD'`)) ?? [];
      if (row) this.set(row.n);
    },
  });
  new Gauge({
    name: "firebreak_reminder_lag_seconds",
    help: "How late the most overdue status-update reminder is (0 when none is overdue)",
    registers: [registry],
    async collect() {
      this.reset();
      const [row] = (await read(() => db.$queryRaw<Array<{ s: number | null }>>`
        SELECT EXTRACT(EPOCH FROM (now() - min(run_at)))::float8 AS s FROM jobs WHERE kind = 'incident.reminder' AND status IN ('PENDING', 'RUNNING') AND run_at <= now()`)) ?? [];
      if (row) this.set(Math.max(0, row.s ?? 0));
    },
  });
  new Gauge({
    name: "firebreak_pages_pending",
    help: "Pages PagerDuty has not accepted yet (being retried)",
    registers: [registry],
    async collect() {
      this.reset();
      const [row] = (await read(() => db.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM pages WHERE status = 'PENDING'`)) ?? [];
      if (row) this.set(row.n);
    },
  });
}
