import type { z } from "zod";
import type { Db, Prisma } from "../db/client.ts";
import { FirebreakError } from "../lib/errors.ts";
import type { EnqueueOptions, JobType } from "./models.ts";

/** Declares a job kind: its name and payload schema, once; `handler` attaches how it runs (see worker.ts). */
export function jobType<Payload>(kind: string, schema: z.ZodType<Payload>): JobType<Payload> {
  return {
    kind,
    payload: schema,
    handler: (spec) => ({
      kind,
      ...(spec.maxAttempts === undefined ? {} : { maxAttempts: spec.maxAttempts }),
      ...(spec.maxConcurrent === undefined ? {} : { maxConcurrent: spec.maxConcurrent }),
      ...(spec.critical ? { critical: true } : {}),
      run: async (payload, context) => spec.handle(schema.parse(payload), context),
    }),
    async enqueue(tx, payload, options = {}) {
      const parsed = schema.safeParse(payload);
      if (!parsed.success) {
        throw new FirebreakError("job_payload_invalid", `Invalid payload for job ${kind}: ${parsed.error.message}`);
      }
      await enqueueRaw(tx, kind, parsed.data as Prisma.InputJsonValue, options);
    },
  };
}

/**
 * One INSERT, whatever the options: a repeated `dedupeKey` is a no-op (`ON CONFLICT DO NOTHING`;
 * keys that are null never conflict). Written as SQL rather than `createMany({ skipDuplicates })`,
 * whose query plan Prisma does not cache: it compiled that plan again for every job enqueued.
 */
export async function enqueueRaw(tx: Db, kind: string, payload: Prisma.InputJsonValue, options: EnqueueOptions = {}): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO jobs (kind, payload, priority, run_at, max_attempts, rate_key, dedupe_key, incident_id)
    VALUES (${kind}, ${JSON.stringify(payload)}::jsonb, ${options.priority ?? 100}::int, ${options.runAt ?? new Date()}::timestamptz,
            ${options.maxAttempts ?? 10}::int, ${options.rateKey ?? null}, ${options.dedupeKey ?? null}, ${options.incidentId ?? null}::uuid)
    ON CONFLICT (dedupe_key) DO NOTHING`;
}

/** Exponential backoff with jitter: 1 s, 2 s, 4 s ... capped at 5 minutes. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(300_000, 1_000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * Jobs left RUNNING by a process that is gone, made claimable at once (their lock expires now)
 * instead of after their lock's full length. Only for a database no other worker can be using:
 * the embedded server, whose data directory one Firebreak process holds at a time. The takeover
 * is the usual one (the attempt counts; a job on its last attempt is marked dead by the sweep).
 */
export async function expireLocksOfGoneWorkers(db: Db): Promise<number> {
  return db.$executeRaw`UPDATE jobs SET locked_until = now() WHERE status = 'RUNNING' AND locked_until > now()`;
}
