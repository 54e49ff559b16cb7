import type { Db, PrismaClient } from "../db/client.ts";
import type { Logger } from "../lib/logger.ts";

/** A module's rehearsal (`FirebreakModule.rehearse`). */
export interface Rehearsal {
  readonly name: string;
  run(tx: Db): Promise<void>;
}

/** Thrown at the end of the rehearsal's transaction to roll it back; never leaves this file. */
class RollBack extends Error {
  constructor() {
    super("the start-up rehearsal rolls back");
  }
}

/**
 * Runs every module's rehearsal in one transaction and rolls it back, before the app listens.
 * A process's first declare used to cost about a second of CPU: Prisma plans each query shape
 * once (with its WebAssembly query compiler), and Prisma's, pg's and Firebreak's code runs for
 * the first time. Rehearsed, that cost is paid at start-up instead of by the first incident.
 *
 * With `connections: n`, n such transactions run at once, each on a connection of the pool of
 * its own: every PostgreSQL server process behind the pool plans the statements and fills its
 * catalog caches once, at start-up, instead of on the first incidents' way (a cold connection
 * answered the declare's statements in 5-9 ms against 1-2 ms warm). They queue one behind the
 * other on the incident counter's row lock, each still on its own connection.
 *
 * Nothing stays: the rows, the jobs (and their NOTIFY, sent only on commit), the incident number
 * (a counter row, given back by the rollback). While it runs (a few hundred ms) it holds the
 * counter's row lock, so another replica's declare waits for it. A rehearsal that fails is
 * logged and the start goes on: it only saves time, the real path does not depend on it.
 */
export async function rehearse(
  prisma: Pick<PrismaClient, "$transaction">,
  rehearsals: readonly Rehearsal[],
  logger: Logger,
  options: { timeoutMs?: number; connections?: number } = {},
): Promise<void> {
  if (rehearsals.length === 0) return;
  const startedAt = performance.now();
  const timings: Record<string, number> = {};
  const timeout = options.timeoutMs ?? 30_000;
  const once = async (first: boolean): Promise<void> => {
    try {
      await prisma.$transaction(
        async (tx) => {
          for (const rehearsal of rehearsals) {
            const begun = performance.now();
            await rehearsal.run(tx);
            if (first) timings[rehearsal.name] = Math.round(performance.now() - begun);
          }
          throw new RollBack();
        },
        { timeout, maxWait: timeout },
      );
    } catch (error) {
      if (!(error instanceof RollBack)) throw error;
    }
  };
  const connections = Math.max(1, Math.floor(options.connections ?? 1));
  const outcomes = await Promise.allSettled(Array.from({ length: connections }, (_, index) => once(index === 0)));
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) {
    logger.warn({ err: failed.reason, ms: timings }, "the start-up rehearsal failed (rolled back; the first requests will be slower)");
    return;
  }
  logger.info({ ms: Math.round(performance.now() - startedAt), connections, modules: timings }, "start-up rehearsal done (rolled back)");
}
