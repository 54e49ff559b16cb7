import { randomUUID } from "node:crypto";
import { ZodError } from "zod";
import type { Db, PrismaClient } from "../db/client.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { Logger } from "../lib/logger.ts";
import { FirebreakError, NotReadyError, PermanentOutboundError, RateLimitedError, TransientOutboundError, errorMessage } from "../lib/errors.ts";

/** A job may wait this long for its prerequisite (e.g. a channel Slack is slow to create). */
const NOT_READY_MAX_AGE_MS = 24 * 60 * 60_000;
/** During an outage of the vendor a job calls, it is retried at least this often. */
const OUTAGE_RETRY_CAP_MS = 30_000;
import type { Metrics } from "../http/metrics.ts";
import type { JobContext, JobDefinition } from "./models.ts";
import { backoffMs, msUntilNextDue } from "./service.ts";

/** Job `j` is not held back by a 429 on its rate key, nor by another job of its key running. */
const notBlocked = Prisma.sql`NOT EXISTS (SELECT 1 FROM rate_limit_holds h WHERE h.key = j.rate_key AND h.until > now())
  AND NOT EXISTS (
    SELECT 1 FROM jobs r
    WHERE j.rate_key IS NOT NULL AND r.rate_key = j.rate_key AND r.id <> j.id
      AND r.status = 'RUNNING' AND r.locked_until >= now())`;

export interface JobWorkerOptions {
  /** Slots any job kind may take (default 4). */
  concurrency?: number;
  /**
   * Slots kept for critical kinds (`JobHandler.critical`: alert processing, pages, remediation),
   * on top of `concurrency` (default 1): when every general slot is busy, with Slack calls hanging
   * until their timeout say, a page still starts at once.
   */
  reservedSlots?: number;
  pollIntervalMs?: number;
  /** How long a claimed job stays locked before another worker may take it over. */
  lockMs?: number;
  /**
   * DONE jobs older than this are deleted by the periodic sweep (default 24 h), so the
   * table does not grow forever. Jobs with a dedupe key are kept: their key is what
   * makes enqueueing the same work again a no-op.
   */
  doneRetentionMs?: number;
  /** How often the sweep (abandoned jobs, old DONE jobs) runs (default 30 s). */
  sweepIntervalMs?: number;
}

export interface JobWorker {
  /** Runs the job bookkeeping's queries on no row, in the start-up rehearsal's transaction. */
  rehearse(tx: Db): Promise<void>;
  start(): void;
  /** Runs a claim round soon (call after committing a transaction that enqueued). */
  wake(): void;
  /** Stops claiming and waits for jobs in flight, at most `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}

interface ClaimedJob {
  id: bigint;
  createdAt: Date;
  kind: string;
  payload: unknown;
  attempts: number;
  maxAttempts: number;
  rateKey: string | null;
}

interface Deps {
  prisma: PrismaClient;
  logger: Logger;
  metrics: Pick<Metrics, "jobOutcomes">;
  definitions: ReadonlyArray<JobDefinition>;
  /**
   * Housekeeping of other domains (e.g. old alert deliveries), run with the
   * periodic sweep. A failing task is logged and tried again next sweep.
   */
  maintenance?: ReadonlyArray<{ name: string; run(): Promise<number> }>;
}

