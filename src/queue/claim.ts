/**
 * Claiming jobs (worker.ts runs them): the claim query, which picks the most urgent due jobs
 * one per rate key, within each kind's own concurrency limit and the slots kept for critical
 * kinds; and `ClaimedJob`, the row a claim hands the worker (failure.ts records its failures).
 */
import { createHash } from "node:crypto";
import type { Sql } from "../db/client.ts";
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
const notBlocked = `NOT EXISTS (SELECT 1 FROM rate_limit_holds h WHERE h.key = j.rate_key AND h.until > now())
  AND NOT EXISTS (
    SELECT 1 FROM jobs r
    WHERE j.rate_key IS NOT NULL AND r.rate_key = j.rate_key AND r.id <> j.id
      AND r.status = 'RUNNING' AND r.locked_until >= now())`;

interface ClaimerDeps {
  sql: Sql;
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
type ClaimRow = Omit<ClaimedJob, "id"> & { id: string | null; nextDueMs: number | null };

/** A kind as an SQL literal: kinds are names from the code (`JobDefinition.kind`), checked here. */
function kindLiteral(kind: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(kind)) throw new Error(`job kind ${JSON.stringify(kind)}: only letters, digits and _ . : - are allowed`);
  return `'${kind}'`;
}

/** `column IN (kinds)`, or FALSE for no kinds. */
function inKinds(column: string, kinds: readonly string[]): string {
  return kinds.length === 0 ? "FALSE" : `${column} IN (${kinds.map(kindLiteral).join(", ")})`;
}

/** What decides the claim statement's text (everything else is a parameter). */
interface ClaimShape {
  /** Jobs claimed at most. */
  readonly limit: number;
  /** False when every general slot is taken: only critical kinds are candidates. */
  readonly generalOpen: boolean;
  /** Kinds at their own concurrency limit: no candidates. */
  readonly saturated: readonly string[];
}

/**
 * The claim statement of a shape. Prepared once per connection under a name of its own, so
 * PostgreSQL parses it once and keeps its plan: planned on every call (an unnamed statement),
 * planning took longer than running it (about 0.9 ms of the database's CPU per claim, against
 * 0.5 ms to run it, under the alert load of bench/ack.ts: bench/results/claim-prepared.md).
 *
 * What decides which rows the scan walks (the limits, the kinds excluded, the critical lane) is
 * in the text, not a parameter: a plan kept for every value of a parameter cannot know how
 * selective it is, and the one PostgreSQL kept walked every pending job (a sequential scan and a
 * sort, with the rate-key checks for each row) instead of the first few in index order, which
 * made each claim's cost grow with the backlog (drain after a burst of 10,000 deliveries 115 ->
 * 39 deliveries/s). Parameters: $1 the worker, $2 the lock's length in ms, $3 how many jobs of
 * kinds that are not critical may start, $4 and $5 the kinds with a limit of their own that
 * have room, and that room (they only cut the candidates already found).
 *
 * Candidates first: the most urgent due jobs, walked in the (status, priority, run_at) index
 * order and cut at a few times the limit, instead of sorting every due job by rate key on each
 * claim (a backlog of thousands made every claim sort thousands of rows). Blocked jobs (held
 * key, key running) are filtered before the cut, so they never crowd out claimable ones;
 * siblings sharing a key cost at most a smaller round. Kinds at their own concurrency limit are
 * no candidates, so they never crowd out other kinds; when every general slot is taken, only
 * critical kinds are (the reserved slots). Then one per rate key (the most urgent, and among
 * equals the one queued first, whatever its retries did to its run_at: a key's work runs in the
 * order it was queued), then no more of a kind than the room its limit leaves, and at most $3
 * jobs of kinds that are not critical. The same statement tells when the next job falls due, so
 * the worker arms its timer without another round trip; the claimed rows were due, so the
 * claim itself cannot change that answer.
 */
