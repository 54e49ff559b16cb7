/**
 * The job worker: claims due jobs (claim.ts) into its slots, general and reserved for critical
 * kinds, runs them (a heartbeat keeps each lock), records their failures (failure.ts), wakes when
 * work is enqueued or falls due, and runs the periodic sweep (abandoned jobs, old DONE jobs,
 * other domains' housekeeping).
 */
import { randomUUID } from "node:crypto";
import type { Db, PrismaClient } from "../db/client.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Logger } from "../lib/logger.ts";
import { PermanentOutboundError } from "../lib/errors.ts";
import { type ClaimedJob, createClaimer } from "./claim.ts";
import { createFailurePolicy } from "./failure.ts";
import type { JobContext, JobDefinition } from "./models.ts";

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

  const { claim } = createClaimer(
    { prisma: deps.prisma, definitions: deps.definitions, runningOf: (kind) => runningByKind.get(kind) ?? 0 },
    { workerId, lockMs },
  );
  const { fail, recordFailure } = createFailurePolicy(
    {
      prisma: deps.prisma,
      logger: deps.logger,
      metrics: deps.metrics,
      maxAttemptsOf: (job) => definitions.get(job.kind)?.maxAttempts ?? job.maxAttempts,
      isRunning: () => running,
    },
    { workerId, lockMs },
  );

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
      // One statement: no transaction needed (nothing else to commit with it).
      if (!completed) await markDone(deps.prisma, job);
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
        const { jobs, nextDueMs } = await claim(free, Math.max(0, general));
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
        else armNextDue(nextDueMs);
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
   * ready yet), instead of waiting for the next poll. The claim statement tells when that is.
   */
  let nextDue: NodeJS.Timeout | undefined;
  function armNextDue(ms: number | undefined): void {
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
      // A claim of no job: the connection compiles claim_jobs and plans its statement before
      // the first declare's jobs are claimed on it (a session's first call of the function cost
      // the first declares after start about 60 ms at p95 without this).
      await claim(0, 0, tx);
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
