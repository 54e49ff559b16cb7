import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeSlack, type FakeSlack } from "../fakes/slack/index.ts";
import { eventually, removeDir, startTestApp, waitForIdleJobs, type TestApp } from "../support/app.ts";
import { slashCommandBody } from "../support/slack-requests.ts";

/**
 * Slack over Socket Mode: the app opens a WebSocket to the fake Slack (apps.connections.open
 * with the app-level token) and receives the same payloads as envelopes; /slack/events is off.
 */
const APP_TOKEN = "xapp-1-test-token";

let slack: FakeSlack;
let app: TestApp;

async function readyz(): Promise<number> {
  return (await fetch(`${app.url}/readyz`)).status;
}

beforeAll(async () => {
  slack = await startFakeSlack({ appTokens: [APP_TOKEN] });
  app = await startTestApp({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN } });
  await slack.socket.waitForConnections(1, 10_000);
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
});

describe("Socket Mode", () => {
  it("declares an incident from a slash command envelope, acknowledging it with the reply; a redelivery declares nothing twice", async () => {
    await eventually(async () => (await readyz()) === 200, 5_000, "ready once connected");
    const command = Object.fromEntries(new URLSearchParams(slashCommandBody({ text: slack.commandText("declare sev2 Checkout is failing") })));
    const first = await slack.socket.send("slash_commands", command, { acceptsResponsePayload: true });
    const ack = await first.ack;
    expect(JSON.stringify(ack.payload)).toMatch(/Declared \*INC-\d+\*/);
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);

    // Slack redelivers an envelope it thinks was not acknowledged in time.
    const again = await slack.socket.redeliver(first.envelopeId);
    expect(JSON.stringify((await again.ack).payload)).toMatch(/already declared/);
    await waitForIdleJobs(app);
    expect(await app.database.prisma.incident.count({ where: { title: "Checkout is failing" } })).toBe(1);
    expect(slack.callsTo("conversations.create").filter((call) => call.ok)).toHaveLength(1);
  });

  it("has no /slack/events endpoint", async () => {
    const response = await fetch(`${app.url}/slack/events`, { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
  });

  it("reconnects after Slack's disconnect message, is ready again, and counts the reconnection", async () => {
    const opens = slack.callsTo("apps.connections.open").length;
    await slack.socket.disconnect("refresh_requested");
    await eventually(async () => slack.callsTo("apps.connections.open").length > opens && slack.socket.connections() === 1, 10_000, "a new connection");
    await eventually(async () => (await readyz()) === 200, 5_000, "ready again");
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(Number(/^firebreak_slack_socket_reconnects_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  });
});
