// The durable job queue (src/queue) against a real PostgreSQL server: retries, rate-limit
// holds, crash recovery, two workers. Test handlers call a tiny HTTP server on 127.0.0.1 that
// records every call and answers as scripted.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { openDatabase, type Database } from "../../src/db/client.ts";
import { createMetrics, type Metrics } from "../../src/http/metrics.ts";
import { FirebreakError, PermanentOutboundError, RateLimitedError, TransientOutboundError } from "../../src/lib/errors.ts";
import type { JobDefinition } from "../../src/queue/models.ts";
import { enqueueRaw, jobType } from "../../src/queue/service.ts";
import { createJobWorker, type JobWorker, type JobWorkerOptions } from "../../src/queue/worker.ts";
import { captureLogs, eventually } from "../support/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";

const POLL_MS = 50;
/** Seconds in the Retry-After header of a scripted 429. */
const RETRY_AFTER_S = 2;
const RETRY_AFTER_MS = RETRY_AFTER_S * 1_000;

// ---------------------------------------------------------------------------
// The outside world: records calls, answers with scripted statuses.

interface Hit {
  name: string;
  attempt: number;
  worker: string;
  at: number;
}

interface Outbound {
  readonly url: string;
  readonly hits: Hit[];
  /** Statuses for successive calls naming `name`; 200 once they run out. */
  script(name: string, statuses: number[]): void;
  /** Every call waits this long before it is answered. */
  delayMs: number;
  reset(): void;
  close(): Promise<void>;
}

async function startOutbound(): Promise<Outbound> {
  const hits: Hit[] = [];
  const scripts = new Map<string, number[]>();
  const state = { delayMs: 0 };
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const name = url.searchParams.get("name") ?? "";
    hits.push({ name, attempt: Number(url.searchParams.get("attempt")), worker: url.searchParams.get("worker") ?? "", at: Date.now() });
    const status = scripts.get(name)?.shift() ?? 200;
    setTimeout(() => {
      response.writeHead(status, { "content-type": "application/json", ...(status === 429 ? { "retry-after": String(RETRY_AFTER_S) } : {}) });
      response.end(JSON.stringify({ ok: status === 200 }));
    }, state.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    script: (name, statuses) => void scripts.set(name, [...statuses]),
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value: number) {
      state.delayMs = value;
    },
    reset() {
      hits.length = 0;
      scripts.clear();
      state.delayMs = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let outbound: Outbound;

/** What a real outbound client does: map HTTP answers onto Firebreak's errors. */
async function callOutbound(name: string, attempt: number, worker: string): Promise<void> {
  const query = new URLSearchParams({ name, attempt: String(attempt), worker });
  const response = await fetch(`${outbound.url}/call?${query.toString()}`);
  await response.text();
  if (response.status === 429) {
    throw new RateLimitedError(`rate limited calling ${name}`, Number(response.headers.get("retry-after")) * 1_000);
  }
  if (response.status >= 500) throw new TransientOutboundError("outbound_unavailable", `server error ${response.status} calling ${name}`);
  if (response.status >= 400) throw new PermanentOutboundError("slack_api_error", "invalid_arguments", `refused ${name} (${response.status})`);
}

function hitsOf(name: string): Hit[] {
  return outbound.hits.filter((hit) => hit.name === name);
}

// ---------------------------------------------------------------------------
// Test job kinds

const callPayload = z.object({ name: z.string() });
type CallPayload = z.infer<typeof callPayload>;
const callJob = jobType("test.call", callPayload);

const chainPayload = z.object({ name: z.string(), next: z.string(), failRecordOnAttempts: z.number().int() });
/** Calls out, then enqueues `next` in the transaction that marks it done. */
const chainJob = jobType("test.chain", chainPayload);

const slowPayload = z.object({ name: z.string() });
/** Calls out, then waits for the test to open the gate. */
const slowJob = jobType("test.slow", slowPayload);

const tickPayload = z.object({ left: z.number().int().min(1) });
/**
 * Calls nothing; enqueues the next tick (left - 1) in the transaction that marks it done, so that
 * each tick is claimed by a claim round of its own (see afterClaimRounds).
 */
const tickJob = jobType("test.tick", tickPayload);
/** Ticks come last in a round: any other job a round could claim is claimed before them. */
const TICK_PRIORITY = 1_000;

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve: () => resolve() };
}

let slowStarted = deferred();
let slowGate = deferred();
/** Attempts whose complete() record function ran (and then threw or not). */
let recordAttempts: Array<{ name: string; attempt: number }> = [];

function definitions(worker: string): JobDefinition[] {
  const call = callJob.handler({
    async handle(payload, context) {
      await callOutbound(payload.name, context.attempt, worker);
    },
  });
  const chain = chainJob.handler({
    async handle(payload, context) {
      await callOutbound(payload.name, context.attempt, worker);
      await context.complete(async (tx) => {
        await callJob.enqueue(tx, { name: payload.next });
        recordAttempts.push({ name: payload.name, attempt: context.attempt });
        if (context.attempt <= payload.failRecordOnAttempts) throw new Error(`recording ${payload.name} failed`);
      });
    },
  });
  const slow = slowJob.handler({
    async handle(payload, context) {
      await callOutbound(payload.name, context.attempt, worker);
      slowStarted.resolve();
      await slowGate.promise;
    },
  });
  const tick = tickJob.handler({
    async handle(payload, context) {
      await context.complete(async (tx) => {
        if (payload.left > 1) await tickJob.enqueue(tx, { left: payload.left - 1 }, { priority: TICK_PRIORITY });
      });
    },
  });
  return [call, chain, slow, tick];
}

