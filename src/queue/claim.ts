/**
 * Claiming jobs (worker.ts runs them): the claim query, which picks the most urgent due jobs
 * one per rate key, within each kind's own concurrency limit and the slots kept for critical
 * kinds; and `ClaimedJob`, the row a claim hands the worker (failure.ts records its failures).
 */
import type { Db, PrismaClient } from "../db/client.ts";
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
  readonly claim: (limit: number, general: number, db?: Db) => Promise<ClaimRound>;
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

/** A row of claim_jobs(): a claimed job's columns (job_id null when none was claimed) and the next due time. */
interface ClaimRow {
  job_id: bigint | null;
  job_kind: string;
  job_payload: unknown;
  job_attempts: number;
  job_max_attempts: number;
  job_rate_key: string | null;
  job_created_at: Date;
  next_due_ms: number | null;
}

/**
 * The claim is the database function `claim_jobs` (migration 20261203090000_claim_jobs_function,
 * where its statement and the reasons are): PostgreSQL keeps its plan per connection instead of
 * planning it on every call, which cost more than running it.
 */
export function createClaimer(deps: ClaimerDeps, options: ClaimerOptions): Claimer {
  const { workerId, lockMs } = options;
  const limited = deps.definitions.filter((definition) => definition.maxConcurrent !== undefined);
  const criticalKinds = deps.definitions.filter((definition) => definition.critical).map((definition) => definition.kind);

  /** Claims up to `limit` jobs, of which at most `general` of kinds that are not critical. */
  async function claim(limit: number, general: number, db: Db = deps.prisma): Promise<ClaimRound> {
    // Kinds with a concurrency limit of their own: those at their limit are no candidates (so
    // they never crowd out other kinds); the others may start as many more as their limit allows.
    const saturated: string[] = [];
    const openKinds: string[] = [];
    const openRoom: number[] = [];
    for (const definition of limited) {
      const room = Math.max(0, (definition.maxConcurrent ?? 0) - deps.runningOf(definition.kind));
      if (room === 0) saturated.push(definition.kind);
      else {
        openKinds.push(definition.kind);
        openRoom.push(room);
      }
    }
    const rows = await db.$queryRaw<ClaimRow[]>`
      SELECT * FROM claim_jobs(${workerId}, ${lockMs}::int, ${limit}::int, ${limit * 8 + 16}::int,
        ${saturated}::text[], ${openKinds}::text[], ${openRoom}::int[], ${general}::int, ${criticalKinds}::text[])`;
    const jobs: ClaimedJob[] = [];
    for (const row of rows) {
      if (row.job_id === null) continue;
      jobs.push({
        id: row.job_id,
        createdAt: row.job_created_at,
        kind: row.job_kind,
        payload: row.job_payload,
        attempts: row.job_attempts,
        maxAttempts: row.job_max_attempts,
        rateKey: row.job_rate_key,
      });
    }
    return { jobs, nextDueMs: rows[0]?.next_due_ms ?? undefined };
  }

  return { claim };
}
