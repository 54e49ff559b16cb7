/**
 * Claiming jobs (worker.ts runs them): the claim query, which picks the most urgent due jobs
 * one per rate key, within each kind's own concurrency limit and the slots kept for critical
 * kinds; and `ClaimedJob`, the row a claim hands the worker (failure.ts records its failures).
 */
import type { PrismaClient } from "../db/client.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { JobDefinition } from "./models.ts";

/** A job this worker holds: its row as the claim returned it. */
export interface ClaimedJob {
  id: bigint;
  createdAt: Date;
  kind: string;
  payload: unknown;
  attempts: number;
  maxAttempts: number;
  rateKey: string | null;
}

/** Job `j` is not held back by a 429 on its rate key, nor by another job of its key running. */
const notBlocked = Prisma.sql`NOT EXISTS (SELECT 1 FROM rate_limit_holds h WHERE h.key = j.rate_key AND h.until > now())
  AND NOT EXISTS (
    SELECT 1 FROM jobs r
    WHERE j.rate_key IS NOT NULL AND r.rate_key = j.rate_key AND r.id <> j.id
      AND r.status = 'RUNNING' AND r.locked_until >= now())`;

interface ClaimerDeps {
  prisma: PrismaClient;
  definitions: ReadonlyArray<JobDefinition>;
  /** How many jobs of `kind` this worker is running now (the worker keeps the count). */
  runningOf(kind: string): number;
}

interface ClaimerOptions {
  /** Written into `locked_by` of the jobs claimed. */
  workerId: string;
  /** How long a claimed job stays locked before another worker may take it over. */
  lockMs: number;
}

export interface Claimer {
  /**
   * Claims up to `limit` due jobs, most urgent first, never two with the same
   * rate key at once (one Slack channel's updates run in order, and never
   * race each other), skipping keys held by a 429 and rows another worker is
   * claiming right now.
   */
  readonly claim: (limit: number, general: number) => Promise<ClaimRound>;
}

/** What one claim statement answers: the jobs claimed, and when the next job falls due. */
export interface ClaimRound {
  jobs: ClaimedJob[];
  /**
   * Milliseconds until the earliest job scheduled for later or rate-limit hold ends (a retry's
   * backoff, a 429's Retry-After, the pacing of channel creation); undefined when there is none.
   */
  nextDueMs: number | undefined;
}

/** A row of the claim statement: a claimed job's columns (id null when none was claimed) and the next due time. */
type ClaimRow = Omit<ClaimedJob, "id"> & { id: bigint | null; nextDueMs: number | null };

