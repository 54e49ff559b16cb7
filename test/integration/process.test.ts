import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { openDatabase } from "../../src/db/client.ts";
import { captureLogs, eventually } from "../support/app.ts";
import { TEST_BOT_TOKEN, sendCommand } from "../support/slack-requests.ts";
import { freePort } from "../support/net.ts";
import { mainEnv, startMain } from "../support/main-process.ts";

/**
 * The real entry point (src/main.ts) as a child process: what an operator
 * sees when configuration is wrong, when the database or Slack cannot be
 * reached, and what SIGTERM does.
 */
let slack: FakeSlack;
let dataDir: string;

beforeAll(async () => {
  slack = await startFakeSlack();
  dataDir = await mkdtemp(join(tmpdir(), "firebreak-process-"));
});

afterAll(async () => {
  await slack?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const baseEnv = (port: number): Record<string, string> => mainEnv(port, slack.url, dataDir);

describe("start-up errors", () => {
  it("lists every configuration problem once, without a stack trace, and exits 78", async () => {
    const started = startMain({ PORT: "http", LOG_LEVEL: "chatty" });
    expect(await started.exit).toBe(78);
    const stderr = started.stderr();
    expect(stderr).toMatch(/Firebreak cannot start/);
    for (const variable of ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PORT", "LOG_LEVEL"]) {
      expect(stderr.split("\n").filter((line) => line.includes(`- ${variable} `))).toHaveLength(1);
    }
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("names an unreachable PostgreSQL server and exits non-zero", async () => {
    const closed = await freePort();
    const started = startMain({ ...baseEnv(await freePort()), DATABASE_URL: `postgresql://firebreak:secret-pw@127.0.0.1:${closed}/firebreak` });
    expect(await started.exit).toBe(1);
    expect(started.stderr()).toContain(`Cannot connect to PostgreSQL at 127.0.0.1:${closed}/firebreak`);
    expect(started.stderr()).toMatch(/Check DATABASE_URL/);
    expect(started.stderr() + started.stdout()).not.toContain("secret-pw");
    expect(started.stderr()).not.toMatch(/\n\s+at /);
  });

  it("says so when Slack rejects the bot token", async () => {
    const started = startMain({ ...baseEnv(await freePort()), SLACK_BOT_TOKEN: "xoxb-revoked-token", DATA_DIR: join(dataDir, "bad-token") });
    expect(await started.exit).toBe(1);
    expect(started.stderr()).toMatch(/Slack rejected SLACK_BOT_TOKEN \(invalid_auth\)/);
    expect(started.stderr() + started.stdout()).not.toContain("xoxb-revoked-token");
  });
});

describe("signals during start-up", () => {
  it("a SIGTERM while Firebreak is starting waits for the start, then drains and exits 0 with the embedded server stopped", async () => {
    const dir = join(dataDir, "sigterm-at-start");
    const authTests = () => slack.requests.filter((request) => request.method === "auth.test").length;
    const before = authTests();
    // Slack takes its time to answer auth.test: the signal lands while start-up waits for it.
    slack.setLatency(3_000, "auth.test");
    const started = startMain({ ...baseEnv(await freePort()), DATA_DIR: dir });
    try {
      // Inside startFirebreak: migrations are done, Slack's answer and the HTTP server are not yet.
      await eventually(async () => started.stdout().includes('"msg":"database ready"') && authTests() > before, 60_000, "start-up under way");
      started.child.kill("SIGTERM");
      expect(await started.exit).toBe(0);
      expect(started.stdout()).toContain("signal during start-up: stopping as soon as started");
      expect(started.stdout()).toMatch(/stopped cleanly/);
      expect(existsSync(join(dir, "postgres", "postmaster.pid"))).toBe(false);
    } finally {
      if (started.child.exitCode === null) started.child.kill("SIGKILL");
      slack.setLatency(0, "auth.test");
    }
  }, 90_000);
});

describe("running process", () => {
  it("refuses a second process on the same embedded data directory, and drains on SIGTERM", async () => {
    const port = await freePort();
    const first = startMain(baseEnv(port));
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => (await fetch(`${url}/readyz`)).status === 200, 60_000, "first process ready");
      expect(existsSync(join(dataDir, "firebreak.pid"))).toBe(true);

      const second = startMain(baseEnv(await freePort()));
      expect(await second.exit).toBe(1);
      expect(second.stderr()).toMatch(/Another Firebreak process \(pid \d+\) is using the embedded database/);

      // A side effect in flight when SIGTERM arrives still completes.
      slack.reset();
      slack.setLatency(1_000, "conversations.create");
      const response = await sendCommand(url, "declare Drain me");
      expect(response.status).toBe(200);
      // The job has claimed: its create call has reached Slack, which holds its answer for a second.
      const inFlight = await slack.waitForRequest("conversations.create", 10_000);
      expect(inFlight.answered).toBe(false);
      expect(slack.callsTo("conversations.create")).toEqual([]);
      const serverPid = Number(/"pid":(\d+)[^\n]*embedded PostgreSQL server is running/.exec(first.stdout())?.[1]);
      expect(serverPid).toBeGreaterThan(0);
      first.child.kill("SIGTERM");
      expect(await first.exit).toBe(0);
      // SIGTERM stopped the embedded server too (a clean shutdown removes its postmaster.pid).
      expect(() => process.kill(serverPid, 0)).toThrow();
      expect(existsSync(join(dataDir, "postgres", "postmaster.pid"))).toBe(false);
      expect(slack.channels.byName("inc-1-drain-me")).toBeDefined();
      // The job finished and recorded its result before the database closed.
      const database = await openDatabase({ kind: "embedded", dataDir, poolSize: 2 }, captureLogs().logger);
      try {
        const incident = await database.prisma.incident.findFirstOrThrow({ where: { title: "Drain me" } });
        expect(incident.channelName).toBe("inc-1-drain-me");
        const job = await database.prisma.job.findFirstOrThrow({ where: { incidentId: incident.id, kind: "incident.create_channel" } });
        expect(job.status).toBe("DONE");
      } finally {
        await database.close();
      }
      expect(first.stdout()).toMatch(/stopped cleanly/);
      expect(existsSync(join(dataDir, "firebreak.pid"))).toBe(false);
      expect(first.stdout()).not.toContain(TEST_BOT_TOKEN);
    } finally {
      slack.setLatency(0);
      if (first.child.exitCode === null) first.child.kill("SIGKILL");
    }
    // Two processes compile src/ through tsx and start the embedded server: seconds alone, more on a busy machine.
  }, 120_000);
});
