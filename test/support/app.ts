import { mkdtemp, rm } from "node:fs/promises";
import type { Clock } from "../../src/core/clock.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { JobWorkerOptions } from "../../src/queue/worker.ts";
import { startFirebreak, type RunningFirebreak } from "../../src/app.ts";
import { loadConfig } from "../../src/config/env.ts";
import { createLogger, type Logger } from "../../src/lib/logger.ts";
import type { FakeSlack, RateLimit } from "../fakes/slack/index.ts";
import { TEST_BOT_TOKEN, TEST_SIGNING_SECRET } from "./slack-requests.ts";

export interface LogCapture {
  readonly logger: Logger;
  readonly lines: string[];
  text(): string;
}

/** A JSON logger whose lines the test can read (and assert no secret reached). */
export function captureLogs(level = "info"): LogCapture {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString("utf8"));
      callback();
    },
  });
  return { logger: createLogger({ level, format: "json" }, stream), lines, text: () => lines.join("") };
}

export interface TestAppOptions {
  slack: FakeSlack;
  /** PostgreSQL URL; default: the embedded database (Firebreak's own server) in `dataDir`. */
  databaseUrl?: string;
  dataDir?: string;
  env?: Record<string, string>;
  logs?: LogCapture;
  /** Job worker tuning (default: poll every 100 ms). */
  worker?: JobWorkerOptions;
  /** The app's clock (default: the system clock); see `testClock`. */
  clock?: Clock;
}

/** A clock that follows the system clock, plus whatever the test has moved it forward. */
export function testClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance(ms) {
      offset += ms;
    },
  };
}

export interface TestApp extends RunningFirebreak {
  readonly dataDir: string;
  readonly logs: LogCapture;
}

/**
 * Starts the real app through its composition root, configured the way an
 * operator would (environment variables), against the fake Slack on loopback.
 */
export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "firebreak-test-")));
  const config = loadConfig({
    NODE_ENV: "test",
    HOST: "127.0.0.1",
    PORT: "0",
    SLACK_BOT_TOKEN: TEST_BOT_TOKEN,
    SLACK_SIGNING_SECRET: TEST_SIGNING_SECRET,
    SLACK_API_URL: options.slack.url,
    SLACK_API_TIMEOUT_MS: "2000",
    DATA_DIR: dataDir,
    SHUTDOWN_TIMEOUT_MS: "5000",
    // Channel creations are paced (20 a minute by default); tests that are not about pacing
    // declare many incidents in a row.
    SLACK_CHANNELS_PER_MINUTE: "6000",
    // The reconciler's rounds add jobs on the wall clock: off unless a test is about it.
    RECONCILE_INTERVAL_SECONDS: "0",
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  });
  const logs = options.logs ?? captureLogs();
  const app = await startFirebreak(config, { logger: logs.logger, worker: { pollIntervalMs: 100, ...options.worker }, ...(options.clock ? { clock: options.clock } : {}) });
  return { url: app.url, database: app.database, fileConfig: app.fileConfig, stop: () => app.stop(), dataDir, logs };
}

/**
 * A raised rate limit for a fake Slack method that a test file calls far faster than people (and
 * so Slack) would: 60 at once, 600 a minute, still a ceiling a runaway loop hits. Opt in per
 * method, saying why: `startFakeSlack({ rateLimits: { "conversations.setTopic": TEST_SPEED } })`.
 * Without it the fake answers 429s as Slack would; the app survives them by waiting out
 * Retry-After, which costs such tests seconds for what they do not test.
 */
export const TEST_SPEED: RateLimit = { perMinute: 600, burst: 60 };

/**
 * What an incident's life calls, paced at TEST_SPEED instead of Slack's tiers: every change
 * (status, severity, commander, roles) costs a setTopic, a bookmarks.edit, a header chat.update
 * and posts, a few milliseconds after the last one, and tests declare incidents back to back.
 * Slack's limits (Tier 2: 20 a minute) would answer 429s that the app waits out (tested in
 * declare.test.ts and lifecycle-commands' 429 tests), costing seconds these tests do not test.
 * chat.postMessage is left to each file (per channel, or in the workspace too).
 */
export const INCIDENT_LIFE_AT_TEST_SPEED = {
  "conversations.create": TEST_SPEED,
  "conversations.setTopic": TEST_SPEED,
  "conversations.invite": TEST_SPEED,
  "bookmarks.add": TEST_SPEED,
  "bookmarks.edit": TEST_SPEED,
  "pins.add": TEST_SPEED,
  "chat.update": TEST_SPEED,
} as const satisfies Record<string, RateLimit>;

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after timeoutMs. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 5_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits until the job queue is idle, so test steps don't overlap: no job running, none due now,
 * and none waiting to be tried again (a retry's backoff, a 429's Retry-After, a prerequisite not
 * there yet: each left its lastError). Jobs scheduled for later that have not been tried yet (a
 * status-update reminder due in an hour) are not work in progress, whatever their kind.
 *
 * "Due now" is judged against the clock read after the rows are: a follow-up job (the post-mortem
 * file after its summary) is enqueued for "now" in the transaction that marks its predecessor DONE.
 * Against a time read before the query, one that committed while the query was on its way (under
 * load, longer than that transaction) had a run_at later than that time and passed for scheduled
 * for later, its predecessor already DONE: the queue looked idle with the follow-up still to run.
 */
export async function waitForIdleJobs(app: Pick<TestApp, "database">, timeoutMs = 15_000): Promise<void> {
  await eventually(
    async () => {
      const unfinished = await app.database.prisma.job.findMany({
        where: { status: { in: ["PENDING", "RUNNING"] } },
        select: { status: true, runAt: true, lastError: true },
      });
      // Every row the query saw was committed before this moment, so was every "now" it was enqueued for.
      const now = Date.now();
      return unfinished.every((job) => job.status === "PENDING" && job.lastError === null && job.runAt.getTime() > now);
    },
    timeoutMs,
    "job queue idle",
  );
}