export function createClaimer(deps: ClaimerDeps, options: ClaimerOptions): Claimer {
  const { workerId, lockMs } = options;
  const definitions = new Map(deps.definitions.map((definition) => [definition.kind, definition]));
  const criticalKinds = deps.definitions.filter((definition) => definition.critical).map((definition) => definition.kind);

  /**
   * Kinds with a concurrency limit of their own (`maxConcurrent`): those at their limit are
   * left out of the candidates (so they never crowd out other kinds), and the others may
   * start at most as many more as their limit allows.
   */
  function kindLimits(limit: number): { notSaturated: Prisma.Sql; cap: Prisma.Sql } {
    const room = [...definitions.values()]
      .filter((definition) => definition.maxConcurrent !== undefined)
      .map((definition) => ({ kind: definition.kind, free: Math.max(0, (definition.maxConcurrent ?? 0) - deps.runningOf(definition.kind)) }));
    const saturated = room.filter((entry) => entry.free === 0).map((entry) => entry.kind);
    const open = room.filter((entry) => entry.free > 0);
    return {
      notSaturated: saturated.length === 0 ? Prisma.sql`TRUE` : Prisma.sql`j.kind NOT IN (${Prisma.join(saturated)})`,
      cap:
        open.length === 0
          ? Prisma.sql`${limit}::int`
          : Prisma.sql`CASE ranked.kind ${Prisma.join(
              open.map((entry) => Prisma.sql`WHEN ${entry.kind} THEN ${entry.free}::int`),
              " ",
            )} ELSE ${limit}::int END`,
    };
  }

  /** The critical kinds' condition on `column`; FALSE when no kind is critical. */
  function criticalSql(column: Prisma.Sql): Prisma.Sql {
    return criticalKinds.length === 0 ? Prisma.sql`FALSE` : Prisma.sql`${column} IN (${Prisma.join(criticalKinds)})`;
  }

  /** Claims up to `limit` jobs, of which at most `general` of kinds that are not critical. */
  async function claim(limit: number, general: number): Promise<ClaimRound> {
    // Candidates first: the most urgent due jobs, walked in the (status, priority, run_at)
    // index order and cut at a few times `limit`, instead of sorting every due job by rate
    // key on each claim (a backlog of thousands made every claim sort thousands of rows).
    // Blocked jobs (held key, key running) are filtered before the cut, so they never
    // crowd out claimable ones; siblings sharing a key cost at most a smaller round.
    // Then one per rate key (the most urgent, and among equals the one queued first, whatever
    // its retries did to its run_at: a key's work runs in the order it was queued), then no
    // more of a kind than its own limit allows.
    const candidates = limit * 8 + 16;
    const kinds = kindLimits(limit);
    // Every general slot taken: only critical kinds are candidates (the reserved slots).
    const lane = general > 0 ? Prisma.sql`TRUE` : criticalSql(Prisma.sql`j.kind`);
    // The same statement tells when the next job falls due, so the worker arms its timer
    // without another round trip (one fewer statement for every claim). The claimed rows were
    // due, so the claim itself cannot change that answer.
    const rows = await deps.prisma.$queryRaw<ClaimRow[]>`
      WITH claimed AS (
      UPDATE jobs SET status = 'RUNNING', locked_by = ${workerId},
             locked_until = now() + (${lockMs}::int * interval '1 millisecond'), attempts = attempts + 1
      WHERE id IN (
        SELECT id FROM jobs
        WHERE id IN (
          SELECT ranked.id FROM (
          SELECT keyed.id, keyed.kind,
                 row_number() OVER (PARTITION BY keyed.kind ORDER BY keyed.priority, keyed.run_at, keyed.id) AS kind_rank,
                 row_number() OVER (PARTITION BY ${criticalSql(Prisma.sql`keyed.kind`)} ORDER BY keyed.priority, keyed.run_at, keyed.id) AS lane_rank
          FROM (
          SELECT DISTINCT ON (coalesce(c.rate_key, c.id::text)) c.id, c.kind, c.priority, c.run_at
          FROM (
            (SELECT j.id, j.kind, j.rate_key, j.priority, j.run_at FROM jobs j
             WHERE j.status = 'PENDING' AND j.run_at <= now()
               AND ${notBlocked} AND ${kinds.notSaturated} AND ${lane}
             ORDER BY j.priority, j.run_at
             LIMIT ${candidates})
            UNION ALL
            (SELECT j.id, j.kind, j.rate_key, j.priority, j.run_at FROM jobs j
             WHERE j.status = 'RUNNING' AND j.locked_until < now() AND j.attempts < j.max_attempts
               AND ${notBlocked} AND ${kinds.notSaturated} AND ${lane}
             ORDER BY j.priority, j.run_at
             LIMIT ${candidates})) c
          ORDER BY coalesce(c.rate_key, c.id::text), c.priority, c.id) keyed) ranked
          WHERE ranked.kind_rank <= ${kinds.cap} AND (${criticalSql(Prisma.sql`ranked.kind`)} OR ranked.lane_rank <= ${general}::int))
          -- Repeated here on purpose: PostgreSQL re-checks only this query's own conditions
          -- against a row another worker just claimed; without them a job could run twice.
          AND ((status = 'PENDING' AND run_at <= now())
               OR (status = 'RUNNING' AND locked_until < now() AND attempts < max_attempts))
        ORDER BY priority, run_at, id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING id, kind, payload, attempts, max_attempts, rate_key, created_at),
      next_due AS (
        SELECT (EXTRACT(EPOCH FROM (LEAST(
            (SELECT min(run_at) FROM jobs WHERE status = 'PENDING' AND run_at > now()),
            (SELECT min(until) FROM rate_limit_holds WHERE until > now())) - clock_timestamp())) * 1000)::float8 AS ms)
      SELECT c.id, c.kind, c.payload, c.attempts, c.max_attempts AS "maxAttempts", c.rate_key AS "rateKey",
             c.created_at AS "createdAt", n.ms AS "nextDueMs"
      FROM next_due n LEFT JOIN claimed c ON TRUE`;
    const jobs: ClaimedJob[] = [];
    for (const row of rows) {
      if (row.id === null) continue;
      jobs.push({ id: row.id, createdAt: row.createdAt, kind: row.kind, payload: row.payload, attempts: row.attempts, maxAttempts: row.maxAttempts, rateKey: row.rateKey });
    }
    return { jobs, nextDueMs: rows[0]?.nextDueMs ?? undefined };
  }

  return { claim };
}
