import { hash } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Foreground } from "../lib/foreground.ts";
import type { IngestTuning } from "./ingest-tuning.ts";

/**
 * The webhook's write path: group commit, identical copies, admission.
 *
 * - Group commit. Deliveries that arrive together are stored by ONE statement
 *   (`StoreBatch`: every delivery and its processing job). A batch starts as
 *   soon as a statement slot is free; while statements are in flight, new
 *   deliveries wait and go together in the next one (at most `maxBatch`), so
 *   a quiet webhook adds no delay and a busy one commits many deliveries per
 *   round trip. Each caller's promise settles only when ITS batch committed;
 *   a failed batch rejects every member (the webhook answers them 503, and
 *   Alertmanager retries), and nothing of it is stored (one statement).
 * - Identical copies. An HA pair of Alertmanagers sends every notification
 *   twice. A delivery identical (same key: the hash of the body's bytes) to
 *   one whose batch is in flight, or committed less than `copyWindowMs` ago,
 *   is not stored again: it
 *   waits for the original's commit and gets the original's id (and a failed
 *   original fails its copies too). A later re-send is stored as usual. The
 *   memory of payloads is bounded (`maxRemembered`, oldest forgotten first).
 * - Admission. When deliveries wait longer than `maxWaitMs` for a statement,
 *   or more than `maxQueued` wait, or their bodies add up to more than
 *   `maxQueuedChars`, the database cannot absorb the load: new
 *   deliveries are refused at once (`IngestOverloadedError`, answered 503 with
 *   Retry-After) instead of waiting for many seconds.
 * - Ingest first. Background processing asks `backgroundTurn()` before its
 *   transaction: it waits until no delivery is waiting or being stored (nor a
 *   Slack command or interaction waiting for its answer: `foreground`) and
 *   none arrived for `quietMs`; once the webhook has kept background work
 *   waiting for `maxDeferMs` without a quiet moment, it only lets the
 *   deliveries already waiting go first, until the next quiet moment (so a
 *   burst shorter than that is acknowledged with the whole machine, and a
 *   longer storm is processed alongside, one transaction at a time between
 *   the webhook's statements). At most `backgroundSlots` run at once (the
 *   job worker keeps its other slots for Slack work). Processing a delivery
 *   costs far more than storing it (tens of queries and milliseconds of CPU
 *   in this thread), so during a burst the webhook gets the machine and processing catches up
 *   right after (Alertmanager itself waits group_wait, 30 s by default,
 *   before a group's first notification).
 */

/** One delivery as the store statement takes it. */
export interface DeliveryRow {
  readonly groupKey: string;
  /** The body as received (JSON text). */
  readonly body: string;
  /** Priority of its processing job. */
  readonly priority: number;
}

/** Stores the rows (and their jobs) in one statement; returns their ids in the same order. */
export type StoreBatch = (rows: readonly DeliveryRow[]) => Promise<readonly bigint[]>;

export interface StoredDelivery {
  readonly id: bigint;
  /** True when this was an identical copy of a delivery stored (or being stored) already. */
  readonly copy: boolean;
}

export class IngestOverloadedError extends Error {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = "IngestOverloadedError";
  }
}

export interface IngestStats {
  /** Deliveries waiting for a statement. */
  readonly waiting: number;
  /** Statements in flight. */
  readonly flushing: number;
  /** How long the oldest waiting delivery has waited (ms). */
  readonly oldestWaitMs: number;
}

export interface IngestQueue {
  /**
   * Resolves once the delivery (or the original it copies) is committed. `key` identifies
   * identical deliveries (default: the hash of `row.body`).
   */
  submit(row: DeliveryRow, key?: string): Promise<StoredDelivery>;
  /** When `key` is a copy of a delivery in flight or just committed: its original's outcome. */
  copyOf(key: string): Promise<StoredDelivery> | undefined;
  /** Resolves to a release function once background work may use the database. */
  backgroundTurn(): Promise<() => void>;
  stats(): IngestStats;
}

interface Waiting {
  readonly row: DeliveryRow;
  readonly since: number;
  resolve(id: bigint): void;
  reject(error: unknown): void;
}

interface Remembered {
  readonly promise: Promise<bigint>;
  /** When the original committed; null while it is in flight. */
  committedAt: number | null;
}

export interface IngestQueueDeps {
  store: StoreBatch;
  /**
   * After a committed batch, when a background slot is free (wakes the job worker; when
   * every slot is taken, the worker looks again as each one is released, and a claim
   * query per batch would only add work for the database).
   */
  onStored(): void;
  /** Monotonic milliseconds. */
  clock?: () => number;
  /** Slack requests waiting for their answer: background work holds back for them as for deliveries. */
  foreground?: Pick<Foreground, "active" | "onIdle">;
}

