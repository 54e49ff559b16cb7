import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { sendCommand } from "../support/slack-requests.ts";

/**
 * conversations.create is Tier 2 (about 20 a minute). Firebreak paces channel
 * creations itself (SLACK_CHANNELS_PER_MINUTE) instead of waiting to be told
 * off with a 429, and when several incidents wait, the most severe gets its
 * channel first. 20 a minute here (the app's default, Slack's rate): one
 * creation every 3 s. The fake Slack enforces Tier 2 (rate-limits.ts: bursts
 * of 2), so three creations any faster than that are answered 429.
 */
const PER_MINUTE = 20;
const SPACING_MS = 60_000 / PER_MINUTE;

let slack: FakeSlack;
let app: TestApp;

beforeAll(async () => {
  slack = await startFakeSlack();
  app = await startTestApp({ slack, env: { SLACK_CHANNELS_PER_MINUTE: String(PER_MINUTE) } });
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
});

describe("channel creation pacing", () => {
  it("spaces creations by the configured interval and serves the most severe waiting incident first", async () => {
    // Three declarations at once: a SEV4 first, then another SEV4 and a SEV1.
    for (const text of ["declare sev4 Docs typo", "declare sev4 Stale cache", "declare sev1 Payments down"]) {
      const response = await sendCommand(app.url, text, { channel_id: "C0GENERAL0" });
      expect(response.status).toBe(200);
    }
    const creates = await eventually(async () => {
      const ok = slack.callsTo("conversations.create").filter((call) => call.ok);
      return ok.length === 3 ? ok : undefined;
    }, 20_000, "three channels");
    await waitForIdleJobs(app);

    // No 429 was needed: not for the creations, nor for the topic, pin and bookmark that follow each.
    expect(slack.callsTo("conversations.create").filter((call) => !call.ok).map((call) => `${call.status} ${call.error}`)).toEqual([]);
    expect(slack.calls.filter((call) => call.status === 429).map((call) => call.method)).toEqual([]);
    // Each creation waited for the previous one's hold to expire.
    for (let i = 1; i < creates.length; i += 1) {
      expect(creates[i]!.at - creates[i - 1]!.at, `gap before creation ${i + 1}`).toBeGreaterThanOrEqual(SPACING_MS - 50);
    }
    // The first one was already running; of the two that waited, the SEV1 went first.
    expect(creates.map((call) => String(call.args.name))).toEqual([expect.stringMatching(/^inc-1-/), expect.stringMatching(/^inc-3-payments-down/), expect.stringMatching(/^inc-2-/)]);
  });
});
