import type { Db } from "../db/client.ts";
import { OPEN_STATUSES } from "../incident/models.ts";
import type { DriftCheck } from "./models.ts";

/** Data access for the reconciler. No Slack. */

/** An incident the reconciler checks: open, its channel created and its header posted. */
export interface ReconcileTarget {
  id: string;
  number: number;
  channelId: string;
}

/** The next incident to check after incident number `after` (0: the first), by number. */
export async function nextTarget(db: Db, after: number): Promise<ReconcileTarget | undefined> {
  const row = await db.incident.findFirst({
    where: { status: { in: [...OPEN_STATUSES] }, number: { gt: after }, channelId: { not: null }, headerMessageTs: { not: null } },
    orderBy: { number: "asc" },
    select: { id: true, number: true, channelId: true },
  });
  return row?.channelId ? { id: row.id, number: row.number, channelId: row.channelId } : undefined;
}

/** Checks of a round still to run or running (a round starts only when the previous one has finished). */
export async function checksInFlight(db: Db, checkKind: string): Promise<number> {
  return db.job.count({ where: { kind: checkKind, status: { in: ["PENDING", "RUNNING"] } } });
}

/**
 * Whether Firebreak's own jobs for the incident are under way: running, due, or waiting to be
 * tried again (a 429, a backoff). The reconciler leaves such an incident to them this round
 * (its header or bookmark may be changing right now); jobs scheduled for later that were never
 * tried (the status-update reminder) do not count.
 *
 * "Due" is judged by the clock read after the rows arrive, the clock the queue stamps `runAt`
 * with: a follow-up enqueued "for now" and committed while the query was on its way must count
 * as due, not as scheduled later.
 */
export async function hasWorkInFlight(db: Pick<Db, "job">, incidentId: string, ownKinds: readonly string[], now: () => Date): Promise<boolean> {
  const rows = await db.job.findMany({
    where: { incidentId, kind: { notIn: [...ownKinds] }, status: { in: ["RUNNING", "PENDING"] } },
    select: { status: true, runAt: true, lastError: true },
  });
  const seen = now().getTime();
  return rows.some((row) => row.status === "RUNNING" || row.lastError !== null || row.runAt.getTime() <= seen);
}

/**
 * The checks whose drift was reported and not seen repaired or cleared since: the latest
 * `channel.drift` of each check says `reported`. Reported drift is not reported again.
 */
export async function openReports(db: Db, incidentId: string): Promise<Set<DriftCheck>> {
  const rows = await db.$queryRaw<Array<{ check: string; outcome: string }>>`
    SELECT DISTINCT ON (data->>'check') data->>'check' AS "check", data->>'outcome' AS outcome
    FROM timeline_events
    WHERE incident_id = ${incidentId}::uuid AND type = 'channel.drift'
    ORDER BY data->>'check', id DESC`;
  return new Set(rows.filter((row) => row.outcome === "reported").map((row) => row.check as DriftCheck));
}

/**
 * Deletes the reconciler's finished jobs older than `before`. Their dedupe keys name a round
 * (a time slot) that never comes back, so nothing needs them once the round is over.
 */
export async function purgeFinishedRounds(db: Db, kinds: readonly string[], before: Date): Promise<number> {
  const { count } = await db.job.deleteMany({ where: { kind: { in: [...kinds] }, status: "DONE", finishedAt: { lt: before } } });
  return count;
}
