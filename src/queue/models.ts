import type { z } from "zod";
import type { Db } from "../db/client.ts";
import type { Logger } from "../lib/logger.ts";

export interface EnqueueOptions {
  /** Enqueueing the same key twice is a no-op (retries, double clicks). */
  dedupeKey?: string;
  runAt?: Date;
  /** Lower runs first. */
  priority?: number;
  /** Jobs sharing a rate key wait together after a 429 (e.g. "chat.postMessage:C123"). */
  rateKey?: string;
  incidentId?: string;
  maxAttempts?: number;
}

export interface JobContext {
  readonly id: bigint;
  readonly attempt: number;
  readonly logger: Logger;
  /**
   * Records the job's results and marks it done in one transaction, so that
   * follow-up jobs are enqueued exactly when this one completes.
   */
  complete(record: (tx: Db) => Promise<void>): Promise<void>;
}

/** How a job kind runs: written once per kind, next to the code that enqueues it (see `JobType.handler`). */
export interface JobHandler<Payload> {
  readonly maxAttempts?: number;
  /** At most this many jobs of this kind run at once in one worker (default: no limit of its own). */
  readonly maxConcurrent?: number;
  /**
   * Work that must not wait behind a backlog of other kinds: alert processing, pages, a
   * remediation. Besides the general slots, the worker keeps a slot only these kinds may take,
   * so a page still goes out while every general slot waits on a Slack call that hangs.
   */
  readonly critical?: boolean;
  handle(payload: Payload, context: JobContext): Promise<void>;
}

/**
 * What the worker runs: a kind and its handler, the payload type erased (`run`
 * validates the stored payload with the kind's schema before handing it on).
 */
export interface JobDefinition {
  readonly kind: string;
  readonly maxAttempts?: number;
  readonly maxConcurrent?: number;
  readonly critical?: boolean;
  run(payload: unknown, context: JobContext): Promise<void>;
}

/** A job kind, typed by its payload, declared once: `enqueue` validates before writing, `handler` attaches how it runs. */
export interface JobType<Payload> {
  readonly kind: string;
  readonly payload: z.ZodType<Payload>;
  enqueue(tx: Db, payload: Payload, options?: EnqueueOptions): Promise<void>;
  handler(spec: JobHandler<Payload>): JobDefinition;
}
