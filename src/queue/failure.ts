/**
 * What a failed job becomes (worker.ts runs the jobs): postponed after a 429, waiting for a
 * prerequisite not ready yet, retried at a capped interval through a vendor's outage, dead when
 * the failure is permanent or its attempts are used up, otherwise retried with backoff; and
 * recording that failure again while the database cannot be reached.
 */
import { ZodError } from "zod";
import type { PrismaClient } from "../db/client.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Logger } from "../lib/logger.ts";
import { FirebreakError, NotReadyError, PermanentOutboundError, RateLimitedError, TransientOutboundError, errorMessage } from "../lib/errors.ts";
import type { ClaimedJob } from "./claim.ts";
import { backoffMs } from "./service.ts";

/** A job may wait this long for its prerequisite (e.g. a channel Slack is slow to create). */
const NOT_READY_MAX_AGE_MS = 24 * 60 * 60_000;
/** During an outage of the vendor a job calls, it is retried at least this often. */
const OUTAGE_RETRY_CAP_MS = 30_000;

interface FailurePolicyDeps {
  prisma: PrismaClient;
  logger: Logger;
  metrics: Pick<Metrics, "jobOutcomes">;
  /** The attempts `job` may use (its kind's current setting, else what its row says). */
  maxAttemptsOf(job: ClaimedJob): number;
  /** False once the worker stops: a failure that cannot be recorded is then left to the lock's expiry. */
  isRunning(): boolean;
}

interface FailurePolicyOptions {
  /** The worker holding the jobs: a job is updated only while `locked_by` is still this. */
  workerId: string;
  /** How long a claimed job stays locked before another worker may take it over. */
  lockMs: number;
}

export interface FailurePolicy {
  /** Records `error` as the outcome of `job`'s attempt; throws when the database does. */
  readonly fail: (job: ClaimedJob, error: unknown) => Promise<void>;
  /** `fail`, tried again while the database cannot be reached; what it cannot record, it logs. */
  readonly recordFailure: (job: ClaimedJob, error: unknown) => Promise<void>;
}

export function createFailurePolicy(deps: FailurePolicyDeps, options: FailurePolicyOptions): FailurePolicy {
  const { workerId, lockMs } = options;

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
    if (permanent || (job.attempts >= deps.maxAttemptsOf(job) && !outage)) {
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
        if (!deps.isRunning() || Date.now() + 1_000 >= giveUpAt) {
          // The lock expires and the job is taken again: nothing is lost.
          deps.logger.error({ err: failError, jobId: String(job.id) }, "could not record job failure; the job is taken again when its lock expires");
          return;
        }
        deps.logger.warn({ err: failError, jobId: String(job.id) }, "could not record job failure; trying again");
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  return { fail, recordFailure };
}
