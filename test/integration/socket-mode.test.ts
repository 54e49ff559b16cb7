import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ACTIONS, VIEWS } from "../../src/incident/views.ts";
import { startFakeSlack, type AckRecord, type EnvelopeType, type FakeMessage, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs, eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp, INCIDENT_LIFE_AT_TEST_SPEED } from "../support/app.ts";
import { reactionAddedEvent } from "../support/slack-events.ts";
import { blockActionPayload, fromFakeView, viewSubmissionPayload } from "../support/slack-payloads.ts";
import { slashCommandBody } from "../support/slack-requests.ts";

/**
 * Slack over Socket Mode: the app opens a WebSocket to the fake Slack (apps.connections.open
 * with the app-level token) and receives the same payloads as envelopes (slash commands,
 * interactions, Events API callbacks), each acknowledged with its envelope_id within Slack's 3 s;
 * /slack/events is off. The connection comes back after Slack's disconnect message, a dropped
 * socket or refused attempts, with backoff, and /readyz says whether one is open.
 */
const APP_TOKEN = "xapp-1-test-token";
const DECLARER = "U0DECLARER";
const RESPONDER = "U0RESPOND1";
const ADMIN = "U0COMMANDR";
/** apps.connections.open answers this many errors before the app's first connection. */
const FAILED_OPENS = 2;

let slack: FakeSlack;
let app: TestApp;
let configDir: string;

async function readyz(): Promise<number> {
  return (await fetch(`${app.url}/readyz`)).status;
}

async function reconnects(): Promise<number> {
  const metrics = await (await fetch(`${app.url}/metrics`)).text();
  return Number(/^firebreak_slack_socket_reconnects_total (\d+)/m.exec(metrics)?.[1]);
}

/** Sends an envelope; resolves with its ack, which must carry its envelope_id and arrive within Slack's 3 s (else the fake rejects it). */
async function deliver(type: EnvelopeType, payload: object): Promise<{ envelopeId: string; ack: AckRecord }> {
  const sent = Date.now();
  const delivery = await slack.socket.send(type, payload as Record<string, unknown>);
  const ack = await delivery.ack;
  expect(ack).toMatchObject({ envelopeId: delivery.envelopeId, late: false, retryAttempt: 0 });
  expect(ack.at - sent).toBeLessThan(3_000);
  return { envelopeId: delivery.envelopeId, ack };
}

function command(text: string, overrides: Record<string, string> = {}): Record<string, unknown> {
  return Object.fromEntries(new URLSearchParams(slashCommandBody({ text: slack.commandText(text), ...overrides })));
}

/** Declares over the socket and waits until the incident's channel and header exist. */
async function declare(title: string) {
  const { ack } = await deliver("slash_commands", command(`declare sev3 ${title}`, { user_id: DECLARER }));
  expect(JSON.stringify(ack.payload)).toMatch(/Declared \*INC-\d+\*/);
  const incident = await eventually(
    async () => (await app.database.prisma.incident.findFirst({ where: { title, headerMessageTs: { not: null } } })) ?? undefined,
    10_000,
    `incident "${title}" with its header`,
  );
  await waitForIdleJobs(app);
  return { ...incident, channelId: incident.channelId!, headerMessageTs: incident.headerMessageTs! };
}

function headerElement(message: FakeMessage, actionId: string): Record<string, unknown> | undefined {
  for (const block of message.blocks ?? []) {
    const elements = (block as { type?: unknown; elements?: unknown }).elements;
    if ((block as { type?: unknown }).type !== "actions" || !Array.isArray(elements)) continue;
    const found = (elements as Array<Record<string, unknown>>).find((element) => element["action_id"] === actionId);
    if (found) return found;
  }
  return undefined;
}

beforeAll(async () => {
  configDir = await mkdtemp(join(tmpdir(), "firebreak-socket-config-"));
  const configPath = join(configDir, "firebreak.yml");
  await writeFile(configPath, `incidents:\n  admins: [${ADMIN}]\n`);
  slack = await startFakeSlack({
    appTokens: [APP_TOKEN],
    // Tier 1 (a burst of 3, then one a minute): this file opens a connection a dozen times in
    // seconds (refused attempts, drops, a disconnect), which Slack would answer with 429s that the
    // app waits out; that is not what these tests are about.
    // Incidents declared back to back cost a conversations.create, a setTopic, a bookmarks.add
    // and a pin each within milliseconds (Tier 2: a burst of 2, then 20 a minute): the same.
    rateLimits: {
      "apps.connections.open": TEST_SPEED,
      ...INCIDENT_LIFE_AT_TEST_SPEED,
    },
  });
  // Slack refuses the first attempts to open a connection: the app retries with backoff.
  slack.failNext("apps.connections.open", "internal_error", FAILED_OPENS);
  // Debug lines too: the app-level token must not be in any of them.
  app = await startTestApp({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN, FIREBREAK_CONFIG: configPath }, logs: captureLogs("debug") });
  await slack.socket.waitForConnections(1, 15_000);
  await eventually(async () => (await readyz()) === 200, 5_000, "ready once connected");
});

