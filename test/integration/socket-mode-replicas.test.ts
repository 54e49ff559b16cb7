import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { ACTIONS } from "../../src/incident/views.ts";
import { startFakeSlack, type AckRecord, type FakeSlack } from "../fakes/slack/index.ts";
import { captureLogs, eventually, removeDir, startTestApp, TEST_SPEED, waitForIdleJobs, type TestApp, INCIDENT_LIFE_AT_TEST_SPEED } from "../support/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts";
import { reactionAddedEvent } from "../support/slack-events.ts";
import { slashCommandBody } from "../support/slack-requests.ts";

/**
 * Two Firebreak processes (replicas) on one PostgreSQL database, each holding its own Socket Mode
 * connection to the fake Slack, which gives each envelope to one of them (round-robin) and
 * redelivers some to the other one, as Slack does with an envelope it thinks was not acknowledged
 * in time, even while the first replica is still at it. Each declaration makes exactly one
 * incident, one channel and one header, whichever replica got which copy.
 */
const APP_TOKEN = "xapp-1-replica-token";

let slack: FakeSlack;
let database: TestDatabase;
const apps: TestApp[] = [];

function command(text: string): Record<string, unknown> {
  return Object.fromEntries(new URLSearchParams(slashCommandBody({ text: slack.commandText(text) })));
}

/** Acks received for an envelope, once there are `count` of them. */
async function acksOf(envelopeId: string, count: number): Promise<AckRecord[]> {
  return eventually(
    async () => {
      const found = slack.socket.acks.filter((ack) => ack.envelopeId === envelopeId);
      return found.length >= count ? found : undefined;
    },
    5_000,
    `${count} acks of ${envelopeId}`,
  );
}

function text(ack: AckRecord): string {
  return JSON.stringify(ack.payload ?? {});
}

beforeAll(async () => {
  slack = await startFakeSlack({
    appTokens: [APP_TOKEN],
    // Incidents declared back to back: each costs a conversations.create, a setTopic, a
    // bookmarks.add and a pin within milliseconds (Tier 2: a burst of 2, then 20 a minute), and
    // two replicas open connections at once (Tier 1). Slack would answer 429s that the app waits
    // out (tested elsewhere), costing seconds these tests do not test.
    rateLimits: {
      "apps.connections.open": TEST_SPEED,
      ...INCIDENT_LIFE_AT_TEST_SPEED,
    },
  });
  database = await createTestDatabase(inject("postgresUrl"));
  // One after the other: the first applies the migrations, the second finds them applied.
  for (let i = 0; i < 2; i++) {
    apps.push(await startTestApp({ slack, databaseUrl: database.url, env: { SLACK_APP_TOKEN: APP_TOKEN }, logs: captureLogs("debug") }));
  }
  await slack.socket.waitForConnections(2, 15_000);
  // Each replica has had Slack's hello on its connection.
  for (const app of apps) await eventually(async () => (await fetch(`${app.url}/readyz`)).status === 200, 5_000, "replica ready");
});

afterEach(() => {
  for (const app of apps) {
    expect(app.logs.text()).toContain("connected to Slack over Socket Mode");
    expect(app.logs.text()).not.toContain(APP_TOKEN);
  }
});

afterAll(async () => {
  for (const app of apps) await app.stop();
  await slack?.close();
  await database?.drop();
  for (const app of apps) await removeDir(app.dataDir);
});

