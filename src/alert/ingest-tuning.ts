/** The write path's settings (ingest.ts): group commit, copies, admission and ingest first. */

export interface IngestTuning {
  /** Deliveries stored by one statement at most. */
  readonly maxBatch: number;
  /** Statements in flight at once. */
  readonly maxFlushes: number;
  /** Refuse new deliveries once the oldest waiting one has waited this long (ms). */
  readonly maxWaitMs: number;
  /** Refuse new deliveries once this many wait for a statement. */
  readonly maxQueued: number;
  /**
   * Refuse new deliveries once the bodies held (waiting, or in a statement in flight) add up to
   * this many characters: what bounds the webhook's memory when bodies are large (up to 1 MiB
   * each), whatever their count.
   */
  readonly maxQueuedChars: number;
  /** An identical copy arriving this soon (ms) after the original's commit shares its row. */
  readonly copyWindowMs: number;
  /** Payload hashes remembered for copies, at most. */
  readonly maxRemembered: number;
  /** Background work waits for this long (ms) without a delivery arriving... */
  readonly quietMs: number;
  /** ...but the webhook keeps it waiting this long (ms) at most, then shares. */
  readonly maxDeferMs: number;
  /** Background transactions at once. */
  readonly backgroundSlots: number;
}

/** The defaults: PostgreSQL, with a pool of connections (embedded or external, the same server). */
export function ingestTuning(overrides: Partial<IngestTuning> = {}): IngestTuning {
  return {
    maxBatch: 64,
    maxFlushes: 4,
    maxWaitMs: 1_000,
    maxQueued: 1_024,
    // 64 Mi characters of JSON, at most about 128 MiB of V8 strings: within the 384 MB old
    // space `npm start` gives the app (package.json config.nodeOptions).
    maxQueuedChars: 64 * 1024 * 1024,
    copyWindowMs: 1_000,
    maxRemembered: 4_096,
    quietMs: 100,
    // One second: a burst shorter than that is acknowledged with the whole machine; in a longer
    // storm, processing runs alongside after 1 s instead of piling up 5 s of backlog and then
    // catching up at full speed (which held up alert -> incident by those seconds and made the
    // commands answered meanwhile the slowest: bench/results/ingest-max-defer.md).
    maxDeferMs: 1_000,
    // Two: each processing transaction is a chain of CPU-bound steps on this thread, and a
    // webhook request arriving while processing runs alongside a storm waits behind the steps
    // of every chain in flight (the webhook's p99 comes from there). Two keep processing
    // concurrent (the per-group lock matters with several Firebreak processes).
    backgroundSlots: 2,
    ...overrides,
  };
}
