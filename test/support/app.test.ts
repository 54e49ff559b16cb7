import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { removeDir, startTestApp, waitForIdleJobs, type TestApp } from "./app.ts";
import { sendCommand } from "./slack-requests.ts";

let slack: FakeSlack;
let app: TestApp;

beforeAll(async () => {
  slack = await startFakeSlack();
  app = await startTestApp({ slack });
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
});

describe("waitForIdleJobs", () => {
  it("waits for a job that failed until its retry has run, not for a reminder due in an hour", async () => {
    // The header's post fails once (a transient error): its job waits about a second for a retry.
    slack.failNext("chat.postMessage", "fatal_error");
    await sendCommand(app.url, "declare Retry me");
    await slack.waitFor({ method: "chat.postMessage", ok: false }, 10_000);
    await waitForIdleJobs(app);
    expect(slack.callsTo("chat.postMessage").map((call) => call.ok)).toEqual([false, true]);
    // What is left is not work in progress: the status-update reminder, scheduled for later.
    const left = await app.database.prisma.job.findMany({ where: { status: { notIn: ["DONE"] } } });
    expect(left.map((job) => [job.kind, job.status, job.attempts])).toEqual([["incident.reminder", "PENDING", 0]]);
    expect(left[0]!.runAt.getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);
  });
});