describe("Socket Mode with two replicas on one database", () => {
  it("each replica holds its own connection", () => {
    expect(apps.map((app) => app.database.kind)).toEqual(["postgres", "postgres"]);
    expect(slack.socket.connections()).toBe(2);
    expect(slack.socket.history.map((connection) => connection.closedAt)).toEqual([undefined, undefined]);
    expect(slack.callsTo("apps.connections.open").filter((call) => call.ok)).toHaveLength(2);
  });

  it("declarations spread over both replicas, each redelivered to the other one, make one incident, one channel and one header each", async () => {
    const titles = ["Replica checkout down", "Replica search slow", "Replica login loops", "Replica queue stuck", "Replica cache cold", "Replica DNS flaps"];
    const ids = slack.socket.connectionIds();
    const other = (connection: number) => ids.find((id) => id !== connection)!;
    const firstCopies: number[] = [];
    const envelopeIds: string[] = [];
    const mark = slack.calls.length;

    for (const [i, title] of titles.entries()) {
      // Round-robin: the declarations alternate between the replicas.
      const delivery = await slack.socket.send("slash_commands", command(`declare sev3 ${title}`));
      firstCopies.push(delivery.connection);
      envelopeIds.push(delivery.envelopeId);
      if (i % 2 === 0) {
        // Redelivered to the other replica after the first copy was acknowledged (Slack missed that ack).
        const ack = await delivery.ack;
        expect(ack.connection).toBe(delivery.connection);
        expect(text(ack)).toMatch(/Declared \*INC-\d+\*/);
        const again = await slack.socket.redeliver(delivery.envelopeId, { connection: other(delivery.connection) });
        expect(text(await again.ack)).toMatch(/already declared/);
      } else {
        // Redelivered to the other replica at once, while the first one is still at it: both copies race.
        const again = await slack.socket.redeliver(delivery.envelopeId, { connection: other(delivery.connection) });
        // Slack had an answer in time (whichever copy answered first; the other one is late for Slack).
        expect((await again.ack).late).toBe(false);
        const acks = await acksOf(delivery.envelopeId, 2);
        expect(acks.map((ack) => ack.connection).sort()).toEqual([...ids].sort());
        // One copy declared, the other found it declared (whichever replica won).
        expect(acks.map(text).filter((reply) => /Declared \*INC-\d+\*/.test(reply))).toHaveLength(1);
        expect(acks.map(text).filter((reply) => /already declared/.test(reply))).toHaveLength(1);
      }
    }
    // Both replicas got first copies, and every copy was acknowledged, by the replica it went to.
    expect(new Set(firstCopies)).toEqual(new Set(ids));
    expect(slack.socket.acks.filter((ack) => envelopeIds.includes(ack.envelopeId))).toHaveLength(titles.length * 2);

    const incidents = await eventually(
      async () => {
        const rows = await apps[0]!.database.prisma.incident.findMany({ where: { title: { in: titles } } });
        return rows.length >= titles.length && rows.every((row) => row.headerMessageTs !== null) ? rows : undefined;
      },
      15_000,
      "every incident with its header",
    );
    for (const app of apps) await waitForIdleJobs(app);
    const rows = await apps[1]!.database.prisma.incident.findMany({ where: { title: { in: titles } } });
    expect(rows.map((row) => row.title).sort()).toEqual([...titles].sort());
    expect(new Set(rows.map((row) => row.number)).size).toBe(titles.length);

    const since = slack.calls.slice(mark);
    const created = since.filter((call) => call.method === "conversations.create" && call.ok);
    expect(created).toHaveLength(titles.length);
    for (const incident of incidents) {
      expect(created.filter((call) => call.response["channel"] !== undefined && (call.response["channel"] as { id?: string }).id === incident.channelId)).toHaveLength(1);
      const headers = since.filter((call) => call.method === "chat.postMessage" && call.ok && call.args["channel"] === incident.channelId && JSON.stringify(call.args["blocks"] ?? []).includes(ACTIONS.takeCommand));
      expect(headers, `headers posted in ${incident.channelName}`).toHaveLength(1);
      expect(slack.messages.topLevel(incident.channelId!).filter((message) => JSON.stringify(message.blocks ?? []).includes(ACTIONS.takeCommand))).toHaveLength(1);
    }
  });

  it("an event redelivered to the other replica while the first is at it adds the message to the timeline once", async () => {
    const declared = await slack.socket.send("slash_commands", command("declare sev3 Replica disk full"));
    expect(text(await declared.ack)).toMatch(/Declared \*INC-\d+\*/);
    const incident = await eventually(
      async () => (await apps[0]!.database.prisma.incident.findFirst({ where: { title: "Replica disk full", headerMessageTs: { not: null } } })) ?? undefined,
      10_000,
      "the incident with its channel",
    );
    for (const app of apps) await waitForIdleJobs(app);
    const channel = incident.channelId!;
    slack.channels.addMembers(channel, ["U0RESPOND1"]);
    const ts = slack.messages.postAs("U0RESPOND1", channel, "Rolled back the checkout deploy");
    const event = reactionAddedEvent(slack.reactions.addAs("U0RESPOND1", channel, ts, "pushpin"), { user: "U0RESPOND1", reaction: "pushpin" });

    const delivery = await slack.socket.send("events_api", event as unknown as Record<string, unknown>);
    const ids = slack.socket.connectionIds();
    await slack.socket.redeliver(delivery.envelopeId, { connection: ids.find((id) => id !== delivery.connection)! });
    const acks = await acksOf(delivery.envelopeId, 2);
    expect(acks.map((ack) => ack.connection).sort()).toEqual([...ids].sort());

    const captured = () => apps[1]!.database.prisma.timelineEvent.findMany({ where: { incidentId: incident.id, type: "message.captured" } });
    await eventually(async () => (await captured()).length > 0, 5_000, "the message on the timeline");
    for (const app of apps) await waitForIdleJobs(app);
    const entries = await captured();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actorId: "U0RESPOND1", sourceRef: `msg:${channel}:${ts}` });
  });
});