// ---------------------------------------------------------------------------
// Workers and helpers

const logs = captureLogs("info");
let workers: JobWorker[] = [];

function startWorker(
  database: Database,
  options: JobWorkerOptions & { label?: string; metrics?: Metrics } = {},
): JobWorker {
  const { label = "w1", metrics = createMetrics(), ...workerOptions } = options;
  const worker = createJobWorker(
    { prisma: database.prisma, logger: logs.logger, metrics, definitions: definitions(label) },
    { pollIntervalMs: POLL_MS, ...workerOptions },
  );
  workers.push(worker);
  worker.start();
  return worker;
}

async function stopWorkers(): Promise<void> {
  slowGate.resolve();
  await Promise.all(workers.map((worker) => worker.stop(10_000)));
  workers = [];
}

async function outcomes(metrics: Metrics, kind: string): Promise<Record<string, number>> {
  const { values } = await metrics.jobOutcomes.get();
  const counts: Record<string, number> = {};
  for (const value of values) {
    if (value.labels.kind === kind) counts[String(value.labels.outcome)] = value.value;
  }
  return counts;
}

function payloadName(payload: unknown): string | undefined {
  const parsed = z.object({ name: z.string() }).safeParse(payload);
  return parsed.success ? parsed.data.name : undefined;
}

async function jobNamed(database: Database, name: string) {
  const jobs = await database.prisma.job.findMany({ orderBy: { id: "asc" } });
  return jobs.filter((job) => payloadName(job.payload) === name);
}

async function onlyJobNamed(database: Database, name: string) {
  const jobs = await jobNamed(database, name);
  expect(jobs, `exactly one job named ${name}`).toHaveLength(1);
  return jobs[0]!;
}

async function waitForStatus(database: Database, names: string[], status: "DONE" | "DEAD", timeoutMs = 10_000): Promise<void> {
  await eventually(
    async () => {
      const jobs = await database.prisma.job.findMany();
      const byName = new Map(jobs.map((job) => [payloadName(job.payload), job.status]));
      return names.every((name) => byName.get(name) === status);
    },
    timeoutMs,
    `${names.join(", ")} to be ${status}`,
  );
}


/**
 * Returns once the running workers have made at least `rounds` more claim rounds, instead of
 * sleeping for a few poll intervals: a chain of tick jobs, each enqueued when the previous one is
 * done, so each needs a round of its own; ticks come last in a round, so a job that round could
 * (wrongly) claim would be claimed in it. The ticks are removed afterwards.
 */
async function afterClaimRounds(database: Database, rounds = 3): Promise<void> {
  await tickJob.enqueue(database.prisma, { left: rounds }, { priority: TICK_PRIORITY });
  await eventually(
    async () => (await database.prisma.job.count({ where: { kind: tickJob.kind, status: "DONE" } })) === rounds,
    10_000,
    `${rounds} more claim rounds`,
  );
  await database.prisma.job.deleteMany({ where: { kind: tickJob.kind } });
}

/** How many log lines carry this message so far. */
function logged(message: string): number {
  return logs.lines.filter((line) => line.includes(`"msg":"${message}"`)).length;
}

beforeAll(async () => {
  outbound = await startOutbound();
});

afterAll(async () => {
  await outbound?.close();
});

beforeEach(() => {
  outbound.reset();
  slowStarted = deferred();
  slowGate = deferred();
  recordAttempts = [];
});

afterEach(stopWorkers);

// ---------------------------------------------------------------------------