export function createIngestQueue(deps: IngestQueueDeps, tuning: IngestTuning): IngestQueue {
  const clock = deps.clock ?? (() => performance.now());
  const queue: Waiting[] = [];
  const remembered = new Map<string, Remembered>();
  const idleWaiters = new Set<() => void>();
  let flushing = 0;
  /** Characters of the bodies waiting or in a statement in flight. */
  let heldChars = 0;
  let lastArrival = Number.NEGATIVE_INFINITY;
  /** Since when background work has been kept waiting without a quiet moment (null: not waiting). */
  let deferringSince: number | null = null;
  let pumpScheduled = false;
  let backgroundRunning = 0;
  const backgroundWaiters: Array<() => void> = [];

  const busy = (): boolean => queue.length > 0 || flushing > 0 || (deps.foreground?.active() ?? 0) > 0;

  function notifyIdle(): void {
    if (busy()) return;
    for (const waiter of [...idleWaiters]) waiter();
  }
  deps.foreground?.onIdle(notifyIdle);

  /** Collects what arrived during this turn of the event loop, then fills the free statement slots. */
  function schedulePump(): void {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setImmediate(() => {
      pumpScheduled = false;
      pump();
    });
  }

  function pump(): void {
    while (flushing < tuning.maxFlushes && queue.length > 0) {
      const batch = queue.splice(0, tuning.maxBatch);
      flushing += 1;
      void flush(batch);
    }
  }

  async function flush(batch: Waiting[]): Promise<void> {
    try {
      const ids = await deps.store(batch.map((waiting) => waiting.row));
      if (ids.length !== batch.length) throw new Error(`stored ${ids.length} deliveries of a batch of ${batch.length}`);
      batch.forEach((waiting, index) => waiting.resolve(ids[index] as bigint));
      if (backgroundRunning < tuning.backgroundSlots) deps.onStored();
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      flushing -= 1;
      for (const waiting of batch) heldChars -= waiting.row.body.length;
      pump();
      notifyIdle();
    }
  }

  function forgetExpired(now: number): void {
    for (const [key, entry] of remembered) {
      if (entry.committedAt === null || now - entry.committedAt <= tuning.copyWindowMs) {
        // Entries are in arrival order; one still useful means the rest are recent enough to keep.
        if (remembered.size <= tuning.maxRemembered) break;
      }
      remembered.delete(key);
    }
  }

  function overload(now: number, row: DeliveryRow): IngestOverloadedError | undefined {
    if (heldChars > 0 && heldChars + row.body.length > tuning.maxQueuedChars) {
      return new IngestOverloadedError(`overloaded: ${heldChars} characters of deliveries wait to be stored`, 1);
    }
    const oldest = queue[0];
    const waitedMs = oldest ? now - oldest.since : 0;
    if (queue.length < tuning.maxQueued && waitedMs <= tuning.maxWaitMs) return undefined;
    const retryAfterS = Math.max(1, Math.ceil(waitedMs / 1_000));
    return new IngestOverloadedError(`overloaded: ${queue.length} deliveries wait to be stored, the oldest for ${Math.round(waitedMs)} ms`, retryAfterS);
  }

  function copyOf(key: string): Promise<StoredDelivery> | undefined {
    const now = clock();
    forgetExpired(now);
    const seen = remembered.get(key);
    if (!seen || (seen.committedAt !== null && now - seen.committedAt > tuning.copyWindowMs)) return undefined;
    lastArrival = now;
    return seen.promise.then((id) => ({ id, copy: true }));
  }

  function submit(row: DeliveryRow, key = hash("sha256", row.body, "base64")): Promise<StoredDelivery> {
    const copy = copyOf(key);
    if (copy) return copy;
    const now = clock();
    lastArrival = now;
    const refused = overload(now, row);
    if (refused) return Promise.reject(refused);

    heldChars += row.body.length;
    const promise = new Promise<bigint>((resolve, reject) => {
      queue.push({ row, since: now, resolve, reject });
    });
    const entry: Remembered = { promise, committedAt: null };
    remembered.delete(key);
    remembered.set(key, entry);
    promise.then(
      () => {
        entry.committedAt = clock();
      },
      () => {
        // Not stored: a retry (or a copy arriving later) must be stored, not matched.
        if (remembered.get(key) === entry) remembered.delete(key);
      },
    );
    schedulePump();
    return promise.then((id) => ({ id, copy: false }));
  }

  function whenIdle(maxWaitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      idleWaiters.add(done);
    });
  }

  /**
   * Until nothing waits or is being stored and nothing arrived for quietMs, or background
   * work has been kept waiting for maxDeferMs without such a quiet moment.
   */
  async function whenQuiet(): Promise<void> {
    for (;;) {
      const now = clock();
      const quietLeft = tuning.quietMs - (now - lastArrival);
      if (!busy() && quietLeft <= 0) {
        deferringSince = null;
        return;
      }
      deferringSince ??= now;
      const deferLeft = deferringSince + tuning.maxDeferMs - now;
      if (deferLeft <= 0) {
        // Kept waiting long enough: no more waiting for quiet, only for the deliveries
        // already waiting (or being stored) to go first, so ingest keeps its priority at the
        // grain of one transaction.
        if (busy()) await whenIdle(tuning.maxWaitMs);
        return;
      }
      if (busy()) await whenIdle(deferLeft);
      else await new Promise((resolve) => setTimeout(resolve, Math.min(quietLeft, deferLeft)));
    }
  }

  function releaseBackground(): void {
    const next = backgroundWaiters.shift();
    // Hand the slot over directly, so a newcomer cannot overtake a waiter.
    if (next) next();
    else backgroundRunning -= 1;
  }

  async function backgroundTurn(): Promise<() => void> {
    if (backgroundRunning >= tuning.backgroundSlots) await new Promise<void>((resolve) => backgroundWaiters.push(resolve));
    else backgroundRunning += 1;
    await whenQuiet();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      releaseBackground();
    };
  }

  return {
    submit,
    copyOf,
    backgroundTurn,
    stats: () => ({ waiting: queue.length, flushing, oldestWaitMs: queue[0] ? clock() - queue[0].since : 0 }),
  };
}
