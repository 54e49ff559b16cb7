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

export interface JobDefinition<Payload> {
  readonly kind: string;
  readonly payload: z.ZodType<Payload>;
  readonly maxAttempts?: number;
  /** At most this many jobs of this kind run at once in one worker (default: no limit of its own). */
  readonly maxConcurrent?: number;
  handle(payload: Payload, context: JobContext): Promise<void>;
}

/** A job kind, typed by its payload; `enqueue` validates before writing. */
export interface JobType<Payload> {
  readonly kind: string;
  enqueue(tx: Db, payload: Payload, options?: EnqueueOptions): Promise<void>;
}