function claimText(shape: ClaimShape, criticalKinds: readonly string[]): string {
  const candidates = shape.limit * 8 + 16;
  const notSaturated = shape.saturated.length === 0 ? "TRUE" : `NOT (${inKinds("j.kind", shape.saturated)})`;
  const lane = shape.generalOpen ? "TRUE" : inKinds("j.kind", criticalKinds);
  const candidateConditions = `${notBlocked}
             AND ${notSaturated} AND ${lane}`;
  return `
    WITH claimed AS (
    UPDATE jobs SET status = 'RUNNING', locked_by = $1::text,
           locked_until = now() + ($2::int * interval '1 millisecond'), attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM jobs
      WHERE id IN (
        SELECT ranked.id FROM (
        SELECT keyed.id, keyed.kind,
               row_number() OVER (PARTITION BY keyed.kind ORDER BY keyed.priority, keyed.run_at, keyed.id) AS kind_rank,
               row_number() OVER (PARTITION BY ${inKinds("keyed.kind", criticalKinds)} ORDER BY keyed.priority, keyed.run_at, keyed.id) AS lane_rank
        FROM (
        SELECT DISTINCT ON (coalesce(c.rate_key, c.id::text)) c.id, c.kind, c.priority, c.run_at
        FROM (
          (SELECT j.id, j.kind, j.rate_key, j.priority, j.run_at FROM jobs j
           WHERE j.status = 'PENDING' AND j.run_at <= now()
             AND ${candidateConditions}
           ORDER BY j.priority, j.run_at
           LIMIT ${candidates})
          UNION ALL
          (SELECT j.id, j.kind, j.rate_key, j.priority, j.run_at FROM jobs j
           WHERE j.status = 'RUNNING' AND j.locked_until < now() AND j.attempts < j.max_attempts
             AND ${candidateConditions}
           ORDER BY j.priority, j.run_at
           LIMIT ${candidates})) c
        ORDER BY coalesce(c.rate_key, c.id::text), c.priority, c.id) keyed) ranked
        WHERE ranked.kind_rank <= coalesce(($5::int[])[array_position($4::text[], ranked.kind)], ${shape.limit})
          AND (${inKinds("ranked.kind", criticalKinds)} OR ranked.lane_rank <= $3::int))
        -- Repeated here on purpose: PostgreSQL re-checks only this query's own conditions
        -- against a row another worker just claimed; without them a job could run twice.
        AND ((status = 'PENDING' AND run_at <= now())
             OR (status = 'RUNNING' AND locked_until < now() AND attempts < max_attempts))
      ORDER BY priority, run_at, id
      LIMIT ${shape.limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING id, kind, payload, attempts, max_attempts, rate_key, created_at),
    next_due AS (
      SELECT (EXTRACT(EPOCH FROM (LEAST(
          (SELECT min(run_at) FROM jobs WHERE status = 'PENDING' AND run_at > now()),
          (SELECT min(until) FROM rate_limit_holds WHERE until > now())) - clock_timestamp())) * 1000)::float8 AS ms)
    SELECT c.id::text AS id, c.kind, c.payload, c.attempts, c.max_attempts AS "maxAttempts", c.rate_key AS "rateKey",
           c.created_at AS "createdAt", n.ms AS "nextDueMs"
    FROM next_due n LEFT JOIN claimed c ON TRUE`;
}

export function createClaimer(deps: ClaimerDeps, options: ClaimerOptions): Claimer {
  const { workerId, lockMs } = options;
  const limited = deps.definitions.filter((definition) => definition.maxConcurrent !== undefined);
  const criticalKinds = deps.definitions.filter((definition) => definition.critical).map((definition) => definition.kind);
  for (const definition of deps.definitions) kindLiteral(definition.kind);
  /** The statements made so far, by shape: a few (limits up to the worker's slots, two lanes, the kinds at their limit). */
  const statements = new Map<string, { name: string; text: string }>();

  function statementOf(shape: ClaimShape): { name: string; text: string } {
    const key = `${shape.limit}|${shape.generalOpen ? 1 : 0}|${shape.saturated.join(",")}`;
    let statement = statements.get(key);
    if (!statement) {
      const text = claimText(shape, criticalKinds);
      statement = { name: `firebreak_claim_${createHash("sha256").update(text).digest("hex").slice(0, 16)}`, text };
      statements.set(key, statement);
    }
    return statement;
  }

  /** Claims up to `limit` jobs, of which at most `general` of kinds that are not critical. */
  async function claim(limit: number, general: number): Promise<ClaimRound> {
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
    const rows = await deps.sql.query<ClaimRow>({
      ...statementOf({ limit, generalOpen: general > 0, saturated }),
      values: [workerId, lockMs, general, openKinds, openRoom],
    });
    const jobs: ClaimedJob[] = [];
    for (const row of rows) {
      if (row.id === null) continue;
      jobs.push({ id: BigInt(row.id), createdAt: row.createdAt, kind: row.kind, payload: row.payload, attempts: row.attempts, maxAttempts: row.maxAttempts, rateKey: row.rateKey });
    }
    return { jobs, nextDueMs: rows[0]?.nextDueMs ?? undefined };
  }

  return { claim };
}
