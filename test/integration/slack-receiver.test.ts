import type { AddressInfo } from "node:net";
import { App } from "@slack/bolt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpServer, type HttpServer } from "../../src/http/server.ts";
import { createMetrics } from "../../src/http/metrics.ts";
import { boltLogger } from "../../src/slack/bolt.ts";
import { createForeground } from "../../src/lib/foreground.ts";
import { SlackReceiver } from "../../src/slack/receiver.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs } from "../support/app.ts";
import { pinAddedEvent, sendEvent } from "../support/slack-events.ts";
import { sendCommand, TEST_BOT_TOKEN, TEST_SIGNING_SECRET } from "../support/slack-requests.ts";

/**
 * Firebreak's Bolt receiver and Events API callbacks. Bolt acks an event
 * before its listeners run; this receiver instead answers Slack only when
 * the listeners are done, so an event whose durable write failed gets a 500
 * and Slack delivers it again, rather than a 200 and a silent loss. Driven
 * through a real Bolt App and signed requests.
 */

let slack: FakeSlack;
let server: HttpServer;
let url: string;
const logs = captureLogs();
/** What the pin_added listener does this time. */
let behaviour: "fail" | "slow" | "ok" = "ok";
const finished: string[] = [];
const foreground = createForeground();
let markHeld!: () => void;
let commandHeld = new Promise<void>((resolve) => (markHeld = resolve));
let releaseCommand!: () => void;
let commandGate = new Promise<void>((resolve) => (releaseCommand = resolve));

beforeAll(async () => {
  slack = await startFakeSlack();
  const receiver = new SlackReceiver({ signingSecret: TEST_SIGNING_SECRET, logger: logs.logger, ackDeadlineMs: 300, foreground });
  const app = new App({
    token: TEST_BOT_TOKEN,
    receiver,
    tokenVerificationEnabled: false,
    botUserId: slack.bot.user_id,
    logger: boltLogger(logs.logger),
    deferInitialization: true,
    clientOptions: { slackApiUrl: slack.url },
  });
  app.event("pin_added", async ({ event }) => {
    if (behaviour === "fail") throw new Error("database unavailable");
    if (behaviour === "slow") await new Promise((resolve) => setTimeout(resolve, 600));
    finished.push(event.item.message?.ts ?? "?");
  });
  app.command("/incident", async ({ ack }) => {
    markHeld();
    await commandGate;
    await ack({ text: "done" });
  });
  app.error(async (error) => {
    throw error;
  });
  await app.init();
  server = createHttpServer({ logger: logs.logger, metrics: createMetrics(), checkReady: async () => undefined });
  receiver.register(server);
  await server.listen({ host: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  slack.channels.create({ name: "inc-1-receiver", id: "C0RECEIVE1" });
  slack.channels.addMembers("C0RECEIVE1", ["U0RESPOND1"]);
});

afterAll(async () => {
  await server?.close();
  await slack?.close();
});

function pinned(text: string) {
  const ts = slack.messages.postAs("U0RESPOND1", "C0RECEIVE1", text);
  return { ts, body: pinAddedEvent(slack.pins.addAs("U0RESPOND1", "C0RECEIVE1", ts)) };
}

describe("Events API callbacks", () => {
  it("are answered 200 once the listener has finished", async () => {
    behaviour = "ok";
    const { ts, body } = pinned("one");
    const response = await sendEvent(url, body);
    expect(response.status).toBe(200);
    expect(finished).toContain(ts);
  });

  it("are answered 500 when the listener fails, so that Slack delivers them again", async () => {
    behaviour = "fail";
    const { ts, body } = pinned("two");
    const response = await sendEvent(url, body);
    expect(response.status).toBe(500);
    expect(finished).not.toContain(ts);

    // Slack's retry (same event_id, x-slack-retry-num) goes through once the fault is gone.
    behaviour = "ok";
    const retry = await sendEvent(url, body, { retryNum: 1 });
    expect(retry.status).toBe(200);
    expect(finished).toContain(ts);
  });

  it("are not answered early when the listener is slower than the ack deadline (Slack times out and retries)", async () => {
    behaviour = "slow";
    const { ts, body } = pinned("three");
    const response = await sendEvent(url, body);
    expect(response.status).toBe(200);
    // The answer came after the listener finished, not at the 300 ms deadline.
    expect(finished).toContain(ts);
  });
});

describe("requests someone waits on (lib/foreground.ts)", () => {
  it("a command counts as in flight from its arrival until Slack is answered; an event does not count", async () => {
    commandHeld = new Promise<void>((resolve) => (markHeld = resolve));
    commandGate = new Promise<void>((resolve) => (releaseCommand = resolve));
    let idle = 0;
    foreground.onIdle(() => (idle += 1));
    const answer = sendCommand(url, "list");
    await commandHeld;
    expect(foreground.active()).toBe(1);

    // An Events API callback meanwhile (nobody waits on it) is not counted.
    behaviour = "ok";
    const { body } = pinned("four");
    expect((await sendEvent(url, body)).status).toBe(200);
    expect(foreground.active()).toBe(1);

    releaseCommand();
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ text: "done" });
    expect(foreground.active()).toBe(0);
    expect(idle).toBe(1);
  });
});