afterEach(() => {
  expect(app.logs.text()).toContain("connected to Slack over Socket Mode");
  expect(app.logs.text()).not.toContain(APP_TOKEN);
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  if (app) await removeDir(app.dataDir);
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

describe("Socket Mode", () => {
  it("retried a refused apps.connections.open with growing waits, then connected", async () => {
    const opens = slack.callsTo("apps.connections.open").slice(0, FAILED_OPENS + 1);
    expect(opens.map((call) => [call.ok, call.error ?? null, call.token])).toEqual([
      [false, "internal_error", APP_TOKEN],
      [false, "internal_error", APP_TOKEN],
      [true, null, APP_TOKEN],
    ]);
    // Backoff: at least 1 s before the second attempt, at least twice that before the third (timers
    // never fire early; a busy machine only makes the waits longer).
    const gaps = opens.slice(1).map((call, i) => call.at - opens[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(990);
    expect(gaps[1]).toBeGreaterThanOrEqual(1_990);
    expect(slack.socket.history[0]?.openedAt).toBeGreaterThanOrEqual(opens[2]!.at);
    await eventually(async () => (await readyz()) === 200, 5_000, "ready once connected");
  });

  it("declares an incident from a slash command envelope, acknowledging it with the reply; a redelivery declares nothing twice", async () => {
    await eventually(async () => (await readyz()) === 200, 5_000, "ready once connected");
    const first = await slack.socket.send("slash_commands", command("declare sev2 Checkout is failing"), { acceptsResponsePayload: true });
    const ack = await first.ack;
    expect(JSON.stringify(ack.payload)).toMatch(/Declared \*INC-\d+\*/);
    await slack.waitFor({ method: "chat.postMessage", count: 1, ok: true }, 10_000);

    // Slack redelivers an envelope it thinks was not acknowledged in time.
    const again = await slack.socket.redeliver(first.envelopeId);
    expect(JSON.stringify((await again.ack).payload)).toMatch(/already declared/);
    await waitForIdleJobs(app);
    expect(await app.database.prisma.incident.count({ where: { title: "Checkout is failing" } })).toBe(1);
    expect(slack.callsTo("conversations.create").filter((call) => call.ok && String(call.args["name"]).includes("checkout-is-failing"))).toHaveLength(1);
  });

  it("takes command from the header's button (an interactive block_actions envelope)", async () => {
    const incident = await declare("Search index stale");
    const header = slack.messages.get(incident.channelId, incident.headerMessageTs)!;
    const button = headerElement(header, ACTIONS.takeCommand);
    expect(button?.["value"]).toBe(incident.id);
    const updates = slack.callsTo("chat.update").length;

    await deliver(
      "interactive",
      blockActionPayload({
        user: ADMIN,
        channel: incident.channelId,
        messageTs: incident.headerMessageTs,
        actionId: ACTIONS.takeCommand,
        value: incident.id,
        triggerId: slack.newTriggerId(ADMIN),
        message: { text: header.text, blocks: header.blocks ?? [] },
      }),
    );
    await eventually(async () => (await app.database.prisma.incident.findUniqueOrThrow({ where: { id: incident.id } })).commanderId === ADMIN, 5_000, "the admin is commander");
    await slack.waitFor({ method: "chat.update", ok: true, count: updates + 1, where: (call) => call.args["ts"] === incident.headerMessageTs }, 5_000);
    await waitForIdleJobs(app);
    expect(JSON.stringify(slack.messages.get(incident.channelId, incident.headerMessageTs)?.blocks)).toContain(`*Commander*\\n<@${ADMIN}>`);
    const assigned = await app.database.prisma.timelineEvent.findMany({ where: { incidentId: incident.id, type: "commander.assigned" } });
    expect(assigned.map((event) => event.data)).toEqual([{ from: DECLARER, to: ADMIN }]);
  });

  it("declares from the modal: /incident declare opens it, its view_submission (an interactive envelope) declares", async () => {
    const opens = slack.callsTo("views.open").length;
    const { ack } = await deliver("slash_commands", command("declare", { user_id: DECLARER, trigger_id: slack.newTriggerId(DECLARER) }));
    expect(ack.payload ?? {}).toEqual({});
    await slack.waitFor({ method: "views.open", ok: true, count: opens + 1 }, 5_000);
    const view = slack.views
      .modals()
      .filter((modal) => modal.callback_id === VIEWS.declare)
      .at(-1)!;

    const submitted = await deliver(
      "interactive",
      viewSubmissionPayload({
        user: DECLARER,
        values: {
          title: { title: { type: "plain_text_input", value: "Payments queue stuck" } },
          severity: { severity: { type: "static_select", selected_option: { value: "SEV2", text: "SEV2" } } },
        },
        ...fromFakeView(view),
      }),
    );
    // A submission that closes the modal is acknowledged without a response_action.
    expect(submitted.ack.payload?.["response_action"]).toBeUndefined();
    const incident = await eventually(
      async () => (await app.database.prisma.incident.findFirst({ where: { title: "Payments queue stuck", headerMessageTs: { not: null } } })) ?? undefined,
      10_000,
      "declared from the modal",
    );
    expect(incident).toMatchObject({ severity: "SEV2", declaredById: DECLARER });
    await waitForIdleJobs(app);
    expect(slack.channels.get(incident.channelId!).members).toContain(DECLARER);
  });

  it("captures a message to the timeline from a reaction (an events_api envelope); its redelivery captures nothing twice", async () => {
    const incident = await declare("Cache stampede");
    slack.channels.addMembers(incident.channelId, [RESPONDER]);
    const ts = slack.messages.postAs(RESPONDER, incident.channelId, "Cache hit rate fell to 3%");
    const event = reactionAddedEvent(slack.reactions.addAs(RESPONDER, incident.channelId, ts, "pushpin"), { user: RESPONDER, reaction: "pushpin" });

    const { envelopeId, ack } = await deliver("events_api", event);
    // An Events API envelope is acknowledged with no payload (Slack reads none).
    expect(ack.payload ?? {}).toEqual({});
    const captured = () => app.database.prisma.timelineEvent.findMany({ where: { incidentId: incident.id, type: "message.captured" } });
    await eventually(async () => (await captured()).length === 1, 5_000, "the message on the timeline");
    await waitForIdleJobs(app);

    const again = await slack.socket.redeliver(envelopeId);
    expect(await again.ack).toMatchObject({ envelopeId, retryAttempt: 1, late: false });
    await waitForIdleJobs(app);
    const entries = await captured();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actorId: RESPONDER, sourceRef: `msg:${incident.channelId}:${ts}` });
    expect(entries[0]?.data).toMatchObject({ text: "Cache hit rate fell to 3%", via: ["reaction"] });
  });

  it("acknowledges a malformed envelope without a payload (it would be refused again), and acts on nothing", async () => {
    const before = slack.calls.length;
    const { ack } = await deliver("interactive", { type: "block_actions", user: { id: DECLARER }, actions: "not a list" });
    expect(ack.payload ?? {}).toEqual({});
    expect(slack.calls.slice(before).filter((call) => call.method !== "apps.connections.open")).toEqual([]);
    expect(app.logs.text()).toContain("refused a Slack payload of the wrong shape");
  });

  it("has no /slack/events endpoint", async () => {
    const response = await fetch(`${app.url}/slack/events`, { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
  });

  it("reconnects after Slack's disconnect message (even when apps.connections.open fails once), is ready again, and counts the reconnection", async () => {
    const before = await reconnects();
    const opens = slack.callsTo("apps.connections.open").length;
    slack.failNext("apps.connections.open", "service_unavailable");
    await slack.socket.disconnect("refresh_requested");
    await eventually(async () => slack.callsTo("apps.connections.open").slice(opens).some((call) => call.ok) && slack.socket.connections() === 1, 10_000, "a new connection");
    const since = slack.callsTo("apps.connections.open").slice(opens);
    expect(since.map((call) => call.error ?? "ok")).toEqual(["service_unavailable", "ok"]);
    await eventually(async () => (await readyz()) === 200, 5_000, "ready again");
    expect(await reconnects()).toBeGreaterThanOrEqual(before + 2);

    // The new connection carries envelopes.
    const { ack } = await deliver("slash_commands", command("help"));
    expect(ack.connection).toBe(slack.socket.connectionIds()[0]);
  });

  it("/readyz answers 503 while no connection is open (a dropped socket, Slack refusing new ones) and 200 once one is", async () => {
    await eventually(async () => (await readyz()) === 200, 5_000, "ready");
    const before = await reconnects();
    slack.socket.refuseConnections(true);
    slack.socket.drop();
    await eventually(async () => (await readyz()) === 503, 2_000, "not ready once the socket is gone");
    // Still not ready after Slack refused the app's attempts to connect again.
    await eventually(async () => slack.socket.refusals.length >= 2, 10_000, "two refused attempts");
    expect(await readyz()).toBe(503);
    const [first, second] = slack.socket.refusals;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(990);

    slack.socket.refuseConnections(false);
    await slack.socket.waitForConnections(1, 15_000);
    await eventually(async () => (await readyz()) === 200, 5_000, "ready again");
    expect(await reconnects()).toBeGreaterThanOrEqual(before + slack.socket.refusals.length + 1);
    const { ack } = await deliver("slash_commands", command("help"));
    expect(ack.payload).toBeDefined();
  });
});