describe("job queue on PostgreSQL", () => {
  let testDatabase: TestDatabase;
  let database: Database;
  const extraDatabases: Database[] = [];

  beforeAll(async () => {
    testDatabase = await createTestDatabase(inject("postgresUrl"), { prefix: "fb_jobs" });
    database = await openDatabase({ kind: "postgres", url: testDatabase.url, poolSize: 5 }, logs.logger);
    await database.migrate("prisma/migrations");
  });

  afterAll(async () => {
    await stopWorkers();
    await Promise.all(extraDatabases.map((extra) => extra.close()));
    await database?.close();
    await testDatabase?.drop();
  });

  beforeEach(async () => {
    await database.prisma.job.deleteMany();
    await database.prisma.rateLimitHold.deleteMany();
  });

  it("runs each enqueued job once and marks it DONE; a repeated dedupeKey is a no-op", async () => {
    const metrics = createMetrics();
    await database.prisma.$transaction(async (tx) => {
      await callJob.enqueue(tx, { name: "a" });
      await callJob.enqueue(tx, { name: "b" });
      await callJob.enqueue(tx, { name: "c" });
    });
    await callJob.enqueue(database.prisma, { name: "d" }, { dedupeKey: "once" });
    await callJob.enqueue(database.prisma, { name: "d-again" }, { dedupeKey: "once" });
    expect(await database.prisma.job.count()).toBe(4);

    startWorker(database, { metrics, concurrency: 2 });
    await waitForStatus(database, ["a", "b", "c", "d"], "DONE");
    await afterClaimRounds(database); // a few more claim rounds: nothing runs twice

    expect(outbound.hits.map((hit) => hit.name).sort()).toEqual(["a", "b", "c", "d"]);
    const jobs = await database.prisma.job.findMany();
    expect(jobs).toHaveLength(4);
    for (const job of jobs) {
      expect(job).toMatchObject({ status: "DONE", attempts: 1, lockedBy: null, lockedUntil: null, lastError: null });
      expect(job.finishedAt).toBeInstanceOf(Date);
    }
    expect(await outcomes(metrics, "test.call")).toEqual({ done: 4 });

    // After it ran, the same key still cannot enqueue it again.
    await callJob.enqueue(database.prisma, { name: "d-later" }, { dedupeKey: "once" });
    expect(await jobNamed(database, "d-later")).toEqual([]);
  });

  it("refuses to enqueue a payload that fails the job's schema", async () => {
    const invalid = { name: 42 } as unknown as CallPayload;
    const error = await callJob.enqueue(database.prisma, invalid).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(FirebreakError);
    expect((error as FirebreakError).code).toBe("job_payload_invalid");
    expect(await database.prisma.job.count()).toBe(0);
  });

  it("commits complete()'s follow-up in the transaction that marks the job DONE", async () => {
    await chainJob.enqueue(database.prisma, { name: "parent", next: "child", failRecordOnAttempts: 0 });
    startWorker(database);

    await waitForStatus(database, ["parent", "child"], "DONE");

    const parent = await onlyJobNamed(database, "parent");
    const child = await onlyJobNamed(database, "child");
    expect(parent.attempts).toBe(1);
    expect(child.kind).toBe("test.call");
    expect(child.createdAt.getTime()).toBeLessThanOrEqual(parent.finishedAt!.getTime());
    expect(outbound.hits.map((hit) => hit.name)).toEqual(["parent", "child"]);
  });

  it("does not mark the job DONE nor keep its follow-up when the record function throws, and retries it", async () => {
    const metrics = createMetrics();
    await chainJob.enqueue(database.prisma, { name: "flaky-parent", next: "flaky-child", failRecordOnAttempts: 1 });
    startWorker(database, { metrics });

    // First attempt: the record function enqueued the child, then threw.
    const failed = await eventually(
      async () => {
        const [job] = await jobNamed(database, "flaky-parent");
        return job?.lastError ? job : undefined;
      },
      10_000,
      "the first attempt to fail",
    );
    expect(failed.status).toBe("PENDING");
    expect(failed.attempts).toBe(1);
    expect(failed.finishedAt).toBeNull();
    expect(failed.lastError).toContain("recording flaky-parent failed");
    expect(failed.runAt.getTime()).toBeGreaterThan(Date.now());
    expect(await jobNamed(database, "flaky-child")).toEqual([]);
    expect(recordAttempts).toEqual([{ name: "flaky-parent", attempt: 1 }]);

    // The retry (after a backoff of about a second) records it for good, once.
    await waitForStatus(database, ["flaky-parent", "flaky-child"], "DONE");
    const parent = await onlyJobNamed(database, "flaky-parent");
    expect(parent).toMatchObject({ attempts: 2, lastError: null });
    expect(await jobNamed(database, "flaky-child")).toHaveLength(1);
    expect(recordAttempts).toEqual([
      { name: "flaky-parent", attempt: 1 },
      { name: "flaky-parent", attempt: 2 },
    ]);
    expect(hitsOf("flaky-parent").map((hit) => hit.attempt)).toEqual([1, 2]);
    expect(hitsOf("flaky-child")).toHaveLength(1);
    expect(await outcomes(metrics, "test.chain")).toEqual({ retry: 1, done: 1 });
  });

  it("postpones a rate-limited job without using an attempt and holds back other jobs with the same rate key", async () => {
    const metrics = createMetrics();
    outbound.script("limited", [429]);
    // Priorities make the order deterministic with one job at a time: without
    // the hold, "same-key" (2) would run before "other-key" (3).
    await callJob.enqueue(database.prisma, { name: "limited" }, { rateKey: "chat.postMessage:C1", priority: 1, maxAttempts: 1 });
    await callJob.enqueue(database.prisma, { name: "same-key" }, { rateKey: "chat.postMessage:C1", priority: 2 });
    await callJob.enqueue(database.prisma, { name: "other-key" }, { rateKey: "chat.postMessage:C2", priority: 3 });
    startWorker(database, { metrics, concurrency: 1 });

    await waitForStatus(database, ["other-key"], "DONE");
    const [refused] = hitsOf("limited");
    expect(refused).toBeDefined();
    // While the hold lasts: the limited job waits, its attempt given back;
    // the other job with its key has not run; the hold is recorded.
    const postponed = await onlyJobNamed(database, "limited");
    expect(postponed).toMatchObject({ status: "PENDING", attempts: 0 });
    expect(postponed.lastError).toContain("rate limited");
    expect(hitsOf("same-key")).toEqual([]);
    const hold = await database.prisma.rateLimitHold.findUniqueOrThrow({ where: { key: "chat.postMessage:C1" } });
    expect(hold.until.getTime()).toBeGreaterThanOrEqual(refused!.at + RETRY_AFTER_MS * 0.9);
    expect(hold.until.getTime()).toBeLessThan(refused!.at + RETRY_AFTER_MS + 5_000);
    expect(await database.prisma.rateLimitHold.findUnique({ where: { key: "chat.postMessage:C2" } })).toBeNull();

    await waitForStatus(database, ["limited", "same-key"], "DONE");
    const limitedHits = hitsOf("limited");
    const [sameKey] = hitsOf("same-key");
    const [otherKey] = hitsOf("other-key");
    expect(limitedHits).toHaveLength(2);
    expect(hitsOf("same-key")).toHaveLength(1);
    // The other key ran at once, before the held job of higher priority.
    expect(otherKey!.at).toBeLessThan(sameKey!.at);
    expect(outbound.hits.map((hit) => hit.name).indexOf("other-key")).toBe(1);
    // Both jobs with the limited key waited for the hold to expire.
    expect(limitedHits[1]!.at - refused!.at).toBeGreaterThanOrEqual(RETRY_AFTER_MS * 0.9);
    expect(sameKey!.at - refused!.at).toBeGreaterThanOrEqual(RETRY_AFTER_MS * 0.9);
    // maxAttempts 1, yet not DEAD: the 429 did not count as an attempt.
    expect(limitedHits.map((hit) => hit.attempt)).toEqual([1, 1]);
    expect(await onlyJobNamed(database, "limited")).toMatchObject({ status: "DONE", attempts: 1 });
    expect(await outcomes(metrics, "test.call")).toEqual({ rate_limited: 1, done: 3 });
    expect(logs.text()).toContain("rate limited; job postponed");
  });

  it("retries an outage (5xx) with growing backoff past its attempts, holding its rate key so the key's later jobs keep their order", async () => {
    const metrics = createMetrics();
    outbound.script("flaky", [500, 502, 503]);
    // Without the hold, "after-flaky" (due, its key free) would run while "flaky" waits out its backoff.
    await callJob.enqueue(database.prisma, { name: "flaky" }, { maxAttempts: 2, rateKey: "chat.postMessage:C9", priority: 1 });
    await callJob.enqueue(database.prisma, { name: "after-flaky" }, { rateKey: "chat.postMessage:C9", priority: 2 });
    startWorker(database, { metrics });

    await waitForStatus(database, ["flaky", "after-flaky"], "DONE", 20_000);

    const hits = hitsOf("flaky");
    // Four attempts with maxAttempts 2: an outage does not use the job up while it is young.
    expect(hits.map((hit) => hit.attempt)).toEqual([1, 2, 3, 4]);
    // backoffMs: about 1 s after the first attempt, about 2 s after the second (±25 %).
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(750 * 0.9);
    expect(hits[2]!.at - hits[1]!.at).toBeGreaterThanOrEqual(1_500 * 0.9);
    const [after] = hitsOf("after-flaky");
    expect(after!.at).toBeGreaterThanOrEqual(hits[3]!.at);
    expect(outbound.hits.map((hit) => hit.name)).toEqual(["flaky", "flaky", "flaky", "flaky", "after-flaky"]);
    expect(await onlyJobNamed(database, "flaky")).toMatchObject({ status: "DONE", attempts: 4, lastError: null });
    expect(await outcomes(metrics, "test.call")).toEqual({ retry: 3, done: 2 });
  });

  it("gives up on an outage as DEAD, with the last error, once the job is older than a day and has used its attempts", async () => {
    const metrics = createMetrics();
    outbound.script("stale", [500, 502, 503, 504]);
    await callJob.enqueue(database.prisma, { name: "stale" }, { maxAttempts: 2 });
    await database.prisma.job.updateMany({ data: { createdAt: new Date(Date.now() - 25 * 60 * 60_000) } });
    startWorker(database, { metrics });

    await waitForStatus(database, ["stale"], "DEAD", 15_000);

    expect(hitsOf("stale").map((hit) => hit.attempt)).toEqual([1, 2]);
    const job = await onlyJobNamed(database, "stale");
    expect(job).toMatchObject({ status: "DEAD", attempts: 2, lockedBy: null });
    expect(job.lastError).toBe("server error 502 calling stale");
    expect(job.finishedAt).toBeInstanceOf(Date);
    expect(await outcomes(metrics, "test.call")).toEqual({ retry: 1, dead: 1 });
  });

  it("gives up at once on a permanent error, an invalid payload or an unknown kind", async () => {
    const metrics = createMetrics();
    outbound.script("refused", [400]);
    await callJob.enqueue(database.prisma, { name: "refused" });
    // Written past jobType's validation, as an older version might have.
    await enqueueRaw(database.prisma, "test.call", { name: 42 });
    await enqueueRaw(database.prisma, "test.no-such-kind", { name: "orphan" });
    startWorker(database, { metrics });

    await eventually(
      async () => (await database.prisma.job.findMany()).every((job) => job.status === "DEAD"),
      10_000,
      "all three jobs to be DEAD",
    );

    expect(outbound.hits.map((hit) => hit.name)).toEqual(["refused"]);
    const jobs = await database.prisma.job.findMany({ orderBy: { id: "asc" } });
    expect(jobs.map((job) => job.attempts)).toEqual([1, 1, 1]);
    expect(jobs[0]!.lastError).toBe("refused refused (400)");
    expect(jobs[1]!.lastError).toMatch(/name/);
    expect(jobs[2]!.lastError).toContain("no handler for job kind test.no-such-kind");
    expect(await outcomes(metrics, "test.call")).toEqual({ dead: 2 });
    expect(await outcomes(metrics, "test.no-such-kind")).toEqual({ dead: 1 });
  });

  it("runs lower priority numbers first", async () => {
    const priorities: Record<string, number> = { p50: 50, p5: 5, p100: 100, p1: 1, p20: 20 };
    for (const [name, priority] of Object.entries(priorities)) {
      await callJob.enqueue(database.prisma, { name }, { priority });
    }
    startWorker(database, { concurrency: 1 });

    await waitForStatus(database, Object.keys(priorities), "DONE");
    expect(outbound.hits.map((hit) => hit.name)).toEqual(["p1", "p5", "p20", "p50", "p100"]);
  });

  it("takes over a job whose worker crashed (lock expired) but not one whose lock is still valid", async () => {
    const base = { kind: "test.call", status: "RUNNING" as const, attempts: 1, runAt: new Date(Date.now() - 120_000) };
    await database.prisma.job.create({
      data: { ...base, payload: { name: "orphaned" }, lockedBy: "worker-crashed", lockedUntil: new Date(Date.now() - 1_000) },
    });
    await database.prisma.job.create({
      data: { ...base, payload: { name: "still-locked" }, lockedBy: "worker-alive", lockedUntil: new Date(Date.now() + 60_000) },
    });
    startWorker(database);

    await waitForStatus(database, ["orphaned"], "DONE");
    await afterClaimRounds(database); // several more claim rounds

    expect(await onlyJobNamed(database, "orphaned")).toMatchObject({ status: "DONE", attempts: 2, lockedBy: null });
    expect(hitsOf("orphaned").map((hit) => hit.attempt)).toEqual([2]);
    expect(await onlyJobNamed(database, "still-locked")).toMatchObject({ status: "RUNNING", attempts: 1, lockedBy: "worker-alive" });
    expect(hitsOf("still-locked")).toEqual([]);
  });

  it("never runs a job twice with two workers on the same database", async () => {
    const second = await openDatabase({ kind: "postgres", url: testDatabase.url, poolSize: 5 }, logs.logger);
    extraDatabases.push(second);
    const names = Array.from({ length: 50 }, (_, index) => `job-${index}`);
    await database.prisma.$transaction(async (tx) => {
      for (const name of names) await callJob.enqueue(tx, { name });
    });
    // Keep jobs in flight so that the workers overlap (one worker alone needs several rounds
    // for the unlocked jobs, so the other starts claiming too while the rows are locked).
    outbound.delayMs = 50;

    // A third session's claim is under way: it holds row locks on the first
    // jobs in claim order. Both workers' first rounds meet those locks; they
    // must skip them, not wait and then take the same rows together.
    // Each worker's concurrency (12) is above the 8 locked rows: a round looks at no more than
    // `concurrency` candidates of one kind (worker.ts), so with fewer than 8 it would see only the
    // locked rows and claim nothing until COMMIT, and the wait below could not see them skip.
    const claimer = new pg.Client({ connectionString: testDatabase.url });
    claimer.on("error", () => undefined);
    await claimer.connect();
    try {
      await claimer.query("BEGIN");
      const locked = await claimer.query("SELECT id FROM jobs ORDER BY priority, run_at, id LIMIT 8 FOR UPDATE");
      expect(locked.rowCount).toBe(8);
      startWorker(database, { label: "one", concurrency: 12 });
      startWorker(second, { label: "two", concurrency: 12 });
      // Both workers have claimed past the locked rows (a worker waiting on them would claim nothing).
      await eventually(
        async () => ["one", "two"].every((worker) => outbound.hits.some((hit) => hit.worker === worker)),
        10_000,
        "both workers claiming while the first rows are locked",
      );
      await claimer.query("COMMIT");
    } finally {
      await claimer.end();
    }
    await waitForStatus(database, names, "DONE", 20_000);
    await afterClaimRounds(database);

    const counts = new Map<string, number>();
    for (const hit of outbound.hits) counts.set(hit.name, (counts.get(hit.name) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual([...names].sort());
    const ranTwice = [...counts].filter(([, count]) => count !== 1).map(([name, count]) => `${name} ran ${count} times`);
    expect(ranTwice).toEqual([]);
    // Both workers took part (otherwise this proves nothing).
    expect(outbound.hits.filter((hit) => hit.worker === "one").length).toBeGreaterThan(0);
    expect(outbound.hits.filter((hit) => hit.worker === "two").length).toBeGreaterThan(0);
    const jobs = await database.prisma.job.findMany();
    expect(jobs.every((job) => job.status === "DONE" && job.attempts === 1)).toBe(true);
  });

  it("stop() waits for a job in flight to finish", async () => {
    await slowJob.enqueue(database.prisma, { name: "slow" });
    const worker = startWorker(database);
    await slowStarted.promise;

    let stopped = false;
    const waitingBefore = logged("waiting for jobs in flight");
    const stopping = worker.stop(10_000).then(() => {
      stopped = true;
    });
    // stop() has seen the job in flight and waits for it.
    await eventually(async () => logged("waiting for jobs in flight") > waitingBefore, 10_000, "stop() waiting for the job in flight");
    expect(stopped).toBe(false);
    expect((await onlyJobNamed(database, "slow")).status).toBe("RUNNING");

    slowGate.resolve();
    await stopping;
    expect((await onlyJobNamed(database, "slow")).status).toBe("DONE");
  });

  it("stop(timeout) gives up waiting after the timeout", async () => {
    await slowJob.enqueue(database.prisma, { name: "stuck" });
    const worker = startWorker(database);
    await slowStarted.promise;

    const started = Date.now();
    await worker.stop(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300 * 0.9);
    // Still running (afterEach opens the gate and lets it finish).
    expect((await onlyJobNamed(database, "stuck")).status).toBe("RUNNING");
  });

  it("stop() called during a claim round waits for the jobs that round hands out", async () => {
    for (const name of ["late-1", "late-2"]) await callJob.enqueue(database.prisma, { name });
    outbound.delayMs = 200;
    const worker = startWorker(database);
    // start() runs its first claim round on the next turn of the event loop;
    // stop while that round's query is out.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await worker.stop(10_000);
    const callsWhenStopped = outbound.hits.length;
    const jobsWhenStopped = await database.prisma.job.findMany();

    // The round had claimed both jobs; stop() returned only once they were done.
    expect(jobsWhenStopped.map((job) => [job.status, job.attempts])).toEqual([
      ["DONE", 1],
      ["DONE", 1],
    ]);
    expect(callsWhenStopped).toBe(2);
    // A stopped worker claims nothing, even when woken: a job enqueued now is run by the next worker only.
    outbound.delayMs = 0;
    await callJob.enqueue(database.prisma, { name: "after-stop" });
    worker.wake();
    startWorker(database, { label: "w2" });
    await eventually(async () => outbound.hits.some((hit) => hit.name === "after-stop"), 5_000, "the job enqueued after stop() runs");
    expect(outbound.hits.map((hit) => [hit.name, hit.worker])).toEqual([
      ...outbound.hits.slice(0, callsWhenStopped).map((hit) => [hit.name, hit.worker]),
      ["after-stop", "w2"],
    ]);
  });

  it("runs at most maxConcurrent jobs of a kind at once, while other kinds use the remaining slots", async () => {
    const gate = deferred();
    let running = 0;
    let mostAtOnce = 0;
    const single = jobType("test.single", slowPayload).handler({
      maxConcurrent: 1,
      async handle(payload, context) {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        try {
          await callOutbound(payload.name, context.attempt, "w1");
          await gate.promise;
        } finally {
          running -= 1;
        }
      },
    });
    // The single-lane jobs are the most urgent and many: they must not take every slot.
    for (let i = 0; i < 6; i += 1) await enqueueRaw(database.prisma, "test.single", { name: `single-${i}` }, { priority: 1 });
    for (const name of ["other-1", "other-2", "other-3"]) await callJob.enqueue(database.prisma, { name }, { priority: 50 });
    const worker = createJobWorker(
      { prisma: database.prisma, logger: logs.logger, metrics: createMetrics(), definitions: [...definitions("w1"), single] },
      { pollIntervalMs: POLL_MS, concurrency: 4 },
    );
    workers.push(worker);
    worker.start();

    await waitForStatus(database, ["other-1", "other-2", "other-3"], "DONE");
    expect(hitsOf("single-0")).toHaveLength(1);
    expect(outbound.hits.filter((hit) => hit.name.startsWith("single-"))).toHaveLength(1);
    gate.resolve();
    await waitForStatus(database, Array.from({ length: 6 }, (_, i) => `single-${i}`), "DONE");
    expect(mostAtOnce).toBe(1);
    // Most urgent first, one at a time.
    expect(outbound.hits.filter((hit) => hit.name.startsWith("single-")).map((hit) => hit.name)).toEqual(Array.from({ length: 6 }, (_, i) => `single-${i}`));
  });

  it("keeps a slot for critical kinds: a page starts while every general slot waits on a call that hangs", async () => {
    const gate = deferred();
    const hung = jobType("test.hung", slowPayload).handler({
      async handle(payload, context) {
        await callOutbound(payload.name, context.attempt, "w1");
        await gate.promise;
      },
    });
    const page = jobType("test.page", slowPayload).handler({
      critical: true,
      async handle(payload, context) {
        await callOutbound(payload.name, context.attempt, "w1");
        await gate.promise;
      },
    });
    // Thirty hung calls, more urgent than the pages: two fill the general slots, the others wait.
    // More of them wait than a claim takes as candidates (8 per free slot, plus 16): the page
    // must still be one, not crowded out by jobs that could not start anyway.
    const hungNames = Array.from({ length: 30 }, (_, index) => `hung-${index + 1}`);
    for (const name of hungNames) await enqueueRaw(database.prisma, "test.hung", { name }, { priority: 1 });
    const worker = createJobWorker(
      { prisma: database.prisma, logger: logs.logger, metrics: createMetrics(), definitions: [...definitions("w1"), hung, page] },
      { pollIntervalMs: 60_000, concurrency: 2, reservedSlots: 1 },
    );
    workers.push(worker);
    worker.start();
    await eventually(async () => outbound.hits.filter((hit) => hit.name.startsWith("hung-")).length === 2, 10_000, "two hung calls under way");

    // A page enqueued now (and woken as a commit would) starts in the reserved slot; the third
    // hung call, due all along, is still not started: the reserved slot is not a general one.
    await enqueueRaw(database.prisma, "test.page", { name: "page-1" }, { priority: 50 });
    worker.wake();
    await eventually(async () => hitsOf("page-1").length === 1, 10_000, "the page under way");
    expect(hitsOf("hung-3")).toHaveLength(0);
    const pending = await database.prisma.job.findMany({ where: { kind: "test.hung", status: "PENDING" }, orderBy: { id: "asc" } });
    expect(pending.map((job) => payloadName(job.payload))).toEqual(hungNames.slice(2));

    gate.resolve();
    await waitForStatus(database, [...hungNames, "page-1"], "DONE");
  });

  it("critical kinds may fill every slot, general and reserved", async () => {
    const gate = deferred();
    const page = jobType("test.page", slowPayload).handler({
      critical: true,
      async handle(payload, context) {
        await callOutbound(payload.name, context.attempt, "w1");
        await gate.promise;
      },
    });
    for (const name of ["page-a", "page-b", "page-c", "page-d"]) await enqueueRaw(database.prisma, "test.page", { name });
    const worker = createJobWorker(
      { prisma: database.prisma, logger: logs.logger, metrics: createMetrics(), definitions: [...definitions("w1"), page] },
      { pollIntervalMs: 60_000, concurrency: 2, reservedSlots: 1 },
    );
    workers.push(worker);
    worker.start();
    await eventually(async () => outbound.hits.filter((hit) => hit.name.startsWith("page-")).length === 3, 10_000, "three pages under way");
    expect(await database.prisma.job.count({ where: { kind: "test.page", status: "RUNNING" } })).toBe(3);
    expect(await database.prisma.job.count({ where: { kind: "test.page", status: "PENDING" } })).toBe(1);
    gate.resolve();
    await waitForStatus(database, ["page-a", "page-b", "page-c", "page-d"], "DONE");
  });

  it("purges DONE jobs older than the retention, keeping keyed, recent, pending and dead ones", async () => {
    await callJob.enqueue(database.prisma, { name: "old-done" });
    await callJob.enqueue(database.prisma, { name: "old-done-keyed" }, { dedupeKey: "old-done-keyed" });
    await callJob.enqueue(database.prisma, { name: "recent-done" });
    await callJob.enqueue(database.prisma, { name: "later" }, { runAt: new Date(Date.now() + 60 * 60_000) });
    await enqueueRaw(database.prisma, "test.call", { name: "old-dead" });
    const hourAgo = new Date(Date.now() - 60 * 60_000);
    const byName = async (name: string) => (await onlyJobNamed(database, name)).id;
    await database.prisma.job.updateMany({ where: { id: { in: [await byName("old-done"), await byName("old-done-keyed")] } }, data: { status: "DONE", finishedAt: hourAgo } });
    await database.prisma.job.update({ where: { id: await byName("recent-done") }, data: { status: "DONE", finishedAt: new Date() } });
    await database.prisma.job.update({ where: { id: await byName("old-dead") }, data: { status: "DEAD", finishedAt: hourAgo } });

    // Retention 30 minutes; a sweep on every claim round.
    startWorker(database, { doneRetentionMs: 30 * 60_000, sweepIntervalMs: 1 });
    await eventually(async () => (await jobNamed(database, "old-done")).length === 0, 10_000, "old DONE job purged");
    await afterClaimRounds(database); // a sweep with each: the others stay

    const left = await database.prisma.job.findMany({ orderBy: { id: "asc" } });
    expect(left.map((job) => [payloadName(job.payload), job.status])).toEqual([
      ["old-done-keyed", "DONE"],
      ["recent-done", "DONE"],
      ["later", "PENDING"],
      ["old-dead", "DEAD"],
    ]);
    // The kept key still makes enqueueing the same work again a no-op.
    await callJob.enqueue(database.prisma, { name: "old-done-keyed-again" }, { dedupeKey: "old-done-keyed" });
    expect(await jobNamed(database, "old-done-keyed-again")).toEqual([]);
    expect(outbound.hits).toEqual([]);
  });

  describe("starting jobs without waiting for a poll", () => {
    /** A worker whose poll never comes during the test: only a wake can start its jobs. */
    const NO_POLL_MS = 600_000;

    async function listeningWorker(label: string): Promise<{ db: Database; worker: JobWorker }> {
      const db = await openDatabase({ kind: "postgres", url: testDatabase.url, poolSize: 3 }, logs.logger);
      extraDatabases.push(db);
      const worker = startWorker(db, { label, pollIntervalMs: NO_POLL_MS });
      const listener = db.listen("firebreak_jobs", () => worker.wake());
      await eventually(async () => listener.connected, 10_000, "LISTEN session open");
      return { db, worker };
    }

    it("a job committed by another process starts at once on a worker that only listens (LISTEN/NOTIFY on commit)", async () => {
      await listeningWorker("listener");
      // The first job proves the worker idle and listening; the second can only be started by
      // the notification its commit sends (this process never calls wake(), the poll is 10 min away).
      for (const name of ["notify-first", "notify-second"]) {
        await database.prisma.$transaction(async (tx) => {
          await callJob.enqueue(tx, { name });
        });
        await waitForStatus(database, [name], "DONE", 10_000);
      }
      expect(outbound.hits.map((hit) => [hit.name, hit.worker])).toEqual([
        ["notify-first", "listener"],
        ["notify-second", "listener"],
      ]);
    });

    it("a job enqueued in a transaction that rolls back never runs", async () => {
      await listeningWorker("listener");
      const rolledBack = await database.prisma
        .$transaction(async (tx) => {
          await callJob.enqueue(tx, { name: "rolled-back" });
          throw new Error("the declaring transaction failed");
        })
        .then(
          () => false,
          () => true,
        );
      expect(rolledBack).toBe(true);
      // A committed job after it: once that one has run, the rolled-back one would have too.
      await callJob.enqueue(database.prisma, { name: "after-rollback" });
      await waitForStatus(database, ["after-rollback"], "DONE", 10_000);
      expect(outbound.hits.map((hit) => hit.name)).toEqual(["after-rollback"]);
      expect(await jobNamed(database, "rolled-back")).toEqual([]);
    });

    it("a job held back by a rate-limit hold starts when the hold ends, not at the next poll", async () => {
      const { db, worker } = await listeningWorker("listener");
      const until = new Date(Date.now() + 300);
      await db.prisma.rateLimitHold.create({ data: { key: "held-key", until } });
      await callJob.enqueue(database.prisma, { name: "after-hold" }, { rateKey: "held-key" });
      worker.wake();
      await waitForStatus(database, ["after-hold"], "DONE", 10_000);
      const hit = outbound.hits.find((entry) => entry.name === "after-hold");
      expect(hit?.at).toBeGreaterThanOrEqual(until.getTime());
    });

    it("a job scheduled for later starts when it falls due, not at the next poll (the claim tells when)", async () => {
      const { worker } = await listeningWorker("listener");
      const runAt = new Date(Date.now() + 300);
      await callJob.enqueue(database.prisma, { name: "scheduled" }, { runAt });
      worker.wake();
      await waitForStatus(database, ["scheduled"], "DONE", 10_000);
      const hit = outbound.hits.find((entry) => entry.name === "scheduled");
      expect(hit?.at).toBeGreaterThanOrEqual(runAt.getTime());
    });
  });

  it("runs other domains' housekeeping with the sweep; a failing task is logged and does not stop jobs", async () => {
    let runs = 0;
    const worker = createJobWorker(
      {
        prisma: database.prisma,
        logger: logs.logger,
        metrics: createMetrics(),
        definitions: definitions("w1"),
        maintenance: [
          { name: "broken task", run: () => Promise.reject(new Error("disk on fire")) },
          { name: "counting task", run: async () => ++runs },
        ],
      },
      { pollIntervalMs: POLL_MS, sweepIntervalMs: 1 },
    );
    workers.push(worker);
    worker.start();
    await callJob.enqueue(database.prisma, { name: "despite-housekeeping" });
    worker.wake();
    await waitForStatus(database, ["despite-housekeeping"], "DONE");
    await eventually(async () => runs >= 2, 5_000, "the second task ran twice");
    expect(logs.text()).toContain('"task":"broken task"');
    expect(logs.text()).toContain("housekeeping failed; it runs again with the next sweep");
    expect(logs.text()).toContain('"task":"counting task","removed":1');
  });

  it("keeps claiming by walking the most urgent jobs when the queue grows from empty to thousands (the plan kept per connection)", async () => {
    // claim_jobs() keeps its statement's plan for the session: made on a nearly empty table,
    // a plan could scan every job, and the drain after a burst fell to a third
    // (bench/results/claim-prepared.md). One session, as a pooled connection is: the plan is
    // made on a queue of a dozen jobs, then 5,000 jobs are queued; the claim must still read
    // only the few most urgent ones (auto_explain shows what each step of the kept plan read).
    const client = new pg.Client({ connectionString: testDatabase.url });
    await client.connect();
    try {
      const claimSql = "SELECT * FROM claim_jobs('plan-test', 30000, 1, 24, '{}'::text[], '{}'::text[], '{}'::int[], 1, '{}'::text[])";
      await client.query(`INSERT INTO jobs (kind, payload, priority) SELECT 'test.call', '{}', 50 FROM generate_series(1, 12)`);
      for (let round = 0; round < 10; round += 1) await client.query(claimSql);
      await client.query(`INSERT INTO jobs (kind, payload, priority) SELECT 'test.call', jsonb_build_object('name', 'bulk-' || g), 50 FROM generate_series(1, 5000) g`);
      await client.query(`INSERT INTO jobs (kind, payload, priority) VALUES ('test.call', '{"name":"urgent"}', 1)`);

      const plans: string[] = [];
      client.on("notice", (notice) => plans.push(notice.message ?? ""));
      await client.query("LOAD 'auto_explain'");
      await client.query("SET auto_explain.log_min_duration = 0");
      await client.query("SET auto_explain.log_nested_statements = on");
      await client.query("SET auto_explain.log_analyze = on");
      await client.query("SET auto_explain.log_level = 'notice'");
      const { rows } = await client.query<{ job_id: string; job_payload: { name: string } }>(claimSql);
      expect(rows.map((row) => row.job_payload.name)).toEqual(["urgent"]);

      const plan = plans.find((text) => text.includes("Update on jobs"));
      expect(plan, "auto_explain's plan of the claim").toBeDefined();
      // Rows each step that reads the jobs table produced (or fetched, for a bitmap scan).
      const jobReads = (plan ?? "")
        .split("\n")
        .filter((line) => / on jobs\b| on jobs [a-z_0-9]+ /.test(line) && !line.includes("Update on jobs"))
        .map((line) => (line.includes("(never executed)") ? 0 : Number(/actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/.exec(line)?.[1] ?? Number.NaN)));
      expect(jobReads.length).toBeGreaterThan(0);
      expect(jobReads.every((read) => Number.isFinite(read) && read <= 100), `rows read from jobs per step: ${jobReads.join(", ")}`).toBe(true);
    } finally {
      await client.end();
    }
  });
});