export function createJobWorker(deps: Deps, options: JobWorkerOptions = {}): JobWorker {
  const concurrency = options.concurrency ?? 4;
  const reservedSlots = options.reservedSlots ?? 1;
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const lockMs = options.lockMs ?? 30_000;
  const doneRetentionMs = options.doneRetentionMs ?? 24 * 60 * 60_000;
  const sweepIntervalMs = options.sweepIntervalMs ?? 30_000;
  const workerId = `worker-${randomUUID().slice(0, 8)}`;
  const definitions = new Map(deps.definitions.map((definition) => [definition.kind, definition]));
  const inFlight = new Set<Promise<void>>();
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let claiming = false;
  let wakeRequested = false;
  let wakeScheduled = false;
  const runningByKind = new Map<string, number>();
  const criticalKinds = deps.definitions.filter((definition) => definition.critical).map((definition) => definition.kind);
  const isCritical = (kind: string): boolean => definitions.get(kind)?.critical === true;
  /** Jobs in flight that are not critical: they may fill the general slots only. */
  let generalInFlight = 0;
  let lastSweep = 0;
  /** Settles when the claim round under way ends; stop() waits for the jobs it hands out. */
  let claimRound: Promise<void> = Promise.resolve();

  /**
   * Claims up to `limit` due jobs, most urgent first, never two with the same
   * rate key at once (one Slack channel's updates run in order, and never
   * race each other), skipping keys held by a 429 and rows another worker is
   * claiming right now.
   */
  /**
   * Kinds with a concurrency limit of their own (`maxConcurrent`): those at their limit are
   * left out of the candidates (so they never crowd out other kinds), and the others may
   * start at most as many more as their limit allows.
   */
  function kindLimits(limit: number): { notSaturated: Prisma.Sql; cap: Prisma.Sql } {
    const room = [...definitions.values()]
      .filter((definition) => definition.maxConcurrent !== undefined)
      .map((definition) => ({ kind: definition.kind, free: Math.max(0, (definition.maxConcurrent ?? 0) - (runningByKind.get(definition.kind) ?? 0)) }));
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
  async function claim(limit: number, general: number): Promise<ClaimedJob[]> {
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
    return deps.prisma.$queryRaw<ClaimedJob[]>`
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
      RETURNING id, kind, payload, attempts, max_attempts AS "maxAttempts", rate_key AS "rateKey", created_at AS "createdAt"`;
  }

  /** A job whose worker died on its last attempt (lock expired, attempts used up) is dead, not retried forever. */
  async function sweepAbandoned(): Promise<void> {
    const swept = await deps.prisma.$executeRaw`
      UPDATE jobs SET status = 'DEAD', finished_at = now(), locked_by = NULL, locked_until = NULL,
             last_error = coalesce(last_error, '') || ' (worker stopped during its last attempt)'
      WHERE status = 'RUNNING' AND locked_until < now() AND attempts >= max_attempts`;
    if (swept > 0) deps.logger.error({ jobs: swept }, "jobs abandoned on their last attempt marked dead");
  }

  /** Deletes old DONE jobs without a dedupe key, a bounded number per sweep. */
  async function purgeDone(): Promise<void> {
    const purged = await deps.prisma.$executeRaw`
      DELETE FROM jobs WHERE id IN (
        SELECT id FROM jobs
        WHERE status = 'DONE' AND dedupe_key IS NULL
          AND finished_at < now() - (${doneRetentionMs}::bigint * interval '1 millisecond')
        LIMIT 5000)`;
    if (purged > 0) deps.logger.debug({ jobs: purged, retentionMs: doneRetentionMs }, "old DONE jobs purged");
  }

  async function runMaintenance(): Promise<void> {
    for (const task of deps.maintenance ?? []) {
      try {
        const removed = await task.run();
        if (removed > 0) deps.logger.info({ task: task.name, removed }, "housekeeping");
      } catch (error) {
        deps.logger.warn({ err: error, task: task.name }, "housekeeping failed; it runs again with the next sweep");
      }
    }
  }

  function maxAttemptsOf(job: ClaimedJob): number {
    return definitions.get(job.kind)?.maxAttempts ?? job.maxAttempts;
  }

  /** Marks job `id` DONE if this worker still holds it; how many rows it marked (0 or 1). */
  async function markDoneIfHeld(tx: Db, id: bigint): Promise<number> {
    const updated = await tx.job.updateMany({
      where: { id, lockedBy: workerId },
      data: { status: "DONE", finishedAt: new Date(), lockedBy: null, lockedUntil: null, lastError: null },
    });
    return updated.count;
  }

  async function markDone(tx: Db, job: ClaimedJob): Promise<void> {
    if ((await markDoneIfHeld(tx, job.id)) !== 1) throw new Error(`lost the lock on job ${job.id}`);
  }

  async function fail(job: ClaimedJob, error: unknown): Promise<void> {
    const log = deps.logger.child({ job: { id: String(job.id), kind: job.kind, attempt: job.attempts } });
    const message = errorMessage(error).slice(0, 2_000);
    if (error instanceof RateLimitedError) {
      const until = new Date(Date.now() + error.retryAfterMs);
      await deps.prisma.$transaction(async (tx) => {
        if (job.rateKey) {
          await tx.rateLimitHold.upsert({ where: { key: job.rateKey }, create: { key: job.rateKey, until }, update: { until } });
        }
        // A 429 is not the job's fault: it does not use up an attempt.
        await tx.job.updateMany({
          where: { id: job.id, lockedBy: workerId },
          data: { status: "PENDING", runAt: until, attempts: { decrement: 1 }, lockedBy: null, lockedUntil: null, lastError: message },
        });
      });
      deps.metrics.jobOutcomes.inc({ kind: job.kind, outcome: "rate_limited" });
      log.warn({ retryAfterMs: error.retryAfterMs, vendor: error.vendor, rateKey: job.rateKey }, "rate limited; job postponed");
      return;
    }
    if (error instanceof NotReadyError && Date.now() - new Date(job.createdAt).getTime() < NOT_READY_MAX_AGE_MS) {
      await deps.prisma.job.updateMany({
        where: { id: job.id, lockedBy: workerId },
        data: { status: "PENDING", runAt: new Date(Date.now() + error.retryAfterMs), attempts: { decrement: 1 }, lockedBy: null, lockedUntil: null, lastError: message },
      });
      deps.metrics.jobOutcomes.inc({ kind: job.kind, outcome: "waiting" });
      log.debug({ reason: message }, "job waits for a prerequisite");
      return;
    }
    const permanent = error instanceof PermanentOutboundError || error instanceof ZodError || (error instanceof FirebreakError && error.code === "job_payload_invalid");
    // An outage (network error, timeout, 5xx) is not the job's fault either: while the job is
    // younger than a day it is retried at least every OUTAGE_RETRY_CAP_MS however long the
    // vendor stays down, instead of dying after its attempts, so the work drains once it answers.
    const outage = error instanceof TransientOutboundError && Date.now() - new Date(job.createdAt).getTime() < NOT_READY_MAX_AGE_MS;
    if (permanent || (job.attempts >= maxAttemptsOf(job) && !outage)) {
      await deps.prisma.job.updateMany({
        where: { id: job.id, lockedBy: workerId },
        data: { status: "DEAD", finishedAt: new Date(), lockedBy: null, lockedUntil: null, lastError: message },
      });
      deps.metrics.jobOutcomes.inc({ kind: job.kind, outcome: "dead" });
      log.error({ err: error }, permanent ? "job failed permanently" : "job failed too many times; giving up");
      return;
    }
    const delay = outage ? Math.min(OUTAGE_RETRY_CAP_MS, backoffMs(job.attempts)) : backoffMs(job.attempts);
    const runAt = new Date(Date.now() + delay);
    await deps.prisma.$transaction(async (tx) => {
      // The jobs sharing its rate key (one channel's messages, channel creation) wait behind it,
      // so they still run in the order they were queued once it succeeds.
      if (job.rateKey) {
        await tx.$executeRaw`INSERT INTO rate_limit_holds (key, until) VALUES (${job.rateKey}, ${runAt})
          ON CONFLICT (key) DO UPDATE SET until = GREATEST(rate_limit_holds.until, EXCLUDED.until)`;
      }
      await tx.job.updateMany({
        where: { id: job.id, lockedBy: workerId },
        data: { status: "PENDING", runAt, lockedBy: null, lockedUntil: null, lastError: message },
      });
    });
    deps.metrics.jobOutcomes.inc({ kind: job.kind, outcome: "retry" });
    log.warn({ err: error, retryInMs: delay }, "job failed; will retry");
  }

  /**
   * Records a failure; while the database cannot be reached (it is restarting), tries again each
   * second for as long as the job's lock lasts, so the job is retried as soon as the database is
   * back instead of waiting out its lock (which also holds back every job sharing its rate key).
   */
  async function recordFailure(job: ClaimedJob, error: unknown): Promise<void> {
    const giveUpAt = Date.now() + lockMs;
    for (;;) {
      try {
        await fail(job, error);
        return;
      } catch (failError) {
        if (!running || Date.now() + 1_000 >= giveUpAt) {
          // The lock expires and the job is taken again: nothing is lost.
          deps.logger.error({ err: failError, jobId: String(job.id) }, "could not record job failure; the job is taken again when its lock expires");
          return;
        }
        deps.logger.warn({ err: failError, jobId: String(job.id) }, "could not record job failure; trying again");
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  async function run(job: ClaimedJob): Promise<void> {
    const definition = definitions.get(job.kind);
    if (!definition) {
      await fail(job, new PermanentOutboundError("job_payload_invalid", "unknown_job", `no handler for job kind ${job.kind}`));
      return;
    }
    let completed = false;
    const context: JobContext = {
      id: job.id,
      attempt: job.attempts,
      logger: deps.logger.child({ job: { id: String(job.id), kind: job.kind } }),
      complete: async (record) => {
        await deps.prisma.$transaction(async (tx) => {
          await record(tx);
          await markDone(tx, job);
        });
        completed = true;
      },
    };
    // Keep the lock while the handler runs, so a slow job is not taken over and run twice.
    const heartbeat = setInterval(() => {
      deps.prisma.job
        .updateMany({ where: { id: job.id, lockedBy: workerId, status: "RUNNING" }, data: { lockedUntil: new Date(Date.now() + lockMs) } })
        .catch((error: unknown) => deps.logger.warn({ err: error, jobId: String(job.id) }, "could not extend a job lock"));
    }, Math.max(1_000, Math.floor(lockMs / 3)));
    try {
      await definition.run(job.payload, context);
      if (!completed) await deps.prisma.$transaction(async (tx) => markDone(tx, job));
      deps.metrics.jobOutcomes.inc({ kind: job.kind, outcome: "done" });
    } catch (error) {
      if (completed) {
        // Its results are committed; what failed afterwards is not worth a retry.
        deps.metrics.jobOutcomes.inc({ kind: job.kind, outcome: "done" });
        deps.logger.warn({ err: error, jobId: String(job.id) }, "job completed, then failed in follow-up work");
        return;
      }
      await recordFailure(job, error);
    } finally {
      clearInterval(heartbeat);
    }
  }

  async function tick(): Promise<void> {
    if (!running || claiming) {
      wakeRequested = true;
      return;
    }
    claiming = true;
    let endRound = (): void => undefined;
    claimRound = new Promise<void>((resolve) => {
      endRound = resolve;
    });
    try {
      do {
        wakeRequested = false;
        const free = concurrency + reservedSlots - inFlight.size;
        const general = concurrency - generalInFlight;
        if (free <= 0 || (general <= 0 && criticalKinds.length === 0)) break;
        if (Date.now() - lastSweep >= sweepIntervalMs) {
          lastSweep = Date.now();
          await sweepAbandoned();
          await purgeDone();
          await runMaintenance();
        }
        const jobs = await claim(free, Math.max(0, general));
        for (const job of jobs) {
          runningByKind.set(job.kind, (runningByKind.get(job.kind) ?? 0) + 1);
          const critical = isCritical(job.kind);
          if (!critical) generalInFlight += 1;
          const promise = run(job).finally(() => {
            inFlight.delete(promise);
            if (!critical) generalInFlight -= 1;
            runningByKind.set(job.kind, (runningByKind.get(job.kind) ?? 1) - 1);
            if (running) wake();
          });
          inFlight.add(promise);
        }
        if (jobs.length === free) wakeRequested = true;
        else await armNextDue(); // after the claimed jobs have started
      } while (wakeRequested && running);
    } catch (error) {
      deps.logger.warn({ err: error }, "job claim failed; retrying");
    } finally {
      claiming = false;
      endRound();
    }
  }

  /**
   * Nothing more is due now: wake when the next job falls due or a rate-limit hold ends (a
   * retry's backoff, a 429's Retry-After, the pacing of channel creation, a prerequisite not
   * ready yet), instead of waiting for the next poll.
   */
  let nextDue: NodeJS.Timeout | undefined;
  async function armNextDue(): Promise<void> {
    const ms = await msUntilNextDue(deps.prisma);
    clearTimeout(nextDue);
    nextDue = ms === undefined || ms >= pollIntervalMs ? undefined : setTimeout(wake, Math.max(0, Math.ceil(ms)));
  }

  function schedule(): void {
    if (!running) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      void tick().finally(schedule);
    }, pollIntervalMs);
  }

  /** Coalesced: many wakes before the next turn of the event loop make one claim round. */
  function wake(): void {
    if (!running) return;
    if (claiming) {
      wakeRequested = true;
      return;
    }
    if (wakeScheduled) return;
    wakeScheduled = true;
    setImmediate(() => {
      wakeScheduled = false;
      void tick();
    });
  }

  return {
    // The start-up rehearsal (src/core/rehearsal.ts): the query every job's completion runs, on
    // no row (ids start at 1), so the first job does not plan it.
    async rehearse(tx) {
      await markDoneIfHeld(tx, 0n);
    },
    start() {
      if (running) return;
      running = true;
      wake();
      schedule();
    },
    wake,
    async stop(timeoutMs) {
      running = false;
      clearTimeout(timer);
      clearTimeout(nextDue);
      let deadline: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        deadline = setTimeout(resolve, timeoutMs);
      });
      try {
        // A claim round under way still starts the jobs it claims: wait for it first.
        await Promise.race([claimRound, timedOut]);
        if (inFlight.size === 0) return;
        deps.logger.info({ jobs: inFlight.size }, "waiting for jobs in flight");
        await Promise.race([Promise.allSettled([...inFlight]), timedOut]);
      } finally {
        clearTimeout(deadline);
      }
    },
  };
}
